"""The hash frontier: bytes landing in any order, from several threads, hash to exactly the file's digests."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
from pathlib import Path

import blake3
import pytest

from modellock.store.frontier import Frontier
from modellock.store.hashing import StreamHasher


@pytest.mark.parametrize("seed", range(24))
def test_landing_in_any_order_from_threads_hashes_exactly_the_file(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    size = rnd.randint(1, 3 << 20)
    data = rnd.randbytes(size)
    fd = os.open(tmp_path / "partial", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        hasher = StreamHasher()
        frontier = Frontier(fd, hasher)
        cuts = sorted({0, size, *(rnd.randrange(size) for _ in range(rnd.randint(0, 40)))})
        pieces = list(itertools.pairwise(cuts))
        rnd.shuffle(pieces)

        def land(mine: list[tuple[int, int]]) -> None:
            for start, end in mine:
                os.pwrite(fd, data[start:end], start)
                frontier.landed(start, data[start:end])

        count = rnd.randint(1, 4)
        threads = [threading.Thread(target=land, args=(pieces[i::count],)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        frontier.finish()
        digest = hasher.digest()
        assert (digest.size, digest.blake3, digest.sha256) == (
            size,
            blake3.blake3(data).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )
    finally:
        os.close(fd)
