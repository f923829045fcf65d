import os
import random

import pytest


@pytest.fixture
def datafile(tmp_path):
    """A file of random bytes and its content: ``make(size) -> (path, data)``."""
    rng = random.Random(0x5eed)

    def make(size, name="data.bin"):
        data = bytes(rng.getrandbits(8) for _ in range(min(size, 4096))) * (size // 4096 + 1)
        # random throughout, not a repeated block: mix in the offset
        data = bytearray(data[:size])
        for i in range(0, size, 997):
            data[i] = rng.getrandbits(8)
        data = bytes(data)
        path = tmp_path / name
        path.write_bytes(data)
        return str(path), data

    return make


def open_fds():
    return len(os.listdir("/proc/self/fd"))
