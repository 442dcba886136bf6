"""lazyvol._forkhalf: half of a serial job in a forked child, same results, no result ever lost.

The scenarios run in a fresh interpreter (``_run``): this test process may hold threads left by
earlier tests (dask's pools), in which case lazyvol rightly refuses to fork at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from lazyvol import _forkhalf
from lazyvol.config import usable_cores

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or usable_cores() < 2,
    reason="forking a share of a scan is done on Linux with 2+ usable cores only",
)


def _run(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_child_takes_the_second_half_and_order_is_kept() -> None:
    out = _run(
        """
        import os
        from lazyvol._forkhalf import run_halves
        def fn(xs):
            return [[x * x, os.getpid()] for x in xs]
        got = run_halves(fn, list(range(101)), item_seconds=1.0)
        assert [v for v, _ in got] == [x * x for x in range(101)], got
        pids = [p for _, p in got]
        assert pids[:51] == [os.getpid()] * 51
        assert len(set(pids[51:])) == 1 and pids[51] != os.getpid()
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_failing_child_costs_time_not_results() -> None:
    out = _run(
        """
        import os
        from lazyvol._forkhalf import run_halves
        parent = os.getpid()
        def fn(xs):
            if os.getpid() != parent:
                raise RuntimeError("child fails")
            return [x + 1 for x in xs]
        assert run_halves(fn, list(range(10)), item_seconds=1.0) == list(range(1, 11))
        # Results marshal cannot carry: the child fails to send them; the parent computes them.
        class Odd:
            def __init__(self, x):
                self.x = x
        got = run_halves(lambda xs: [Odd(x) for x in xs], list(range(6)), item_seconds=1.0)
        assert [o.x for o in got] == list(range(6))
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_late_child_is_killed_and_its_half_done_by_the_parent() -> None:
    out = _run(
        """
        import os, time
        from lazyvol import _forkhalf
        _forkhalf.LATE_FACTOR = 0.0
        parent = os.getpid()
        pids = []
        real_fork = os.fork
        def fork():
            pid = real_fork()
            pids.append(pid)
            return pid
        os.fork = fork
        def fn(xs):
            if os.getpid() != parent:
                time.sleep(60)  # a child stuck (as on a lock held at fork time)
            return [x * 2 for x in xs]
        t = time.monotonic()
        assert _forkhalf.run_halves(fn, list(range(8)), item_seconds=1.0) == [x * 2 for x in range(8)]
        assert time.monotonic() - t < 30
        (pid,) = pids
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("reaped")
        """
    )
    assert out.strip() == "reaped"


def test_no_fork_with_other_threads_small_jobs_or_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_forkhalf.threading, "active_count", lambda: 1)
    assert _forkhalf.worth_forking(1000, 1e-3)
    assert not _forkhalf.worth_forking(10, 40e-6)  # saves less than a fork costs
    monkeypatch.setenv(_forkhalf.FORK_ENV, "0")
    assert not _forkhalf.worth_forking(1000, 1e-3)
    monkeypatch.delenv(_forkhalf.FORK_ENV)
    monkeypatch.setattr(_forkhalf.threading, "active_count", lambda: 2)
    assert not _forkhalf.worth_forking(1000, 1e-3)


def test_a_live_thread_means_no_fork() -> None:
    out = _run(
        """
        import os, threading
        from lazyvol._forkhalf import run_halves
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        try:
            got = run_halves(lambda xs: [os.getpid() for _ in xs], list(range(50)), item_seconds=1.0)
        finally:
            stop.set()
            t.join()
        assert set(got) == {os.getpid()}
        print("ok")
        """
    )
    assert out.strip() == "ok"


#: Prefix of a scenario: count the forks, and make a scan of 40 small files worth one.
_FORCED_FORK = textwrap.dedent(
    """
    import os
    from lazyvol.dicom import header_scan
    forks = []
    real_fork = os.fork
    def fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid
    os.fork = fork
    header_scan.HEADER_SECONDS = 1.0
    """
)


def test_header_scan_shares_work_with_a_child_and_matches_serial(tmp_path) -> None:
    from lazyvol.testing import write_dicom_series

    write_dicom_series(tmp_path / "s", (16, 12, 40), dtype="int16")
    out = _run(
        _FORCED_FORK
        + textwrap.dedent(
            f"""
        d = {str(tmp_path / "s")!r}
        files = sorted(os.path.join(d, f) for f in os.listdir(d))
        told = []
        shared = header_scan.parse_local(files, workers=None, progress_cb=told.append)
        assert len(forks) == 1, forks
        assert sum(told) == len(files), told
        serial = header_scan.parse_local(files, workers=1, progress_cb=None)
        assert shared == serial and len(serial) == 40
        print("ok")
        """
        )
    )
    assert out.strip() == "ok"


def test_no_child_outlives_a_scan(tmp_path) -> None:
    """The child that parsed half of the headers may still be exiting when its answer arrives
    (run_halves does not wait for it); the scan reaps it before returning: no zombie is left."""
    from lazyvol.testing import write_dicom_series

    write_dicom_series(tmp_path / "s", (16, 12, 40), dtype="int16")
    out = _run(
        _FORCED_FORK
        + textwrap.dedent(
            f"""
        import lazyvol
        (series,) = lazyvol.scan({str(tmp_path / "s")!r}, use_index=False)
        assert len(forks) == 1 and len(series.files) == 40, (forks, series)
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            print("no children")
        """
        )
    )
    assert out.strip() == "no children"
