"""The benchmark runner: ``python -m benchmarks`` (or ``make bench``).

Measures get, set, touch and destroy through the store and, in the same run and interleaved in rounds, through the
floors and alternatives (raw aiobotocore, raw HTTP, aiodynamo, aiocache-dynamodb), then the example Tornado app end
to end. Writes ``results/latest.json``, ``results/latest.md`` and ``results/latest.png`` (``--quick``: into a new
temporary folder unless ``--output-dir`` says where).

Layout:

- ``cli``: the command line and the order of the phases.
- ``variants``: one module per way of talking to DynamoDB, behind :class:`~benchmarks.variants.Variant`; add a
  variant by writing a subclass and decorating it with :func:`~benchmarks.variants.register`.
- ``measure``: timing loops and percentiles.  ``payloads``: the small and large sessions.
- ``seed``: writes the items the measured operations read, touch and delete (never timed).
- ``e2e`` and ``loadgen``: the example app under wrk (or the asyncio load generator).
- ``cost``: DynamoDB request units and dollars per request, the express-store rows and the one-call targets.
- ``report``, ``chart``, ``console``, ``machine``: the outputs.
"""
