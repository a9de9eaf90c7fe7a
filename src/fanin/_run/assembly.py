"""Building the backend a hub runs on, from its options and its pipeline.

The backend is made on first use (a hub used only for ``hub.reporter()`` or ``track``
starts no pool), and a start that fails half-way (or is interrupted) leaves no worker.
"""

from __future__ import annotations

from .._backends import Backend, BackendConfig, create_backend
from .options import HubOptions
from .pipeline import Pipeline


def build_backend(options: HubOptions, pipeline: Pipeline) -> Backend:
    """An unstarted backend wired to ``pipeline``'s inbox."""
    capture = pipeline.capture
    return create_backend(options.backend, BackendConfig(
        options.workers, pipeline.inbox.put, options.flush_interval, options.mp_context,
        options.address, log_level=pipeline.worker_log_level(),
        capture_print=options.capture_print and capture is not None,
        redirect_stderr=capture is not None and capture.replaced("stderr"),
        extra=options.worker_options))


def start_backend(backend: Backend) -> None:
    """``backend.start()``; on any failure (Ctrl-C included) stop what did start, re-raise."""
    try:
        backend.start()
    except BaseException:
        try:
            backend.shutdown(kill=True)
        except Exception:  # noqa: BLE001 - the start's own error is the one to see
            pass
        raise
