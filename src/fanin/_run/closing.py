"""Closing a hub so that a Ctrl-C in the middle cannot leave it half-closed.

``close`` is a few steps (flush reporters, stop the backend, stop the pipeline). A Ctrl-C
(or SIGTERM) while one of them waits for running tasks turns the rest into a kill, the
step it cut short runs again, the later steps still run (so the display stops and the
cursor comes back), and the first interrupt is raised once everything is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Step = Callable[[bool], None]  # a step, told whether to kill rather than wait


class Closing:
    """Runs the steps; ``arm`` is called at the first interrupt and returns an undo."""

    def __init__(self, kill: bool, arm: Callable[[BaseException], Callable[[], None]]) -> None:
        self.kill = kill
        self._arm = arm
        self.disarm: Callable[[], None] | None = None  # undo of ``arm``, once armed
        self.errors: list[BaseException] = []

    def run(self, steps: Sequence[Step]) -> None:
        for step in steps:
            for _ in range(3):  # a step a Ctrl-C cut short runs again, killing
                try:
                    step(self.kill)
                    break
                except KeyboardInterrupt as exc:
                    if not self.errors:
                        self.errors.append(exc)
                    self.kill = True  # nobody waits for running tasks any more
                    if self.disarm is None:
                        self.disarm = self._arm(exc)
                except BaseException as exc:  # noqa: BLE001 - the other steps still run
                    self.errors.append(exc)
                    break
