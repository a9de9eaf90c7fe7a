"""The pump's own framing (``_Stream``): frames of every size class come out whole, in
order, whatever the read size, as ``multiprocessing.Connection`` wrote them."""

from __future__ import annotations

import multiprocessing
import select
import threading

from fanin._ingest.pump import CHUNK_SIZE, READ_BUDGET, READ_SIZE, _Stream


def _read_all(sizes: list[int]) -> list[bytes]:
    reader, writer = multiprocessing.Pipe(duplex=False)
    payloads = [bytes([i % 251]) * n for i, n in enumerate(sizes)]

    def send() -> None:
        for p in payloads:
            writer.send_bytes(p)
        writer.close()

    t = threading.Thread(target=send)
    t.start()
    stream = _Stream(reader.fileno())
    got: list[bytes] = []
    eof = False
    while not eof:
        select.select([reader.fileno()], [], [])
        frames, eof = stream.read(READ_BUDGET)
        got.extend(bytes(f) for f in frames)  # type: ignore[arg-type]
    t.join()
    reader.close()
    assert got == payloads
    return got


def test_small_frames_many_per_read() -> None:
    _read_all([150] * 2000)


def test_frames_longer_than_one_chunk_but_not_large() -> None:
    # Between CHUNK_SIZE and READ_SIZE: assembled from several reads into the shared buffer.
    _read_all([10, CHUNK_SIZE - 4, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7, 20, READ_SIZE, 5])


def test_large_frames_get_their_own_buffer() -> None:
    _read_all([100, READ_SIZE + 1, 7, 3 * READ_SIZE, 9])
