"""Zarr arrays that are not volumes, and volumes no store can keep: typed refusals up front.

A foreign store whose array holds strings, bytes, dates or structured records raised a bare
``TypeError`` (the CLI printed a traceback), or opened as a "volume" ``to_zarr`` then refused;
``to_zarr`` wrote a NaN affine into ``zarr.json`` (not JSON to a strict parser) or a singular one
that ``lazyvol.open`` then refused, and crashed with ``ZeroDivisionError`` on an empty axis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes, write_ome_zarr


def _ome_group(path, fmt: int = 3) -> zarr.Group:
    """An empty OME-Zarr group (0.5 on Zarr v3, 0.4 on v2) whose one dataset is array "0"."""
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    group.attrs.update(ome_zarr_attributes(version="0.5" if fmt == 3 else "0.4"))
    return group


def _foreign(path, fmt: int, dtype, data) -> str:
    """An OME-Zarr store (0.5 on Zarr v3, 0.4 on v2) of one array ``data``."""
    group = _ome_group(path, fmt)
    arr = group.create_array("0", shape=data.shape, dtype=dtype, chunks=(2, 2, 2))
    arr[:] = data
    return str(path)


RECORD = [("a", "<i2"), ("b", "<f4")]


@pytest.mark.parametrize(
    ("fmt", "dtype", "data"),
    [
        (3, str, np.full((3, 4, 5), "ab")),
        (2, RECORD, np.zeros((3, 4, 5), RECORD)),
        (2, "|S4", np.full((3, 4, 5), b"abcd")),
        (3, "datetime64[s]", np.zeros((3, 4, 5), "datetime64[s]")),
    ],
    ids=["string", "record", "bytes", "datetime"],
)
def test_a_store_of_non_numeric_values_is_refused_at_open(tmp_path, fmt, dtype, data):
    try:
        store = _foreign(tmp_path / "s.zarr", fmt, dtype, data)
    except Exception as exc:  # this zarr-python cannot write the dtype in this format
        pytest.skip(f"zarr-python cannot write {dtype} to Zarr v{fmt}: {exc}")
    with pytest.raises(lv.UnsupportedError, match=r"s\.zarr \(array '0'\): dtype .* not a numeric"):
        lv.open(store)
    # The command line: one line, exit status 2, no traceback.
    run = subprocess.run(
        [sys.executable, "-m", "lazyvol", "info", store],
        capture_output=True,
        text=True,
        env={**os.environ, "LAZYVOL_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "not a numeric image dtype" in run.stderr


@pytest.mark.parametrize(
    "affine",
    [np.full((4, 4), np.nan), np.diag([1.0, 0.0, 1.0, 1.0]), np.diag([1.0, np.inf, 1.0, 1.0])],
    ids=["nan", "singular", "inf"],
)
def test_to_zarr_refuses_an_affine_no_store_keeps(tmp_path, affine):
    vol = lv.Volume(np.zeros((4, 5, 6), "i2"))
    vol.affine = affine  # (a non-finite one is refused by Volume(...); the attribute can be set)
    with pytest.raises(lv.UnsupportedError, match="affine"):
        vol.to_zarr(tmp_path / "s.zarr")
    assert not os.path.exists(tmp_path / "s.zarr") and os.listdir(tmp_path) == []


def test_to_zarr_refuses_a_volume_without_voxels(tmp_path):
    with pytest.raises(lv.UnsupportedError, match=r"shape \(0, 5, 6\) has no voxels"):
        lv.Volume(np.zeros((0, 5, 6), "i2")).to_zarr(tmp_path / "s.zarr")
    assert os.listdir(tmp_path) == []


def test_rgb_is_refused_with_advice_that_works(tmp_path):
    """An RGB24 NIfTI cannot become a Zarr v3 store (a structured dtype): the refusal's advice
    (one channel) must itself work; the old advice, a float32 cast, raised TypeError."""
    import nibabel as nib

    rgb = np.zeros((6, 5, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"] = np.arange(rgb.size, dtype=np.uint8).reshape(rgb.shape)
    nib.Nifti1Image(rgb, np.eye(4)).to_filename(tmp_path / "rgb.nii")
    vol = lv.open(tmp_path / "rgb.nii")
    with pytest.raises(lv.UnsupportedError, match=r"vol\.data\['R'\]") as exc:
        vol.to_zarr(tmp_path / "all.zarr")
    assert "astype" not in str(exc.value) and ".nii keeps RGB" in str(exc.value)
    lv.Volume(vol.data["R"], vol.affine).to_zarr(tmp_path / "r.zarr")
    np.testing.assert_array_equal(lv.open(tmp_path / "r.zarr").compute(), rgb["R"])


@pytest.mark.parametrize("fmt", [3, 2])
def test_a_foreign_array_without_voxels_is_refused_at_open(tmp_path, fmt):
    # (an axis of length 0 divided the read-chunk budget by zero: a bare ZeroDivisionError)
    store = _foreign(tmp_path / "s.zarr", fmt, "int16", np.zeros((0, 5, 6), "int16"))
    with pytest.raises(lv.UnsupportedError, match=r"shape \[0, 5, 6\] has an axis of length 0"):
        lv.open(store)
    run = subprocess.run(
        [sys.executable, "-m", "lazyvol", "info", store], capture_output=True, text=True
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr


def _set_transforms(store: str, transforms) -> None:
    group = zarr.open_group(store, mode="r+")
    ome = dict(group.attrs["ome"])
    ms = dict(ome["multiscales"][0])
    ds = (
        {"path": "0"}
        if transforms is None
        else {"path": "0", "coordinateTransformations": transforms}
    )
    ms["datasets"] = [ds]
    group.attrs["ome"] = {**ome, "multiscales": [ms]}


@pytest.mark.parametrize(
    ("transforms", "error", "said"),
    [
        (None, lv.FormatError, r"dataset '0' states no 'scale'.*does not invent"),
        ([], lv.FormatError, r"dataset '0' states no 'scale'"),
        ([{"type": "translation", "translation": [1, 2, 3]}], lv.FormatError, "no 'scale'"),
        ([{"type": "scale", "path": "sc"}], lv.UnsupportedError, r"array 'sc' \('path'\)"),
    ],
    ids=["missing", "empty", "translation-only", "scale-by-path"],
)
def test_a_dataset_without_a_stated_scale_is_refused_not_given_1mm(
    tmp_path, transforms, error, said
):
    store = _foreign(tmp_path / "s.zarr", 3, "int16", np.ones((3, 4, 5), "int16"))
    _set_transforms(store, transforms)
    with pytest.raises(error, match=said):
        lv.open(store)


def test_an_explicit_identity_transform_states_unit_voxels(tmp_path):
    store = _foreign(tmp_path / "s.zarr", 3, "int16", np.ones((3, 4, 5), "int16"))
    _set_transforms(store, [{"type": "identity"}])
    vol = lv.open(store)
    np.testing.assert_allclose(vol.spacing[:3], (1.0, 1.0, 1.0))


def test_a_chunk_shape_claiming_more_than_the_chunk_limit_is_refused_at_open(tmp_path, monkeypatch):
    """Any read decodes a whole stored chunk: a foreign store whose chunk_shape claims more than
    LAZYVOL_MAX_CHUNK_BYTES (a 960-byte volume with 2048**3 chunks: 16 GiB per read) is refused at
    open, naming the store, the array and the chunk shape; nothing is allocated."""
    group = _ome_group(tmp_path / "s.zarr")
    arr = group.create_array("0", shape=(6, 8, 10), dtype="int16", chunks=(6, 8, 10))
    arr[:] = 1
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "512")
    with pytest.raises(
        lv.ResourceLimitError, match=r"s\.zarr \(array '0'\): chunk_shape \[6, 8, 10\] claims 960"
    ):
        lv.open(tmp_path / "s.zarr")
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "960")
    assert int(lv.open(tmp_path / "s.zarr").compute().sum()) == 480


def test_a_big_shard_of_small_inner_chunks_is_not_refused(tmp_path, monkeypatch):
    """Sharded arrays decode inner chunks, not shards: the limit applies to the inner chunk."""
    group = _ome_group(tmp_path / "s.zarr")
    data = np.arange(480, dtype=np.int16).reshape(6, 8, 10)
    arr = group.create_array(
        "0", shape=data.shape, dtype="int16", chunks=(3, 4, 5), shards=(6, 8, 10)
    )
    arr[:] = data
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "120")  # an inner chunk: 3*4*5*2 bytes
    vol = lv.open(tmp_path / "s.zarr")
    np.testing.assert_array_equal(vol.compute(), data.transpose(2, 1, 0))
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "119")
    with pytest.raises(lv.ResourceLimitError, match=r"chunk_shape \[3, 4, 5\] claims 120"):
        lv.open(tmp_path / "s.zarr")


def _edit_array_meta(store: str, name: str, key: str, value) -> None:
    """Set ``key`` of array "0"'s metadata file ``name`` (``.zarray``, or ``zarr.json`` where
    ``key`` is a path of keys joined by dots)."""
    path = os.path.join(store, "0", name)
    with open(path) as f:
        meta = json.load(f)
    *parents, last = key.split(".")
    node = meta
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] = value
    with open(path, "w") as f:
        json.dump(meta, f)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("chunks", [0, 2, 2]),
        ("chunks", [-2, 2, 2]),
        ("chunks", [2, 2]),
        ("chunks", [2.5, 2, 2]),
        ("chunks", None),
        ("shape", [-3, 4, 5]),
        ("shape", "3x4x5"),
    ],
)
def test_a_v2_store_with_a_corrupt_shape_or_chunks_is_refused_naming_the_field(
    tmp_path, key, value
):
    """A Zarr v2 ``.zarray`` is checked as a v3 ``zarr.json`` is (its chunks 0 raised a bare
    ZeroDivisionError and ``lazyvol info`` printed a traceback); the message names the field."""
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    store = _foreign(tmp_path / "s.zarr", 2, "int16", data)
    np.testing.assert_array_equal(lv.open(store).compute(), data.T)
    _edit_array_meta(store, ".zarray", key, value)
    with pytest.raises(Exception) as ref:  # zarr-python cannot read it either
        zarr.open_array(os.path.join(store, "0"), mode="r")[...]
    assert not isinstance(ref.value, lv.LazyvolError)
    said = rf"0/\.zarray: Zarr v2 \.zarray field {key} = .* the array metadata is corrupt"
    with pytest.raises(lv.FormatError, match=said):
        lv.open(store)
    run = subprocess.run(
        [sys.executable, "-m", "lazyvol", "info", store], capture_output=True, text=True
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"field {key}" in run.stderr


@pytest.mark.parametrize("inner", [[0, 2, 2], [2, 2], [-2, 2, 2], [3, 2, 2]])
def test_a_corrupt_inner_chunk_shape_of_a_sharded_array_is_refused_naming_the_field(
    tmp_path, inner
):
    """The sharding codec's ``chunk_shape`` is checked as the grid's is: zarr raised
    ZeroDivisionError (wrapped, naming no field) for a 0, and must divide the shard evenly."""
    data = np.arange(240, dtype=np.int16).reshape(4, 6, 10)
    group = _ome_group(tmp_path / "s.zarr")
    arr = group.create_array(
        "0", shape=data.shape, dtype="int16", chunks=(2, 2, 2), shards=(4, 6, 10)
    )
    arr[:] = data
    store = str(tmp_path / "s.zarr")
    np.testing.assert_array_equal(lv.open(store).compute(), data.T)
    _edit_array_meta(store, "zarr.json", "codecs.0.configuration.chunk_shape", inner)
    with pytest.raises(
        lv.FormatError,
        match=r"sharding_indexed\) configuration\.chunk_shape = .* dividing the shard",
    ):
        lv.open(store)


def _timed_store(path, scale, translation) -> str:
    """An OME-Zarr 0.5 store of a (t, z, y, x) array with these level-0 transforms."""
    return write_ome_zarr(
        path,
        np.ones((2, 3, 4, 5), "f4"),
        axes="tzyx",
        time_unit="second",
        scale=scale,
        translation=translation,
        chunks=(1, 3, 4, 5),
    )


@pytest.mark.parametrize(
    ("scale", "translation"),
    [
        ([float("nan"), 1, 1, 1], [0] * 4),
        ([1] * 4, [float("nan"), 0, 0, 0]),
        ([float("inf"), 1, 1, 1], [0] * 4),
    ],
    ids=["nan-step", "nan-first-time", "inf-step"],
)
def test_a_non_finite_time_transform_is_refused(tmp_path, scale, translation):
    """The space axes' NaN was refused, a time axis's was carried into the volume's metadata
    (a NaN NIfTI toffset in meta['nifti_fields'], the step silently dropped)."""
    store = _timed_store(tmp_path / "s.zarr", scale, translation)
    with pytest.raises(lv.FormatError, match="not finite on axis t"):
        lv.open(store)


@pytest.mark.parametrize("level", [-1, 2])
def test_a_level_the_multiscales_does_not_have_is_refused(tmp_path, level):
    """level=-1 read the last dataset (Python's negative index) with meta['level'] -1, where a
    lazyvol store refuses it; the message now says how many levels there are."""
    store = _timed_store(tmp_path / "s.zarr", [1] * 4, [0] * 4)
    with pytest.raises(lv.FormatError, match=f"no level {level} .*1 levels"):
        lv.open(store, level=level)


def test_dimension_names_ordering_the_space_axes_otherwise_than_ome_are_refused(tmp_path):
    """OME axes z, y, x over an array whose Zarr dimension_names say x, y, z (OME-NGFF 0.5: they
    must match): read silently by the OME order, one of the two swapped x and z."""
    group = _ome_group(tmp_path / "s.zarr")
    group.create_array("0", data=np.zeros((3, 4, 5), "u1"), dimension_names=["x", "y", "z"])
    with pytest.raises(lv.UnsupportedError, match=r"dimension_names \['x', 'y', 'z'\]"):
        lv.open(str(tmp_path / "s.zarr"))


def test_dimension_names_that_only_spell_axes_otherwise_are_read(tmp_path):
    group = _ome_group(tmp_path / "s.zarr")
    data = np.arange(60, dtype="u1").reshape(3, 4, 5)
    group.create_array("0", data=data, dimension_names=["Z", "y", None])
    assert np.array_equal(lv.open(str(tmp_path / "s.zarr")).compute(), data.T)


@pytest.mark.parametrize(
    ("config", "error", "said"),
    [
        (None, lv.FormatError, r"chunk_grid\.configuration = None is not an object"),
        (5, lv.FormatError, r"chunk_grid\.configuration = 5 is not an object"),
        ("2,2,2", lv.FormatError, r"chunk_grid\.configuration = '2,2,2' is not an object"),
        ({"chunks": [2, 2, 2]}, lv.FormatError, r"chunk_grid = .* states no chunk_shape"),
    ],
    ids=["null", "number", "string", "no-chunk-shape"],
)
def test_a_chunk_grid_of_the_wrong_json_type_is_refused_naming_the_field(
    tmp_path, config, error, said
):
    """A chunk_grid configuration that is not an object raised a bare AttributeError ('int'
    object has no attribute 'get'), and a grid of another kind an UnsupportedError that named
    no file; both now name the array's zarr.json and the field."""
    store = _foreign(tmp_path / "s.zarr", 3, "int16", np.ones((3, 4, 5), "int16"))
    _edit_array_meta(store, "zarr.json", "chunk_grid.configuration", config)
    with pytest.raises(error, match=r"0/zarr\.json: Zarr array field " + said):
        lv.open(store)


def test_a_chunk_grid_of_another_kind_is_refused_naming_the_file(tmp_path):
    store = _foreign(tmp_path / "s.zarr", 3, "int16", np.ones((3, 4, 5), "int16"))
    _edit_array_meta(store, "zarr.json", "chunk_grid", {"name": "rectilinear"})
    with pytest.raises(lv.UnsupportedError, match=r"0/zarr\.json: .*grid name 'rectilinear'"):
        lv.open(store)


@pytest.mark.parametrize(
    "axes",
    [None, 5, 1e300, {"z": {}, "y": {}, "x": {}}, [{"type": "space"}] * 3],
    ids=["null", "int", "float", "object", "axis-without-name"],
)
def test_ome_axes_of_the_wrong_json_type_are_refused(tmp_path, axes):
    """OME ``axes`` that is not a list raised a bare TypeError ('NoneType' object is not
    iterable), an axis object without its name a KeyError; now a FormatError naming the store."""
    store = _foreign(tmp_path / "s.zarr", 3, "int16", np.ones((3, 4, 5), "int16"))
    group = zarr.open_group(store, mode="r+")
    ome = dict(group.attrs["ome"])
    group.attrs["ome"] = {**ome, "multiscales": [{**ome["multiscales"][0], "axes": axes}]}
    with pytest.raises(lv.FormatError, match=r"s\.zarr: OME-Zarr multiscales .*axes.*corrupt"):
        lv.open(store)


@pytest.mark.parametrize("version", ["0.1", "0.2"])
def test_an_ome_image_of_ngff_0_1_or_0_2_is_refused_as_such(tmp_path, version):
    """OME-NGFF 0.1 and 0.2 multiscales have no 'axes' (t, c, z, y, x implied) and no voxel size:
    such a store (zarr v2, as written then) was refused as corrupt metadata, "KeyError: 'axes'".
    Now an UnsupportedError naming the version, what is missing and what to do."""
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=2)
    group.attrs["multiscales"] = [{"version": version, "datasets": [{"path": "0"}]}]
    group.create_array("0", shape=(1, 1, 3, 4, 5), dtype="uint16")[...] = 7
    with pytest.raises(lv.UnsupportedError, match=rf"s\.zarr: .*version '{version}'.*no 'axes'"):
        lv.open(tmp_path / "s.zarr")


