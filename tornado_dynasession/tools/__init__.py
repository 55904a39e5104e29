"""The operator's tools: ``tables`` (create and delete the table), ``doctor`` (check a table's health),
``local`` (a DynamoDB-compatible server for development), and ``cli``, the command line behind
``python -m tornado_dynasession``.

Nothing here runs on a request's path; the package imports these modules only when they are used.
"""
