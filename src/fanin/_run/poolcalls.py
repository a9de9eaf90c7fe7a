"""The jobs of ``fanin.Pool``: the executor's, but a result that cannot be sent back fails
as ``multiprocessing.pool.MaybeEncodingError``, as the stdlib pool's worker reports it.

Runs in: the worker processes of a ``fanin.Pool`` (module-level, so they pickle by
reference). The executor's jobs raise the pickling error itself instead (the stdlib
executor's behaviour), so the pool's jobs pickle their result here, in the job, where the
error can still be turned into the pool's; the bytes then travel inside the result and
unpickle to the value itself in the caller.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from multiprocessing.pool import (  # type: ignore[attr-defined]  # typeshed lacks them
    ExceptionWithTraceback,
    MaybeEncodingError,
)
from typing import Any

from .._worker.runjob import Raised, run_chunk
from .calls import call_with_progress


class Encoded:
    """A value pickled in the worker; unpickling it gives back the value."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return (pickle.loads, (self.data,))


def encode(value: Any) -> Encoded:
    """``value`` ready to send, or ``MaybeEncodingError(error, value)`` if it does not pickle."""
    try:
        return Encoded(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception as exc:
        raise MaybeEncodingError(exc, value) from exc


def pool_call(call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], bool],
              progress: Any) -> Encoded:
    """``apply``/``apply_async``: ``calls.call_with_progress``, its result encoded."""
    return encode(call_with_progress(call, progress))


def pool_chunk(chunk: tuple[Callable[..., Any], list[Any], int, bool, bool],
               reporter: Any) -> Encoded:
    """A chunk of ``map``/``imap``/``starmap``: ``runjob.run_chunk``, its results encoded
    (all of them fail together, as a chunk does in the stdlib pool). A failed item's
    exception arrives with this worker's traceback as its ``__cause__`` (the stdlib's
    ``ExceptionWithTraceback`` does it: a ``multiprocessing.pool.RemoteTraceback``)."""
    values = run_chunk(chunk, reporter)
    for i, value in enumerate(values):
        if type(value) is Raised:
            error = value.error
            values[i] = Raised(value.index, ExceptionWithTraceback(
                error, error.__traceback__))
    return encode(values)