def test_an_ome_image_of_ngff_0_3_is_refused_as_such_and_missing_axes_as_corrupt(tmp_path):
    """OME-NGFF 0.3 names its axes but its datasets state no coordinateTransformations (they came
    with 0.4), so no voxel size: a valid 0.3 store was refused as corrupt metadata (FormatError,
    "OME-NGFF requires one per dataset"), the sibling of 0.1/0.2's refusal. A 0.4 store without
    'axes' (required since 0.3) was told it was OME-NGFF 0.1/0.2 (UnsupportedError): it is
    corrupt metadata."""
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=2)
    group.attrs["multiscales"] = [
        {"version": "0.3", "axes": ["z", "y", "x"], "datasets": [{"path": "0"}]}
    ]
    group.create_array("0", shape=(3, 4, 5), dtype="uint16")[...] = 7
    with pytest.raises(lv.UnsupportedError, match=r"s\.zarr: .*version '0\.3'.*no voxel size"):
        lv.open(tmp_path / "s.zarr")
    scale = [{"type": "scale", "scale": [3.0, 2.0, 1.0]}]
    group.attrs["multiscales"] = [
        {
            "version": "0.3",
            "axes": ["z", "y", "x"],
            "datasets": [{"path": "0", **{"coordinateTransformations": scale}}],
        }
    ]
    np.testing.assert_allclose(np.diag(lv.open(tmp_path / "s.zarr").affine), [1, 2, 3, 1])
    group.attrs["multiscales"] = [
        {"version": "0.4", "datasets": [{"path": "0", "coordinateTransformations": scale}]}
    ]
    with pytest.raises(lv.FormatError, match=r"s\.zarr: .*version '0\.4'.* no 'axes'.*require"):
        lv.open(tmp_path / "s.zarr")


