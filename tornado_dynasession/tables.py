"""Creating and deleting the table, importable from its former path (:mod:`tornado_dynasession.tools.tables`)."""

from .tools.tables import TableSetup, create_table, delete_table, open_admin_client, user_index_definition

__all__ = ["TableSetup", "create_table", "delete_table", "open_admin_client", "user_index_definition"]
