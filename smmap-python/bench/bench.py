"""Benchmark: this package against pure-Python smmap 5.0.3 and os.pread, in one run.

Python smmap's own setup: a 256 MiB file of random bytes, 1 MiB windows, a 16 MiB budget.

- records: random 24-byte records through ``use_region(ofs, 24).buffer()`` (and os.pread);
- scan: the whole file in order through ``SlidingWindowMapBuffer`` slices of 4 KiB and of
  64 KiB (and os.pread of the same sizes).

Usage::

    python bench.py compare --ours PYTHON --reference PYTHON [--size-mib 256] [--records N]

runs ``bench.py measure`` under each interpreter (each imports its own ``smmap``) on the same
file and prints the figures and the ratios. ``measure`` alone prints one interpreter's figures
as JSON.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

WINDOW = 1 << 20
BUDGET = 16 << 20
RECORD = 24


def make_file(path, size):
    rng = random.Random(1234)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n) if hasattr(rng, "randbytes") else os.urandom(n))
            left -= n


def offsets(size, n, seed=42):
    rng = random.Random(seed)
    return [rng.randrange(0, size - RECORD) for _ in range(n)]


def best_of(reps, fn):
    best = None
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best


def measure(path, n_records, reps, with_pread):
    import smmap

    size = os.path.getsize(path)
    ofs = offsets(size, n_records)
    out = {"impl": smmap.__file__, "python": sys.version.split()[0]}

    def records():
        man = smmap.SlidingWindowMapManager(window_size=WINDOW, max_memory_size=BUDGET)
        c = man.make_cursor(path)
        total = 0
        for o in ofs:
            total += c.use_region(o, RECORD).buffer()[0]
        return total

    out["records_per_s"] = n_records / best_of(reps, records)

    def scan(chunk):
        def run():
            man = smmap.SlidingWindowMapManager(window_size=WINDOW, max_memory_size=BUDGET)
            buf = smmap.SlidingWindowMapBuffer(man.make_cursor(path))
            n = 0
            for o in range(0, size, chunk):
                n += len(buf[o:o + chunk])
            assert n == size, (n, size)
        return size / best_of(reps, run) / (1 << 20)

    out["scan_4k_mib_s"] = scan(4096)
    out["scan_64k_mib_s"] = scan(65536)

    if with_pread:
        fd = os.open(path, os.O_RDONLY)
        try:
            def pread_records():
                total = 0
                for o in ofs:
                    total += os.pread(fd, RECORD, o)[0]
                return total
            out["pread_records_per_s"] = n_records / best_of(reps, pread_records)

            def pread_scan(chunk):
                def run():
                    n = 0
                    for o in range(0, size, chunk):
                        n += len(os.pread(fd, chunk, o))
                    assert n == size
                return size / best_of(reps, run) / (1 << 20)
            out["pread_scan_4k_mib_s"] = pread_scan(4096)
            out["pread_scan_64k_mib_s"] = pread_scan(65536)
        finally:
            os.close(fd)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("path")
    m.add_argument("--records", type=int, default=200_000)
    m.add_argument("--reps", type=int, default=3)
    m.add_argument("--pread", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("--ours", required=True, help="interpreter with this package installed")
    c.add_argument("--reference", required=True, help="interpreter with Python smmap 5.0.3")
    c.add_argument("--size-mib", type=int, default=256)
    c.add_argument("--records", type=int, default=200_000)
    c.add_argument("--reference-records", type=int, default=50_000)
    c.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()

    if a.cmd == "measure":
        print(json.dumps(measure(a.path, a.records, a.reps, a.pread)))
        return

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "data.bin")
        make_file(path, a.size_mib << 20)

        def run(py, n, pread):
            args = [py, os.path.abspath(__file__), "measure", path, "--records", str(n), "--reps", str(a.reps)]
            if pread:
                args.append("--pread")
            return json.loads(subprocess.check_output(args))

        ref = run(a.reference, a.reference_records, False)
        ours = run(a.ours, a.records, True)

    rows = [
        ("random 24-byte records/s", "records_per_s", "pread_records_per_s"),
        ("scan, 4 KiB slices, MiB/s", "scan_4k_mib_s", "pread_scan_4k_mib_s"),
        ("scan, 64 KiB slices, MiB/s", "scan_64k_mib_s", "pread_scan_64k_mib_s"),
    ]
    print("file %d MiB, window %d KiB, budget %d MiB; Python %s" % (
        a.size_mib, WINDOW >> 10, BUDGET >> 20, ours["python"]))
    print("%-28s %14s %14s %14s %10s %10s" % ("", "this package", "Python smmap", "os.pread", "vs smmap", "vs pread"))
    for name, k, kp in rows:
        print("%-28s %14.0f %14.0f %14.0f %9.1fx %9.2fx" % (
            name, ours[k], ref[k], ours[kp], ours[k] / ref[k], ours[k] / ours[kp]))


if __name__ == "__main__":
    main()
