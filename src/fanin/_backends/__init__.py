"""Backends: where jobs run. The factory is the only place that knows them by name."""

from __future__ import annotations

from typing import Any, Literal

from .base import FAIL_FAST, Backend, BackendConfig, JobSpec, Statistics

BackendName = Literal["thread", "process", "dask"]
BACKENDS: tuple[BackendName, ...] = ("thread", "process", "dask")

__all__ = ["BACKENDS", "FAIL_FAST", "Backend", "BackendConfig", "BackendName", "JobSpec", "Statistics",
           "create_backend", "require", "start_context"]


def require(name: str) -> None:
    """Check at ``Hub(...)`` time that ``name`` is a backend that can run here."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "backend='dask' needs Dask's distributed scheduler, which is not importable "
                f"({exc}); install it with: pip install 'fanin[dask]'"
            ) from exc


def start_context(name: str) -> Any:
    """The multiprocessing context a ``name`` hub gets when none was chosen: fixed at
    ``Hub(...)`` for the process backend (its fork server warms up at start); None for the
    others, which resolve it only if a reporter for the user's own processes is asked for
    (``_backends/context.py``: a fork server context costs ~7 ms of imports)."""
    if name != "process":
        return None
    from .context import default_context

    return default_context()


def create_backend(name: str, config: BackendConfig) -> Backend:
    require(name)
    if name == "thread":
        from .thread import ThreadBackend

        return ThreadBackend(config)
    if name == "process":
        from .process import ProcessBackend

        return ProcessBackend(config)
    from .dask import DaskBackend

    return DaskBackend(config)
