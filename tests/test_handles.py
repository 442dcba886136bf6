"""The process-wide handle manager (lazyvol.handles): bounded, thread-safe, fork- and exit-safe."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from lazyvol import handles


class Thing:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_same_entry_until_evicted_then_closed_least_recent_first() -> None:
    c = handles.HandleCache("t", max_entries=2)
    a = c.get("a", lambda: Thing("a"), close=Thing.close)
    b = c.get("b", lambda: Thing("b"), close=Thing.close)
    assert c.get("a", lambda: Thing("other")) is a  # "a" is now the most recent
    c.get("c", lambda: Thing("c"), close=Thing.close)
    assert b.closed and not a.closed
    assert "b" not in c and "a" in c and len(c) == 2
    c.discard("a")
    assert a.closed and "a" not in c
    c.clear()
    assert len(c) == 0


def test_concurrent_callers_open_once() -> None:
    c = handles.HandleCache("t", max_entries=4)
    calls = []

    def opener() -> Thing:
        calls.append(1)
        time.sleep(0.05)
        return Thing("x")

    got: list[Thing] = []
    threads = [threading.Thread(target=lambda: got.append(c.get("k", opener))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(g) for g in got}) == 1 and len(got) == 8


def test_failing_opener_leaves_nothing() -> None:
    c = handles.HandleCache("t", max_entries=2)

    def bad() -> Thing:
        raise OSError("no such device")

    with pytest.raises(OSError, match="no such device"):
        c.get("k", bad)
    assert "k" not in c and len(c) == 0
    assert c.get("k", lambda: Thing("ok")).name == "ok"


def test_a_failing_close_does_not_stop_the_others() -> None:
    c = handles.HandleCache("t", max_entries=4)
    good = c.get("good", lambda: Thing("g"), close=Thing.close)

    def boom(_: object) -> None:
        raise RuntimeError("close failed")

    c.get("bad", lambda: Thing("b"), close=boom)
    c.clear()
    assert good.closed and len(c) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_starts_empty_and_never_closes_the_parents_handles() -> None:
    c = handles.cache("test-fork", max_entries=4)
    parent_thing = c.get("k", lambda: Thing("parent"), close=Thing.close)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            ok = "k" not in c and c.get("k", lambda: Thing("child")).name == "child"
            handles.clear_all()
            os.write(w, b"1" if ok and not parent_thing.closed else b"0")
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1"
    os.close(r)
    assert c.get("k", lambda: Thing("new")) is parent_thing and not parent_thing.closed
    c.clear()


def test_entries_are_closed_at_interpreter_exit(tmp_path) -> None:
    marker = tmp_path / "closed"
    code = (
        "from lazyvol import handles\n"
        "c = handles.cache('exit', 2)\n"
        f"c.get('k', lambda: 1, close=lambda _: open({str(marker)!r}, 'w').write('x'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert marker.read_text() == "x"


def test_rapidgzip_handle_open_at_exit_does_not_abort(tmp_path) -> None:
    pytest.importorskip("rapidgzip")
    import gzip

    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(os.urandom(1 << 20) * 4, compresslevel=1))
    code = (
        "import os\n"
        "from lazyvol import gzaccess\n"
        f"src = gzaccess.GzSource.of({str(path)!r}, 4 << 20)\n"
        "buf = bytearray(1 << 20)\n"
        "print(gzaccess.read(src, 2 << 20, memoryview(buf)))\n"
    )
    env = {**os.environ, "LAZYVOL_CACHE_DIR": str(tmp_path / "cache"), "LAZYVOL_GZIP_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(1 << 20)
