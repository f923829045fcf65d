"""Python smmap 5.0 semantics on random content, against the file's bytes."""
import copy
import random
import struct
import sys

import pytest

import smmap
from smmap.util import ALLOCATIONGRANULARITY, MapRegion, MapWindow, align_to_mmap


def managers():
    return [
        smmap.SlidingWindowMapManager(window_size=1 << 16, max_memory_size=1 << 18, max_open_handles=6),
        smmap.SlidingWindowMapManager(window_size=1 << 16, max_memory_size=1 << 18, small_reads=False),
        smmap.StaticWindowMapManager(),
    ]


@pytest.mark.parametrize("man", managers(), ids=["sliding", "sliding-no-small-reads", "static"])
def test_random_use_region_matches_file(man, datafile):
    path, data = datafile(1_000_003)
    c = man.make_cursor(path)
    rng = random.Random(1)
    for _ in range(3000):
        ofs = rng.randrange(0, len(data))
        size = rng.choice([1, 24, 100, 5000, 40000, 0])
        assert c.use_region(ofs, size) is c
        assert c.is_valid()
        n = c.size()
        assert n > 0 and c.ofs_begin() == ofs and c.ofs_end() == ofs + n
        assert c.buffer() == data[ofs:ofs + n]
        assert c.includes_ofs(ofs) and c.includes_ofs(ofs + n - 1) and not c.includes_ofs(ofs + n)
        if size:
            assert n <= size
        assert man.num_file_handles() <= max(man.max_file_handles(), 1)
    assert not c.use_region(len(data), 10).is_valid()
    assert not c.use_region(len(data) + 10**9).is_valid()
    c.unuse_region()
    assert man.collect() >= 0 and man.num_file_handles() == 0


def test_small_reads_serve_the_same_bytes_without_a_region(datafile):
    path, data = datafile(4 << 20)
    man = smmap.SlidingWindowMapManager(window_size=1 << 20, max_memory_size=2 << 20)
    c = man.make_cursor(path)
    c.use_region(3_000_000, 24)
    assert c.buffer() == data[3_000_000:3_000_024]
    assert c.region() is None  # read, not mapped: the window was cold
    assert man.stats()["small_reads"] == 1
    assert c.map() == data[3_000_000:3_000_024]
    c.use_region(3_000_010, 10)  # inside the bytes read
    assert c.buffer() == data[3_000_010:3_000_020] and man.stats()["small_reads"] == 1
    c.use_region(3_000_100, 24)  # the same window again: now it is hot, and mapped
    assert c.region() is not None and c.buffer() == data[3_000_100:3_000_124]
    off = smmap.SlidingWindowMapManager(window_size=1 << 20, max_memory_size=2 << 20, small_reads=False)
    c2 = off.make_cursor(path)
    assert c2.use_region(3_000_000, 24).region() is not None and "small_reads" not in off.stats()


def test_defaults_and_counters():
    big = sys.maxsize > 2**32
    s, t = smmap.SlidingWindowMapManager(), smmap.StaticWindowMapManager()
    assert s.window_size() == (1024 if big else 64) * 2**20
    assert t.window_size() == 0 and smmap.StaticWindowMapManager(-1).window_size() == s.window_size()
    for m in (s, t):
        assert m.max_mapped_memory_size() == (8192 if big else 1024) * 2**20
        assert m.max_file_handles() == sys.maxsize
        assert (m.num_file_handles(), m.num_open_files(), m.mapped_memory_size()) == (0, 0, 0)
        assert m._collect_lru_region(0) == 0 and m._collect_lru_region(sys.maxsize) == 0
    assert isinstance(s, smmap.StaticWindowMapManager)
    assert smmap.mman.StaticWindowMapManager.MapRegionListCls is smmap.util.MapRegionList
    assert smmap.version_info == (5, 0, 3) and smmap.__version__ == "5.0.3"


def test_region_objects_and_client_counts(datafile):
    path, data = datafile(1 << 20)
    man = smmap.SlidingWindowMapManager(window_size=1 << 18, max_memory_size=1 << 30, small_reads=False)
    c = man.make_cursor(path)
    r = c.use_region(1000, 50).region()
    assert (r.ofs_begin(), r._b) == (0, 0) and r.size() == 1 << 18 and r.client_count() == 2
    assert c.region() is r and c.use_region(2000, 10).region() == r
    w = MapWindow.from_region(r)
    assert (w.ofs, w.ofs_end()) == (r.ofs_begin(), r.ofs_end())
    c.use_region(900_000, 10)
    assert c.region() != r and r.client_count() == 1  # cached, unused
    assert r.map()[1000:1050] == data[1000:1050]
    c.unuse_region()
    assert man.collect() == 2 and r.client_count() == 0


