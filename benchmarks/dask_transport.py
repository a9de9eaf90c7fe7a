"""Per-message cost of the ways a Dask task can send small messages to the client.

Run: ``python benchmarks/dask_transport.py`` (starts a 2-worker LocalCluster on 127.0.0.1).

For each mechanism a task on a worker sends N report-shaped tuples from a non-loop thread
(as fanin's flusher does) and the client receives them. We print:

- send: wall time per send call in the worker (what the flusher thread pays),
- worker CPU: the worker process's CPU per message (includes its event loop's
  serialisation and batching work),
- client+scheduler CPU: this process's CPU per message (a LocalCluster's scheduler runs
  in the client process),
- end-to-end: wall time from the first send to the last arrival, per message.

Pub/Sub (``distributed.Pub``/``Sub``) is not measured: it was deprecated in 2024.6
(dask/distributed#8724, race conditions) and removed in 2025.4 (#9039).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid

from distributed import Client, LocalCluster, Queue, Variable, get_client, get_worker

MSG = ("0a1b2c3d4e5f", "t12", 7, 12345, 20000, "job 12", "running", None, 4242, 0)


def _sender(kind: str, topic: str, n: int) -> dict[str, float]:
    """Runs in a worker task: send n messages from a plain thread, time it."""
    worker = get_worker()
    out: dict[str, float] = {}
    if kind == "queue":
        q = Queue(topic, client=get_client())
        send = q.put
    elif kind == "variable":
        v = Variable(topic, client=get_client())
        send = v.set
    elif kind == "client.log_event":
        client = get_client()

        def send(msg: object) -> None:
            client.log_event(topic, msg)
    else:

        def send(msg: object) -> None:
            worker.log_event(topic, msg)

    def run() -> None:
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            send(MSG)
        out["send_s"] = time.perf_counter() - t0
        out["t0"] = time.time()
        # Let the loop finish serialising what was queued before reading the CPU clock.
        time.sleep(0.5)
        out["cpu_s"] = time.process_time() - c0

    t0 = time.time()
    th = threading.Thread(target=run)
    th.start()
    th.join()
    out["start"] = t0
    return out


def measure(client: Client, kind: str, n: int) -> dict[str, float]:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    got: queue.SimpleQueue[float] = queue.SimpleQueue()
    count = [0]
    done = threading.Event()

    def on_event(event: object) -> None:
        count[0] += 1
        if count[0] == n:
            got.put(time.time())
            done.set()

    consumer = None
    if kind in ("log_event", "client.log_event"):
        client.subscribe_topic(topic, on_event)
        time.sleep(0.2)
    elif kind == "queue":
        q = Queue(topic, client=client)

        def drain() -> None:
            while count[0] < n:
                for _ in q.get(batch=True):
                    on_event(None)
                time.sleep(0.001)

        consumer = threading.Thread(target=drain, daemon=True)
        consumer.start()
    c0 = time.process_time()
    res = client.submit(_sender, kind, topic, n, pure=False).result()
    if kind == "variable":
        done.set()
        got.put(time.time())
    done.wait(120)
    end = got.get()
    cpu = time.process_time() - c0
    if kind in ("log_event", "client.log_event"):
        client.unsubscribe_topic(topic)
    return {
        "send_us": res["send_s"] / n * 1e6,
        "worker_cpu_us": res["cpu_s"] / n * 1e6,
        "client_sched_cpu_us": cpu / n * 1e6,
        "end_to_end_us": (end - res["start"]) / n * 1e6,
    }


def main() -> None:
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        print(f"pid {os.getpid()}; per message, microseconds (median of 3 runs)")
        print(f"{'mechanism':<18}{'n':>7}{'send':>10}{'worker CPU':>12}"
              f"{'client+sched CPU':>18}{'end-to-end':>12}")
        for kind, n in (("log_event", 20_000), ("client.log_event", 1_000),
                        ("queue", 1_000), ("variable", 1_000)):
            runs = [measure(client, kind, n) for _ in range(3)]
            med = {k: sorted(r[k] for r in runs)[1] for k in runs[0]}
            print(f"{kind:<18}{n:>7}{med['send_us']:>10.1f}{med['worker_cpu_us']:>12.1f}"
                  f"{med['client_sched_cpu_us']:>18.1f}{med['end_to_end_us']:>12.1f}")


if __name__ == "__main__":
    main()
