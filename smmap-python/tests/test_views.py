"""Views keep their region mapped: eviction never invalidates a live view."""
import gc

import smmap

W = 1 << 16


def test_a_view_outlives_the_eviction_of_its_region(datafile):
    path, data = datafile(64 * W)
    man = smmap.SlidingWindowMapManager(window_size=W, max_memory_size=2 * W, small_reads=False)
    c = man.make_cursor(path)
    mv = c.use_region(100, 20_000).buffer()
    part = mv[5_000:6_000]
    m = c.map()
    for k in range(4, 64, 2):  # many windows through a 2-window budget
        c.use_region(k * W // 2 * 2, 100)
        assert c.buffer() == data[k * W:k * W + 100]
    assert man.stats()["evictions"] > 10
    # Python smmap raises BufferError while unmapping here; these views are still good.
    assert mv == data[100:20_100] and part == data[5_100:6_100] and m[:50] == data[:50]
    del mv
    gc.collect()
    assert part == data[5_100:6_100]  # a slice alone keeps the region too
    c.unuse_region()
    man.collect()
    assert man.num_file_handles() == 1  # the region the slice and map() still hold
    del part, m
    gc.collect()
    assert man.collect() == 1 and man.num_file_handles() == 0


def test_views_of_buffer_slices_survive_the_buffer(datafile):
    path, data = datafile(40 * W)
    man = smmap.SlidingWindowMapManager(window_size=W, max_memory_size=2 * W)
    buf = smmap.SlidingWindowMapBuffer(man.make_cursor(path))
    slices = [(o, buf[o:o + 3000]) for o in range(0, 40 * W - 3000, 7 * W + 123)]
    big = buf[1000:1000 + 10 * W]  # longer than a window: a region of its own
    del buf
    gc.collect()
    for o, s in slices:
        assert s == data[o:o + 3000]
    assert big == data[1000:1000 + 10 * W]
    del slices, big, s
    gc.collect()
    man.collect()
    assert man.num_file_handles() == 0


def test_a_live_view_counts_as_a_client(datafile):
    path, data = datafile(8 * W)
    man = smmap.SlidingWindowMapManager(window_size=W, small_reads=False)
    c = man.make_cursor(path)
    c.use_region(0, 100)
    r = c.region()
    assert r.client_count() == 2
    mv = c.buffer()
    c.use_region(5 * W, 10)  # the cursor moves on; the view still uses the region
    assert r.client_count() == 2
    del mv
    gc.collect()
    assert r.client_count() == 1
