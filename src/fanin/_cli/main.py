"""The ``fanin`` command line: ``fanin demo`` runs the showcase batch job.

Runs in: the caller (main thread of the main process).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence

from .._display import format as fmt
from .._display.choose import ProgressMode
from .._errors import FaninError, RemoteTraceback, SchedulerLost
from .._run.hub import Hub
from .._run.policy import Failure
from .._run.signals import Terminated, install_force_exit, install_sigterm_as_interrupt
from .demo import Job, calibrate, run_job, run_job_quiet


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fanin",
        description="Live progress for CPU-heavy batch jobs in threads or processes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run a CPU-bound demo batch job with live progress",
        description="Run a real CPU-bound batch job (pure-Python work of about ITEM_US "
        "microseconds per item) with live progress, then print a one-line summary. "
        "Exit code: 0 if every job succeeded, 1 if any failed, 130 if interrupted.",
    )
    demo.add_argument("--backend", choices=("thread", "process", "dask"), default="process",
                      help="run jobs in a thread pool, a process pool or on a Dask cluster "
                      "(default: process)")
    demo.add_argument("--address", default=None, metavar="ADDR",
                      help="with --backend dask: the scheduler to use, e.g. tcp://host:8786 "
                      "(default: start a local cluster of --workers processes)")
    demo.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                      help="pool size (default: number of CPUs)")
    demo.add_argument("--jobs", type=_positive_int, default=16,
                      help="number of jobs, one bar each (default: 16)")
    demo.add_argument("--items", type=_positive_int, default=20_000,
                      help="items per job (default: 20000)")
    demo.add_argument("--item-us", type=_non_negative_float, default=70.0,
                      help="CPU microseconds per item (default: 70)")
    demo.add_argument("--refresh", type=_positive_float, default=10.0, metavar="HZ",
                      help="display refresh rate ceiling in Hz (default: 10)")
    demo.add_argument("--no-progress", action="store_true",
                      help="run the identical job without any reporting (overhead baseline)")
    demo.add_argument("--progress", choices=("auto", "rich", "plain", "off"), default="auto",
                      help="display mode (default: auto: rich on a terminal, plain otherwise)")
    demo.add_argument("--start-method", choices=("fork", "spawn", "forkserver"), default=None,
                      help="multiprocessing start method (default: the platform's)")
    demo.add_argument("--fail-job", type=int, action="append", default=[], metavar="N",
                      help="make job N (1-based) raise halfway, to see failure handling")
    demo.add_argument("--events", metavar="FILE", default=None,
                      help="write task events and 1 s snapshots as JSON lines to FILE "
                           "(a new file; see --overwrite-events)")
    demo.add_argument("--overwrite-events", action="store_true",
                      help="let --events replace an existing file")
    demo.add_argument("--log-every", type=_positive_float, default=5.0, metavar="SEC",
                      help="plain mode: seconds between status lines per task (default: 5)")
    demo.add_argument("--log-jobs", action="store_true",
                      help="each job logs a line when it starts and ends (shown above the bars)")
    demo.add_argument("--summary", action=argparse.BooleanOptionalAction, default=None,
                      help="print a per-task summary table at the end (default: when drawing)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        if args.address is not None and args.backend != "dask":
            parser.error("--address needs --backend dask")
        return demo(args)
    return 2  # pragma: no cover


def demo(args: argparse.Namespace) -> int:
    bad = [n for n in args.fail_job if not 1 <= n <= args.jobs]
    if bad:
        print(f"fanin demo: error: --fail-job takes a job number from 1 to {args.jobs}, "
              f"got {bad[0]}", file=sys.stderr)
        return 2
    iters = calibrate(args.item_us)
    jobs = [
        Job(f"job {i + 1:>{len(str(args.jobs))}}", args.items, iters,
            args.items // 2 if (i + 1) in args.fail_job else -1, args.log_jobs)
        for i in range(args.jobs)
    ]
    if args.log_jobs:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    progress: ProgressMode = "off" if args.no_progress else args.progress
    fn = run_job_quiet if args.no_progress else run_job
    where = f" · {args.address}" if args.address is not None else ""

    def title() -> str:  # once the hub is up: a cluster at --address shows its own size
        return (f"fanin demo · {args.backend} backend · {hub.workers} workers · "
                f"{args.jobs} jobs × {args.items:,} items × {args.item_us:g} µs{where}")

    results: list[int | Failure] = []
    restore_sigterm = install_sigterm_as_interrupt()
    try:
        hub = Hub(backend=args.backend, workers=args.workers, progress=progress,
                  refresh=args.refresh, start_method=args.start_method, title=title,
                  address=args.address, events=args.events, log_every=args.log_every,
                  overwrite_events=args.overwrite_events,
                  summary=args.summary)
        hub.start()
        # The clock measures the batch job (pool start included), not importing Rich.
        t0 = time.perf_counter()
    except (ValueError, ImportError, FaninError) as exc:  # a wrong --address, too
        restore_sigterm()
        print(f"fanin demo: error: {exc}", file=sys.stderr)
        return 2
    interrupted: KeyboardInterrupt | None = None
    try:
        with hub:
            results = hub.map(fn, jobs, description=lambda job: job.name,
                              total=lambda job: job.items, on_error="collect")
    except KeyboardInterrupt as exc:
        interrupted = exc
        # Cleanup is done (the hub closed itself); from here a second signal exits at once,
        # even while the interpreter waits for a thread task that ignores cancellation.
        install_force_exit(lambda: [], code=143 if isinstance(exc, Terminated) else 130)
    finally:
        restore_sigterm()
    wall = time.perf_counter() - t0
    tasks = hub.tasks()
    if args.no_progress:
        items = sum(r for r in results if not isinstance(r, Failure))
    else:
        # The exact count the display collected, which must equal the work done.
        items = int(sum(t.completed for t in tasks))
    failures = [r for r in results if isinstance(r, Failure)]
    # One line that fits 80 columns, saying the display mode actually used (issue 11).
    # (the backend and workers are in the display's title and on the command line).
    head = f"fanin demo: {items} items in {wall:.1f} s ({fmt.rate(items / max(wall, 1e-9))}), "
    setup = f"progress {'none' if args.no_progress else hub.mode} · "
    if interrupted is not None:
        counts = {s: sum(1 for t in tasks if t.status == s) for s in ("done", "cancelled", "failed")}
        line = (head + setup + f"interrupted: {counts['done']} done, {counts['cancelled']} "
                f"cancelled, {counts['failed']} failed")
        code = 143 if isinstance(interrupted, Terminated) else 130
    else:
        line = head + setup + f"{len(results) - len(failures)} done, {len(failures)} failed"
        code = 1 if failures else 0
    _print_safely(line)
    lost = [f for f in failures if isinstance(f.error, SchedulerLost)]
    _report_failures([f for f in failures if not isinstance(f.error, SchedulerLost)])
    if lost:  # one cause for every unfinished job: one line, not a traceback per job
        print(f"fanin demo: error: {lost[0].error}", file=sys.stderr)
    return code


def _print_safely(line: str) -> None:
    """Print the summary; a closed pipe (``fanin demo | head -0``) must not change the exit code."""
    try:
        print(line, flush=True)
    except (BrokenPipeError, ValueError, OSError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass


def _report_failures(failures: list[Failure], full: int = 3) -> None:
    """Each failure's traceback, once, after the display has stopped."""
    if sys.stderr is None:  # started with stderr closed
        return
    try:
        for n, f in enumerate(failures):
            err = f.error
            if n < full:
                cause = err.__cause__
                tb = (str(cause) if isinstance(cause, RemoteTraceback)
                      else "".join(traceback.format_exception(type(err), err, err.__traceback__)))
                sys.stderr.write(f"failed: {f.description}\n{tb.rstrip()}\n")
            else:
                sys.stderr.write(f"failed: {f.description}: {type(err).__name__}: {err}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
