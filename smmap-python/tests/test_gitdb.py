"""gitdb (GitPython's object database) reading packs through this package, against git."""
import shutil
import subprocess
import threading

import pytest

gitdb = pytest.importorskip("gitdb")
if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)


def git(repo, *args, **kw):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, **kw).stdout


def test_gitdb_reads_packed_objects_as_git_does(tmp_path):
    import random

    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    rng = random.Random(7)
    for i in range(60):
        for k in range(3):
            (repo / ("f%d" % rng.randrange(12))).write_bytes(
                rng.randbytes(rng.randrange(10, 20000)) if hasattr(rng, "randbytes") else b"x" * i)
        git(repo, "add", "-A")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c%d" % i)
    git(repo, "gc", "-q")  # one pack with deltas
    shas = git(repo, "rev-list", "--objects", "--all").decode().split()
    shas = [s for s in shas if len(s) == 40]
    out = git(repo, "cat-file", "--batch", input=("\n".join(shas) + "\n").encode())
    ref, i = {}, 0
    while i < len(out):
        nl = out.index(b"\n", i)
        sha, typ, size = out[i:nl].split()
        size = int(size)
        ref[sha.decode()] = (typ, out[nl + 1:nl + 1 + size])
        i = nl + 1 + size + 1

    from gitdb import GitDB
    from gitdb.util import hex_to_bin
    db = GitDB(str(repo / ".git" / "objects"))
    errors = []

    def check(sub):
        try:
            for s in sub:
                o = db.stream(hex_to_bin(s))
                assert (o.type, o.read()) == ref[s], s
        except Exception as e:
            errors.append(e)

    check(shas)
    threads = [threading.Thread(target=check, args=(shas[k::4] * 3,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
