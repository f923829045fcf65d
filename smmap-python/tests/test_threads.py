"""One manager shared by many threads."""
import random
import threading

import smmap


def test_threads_share_one_manager(datafile):
    paths = [datafile(1 << 20, name="f%d" % i) for i in range(3)]
    man = smmap.SlidingWindowMapManager(window_size=1 << 16, max_memory_size=1 << 18, max_open_handles=8)
    errors = []

    def work(seed):
        try:
            rng = random.Random(seed)
            cursors = [(man.make_cursor(p), d) for p, d in paths]
            bufs = [(smmap.SlidingWindowMapBuffer(man.make_cursor(p)), d) for p, d in paths]
            for _ in range(1500):
                c, d = rng.choice(cursors)
                o = rng.randrange(0, len(d))
                n = rng.choice([1, 24, 4096, 30_000])
                got = c.use_region(o, n).buffer()
                assert got == d[o:o + c.size()] and c.size() == min(n, len(d) - o)
                b, d = rng.choice(bufs)
                o = rng.randrange(0, len(d) - 5000)
                assert b[o:o + 5000] == d[o:o + 5000]
                if rng.random() < 0.05:
                    man.collect()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert man.stats()["peak_regions"] >= 2


def test_the_gil_is_released_while_mapping(datafile):
    # A thread that maps in a loop must not starve a pure-Python thread.
    path, data = datafile(4 << 20)
    man = smmap.SlidingWindowMapManager(window_size=1 << 16, max_memory_size=1 << 17, small_reads=False)
    stop = threading.Event()
    ticks = [0]

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    c = man.make_cursor(path)
    rng = random.Random(5)
    for _ in range(3000):
        o = rng.randrange(0, len(data) - 100)
        assert c.use_region(o, 100).buffer() == data[o:o + 100]
    stop.set()
    t.join()
    assert ticks[0] > 0


def test_threads_share_one_cursor(datafile):
    # gitdb keeps one cursor per pack and calls `c.use_region(ofs).buffer()` from any thread:
    # each thread gets its own position, so it reads what it asked for.
    path, data = datafile(2 << 20)
    man = smmap.SlidingWindowMapManager(window_size=1 << 16, max_memory_size=1 << 18)
    c = man.make_cursor(path)
    c.use_region(1000, 10)
    errors = []

    def work(seed):
        try:
            rng = random.Random(seed)
            for _ in range(3000):
                o = rng.randrange(0, len(data) - 40_000)
                n = rng.choice([1, 24, 3000, 30_000])  # up to half a window: never short
                assert c.use_region(o, n).buffer() == data[o:o + n]
                assert c.ofs_begin() == o and c.size() == n
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert c.buffer() == data[1000:1010]  # this thread's position is its own too
    # A thread new to the cursor starts where the cursor last was (a hand-over).
    c.use_region(5000, 10)
    seen = []
    t = threading.Thread(target=lambda: seen.append((c.ofs_begin(), bytes(c.buffer()))))
    t.start()
    t.join()
    assert seen == [(5000, data[5000:5010])]
