"""Determinism: the same DICOM files, listed in any order and under any names, give identical
grouping, series ids, shapes, affines, 4th-axis values and data (property test)."""

from __future__ import annotations

import importlib
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyvol as lv
from lazyvol.testing import write_dicom_series

scan_mod = importlib.import_module("lazyvol.dicom.listing")
LONG = os.environ.get("LAZYVOL_FUZZ") == "long"


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    d = tmp_path_factory.mktemp("orig")
    write_dicom_series(d, (8, 6, 5), prefix="A", seed=1, series_number=1)
    uid = "1.2.826.0.1.3680043.8.498.90"
    for echo in (1, 2):
        write_dicom_series(
            d, (6, 6, 4), prefix=f"E{echo}", seed=10 + echo, series_uid=uid, modality="MR",
            series_number=2, extra={"EchoTime": str(10 * echo), "EchoNumbers": echo},
        )  # fmt: skip
    # a localizer with the same SeriesInstanceUID as the first series: its own group
    write_dicom_series(
        d, (8, 6, 1), prefix="L", seed=1, series_number=1,
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), orientation="sagittal",
    )  # fmt: skip
    return sorted(d.glob("*.dcm"))


def _summary(folder: Path) -> list[tuple]:
    report = lv.scan(folder, use_index=False)
    out = []
    for info in report:
        vol = lv.open(folder, series=info.id, use_index=False)
        out.append(
            (
                info.id,
                info.uid,
                tuple(vol.shape),
                np.round(vol.affine, 9).tobytes(),
                repr(vol.meta.get("axis4_values")),
                vol.compute().tobytes(),
            )
        )
    return sorted(out)


@pytest.fixture(scope="module")
def baseline(originals, tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    for p in originals:
        shutil.copy(p, d / p.name)
    return _summary(d)


@settings(
    max_examples=200 if LONG else 15,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(data=st.data())
def test_order_and_names_do_not_matter(originals, baseline, tmp_path, monkeypatch, data):
    n = len(originals)
    perm = data.draw(st.permutations(range(n)), label="file order")
    names = data.draw(
        st.lists(
            st.text(alphabet="abcdefXYZ0123456789_-.", min_size=1, max_size=12),
            min_size=n, max_size=n, unique_by=str.lower,
        ),
        label="names",
    )  # fmt: skip
    nest = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n), label="subfolder")
    folder = tmp_path / uuid.uuid4().hex
    for k, i in enumerate(perm):
        sub = folder / ("" if nest[k] == 0 else f"d{nest[k]}")
        sub.mkdir(parents=True, exist_ok=True)
        name = names[k].strip(".") or "x"
        shutil.copy(originals[i], sub / f"{name}_{k}")
    # the directory listing comes back in a drawn order too
    listing_seed = data.draw(st.integers(0, 2**31 - 1), label="listing order")
    real_scandir = os.scandir

    class _Listing:
        def __init__(self, path):
            rng = np.random.default_rng(listing_seed)
            with real_scandir(path) as it:
                entries = list(it)
            self.entries = [entries[i] for i in rng.permutation(len(entries))]

        def __iter__(self):
            return iter(self.entries)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(scan_mod.os, "scandir", _Listing)
    try:
        got = _summary(folder)
    finally:
        monkeypatch.undo()
    assert len(got) == len(baseline)
    for a, b in zip(got, baseline):
        assert a[:5] == b[:5]
        assert a[5] == b[5]