@pytest.mark.parametrize("version", [None, "x", "", [], {}, 2.5, True])
def test_a_lazyvol_store_version_that_is_no_whole_number_is_refused(tmp_path, version):
    """``lazyvol.version`` of another JSON type raised int()'s bare TypeError or ValueError
    (before the manifest's hash of the group metadata is checked)."""
    store = str(tmp_path / "s.zarr")
    lv.Volume(np.ones((3, 4, 5), "int16"), np.eye(4)).to_zarr(store)
    path = os.path.join(store, "zarr.json")
    with open(path) as f:
        meta = json.load(f)
    meta["attributes"]["lazyvol"]["version"] = version
    with open(path, "w") as f:
        json.dump(meta, f)
    with pytest.raises(lv.FormatError, match=r"lazyvol\.version = .* is not a whole number"):
        lv.open(store)


def test_a_huge_ome_scale_lets_no_numpy_warning_out(tmp_path):
    """A scale of 1e200 mm per axis (finite, invertible) opened with numpy's 'overflow
    encountered in det' RuntimeWarning, and to_nifti let 'invalid value encountered in multiply'
    out before its typed refusal of sizes NIfTI's float32 fields cannot hold."""
    store = _foreign(tmp_path / "s.zarr", 3, "int16", np.ones((3, 4, 5), "int16"))
    _set_transforms(store, [{"type": "scale", "scale": [1e200] * 3}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        vol = lv.open(store)
        np.testing.assert_allclose(np.diag(vol.affine)[:3], [1e200] * 3)
        with pytest.raises(lv.WriteError, match="too large for NIfTI"):
            vol.to_nifti(tmp_path / "s.nii")


@pytest.mark.parametrize("axes", ["yx", "cyx", "tcyx"])
def test_a_2d_ome_image_is_refused_saying_why(tmp_path, axes):
    """A 2-D OME-Zarr image (y, x; with channels or time) is valid OME-NGFF but no volume: the
    refusal said only "need exactly three trailing space axes"; it now says why (no slice
    thickness is stated, and lazyvol does not invent one) and what reads it."""
    shape = (2, 3, 4, 5)[-len(axes) :]
    write_ome_zarr(tmp_path / "s.zarr", np.zeros(shape, "u1"), axes=axes, unit=None)
    with pytest.raises(lv.UnsupportedError, match=r"2-D image states no slice thickness.*zarr"):
        lv.open(str(tmp_path / "s.zarr"))


def _nest_deeply(path: str, depth: int = 100_000) -> None:
    """Put a valid but deeply nested JSON value (``[[[...]]]``) into the JSON object at ``path``:
    more levels than Python's parser recurses (it raises RecursionError, not ValueError)."""
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    assert text.startswith("{")
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"deep": ' + "[" * depth + "]" * depth + ", " + text[1:])


@pytest.mark.parametrize(
    ("fmt", "name"),
    [(3, "zarr.json"), (3, "0/zarr.json"), (2, ".zattrs"), (2, "0/.zarray"), (0, "zarr.json")],
    ids=["v3-group", "v3-array", "v2-attrs", "v2-array", "lazyvol-manifest"],
)
def test_metadata_nested_too_deeply_to_parse_is_refused_as_unreadable_metadata(tmp_path, fmt, name):
    """A store metadata file of JSON nested deeper than Python's parser recurses made
    ``json.loads`` raise RecursionError, which no reader expected: ``open_zarr`` let it out
    untyped, and ``lazyvol.open`` of the store (its sniff failing the same way) skipped the Zarr
    reader and searched the store for DICOM files, refusing it as 'no DICOM image volume found ...
    open each Zarr store by its own path' (the path given). It is now a FormatError naming the
    metadata, as for any other unreadable JSON."""
    from lazyvol.errors import FormatError
    from lazyvol.zarr_io import open_zarr

    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    if fmt:
        store = _foreign(tmp_path / "s.zarr", fmt, "int16", data)
    else:
        store = lv.Volume(data).to_zarr(tmp_path / "s.zarr")
        name = lv.zarr_io.MANIFEST
    _nest_deeply(os.path.join(store, name))
    for opener in (lv.open, open_zarr):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (no 'reader failed in can_open' warning either)
            with pytest.raises(FormatError) as info:
                opener(store).compute()
        assert "DICOM" not in str(info.value)
        assert "nested" in str(info.value)


@pytest.mark.parametrize("level", [1.5, True, "1", 1.0, None])
@pytest.mark.parametrize("kind", ["ome", "lazyvol"])
def test_a_level_that_is_no_whole_number_is_refused_not_truncated(tmp_path, kind, level):
    """``level=`` went through ``int()``: 1.5, True and "1" opened level 1 (1.5 named level 1 in
    the meta, a level that was never asked for) instead of being refused as other option values
    are. Only integers (Python or numpy integers) name a level."""
    from lazyvol.errors import OptionError

    data = np.arange(8 * 6 * 4, dtype=np.int16).reshape(8, 6, 4)
    if kind == "ome":
        group = _ome_group(tmp_path / "s.zarr")
        group.create_array("0", shape=data.shape, dtype="int16", chunks=(2, 2, 2))[:] = data
        store = str(tmp_path / "s.zarr")
    else:
        store = lv.Volume(data).to_zarr(tmp_path / "s.zarr", levels=2)
    with pytest.raises(OptionError, match="level"):
        lv.open(store, level=level)
    assert lv.open(store, level=np.int64(0)).shape == lv.open(store).shape


def _ome_image(group, version):
    """An OME-Zarr image (z, y, x) in ``group``, attributes as OME ``version`` writes them."""
    axes = [{"name": n, "type": "space"} for n in "zyx"]
    ds = [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * 3}]}]
    multiscales = [{"version": version, "axes": axes, "datasets": ds}]
    if version == "0.5":
        group.attrs["ome"] = {"version": "0.5", "multiscales": multiscales}
    else:
        group.attrs["multiscales"] = multiscales
    truth = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    group.create_array("0", shape=truth.shape, chunks=truth.shape, dtype=truth.dtype)[...] = truth
    return truth


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("kind", ["bioformats2raw", "plate"])
def test_a_collection_of_ome_images_names_an_image_to_open(tmp_path, version, kind):
    """A bioformats2raw collection or an HCS plate is no volume: the refusal said "open it with
    zarr directly" where opening one of its images with lazyvol works; it now names one, and
    that path opens."""
    root = zarr.open_group(tmp_path / "c.zarr", mode="w", zarr_format=3 if version == "0.5" else 2)
    if kind == "bioformats2raw":
        attrs = {"bioformats2raw.layout": 3}
        image = root.create_group("0")
    else:
        attrs = {"plate": {"wells": [{"path": "A/1", "rowIndex": 0, "columnIndex": 0}]}}
        image = root.create_group("A").create_group("1").create_group("0")
    root.attrs.update({"ome": {"version": "0.5", **attrs}} if version == "0.5" else attrs)
    truth = _ome_image(image, version)
    with pytest.raises(lv.FormatError) as err:
        lv.open(tmp_path / "c.zarr")
    message = str(err.value)
    assert "not one image" in message and "with zarr directly" not in message
    hinted = message.rsplit("e.g. ", 1)[1]
    np.testing.assert_array_equal(lv.open(hinted).compute(), truth.T)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("kind", ["plate", "well"])
