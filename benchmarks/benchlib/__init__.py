"""fanin's throughput benchmark suite (issue 3). Entry point: ``python benchmarks/run.py``.

One module per case: ``hotloop`` (a), ``endtoend`` (b), ``maincpu`` (c), ``latency`` (d),
``scale`` (e); ``common`` holds the pseudo-terminal sink, CPU meters, the recording view and
the machine description; ``sizes`` the smoke/quick/full parameters.
"""
