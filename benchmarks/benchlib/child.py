"""Entry point of a fresh benchmark process: ``python -m benchlib.child MODULE:FN ARGS OUT``.

Runs in: a new interpreter started by ``common.run_fresh`` (cwd and PYTHONPATH are
``benchmarks/``; stdout and stderr are the benchmark's pseudo-terminal). Calls
``FN(**json.loads(ARGS))`` and writes ``{"result": ...}`` or ``{"error": traceback}`` to
the file OUT. Worker functions live in importable modules, never here, so they pickle by
reference under every start method.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback


def main() -> int:
    target, args, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    module, _, name = target.partition(":")
    try:
        result = getattr(importlib.import_module(module), name)(**args)
        doc = {"result": result}
    except BaseException:
        doc = {"error": traceback.format_exc()}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return 1 if "error" in doc else 0


if __name__ == "__main__":
    sys.exit(main())
