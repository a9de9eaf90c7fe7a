"""fanin's benchmark suite (issues 3, 13, 14). Entry point: ``python benchmarks/run.py``.

One module per case: ``hotloop`` (a), ``endtoend`` (b), ``maincpu`` (c), ``latency`` (d),
``scale`` (e), ``peers`` and ``lifecycle`` (issue 13), ``manyitems`` (issue 14); ``common``
holds the pseudo-terminal sink, CPU meters, the recording view, the machine description and
``run_fresh`` (one measurement in a new interpreter, entered through ``child``); ``work``
the worker-side functions of the fresh-process cases; ``sizes`` the smoke/quick/full
parameters.
"""