def test_a_plate_or_well_hint_names_a_field_that_exists(tmp_path, version, kind):
    """Fields of view are named by the paths the well's metadata lists ("fov1" here): the hint
    named ".../0", no such group, whatever the well listed (h198)."""
    root = zarr.open_group(tmp_path / "c.zarr", mode="w", zarr_format=3 if version == "0.5" else 2)
    well_group = root.create_group("A").create_group("1") if kind == "plate" else root
    well = {"images": [{"path": "fov1"}]}
    well_group.attrs.update(
        {"ome": {"version": "0.5", "well": well}} if version == "0.5" else {"well": well}
    )
    if kind == "plate":
        plate = {"wells": [{"path": "A/1", "rowIndex": 0, "columnIndex": 0}]}
        root.attrs.update(
            {"ome": {"version": "0.5", "plate": plate}} if version == "0.5" else {"plate": plate}
        )
    truth = _ome_image(well_group.create_group("fov1"), version)
    with pytest.raises(lv.FormatError) as err:
        lv.open(tmp_path / "c.zarr")
    hinted = str(err.value).rsplit("e.g. ", 1)[1]
    assert hinted.endswith("fov1")
    np.testing.assert_array_equal(lv.open(hinted).compute(), truth.T)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_plate_row_opened_directly_is_named_with_its_images(tmp_path, version):
    """A plate's row group (no attributes: the plate above lists its wells) gave the generic
    "neither a lazyvol store nor an OME-Zarr image; open it with zarr directly"; it now says it
    is a plate row and names the images of its wells (as the well metadata lists their fields),
    which open."""
    root = zarr.open_group(tmp_path / "p.zarr", mode="w", zarr_format=3 if version == "0.5" else 2)
    wells = [
        {"path": f"{r}/{c}", "rowIndex": i, "columnIndex": j}
        for i, r in enumerate("AB")
        for j, c in enumerate(("1", "2"))
    ]
    plate = {"rows": [{"name": "A"}, {"name": "B"}], "wells": wells}
    root.attrs.update(
        {"ome": {"version": "0.5", "plate": plate}} if version == "0.5" else {"plate": plate}
    )
    truths = {}
    for w in wells:
        group = root.require_group(w["path"])
        well = {"images": [{"path": "fov7"}]}
        group.attrs.update(
            {"ome": {"version": "0.5", "well": well}} if version == "0.5" else {"well": well}
        )
        truths[w["path"]] = _ome_image(group.create_group("fov7"), version)
    assert dict(zarr.open_group(tmp_path / "p.zarr" / "B", mode="r").attrs) == {}
    with pytest.raises(lv.FormatError) as err:
        lv.open(tmp_path / "p.zarr" / "B")
    message = str(err.value)
    assert "row B of an OME-Zarr HCS plate" in message and "with zarr directly" not in message
    named = message.rsplit("e.g. ", 1)[1].split("; ")
    assert [p.rsplit("p.zarr/", 1)[1] for p in named] == ["B/1/fov7", "B/2/fov7"]
    for path in named:
        well = path.rsplit("p.zarr/", 1)[1].rsplit("/", 1)[0]
        np.testing.assert_array_equal(lv.open(path).compute(), truths[well].T)
    plain = zarr.open_group(tmp_path / "plain.zarr", mode="w").create_group("g")
    with pytest.raises(lv.FormatError, match="with zarr directly"):  # (no plate above: as before)
        lv.open(tmp_path / "plain.zarr" / "g")
    assert plain is not None
