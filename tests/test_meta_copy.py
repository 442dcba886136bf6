"""A cut's (and a ``split_4d`` volume's) metadata is a copy independent of its volume's.

``copied_meta`` replaced ``copy.deepcopy`` (which visited every path of a 100,000-file series
at each cut); the copy must stay as deep: nothing a user changes in one volume's ``meta`` shows
in another's. Checked against ``copy.deepcopy`` and by mutating every container of the copy.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import lazyvol as lv
from lazyvol._meta_copy import copied_meta
from lazyvol.testing import write_dicom_4d_series

SHAPE = (6, 5, 3)
BVALS = [0.0, 1000.0, 1000.0]
BVECS = [(0, 0, 0), (1, 0, 0), (0, 1, 0)]


def _containers(value: Any) -> list[Any]:
    """Every mutable object (dict, list, ndarray, set) inside ``value``, itself included."""
    out: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.append(item)
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            if isinstance(item, list):
                out.append(item)
            stack.extend(item)
        elif isinstance(item, np.ndarray | set):
            out.append(item)
    return out


def _nested() -> dict[str, Any]:
    return {
        "files": [f"/d/IM{i:05d}" for i in range(1000)],
        "mixed": ["a", 1, 2.5, None, True, [1, 2], {"k": [3]}],
        "tuple": ("x", [1, 2], (3, [4])),
        "plain_tuple": ("a", 1),
        "array": np.arange(4.0),
        "set": {1, 2},
        "deep": {"a": {"b": {"c": ["d"]}}},
        "nan": float("nan"),
    }


def test_copy_equals_deepcopy_and_shares_no_container() -> None:
    meta = _nested()
    got, want = copied_meta(meta), copy.deepcopy(meta)
    assert list(got) == list(want)
    for key in meta:
        if key == "array":
            np.testing.assert_array_equal(got[key], want[key])
        elif key == "nan":
            assert np.isnan(got[key])
        else:
            assert got[key] == want[key], key
            assert type(got[key]) is type(want[key]), key
    original = {id(c) for c in _containers(meta)}
    shared = [c for c in _containers(got) if id(c) in original]
    assert not shared, shared


def test_subclass_containers_are_deep_copied() -> None:
    class Tagged(list):  # type: ignore[type-arg]
        pass

    meta = {"t": Tagged([[1], [2]])}
    got = copied_meta(meta)
    assert type(got["t"]) is Tagged and got["t"] == meta["t"]
    got["t"][0].append(9)
    assert meta["t"][0] == [1]


@pytest.mark.parametrize("cut", [np.s_[..., 1:], np.s_[:, :, 1:], np.s_[..., 0]])
def test_a_cut_meta_changed_leaves_its_volume_meta_alone(tmp_path, cut) -> None:
    write_dicom_4d_series(tmp_path / "s", SHAPE, labels=(), bvals=BVALS, bvecs=BVECS)
    vol = lv.open(tmp_path / "s")
    before = copy.deepcopy(vol.meta)
    part = vol[cut]
    for container in _containers(part.meta):
        if isinstance(container, dict):
            container["__changed__"] = 1
        elif isinstance(container, list):
            container.append("__changed__")
    assert vol.meta == before
    assert vol[cut].meta == copy.deepcopy(vol[cut].meta)


def test_split_4d_volumes_share_no_meta(tmp_path) -> None:
    write_dicom_4d_series(tmp_path / "s", SHAPE, labels=(), bvals=BVALS, bvecs=BVECS)
    report = lv.scan(tmp_path / "s", split_4d=True)
    assert len(report) == 3
    first, second = report[0].meta, report[1].meta
    ids = {id(c) for c in _containers(second)}
    assert not [c for c in _containers(first) if id(c) in ids]


def test_shared_and_self_holding_containers_are_copied_as_deepcopy_copies_them() -> None:
    """An object met twice is copied once (aliasing kept) and a dict holding itself is copied,
    as ``copy.deepcopy`` does (a plain recursion hit RecursionError)."""
    shared = ["x", [1, 2]]
    meta: dict[str, Any] = {"a": shared, "b": shared, "t": (shared, 1)}
    meta["self"] = meta
    got, want = copied_meta(meta), copy.deepcopy(meta)
    assert got["a"] is got["b"] and got["t"][0] is got["a"]
    assert want["a"] is want["b"] and want["t"][0] is want["a"]
    assert got["self"] is got and got["a"] == shared and got["a"] is not shared
    got["a"][1].append(3)
    assert shared == ["x", [1, 2]]
