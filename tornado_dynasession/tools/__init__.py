"""The operator's tools: :mod:`.tables` (create and delete the table), :mod:`.doctor` (check a table's health),
:mod:`.local` (a DynamoDB-compatible server for development), and :mod:`.cli`, the command line behind
``python -m tornado_dynasession``.

Nothing here runs on a request's path; the package imports these modules only when they are used.
"""
