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
