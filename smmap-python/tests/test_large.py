"""Files larger than 4 GiB (sparse), through small windows and the static manager."""
import os
import random

import pytest

import smmap

SIZE = (6 << 30) + 12345


@pytest.fixture
def sparse(tmp_path):
    path = tmp_path / "sparse.bin"
    rng = random.Random(9)
    chunks = {}
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for ofs in (0, (1 << 32) - 5000, 5 << 30, SIZE - 70_000):
            chunk = rng.randbytes(70_000) if hasattr(rng, "randbytes") else os.urandom(70_000)
            f.seek(ofs)
            f.write(chunk)
            chunks[ofs] = chunk
    return str(path), chunks


def test_offsets_past_4_gib(sparse):
    path, chunks = sparse
    man = smmap.SlidingWindowMapManager(window_size=64 << 20, max_memory_size=256 << 20)
    c = man.make_cursor(path)
    assert c.file_size() == SIZE
    for ofs, chunk in chunks.items():
        for rel, n in ((0, 24), (1000, 10_000), (69_000, 1000), (0, 70_000)):
            assert c.use_region(ofs + rel, n).buffer() == chunk[rel:rel + n]
    # a record across 4 GiB
    o = (1 << 32) - 12
    assert c.use_region(o, 24).buffer() == chunks[(1 << 32) - 5000][5000 - 12:5000 + 12]
    buf = smmap.SlidingWindowMapBuffer(man.make_cursor(path))
    assert len(buf) == SIZE
    assert buf[SIZE - 70_000:SIZE] == chunks[SIZE - 70_000]
    assert buf[-1] == chunks[SIZE - 70_000][-1]
    assert not c.use_region(SIZE, 1).is_valid()
    assert man.stats()["peak_mapped_bytes"] <= (256 << 20) + (64 << 20)


def test_static_manager_maps_a_large_file_whole(sparse):
    path, chunks = sparse
    man = smmap.StaticWindowMapManager()
    c = man.make_cursor(path).use_region(5 << 30, 100)
    assert c.buffer() == chunks[5 << 30][:100]
    assert c.region().size() == SIZE