def test_copy_and_assign_work(datafile):
    path, data = datafile(300_000)
    man = smmap.SlidingWindowMapManager(window_size=1 << 16)
    c = man.make_cursor(path).use_region(70_000, 30)
    d = copy.copy(c)
    assert d.is_valid() and d.buffer() == data[70_000:70_030]
    # Python smmap's copies fail on their next use_region; these are full cursors.
    assert d.use_region(250_000, 100).buffer() == data[250_000:250_100]
    e = smmap.WindowCursor(man)
    assert not e.is_associated() and e.size() == 0
    e.assign(c)
    assert e.is_associated() and e.buffer() == data[70_000:70_030]
    with c:
        pass
    assert not c.is_valid() and c.is_associated()


def test_buffer_indexes_absolute_offsets_like_python_smmap(datafile):
    path, data = datafile(200_000)
    man = smmap.SlidingWindowMapManager(window_size=1 << 16)
    buf = smmap.SlidingWindowMapBuffer(man.make_cursor(path), offset=100)
    assert len(buf) == len(data) - 100
    assert buf[0] == data[0] and buf[150_000] == data[150_000]
    assert buf[-1] == data[len(buf) - 1]
    assert buf[10:20] == data[10:20] and buf[-10:] == data[len(buf) - 10:len(buf)]
    assert buf[5:0] == data[5:len(buf)]  # stop 0 means "to the end", as there
    assert buf[0:100:7] == data[0:100]   # the step is ignored, as there
    rng = random.Random(3)
    for _ in range(300):
        a = rng.randrange(0, len(buf))
        b = rng.randrange(a, len(buf) + 1)
        assert buf[a:b] == data[a:b]
        assert buf[a] == data[a]
    with pytest.raises(AssertionError):
        buf[len(data) - 10:len(data) + 10]
    buf.end_access()
    assert len(buf) == 0 and not buf.cursor().is_valid()
    with pytest.raises(ValueError):
        smmap.SlidingWindowMapBuffer(man.make_cursor(path), len(data))
    with pytest.raises(AttributeError):
        len(smmap.SlidingWindowMapBuffer())


def test_map_acts_like_mmap(datafile):
    path, data = datafile(100_000)
    c = smmap.StaticWindowMapManager().make_cursor(path).use_region()
    m = c.map()
    assert len(m) == len(data) and m[:4] == data[:4] and isinstance(m[:4], bytes)
    assert m[7] == data[7] and m[-1] == data[-1] and m[10:1:-3] == data[10:1:-3]
    assert struct.unpack_from(">L", m, 40) == struct.unpack_from(">L", data, 40)
    assert bytes(m) == data and memoryview(m).readonly
    with pytest.raises(IndexError):
        m[len(data)]
    with pytest.raises(TypeError):
        type(m)()
    mv = c.buffer()
    with pytest.raises(TypeError):
        mv[0] = 1


def test_errors_are_python_smmaps(datafile, tmp_path):
    man = smmap.SlidingWindowMapManager()
    with pytest.raises(FileNotFoundError):
        man.make_cursor(str(tmp_path / "missing")).use_region(0, 1)
    with pytest.raises(OSError):
        man.make_cursor(str(tmp_path)).use_region(0, 1)
    with pytest.raises(AttributeError):
        smmap.WindowCursor().file_size()
    path, _ = datafile(10)
    c = man.make_cursor(path)
    with pytest.raises(AttributeError):
        c.buffer()  # no region yet
    with pytest.raises(ValueError):
        c.use_region(-1, 10)
    with pytest.raises(ValueError):
        c.fd()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert not man.make_cursor(str(empty)).use_region().is_valid()


def test_standalone_map_region(datafile):
    path, data = datafile(50_000)
    rofs = align_to_mmap(4200, False)
    r = MapRegion(path, rofs, 10**9)
    assert (r.ofs_begin(), r.size(), r.ofs_end()) == (rofs, len(data) - rofs, len(data))
    assert r.includes_ofs(rofs) and not r.includes_ofs(-1) and not r.includes_ofs(sys.maxsize)
    assert r.buffer()[:100] == data[rofs:rofs + 100]
    assert r.client_count() == 1 and not r.increment_client_count() and r.client_count() == 2
    r.increment_client_count(-1)
    assert r.increment_client_count(-1)  # released at 0
    with pytest.raises(ValueError):
        r.map()
    with pytest.raises(ValueError):
        MapRegion(path, len(data), 10)
    assert align_to_mmap(1, True) == ALLOCATIONGRANULARITY
