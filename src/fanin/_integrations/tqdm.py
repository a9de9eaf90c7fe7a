"""``fanin.tqdm``: tqdm's everyday class, drawn by fanin's one render thread.

Runs in: the thread that creates the bar. Inside a fanin task (a job, a ``fanin.track``
loop) the bar is a sub-task of that task; with a display live in this process it joins it;
otherwise it opens its own one-bar display (``fanin.track``'s defaults) for its life.
"""

from __future__ import annotations

from typing import Any

from .._run.hub import Hub
from .._run.pipeline import live_pipeline
from .._worker.current import running
from .._worker.reporter import Reporter
from .._worker.tqdm_compat import TqdmBar
from .track import TRACK_DEFAULTS


class tqdm(TqdmBar):  # tqdm's own spelling, so the import is a drop-in
    """A drop-in for ``tqdm.tqdm`` (the common subset: see ``fanin._worker.tqdm_compat``).

    ``from fanin import tqdm`` or ``from fanin.tqdm_auto import tqdm, trange``.
    """

    _hub: Hub | None = None

    def _open(self, desc: str, total: float | None, unit: str, scale: int) -> Reporter:
        rep = running()
        if rep is not None:
            return rep.task(desc, total, unit=unit, scale=scale)
        pipeline = live_pipeline()
        if pipeline is not None:
            return pipeline.local_reporter(desc or "working", total, unit=unit,
                                           scale=scale).start()
        hub = Hub(**{**TRACK_DEFAULTS, "leave": bool(self.leave), "transient": not self.leave})
        hub.start()
        self._hub = hub
        return hub.local_reporter(desc or "working", total, unit=unit, scale=scale).start()

    @classmethod
    def write(cls, s: str, file: Any = None, end: str = "\n", nolock: bool = False) -> None:
        """A line above the bars (tqdm's ``write``): through the render thread while a Rich
        display is live in this process, as a task's log line inside a task."""
        pipeline = live_pipeline()
        if (file is None and running() is None and pipeline is not None
                and pipeline.mode in ("rich", "custom")):
            pipeline.post_output(str(s))
            return
        TqdmBar.write(s, file=file, end=end, nolock=nolock)

    def _end(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            hub.close()


def trange(*args: Any, **kwargs: Any) -> tqdm:
    """``tqdm(range(*args), **kwargs)``."""
    return tqdm(range(*args), **kwargs)
