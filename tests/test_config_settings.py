"""Settings from the environment (and dask's config) that cannot be read, or that are 0 or
negative, are one typed error naming the setting: not a traceback (``LAZYVOL_MAX_SCAN_FILES=abc``
raised int()'s ValueError), and not a refusal of every source "over the limit of -5"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dask
import pytest

import lazyvol as lv
from lazyvol import config
from lazyvol.testing import write_dicom_series

SETTINGS = [
    ("LAZYVOL_MAX_SCAN_FILES", "max-scan-files", config.max_scan_files),
    ("LAZYVOL_MAX_VOLUME_BYTES", "max-volume-bytes", config.max_volume_bytes),
    ("LAZYVOL_MAX_CHUNK_BYTES", "max-chunk-bytes", config.max_chunk_bytes),
    ("LAZYVOL_CHUNK_SIZE", "chunk-size", config.chunk_budget),
]


@pytest.mark.parametrize(("env", "key", "getter"), SETTINGS)
@pytest.mark.parametrize("value", ["abc", "-5", "0", "nan", "inf", "1.5x"])
def test_bad_setting_is_an_option_error(monkeypatch, env, key, getter, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(lv.OptionError, match=env):
        getter()
    monkeypatch.delenv(env)
    with dask.config.set({f"lazyvol.{key}": value}), pytest.raises(lv.OptionError, match=key):
        getter()


def test_good_settings_still_read(monkeypatch):
    monkeypatch.setenv("LAZYVOL_MAX_SCAN_FILES", "2e5")
    assert config.max_scan_files() == 200000
    monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", "1GiB")
    assert config.max_volume_bytes() == 2**30
    monkeypatch.setenv("LAZYVOL_CHUNK_SIZE", "4096")
    assert config.chunk_budget() == 4096
    with dask.config.set({"lazyvol.max-scan-files": 7}):
        monkeypatch.delenv("LAZYVOL_MAX_SCAN_FILES")
        assert config.max_scan_files() == 7


def test_cli_says_it_in_one_line(tmp_path):
    write_dicom_series(tmp_path / "s", (4, 3, 2))
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src, "LAZYVOL_CACHE_DIR": str(tmp_path / "cache")}
    env["LAZYVOL_MAX_SCAN_FILES"] = "abc"
    cmd = [sys.executable, "-m", "lazyvol", "info", str(tmp_path / "s")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("lazyvol: error: LAZYVOL_MAX_SCAN_FILES='abc'")


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "30s"])
def test_a_bad_remote_timeout_is_an_option_error(monkeypatch, value):
    """LAZYVOL_REMOTE_TIMEOUT=abc, 0 or nan silently became 30 s, and inf (no timeout: a
    stalled server hangs the read) was taken (h94)."""
    from lazyvol._io_remote import remote_timeout

    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", value)
    with pytest.raises(lv.OptionError, match=r"LAZYVOL_REMOTE_TIMEOUT=.*seconds"):
        remote_timeout()
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", " 2.5 ")
    assert remote_timeout() == 2.5
    monkeypatch.delenv("LAZYVOL_REMOTE_TIMEOUT")
    assert remote_timeout() == 30.0


def test_the_gzip_settings_take_what_the_docs_say(monkeypatch):
    """LAZYVOL_GZIP_THREADS=0 is one thread and LAZYVOL_GZIP_MEMORY=0 the least memory (one
    thread, the smaller chunk), as docs/errors.md says; an unknown LAZYVOL_GZIP_ENGINE
    (rapid) was ignored: now an OptionError naming it."""
    from lazyvol import gzengine

    monkeypatch.setattr(gzengine, "_cores", lambda: 16)
    monkeypatch.setenv(gzengine.THREADS_ENV, "0")
    assert gzengine.gzip_threads() == 1
    monkeypatch.delenv(gzengine.THREADS_ENV)
    monkeypatch.setenv(gzengine.MEMORY_ENV, "0")
    assert gzengine.gzip_threads() == 1
    assert gzengine._chunk_size(1, indexed=False) == gzengine.RG_CHUNK
    for value in ("rapid", "zlib"):
        monkeypatch.setenv(gzengine.ENGINE_ENV, value)
        with pytest.raises(lv.OptionError, match=rf"LAZYVOL_GZIP_ENGINE='{value}'"):
            gzengine.engine()
    monkeypatch.setenv(gzengine.ENGINE_ENV, "igzip")
    assert gzengine.index_engine() == "indexed_gzip"


def test_a_forced_engine_that_is_not_installed_is_an_option_error(monkeypatch):
    """LAZYVOL_GZIP_ENGINE=rapidgzip without rapidgzip raised a bare ImportError."""
    import builtins

    from lazyvol import gzengine

    real_import = builtins.__import__

    def no_rapidgzip(name, *args, **kwargs):
        if name == "rapidgzip":
            raise ImportError("No module named 'rapidgzip'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rapidgzip)
    monkeypatch.setenv(gzengine.ENGINE_ENV, "rapidgzip")
    with pytest.raises(lv.OptionError, match=r"LAZYVOL_GZIP_ENGINE=rapidgzip .*pip install"):
        gzengine.engine()
    monkeypatch.delenv(gzengine.ENGINE_ENV)
    assert gzengine.engine() == "indexed_gzip"
