"""The DICOM plan's hash is computed once per process and never travels in a pickle."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest

import lazyvol as lv
from lazyvol import chunking
from lazyvol.dicom.pixels import DicomPlan
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _plan(tmp_path) -> DicomPlan:
    write_dicom_series(tmp_path / "s", (8, 6, 5), seed=1)
    _read, plan = chunking.source_of(lv.open(tmp_path / "s").data) or (None, None)
    assert isinstance(plan, DicomPlan)
    return plan


def test_hash_is_the_fields_hash_and_is_kept(tmp_path, monkeypatch) -> None:
    plan = _plan(tmp_path)
    fields = tuple(getattr(plan, f.name) for f in dataclasses.fields(plan))
    assert hash(plan) == hash(fields)
    # Computed once: a second hash does not look at the fields again.
    calls = []
    real_fields = dataclasses.fields
    monkeypatch.setattr(
        "lazyvol._cachedhash.fields", lambda obj: calls.append(obj) or real_fields(obj)
    )
    assert hash(plan) == hash(fields)
    assert calls == []
    # Equal plans (a copy made field by field) are equal and hash alike; a changed plan does not.
    twin = dataclasses.replace(plan)
    assert twin == plan and hash(twin) == hash(plan)
    other = dataclasses.replace(plan, offsets=tuple(o + 1 for o in plan.offsets))
    assert other != plan


def test_cached_hash_is_not_pickled(tmp_path) -> None:
    """String hashes differ between processes: a worker must hash its copy itself."""
    plan = _plan(tmp_path)
    hash(plan)
    blob = pickle.dumps(plan)
    back = pickle.loads(blob)
    assert "_cached_hash" not in back.__dict__
    assert back == plan and hash(back) == hash(plan)
    # In another process (another string-hash seed) the unpickled plan hashes as a plan built there.
    code = (
        "import pickle, sys, dataclasses\n"
        "p = pickle.loads(sys.stdin.buffer.read())\n"
        "fresh = tuple(getattr(p, f.name) for f in dataclasses.fields(p))\n"
        "print(hash(p) == hash(fresh), hash(p))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=blob, capture_output=True, check=True
    ).stdout.split()
    assert out[0] == b"True"
    assert int(out[1]) != hash(plan)  # another seed: the parent's cached value would be wrong
