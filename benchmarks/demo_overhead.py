"""``fanin demo`` vs ``fanin demo --no-progress``: the overhead a user of the CLI sees.

Runs both backends, alternating with and without progress, the display drawing Rich bars to
a real pseudo-terminal that is drained like a terminal would be. Prints medians of the
wall times the demo reports and their ratio.

Usage: python benchmarks/demo_overhead.py [REPS] [BACKEND ...]   (default: 5 thread process)
"""

from __future__ import annotations

import os
import pty
import re
import statistics
import subprocess
import sys
import threading

ARGS = ["--workers", "2", "--jobs", "8", "--items", "20000", "--item-us", "50", "--no-summary"]


def run(backend: str, progress: bool) -> float:
    master, slave = pty.openpty()
    flags = ["--progress", "rich"] if progress else ["--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "fanin", "demo", "--backend", backend, *ARGS,
                             *flags], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert proc.wait(300) == 0
    reader.join(5)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace").replace("\r\n", "")
    m = re.search(r"fanin demo: (\d+) items in ([\d.]+) s", text)
    assert m and int(m.group(1)) == 8 * 20000, text[-500:]
    return float(m.group(2))


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for backend in sys.argv[2:] or ("thread", "process"):
        on: list[float] = []
        off: list[float] = []
        for _ in range(reps):
            off.append(run(backend, False))
            on.append(run(backend, True))
        m_on, m_off = statistics.median(on), statistics.median(off)
        print(f"{backend:8s} progress {m_on:.2f} s, --no-progress {m_off:.2f} s, "
              f"overhead {100 * (m_on / m_off - 1):+.1f}% (median of {reps}; "
              f"on {[f'{x:.2f}' for x in on]}, off {[f'{x:.2f}' for x in off]})", flush=True)


if __name__ == "__main__":
    main()
