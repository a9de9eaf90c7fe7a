"""Jupyter detection, for ``progress="auto"``.

Runs in: the caller, once per hub start. Reads ``get_ipython`` from builtins (IPython puts
it there), so detection never imports IPython.
"""

from __future__ import annotations

import builtins
import importlib.util
import os
from typing import Literal


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (notebook, lab, Colab, Databricks), as Rich decides."""
    get_ipython = getattr(builtins, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:  # noqa: BLE001 - a broken shell is "not Jupyter", never a crash
        return False
    if shell is None:
        return False
    cls = type(shell)
    return (cls.__name__ == "ZMQInteractiveShell" or "google.colab" in cls.__module__
            or bool(os.environ.get("DATABRICKS_RUNTIME_VERSION")))


def notebook_mode() -> Literal["rich", "plain"]:
    """What ``progress="auto"`` draws when the display file is not a TTY.

    In Jupyter, Rich draws a live display in an ``ipywidgets.Output``; without ipywidgets
    Rich's live display only warns and shows nothing (rich ``live.py`` ``refresh``), so plain
    lines, which a notebook shows as ordinary output, are the better fallback.
    """
    if in_jupyter() and importlib.util.find_spec("ipywidgets") is not None:
        return "rich"
    return "plain"
