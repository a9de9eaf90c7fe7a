"""Problem sizes per mode: ``smoke`` (the test suite, seconds), ``quick`` (< 1 min), ``full``.

Runs in: the caller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sizes:
    mode: str
    # (a) hot loop
    hot_n: int  # iterations per timed loop
    hot_reps: int  # rounds; figures are medians over rounds
    # (b) end to end
    e2e_seconds: float  # target CPU seconds of work per timed run
    e2e_reps: int
    e2e_item_us: tuple[float, ...]
    # (c) main-process CPU
    cpu_active_seconds: float
    cpu_idle_seconds: float
    cpu_reps: int
    # (d) latency
    latency_seconds: float  # per backend
    # (e) scale
    scale_workers: int
    scale_tasks: int
    scale_items: int  # items per task
    scale_item_us: float
    scale_baseline: bool  # also run the identical job with progress off
    # peers (issue 13): every run in a fresh process
    peers_items: int  # items per job; 2 jobs on 2 workers
    peers_item_us: tuple[float, ...]
    peers_pairs: int  # alternating on/off pairs per tool and cell
    peers_cpu_seconds: float  # whole-run main CPU: busy run length
    peers_idle_seconds: float  # ... and how long the 2 tasks sleep without moving
    peers_cpu_reps: int
    peers_fixed_pairs: int  # fixed cost: 2 jobs of 1 item, alternating on/off pairs
    between_pairs: int  # per-update cost between items: pairs of blocks per job
    between_reps: int  # fresh runs per tool and cell
    between_block_ms: float  # a block's length
    # many_items (issue 14)
    many_cells: tuple[tuple[int, float], ...]  # (items, µs per item)
    many_reps: int
    many_old_n: int  # the old shape: hub.map of this many one-item jobs (0 µs)
    many_per_item_max_n: int  # the per-item fallback for a missing fanin.process_map, up to this N
    # lifecycle (issue 13)
    life_items: int  # items per job, 2 jobs, 10 µs items
    life_reps: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


WORKERS = 2  # issue 3: "2 worker processes and 2 worker threads"

SMOKE = Sizes("smoke", hot_n=20_000, hot_reps=1, e2e_seconds=0.03, e2e_reps=1,
              e2e_item_us=(0, 10), cpu_active_seconds=0.4, cpu_idle_seconds=0.4, cpu_reps=1,
              latency_seconds=0.5, scale_workers=4, scale_tasks=40, scale_items=10,
              scale_item_us=10, scale_baseline=False,
              peers_items=1_000, peers_item_us=(10,), peers_pairs=1, peers_cpu_seconds=0.1,
              peers_idle_seconds=0.1, peers_cpu_reps=1, peers_fixed_pairs=1,
              between_pairs=4, between_reps=1, between_block_ms=1.0,
              many_cells=((500, 0),), many_reps=1, many_old_n=100,
              many_per_item_max_n=500, life_items=1_000, life_reps=1)
QUICK = Sizes("quick", hot_n=200_000, hot_reps=3, e2e_seconds=0.25, e2e_reps=2,
              e2e_item_us=(0, 1, 10, 100), cpu_active_seconds=1.5, cpu_idle_seconds=1.5,
              cpu_reps=1, latency_seconds=1.5, scale_workers=16, scale_tasks=1_000,
              scale_items=50, scale_item_us=10, scale_baseline=False,
              peers_items=20_000, peers_item_us=(1, 10), peers_pairs=1, peers_cpu_seconds=2.0,
              peers_idle_seconds=2.0, peers_cpu_reps=1, peers_fixed_pairs=3,
              between_pairs=20, between_reps=1, between_block_ms=5.0,
              many_cells=((20_000, 0), (20_000, 40), (200_000, 0)), many_reps=1, many_old_n=5_000,
              many_per_item_max_n=0, life_items=20_000, life_reps=2)
FULL = Sizes("full", hot_n=1_000_000, hot_reps=7, e2e_seconds=0.5, e2e_reps=6,
             e2e_item_us=(0, 1, 10, 100), cpu_active_seconds=5.0, cpu_idle_seconds=5.0,
             cpu_reps=3, latency_seconds=5.0, scale_workers=64, scale_tasks=10_000,
             scale_items=100, scale_item_us=10, scale_baseline=True,
             peers_items=50_000, peers_item_us=(1, 10), peers_pairs=9, peers_cpu_seconds=4.0,
             peers_idle_seconds=5.0, peers_cpu_reps=3, peers_fixed_pairs=9,
             between_pairs=60, between_reps=4, between_block_ms=5.0,
             many_cells=tuple((n, us) for n in (20_000, 200_000) for us in (0, 10, 40)),
             many_reps=3,
             many_old_n=20_000, many_per_item_max_n=20_000, life_items=50_000, life_reps=5)

MODES = {s.mode: s for s in (SMOKE, QUICK, FULL)}
