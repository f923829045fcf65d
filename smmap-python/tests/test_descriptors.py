"""Cursors made from descriptors and paths of every kind, and descriptors never leaked."""
import gc
import os
import pathlib

import pytest

import smmap
from conftest import open_fds


def test_cursor_from_a_descriptor(datafile):
    path, data = datafile(500_000)
    fd = os.open(path, os.O_RDONLY)
    man = smmap.SlidingWindowMapManager(window_size=1 << 16)
    c = man.make_cursor(fd)
    assert c.path_or_fd() is fd and c.fd() == fd and c.file_size() == len(data)
    with pytest.raises(ValueError):
        c.path()
    os.close(fd)  # the manager holds its own duplicate
    assert c.use_region(123_456, 30_000).buffer() == data[123_456:153_456]
    assert c.use_region(400_000, 24).buffer() == data[400_000:400_024]
    # the same file by path shares the regions
    p = man.make_cursor(path).use_region(123_456, 100)
    assert p.buffer() == data[123_456:123_556]


def test_a_closed_descriptor_is_an_oserror():
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    with pytest.raises(OSError):
        smmap.SlidingWindowMapManager().make_cursor(fd)


def test_paths_of_every_kind(datafile):
    path, data = datafile(10_000)
    man = smmap.StaticWindowMapManager()
    for p in (path, os.fsencode(path), pathlib.Path(path)):
        c = man.make_cursor(p)
        assert c.path() is p and c.use_region(10, 10).buffer() == data[10:20]
    assert man.num_file_handles() == 1  # one file, however it is named


def test_no_descriptor_leaks(datafile):
    path, data = datafile(300_000)
    gc.collect()
    before = open_fds()
    for _ in range(3):
        man = smmap.SlidingWindowMapManager(window_size=1 << 16, max_memory_size=1 << 17)
        for _ in range(50):
            fd = os.open(path, os.O_RDONLY)
            for key in (path, fd):
                c = man.make_cursor(key)
                assert c.use_region(200_000, 24).buffer() == data[200_000:200_024]
                assert c.use_region(1000, 40_000).buffer()[:10] == data[1000:1010]
                buf = smmap.SlidingWindowMapBuffer(man.make_cursor(key))
                assert buf[5:70_000] == data[5:70_000]
                del c, buf
            os.close(fd)
        man.collect()
        del man
    gc.collect()
    assert open_fds() == before
