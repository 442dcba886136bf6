"""Property-based fuzzing of lazyvol-written Zarr stores: bit flips, truncations, extensions, swapped
or foreign chunk files, deleted files and edited metadata give a LazyvolError or the exact values
written, never a wrong value or another exception. Any change to a store's bytes must be refused.

The default run uses a fast profile; ``LAZYVOL_FUZZ=long pytest tests/test_fuzz_zarr.py`` runs the
long one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyvol as lv
import lazyvol.zarr_io

LONG = os.environ.get("LAZYVOL_FUZZ") == "long"
FUZZ = settings(
    max_examples=1500 if LONG else 40,
    deadline=20_000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not LONG,
)
SHAPE = (24, 20, 12)
KINDS = {
    "zstd": {"codec": "zstd", "chunks": (12, 10, 6), "shards": False},
    "blosc-lz4": {"codec": "blosc-lz4", "chunks": (12, 10, 6), "shards": False},
    "none": {"codec": "none", "chunks": (12, 10, 6), "shards": False},
    "zstd-sharded": {"codec": "zstd", "chunks": (6, 5, 3), "shards": (12, 10, 6)},
    "none-sharded": {"codec": "none", "chunks": (6, 5, 3), "shards": (12, 10, 6)},
    "two-levels": {"codec": "zstd", "chunks": (12, 10, 6), "shards": False, "levels": 2},
}
TRUTH = np.random.default_rng(7).integers(-2000, 2000, SHAPE).astype(np.int16)
TRUTH[:8, :8, :4] = 0  # an all-zero chunk: equal chunk files exist


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("zarr-fuzz")
    return {
        k: lv.Volume(TRUTH, np.diag([0.9, 1.1, 2.0, 1.0])).to_zarr(root / f"{k}.zarr", **kw)
        for k, kw in KINDS.items()
    }


def _files(store: str) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), store) for d, _, fs in os.walk(store) for f in fs
    )


def _snapshot(store: str) -> dict[str, bytes]:
    return {f: Path(store, f).read_bytes() for f in _files(store)}


MUTATIONS = ("flip", "truncate", "extend", "swap", "foreign", "delete", "json-edit", "overwrite")


def _mutate(store: str, other: str, op: str, pick: int, where: float, bit: int) -> None:
    files = _files(store)
    chunks = [f for f in files if f.split(os.sep)[1:2] == ["c"]]
    meta = [f for f in files if f.endswith("zarr.json") or f.endswith("manifest.json")]
    pool = meta if op == "json-edit" else (chunks or files)
    target = Path(store, pool[pick % len(pool)])
    raw = bytearray(target.read_bytes())
    pos = min(len(raw) - 1, int(where * len(raw)))
    if op == "flip":
        raw[pos] ^= 1 << bit
    elif op == "truncate":
        del raw[pos:]
    elif op == "extend":
        raw += bytes([bit]) * (1 + pos % 9)
    elif op == "overwrite":
        raw[pos : pos + 4] = bytes([bit * 31 % 256]) * 4
    elif op == "swap":
        other_chunk = Path(store, chunks[(pick + 1 + bit) % len(chunks)])
        if other_chunk != target:
            tmp = target.with_name(target.name + ".tmp")
            target.rename(tmp)
            other_chunk.rename(target)
            tmp.rename(other_chunk)
        return
    elif op == "foreign":
        rel = os.path.relpath(target, store)
        if Path(other, rel).is_file():
            raw = bytearray(Path(other, rel).read_bytes())
    elif op == "delete":
        target.unlink()
        return
    elif op == "json-edit":
        text = raw.decode()
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and bit % 2 == 0:
            # an edit a person or tool would make: a value changed, the file rewritten tidily
            attrs = obj.get("attributes") or {}
            if "data_type" in obj:
                obj["data_type"] = ["uint16", "int32", "float16", "int8"][bit // 2 % 4]
            elif "lazyvol" in attrs:
                attrs["lazyvol"]["affine"][0][3] += 1.0
            else:  # the manifest: a chunk's recorded fingerprint "corrected"
                table = attrs["lazyvol_manifest"]["levels"][0]["chunks"]
                key = sorted(table)[pick % len(table)]
                table[key][1] ^= 1 << bit
            text = json.dumps(obj, indent=bit)
        else:
            text = text[:pos] + chr(32 + (ord(text[pos]) + bit) % 90) + text[pos + 1 :]
        raw = bytearray(text.encode())
    target.write_bytes(bytes(raw))


def _check(store: str, before: dict[str, bytes], pristine: str) -> None:
    changed = _snapshot(store) != before
    levels = 2 if Path(store, "1").is_dir() else 1
    try:
        vol = lv.open(store, chunks=(7, 9, 5))
        got = vol.compute()
        got_auto = lv.open(store).compute()
        got_levels = [lv.zarr_io.open_zarr(store, level=n).compute() for n in range(1, levels)]
    except lv.LazyvolError:
        return
    np.testing.assert_array_equal(got, TRUTH)
    np.testing.assert_array_equal(got_auto, TRUTH)
    for n, arr in enumerate(got_levels, start=1):
        np.testing.assert_array_equal(arr, lv.zarr_io.open_zarr(pristine, level=n).compute())
    # correct data from a changed store: only when no byte that matters changed (a swap of two
    # identical chunk files, or a JSON edit that kept the bytes)
    assert not changed or _same_content(store, before), "a changed store was read without error"


def _same_content(store: str, before: dict[str, bytes]) -> bool:
    now = _snapshot(store)
    return sorted(now.values()) == sorted(before.values()) and set(now) == set(before)


@FUZZ
@given(
    kind=st.sampled_from(sorted(KINDS)),
    op=st.sampled_from(MUTATIONS),
    pick=st.integers(0, 1000),
    where=st.floats(0.0, 1.0, allow_nan=False),
    bit=st.integers(0, 7),
)
def test_mutated_stores(stores, tmp_path_factory, kind, op, pick, where, bit):
    work = tmp_path_factory.mktemp("m") / "s.zarr"
    shutil.copytree(stores[kind], work)
    other = stores["zstd" if kind != "zstd" else "blosc-lz4"]
    before = _snapshot(str(work))
    _mutate(str(work), other, op, pick, where, bit)
    _check(str(work), before, stores[kind])
    shutil.rmtree(work.parent, ignore_errors=True)


def test_unmutated_stores_read_back(stores):
    for store in stores.values():
        np.testing.assert_array_equal(lv.open(store).compute(), TRUTH)
