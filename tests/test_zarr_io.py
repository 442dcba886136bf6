"""Zarr v3 / OME-Zarr 0.5 writer and reader: round trips, OME clients, bad stores, failed writes."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
from pathlib import Path

import dask
import dask.array as da
import nibabel as nib
import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol import zarr_integrity as zi
from lazyvol import zarr_io, zarr_write
from lazyvol.errors import FormatError, IntegrityError, UnsupportedError, WriteError
from lazyvol.testing import write_phantom_nifti
from test_zarr_files import linked_copy

OBLIQUE = np.array(
    [
        [0.9, 0.1, 0.0, -10.25],
        [0.05, 1.1, 0.2, 5.5],
        [0.0, 0.3, 2.0, 7.125],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def _json(path):
    with open(path) as f:
        return json.load(f)


def _rand(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(max(info.min, -30000), min(info.max, 30000), shape, dtype=dt)
    if dt.kind == "c":
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(dt)
    return rng.normal(size=shape).astype(dt)


def test_nifti_to_zarr_round_trip(tmp_path):
    src = write_phantom_nifti(
        tmp_path / "a.nii.gz", (40, 30, 20), dtype="int16", slope=2.0, inter=-3.0, affine=OBLIQUE
    )
    vol = lv.open(src)
    out = vol.to_zarr(tmp_path / "a.zarr")
    back = lv.open(out)
    ref = nib.load(src)
    # independent truth: nibabel's scaled values, nibabel's affine
    np.testing.assert_array_equal(back.compute(), ref.get_fdata())
    assert back.dtype == vol.dtype
    assert np.array_equal(back.affine, ref.affine)
    assert back.meta == vol.meta
    assert back.source == vol.source
    # the array on disk is the volume transposed: (z, y, x) C order
    disk = zarr.open_array(os.path.join(out, "0"), mode="r")
    assert disk.shape == (20, 30, 40)
    np.testing.assert_array_equal(disk[:], ref.get_fdata().T)


def test_4d_round_trip_and_ome_axes(tmp_path):
    a = _rand((12, 10, 8, 3), "float32")
    vol = lv.Volume(
        a, np.diag([1.5, 2.0, 3.0, 1.0]), meta={"axis4_spacing": 2.5, "xyzt_units": ["mm", "sec"]}
    )
    out = vol.to_zarr(tmp_path / "t.zarr")
    back = lv.open(out)
    np.testing.assert_array_equal(back.compute(), a)
    assert back.shape == (12, 10, 8, 3)
    assert np.array_equal(back.affine, vol.affine)
    assert back.spacing == (1.5, 2.0, 3.0, 2.5)
    attrs = _json(os.path.join(out, "zarr.json"))["attributes"]
    ms = attrs["ome"]["multiscales"][0]
    assert attrs["ome"]["version"] == "0.5"
    assert [a["name"] for a in ms["axes"]] == ["t", "z", "y", "x"]
    assert ms["axes"][0] == {"name": "t", "type": "time", "unit": "second"}
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.5, 3.0, 2.0, 1.5]


@pytest.mark.parametrize(
    "dtype",
    [
        "uint8",
        "int8",
        "uint16",
        "int16",
        "int32",
        "uint32",
        "int64",
        "float32",
        "float64",
        "complex64",
        "bool",
    ],
)
def test_dtypes_exact(tmp_path, dtype):
    a = _rand((9, 7, 5), dtype)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "d.zarr")
    back = lv.open(out)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.compute(), a)
    assert np.array_equal(back.affine, OBLIQUE)


@pytest.mark.parametrize("codec", ["zstd", "blosc-zstd", "blosc-lz4", "gzip", "none"])
def test_codecs_lossless(tmp_path, codec):
    a = _rand((20, 16, 12), "float32", seed=3)
    out = lv.Volume(a).to_zarr(tmp_path / "c.zarr", codec=codec)
    np.testing.assert_array_equal(lv.open(out).compute(), a)
    codecs = json.dumps(_json(os.path.join(out, "0", "zarr.json"))["codecs"])
    if codec != "none":
        assert codec.split("-")[0] in codecs


def test_sharding_for_small_chunks(tmp_path):
    a = _rand((64, 48, 40), "int16", seed=4)
    out = lv.Volume(a).to_zarr(tmp_path / "s.zarr", chunks=(16, 16, 8))
    meta = _json(os.path.join(out, "0", "zarr.json"))
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    # inner chunk shape is the requested one transposed to (z, y, x)
    assert meta["codecs"][0]["configuration"]["chunk_shape"] == [8, 16, 16]
    np.testing.assert_array_equal(lv.open(out).compute(), a)
    np.testing.assert_array_equal(zarr.open_array(os.path.join(out, "0"), mode="r")[:], a.T)
    out2 = lv.Volume(a).to_zarr(tmp_path / "n.zarr", chunks=(16, 16, 8), shards=False)
    assert _json(os.path.join(out2, "0", "zarr.json"))["codecs"][0]["name"] != "sharding_indexed"
    out3 = lv.Volume(a).to_zarr(tmp_path / "e.zarr", chunks=(16, 16, 8), shards=(32, 48, 16))
    cfg = _json(os.path.join(out3, "0", "zarr.json"))["chunk_grid"]["configuration"]
    assert cfg["chunk_shape"] == [16, 48, 32]
    np.testing.assert_array_equal(lv.open(out3).compute(), a)


def test_shards_true_is_the_automatic_sharding_whatever_the_chunk_size(tmp_path, monkeypatch):
    """shards=True (the docstring lists bool) was taken as the int 1, a shard of one voxel per
    axis, and refused with a plain ValueError. It gives the automatic shards (whole multiples of
    the chunk), also where None does not shard (here: every chunk counted as large)."""
    from lazyvol import zarr_layout

    a = _rand((40, 40, 20), "int16", seed=6)
    monkeypatch.setattr(zarr_layout, "SHARD_BELOW_BYTES", 0)
    auto = lv.Volume(a).to_zarr(tmp_path / "n.zarr", chunks=(8, 8, 4))
    assert zarr.open_array(os.path.join(auto, "0"), mode="r").shards is None
    out = lv.Volume(a).to_zarr(tmp_path / "t.zarr", chunks=(8, 8, 4), shards=True)
    arr = zarr.open_array(os.path.join(out, "0"), mode="r")
    assert arr.chunks == (4, 8, 8) and arr.shards is not None and arr.shards != arr.chunks
    assert all(s % c == 0 for s, c in zip(arr.shards, arr.chunks))
    np.testing.assert_array_equal(arr[...], a.T)
    np.testing.assert_array_equal(lv.open(out).compute(), a)


@pytest.mark.parametrize(
    "option",
    [
        {"shards": "yes"},
        {"shards": (16, 16)},
        {"shards": (12, 8, 4)},
        {"shards": 0},
        {"shards": (16, 16, True)},
        {"chunks": True},
        {"chunks": "auto"},
        {"codec": "lzma"},
        {"codec": 5},
        {"codec": True},
        {"levels": 0},
        {"levels": None},
        {"levels": "two"},
        {"levels": 2.7},
        {"levels": True},
    ],
)
def test_a_bad_write_option_is_an_option_error_naming_it(tmp_path, option):
    """A write option lazyvol cannot take (a bool or string where lengths go, a shard that is no
    multiple of the chunk) is an OptionError naming the option, before anything is written;
    chunks=True was taken as chunks of one voxel."""
    (name,) = option
    kwargs = {"chunks": (8, 8, 4), **option}
    with pytest.raises(lv.OptionError, match=f"{name}="):
        lv.Volume(np.ones((16, 16, 8), "int16")).to_zarr(tmp_path / "x.zarr", **kwargs)
    assert os.listdir(tmp_path) == []


def test_a_shard_and_chunk_longer_than_an_axis_are_clipped_alike(tmp_path):
    """chunks=32, shards=64 on an axis of 20 voxels: zarr-python takes them (one chunk of 20 a
    shard there); the chunk was clipped first and 64 refused as no multiple of 20."""
    a = _rand((40, 36, 20), "int16", seed=7)
    ref = zarr.create_array(
        tmp_path / "ref.zarr", shape=a.T.shape, dtype=a.dtype, chunks=(32,) * 3, shards=(64,) * 3
    )
    ref[...] = a.T  # (the reference: zarr-python takes this layout)
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", chunks=32, shards=64)
    arr = zarr.open_array(os.path.join(out, "0"), mode="r")
    assert arr.shards is not None and all(s % c == 0 for s, c in zip(arr.shards, arr.chunks))
    np.testing.assert_array_equal(arr[...], ref[...])


def test_a_zarr_codec_object_is_taken_as_the_compressor(tmp_path):
    from zarr.codecs import GzipCodec

    a = _rand((16, 12, 8), "int16", seed=8)
    out = lv.Volume(a).to_zarr(tmp_path / "g.zarr", codec=GzipCodec(level=1))
    arr = zarr.open_array(os.path.join(out, "0"), mode="r")
    assert any(isinstance(c, GzipCodec) for c in arr.compressors)
    np.testing.assert_array_equal(arr[...], a.T)


def test_ome_zarr_client_reads_store(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    a = _rand((30, 20, 10), "uint16", seed=5)
    aff = np.diag([0.5, 0.75, 2.0, 1.0])
    aff[:3, 3] = [-7.0, 3.0, 11.0]
    out = lv.Volume(a, aff).to_zarr(tmp_path / "o.zarr", levels=2)
    nodes = list(Reader(parse_url(out))())
    node = next(n for n in nodes if any(isinstance(s, Multiscales) for s in n.specs))
    assert len(node.data) == 2
    np.testing.assert_array_equal(np.asarray(node.data[0]), a.T)
    trans = node.metadata["coordinateTransformations"][0]
    scale = next(t["scale"] for t in trans if t["type"] == "scale")
    translation = next(t["translation"] for t in trans if t["type"] == "translation")
    assert scale == [2.0, 0.75, 0.5]  # z, y, x
    assert translation == [11.0, 3.0, -7.0]
    assert [ax["name"] for ax in node.metadata["axes"]] == ["z", "y", "x"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ome_zarr")
def test_foreign_ome_zarr_opens_with_affine(tmp_path):
    from ome_zarr.writer import write_image

    a = _rand((6, 20, 16, 12), "int16", seed=6)  # t, z, y, x
    path = str(tmp_path / "foreign.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=3)
    write_image(
        a,
        group,
        scale_factors=[2],
        axes=["t", "z", "y", "x"],
        scale={"t": 3.0, "z": 2.0, "y": 1.5, "x": 1.25},
        axes_units={"t": "second", "z": "micrometer", "y": "micrometer", "x": "micrometer"},
    )
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), a.T)
    np.testing.assert_allclose(vol.affine, np.diag([1.25e-3, 1.5e-3, 2.0e-3, 1.0]), rtol=1e-12)
    assert vol.meta["xyzt_units"] == ["mm", "sec"]  # OME axes are read in millimetres
    assert vol.meta["format"] == "ome-zarr"
    assert vol.meta["axis4_spacing"] == 3.0
    assert zarr_io.open_zarr(path, level=1).shape == (6, 8, 20, 6)  # y, x halved
    # a translation (ome-zarr-py's writer only writes zeros): edit the metadata as another tool would
    meta = _json(os.path.join(path, "zarr.json"))
    ds = meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]
    ds["coordinateTransformations"] = [
        {"type": "scale", "scale": [3.0, 2.0, 1.5, 1.25]},
        {"type": "translation", "translation": [0.0, 10.0, -5.0, 2.5]},
    ]
    with open(os.path.join(path, "zarr.json"), "w") as f:
        json.dump(meta, f)
    expected = np.diag([1.25e-3, 1.5e-3, 2.0e-3, 1.0])
    expected[:3, 3] = [2.5e-3, -5e-3, 10e-3]
    np.testing.assert_allclose(lv.open(path).affine, expected, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ome_zarr")
def test_a_foreign_store_replaced_after_open_is_refused(tmp_path):
    """A store written by another tool has no lazyvol manifest: its array metadata's identity is
    checked at each read instead, so a store swapped in under the same path is refused, not
    read as if it were the one opened."""
    from ome_zarr.writer import write_image

    def foreign(path: str, seed: int) -> np.ndarray:
        a = _rand((8, 10, 12), "int16", seed=seed)
        group = zarr.open_group(path, mode="w", zarr_format=3)
        write_image(a, group, scale_factors=[], axes=["z", "y", "x"])
        return a

    store = str(tmp_path / "f.zarr")
    a = foreign(store, 1)
    vol = lv.open(store)
    np.testing.assert_array_equal(vol.compute(), a.T)
    other = str(tmp_path / "g.zarr")
    foreign(other, 2)
    shutil.rmtree(store)
    os.rename(other, store)
    with pytest.raises(lv.FormatError, match="replaced or removed after it was opened"):
        vol.compute()
    np.testing.assert_array_equal(lv.open(store).compute(), _rand((8, 10, 12), "int16", seed=2).T)


def test_multiscale_levels(tmp_path):
    a = _rand((17, 12, 9), "int16", seed=7)
    aff = OBLIQUE
    out = lv.Volume(a, aff).to_zarr(tmp_path / "m.zarr", levels=3)
    lvl1 = zarr_io.open_zarr(out, level=1)
    # independent reference: block mean with edge padding, rounded
    p = np.pad(a.astype(np.float64), [(0, 1), (0, 0), (0, 1)], mode="edge")
    ref = p.reshape(9, 2, 6, 2, 5, 2).mean(axis=(1, 3, 5))
    np.testing.assert_array_equal(lvl1.compute(), np.rint(ref).astype(np.int16))
    # voxel (0,0,0) of level 1 sits at the centre of base voxels 0..1
    np.testing.assert_allclose(lvl1.affine @ [0, 0, 0, 1], aff @ [0.5, 0.5, 0.5, 1])
    np.testing.assert_allclose(lvl1.affine[:3, :3], aff[:3, :3] * 2)
    assert zarr_io.open_zarr(out, level=2).shape == (5, 3, 3)
    with pytest.raises(FormatError, match="level 3"):
        zarr_io.open_zarr(out, level=3)


@pytest.mark.parametrize(
    "dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
)
def test_integer_levels_are_the_exact_block_mean(tmp_path, dtype):
    """Every integer dtype's level is its block mean rounded half to even, exactly: the float64
    mean wrapped a uint64 2**64 - 1 to 0 and an int64 2**63 - 1 to -2**63, and rounded int64
    2**62 + 1 to 2**62. Reference: Python integers and fractions over the edge-padded array."""
    from fractions import Fraction

    info = np.iinfo(dtype)
    rng = np.random.default_rng(5)
    near = [info.min, info.min + 1, 0, 1, info.max - 1, info.max, info.max // 2 + 1]
    near += [-1, info.min // 2 - 1] if info.min else [2**53 + 1 if info.max > 2**53 else 3]
    shape = (9, 7, 6)  # odd lengths: the last block of an axis repeats its edge voxel
    a = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    picks = rng.random(shape) < 0.6
    a[picks] = rng.choice(np.array(near, dtype=dtype), int(picks.sum()))
    a[:2, :2, :2] = info.max  # whole blocks at the limits
    a[2:4, :2, :2] = info.min
    out = lv.Volume(a, np.eye(4)).to_zarr(tmp_path / "i.zarr", levels=2)
    level1 = zarr.open_group(out, mode="r")["1"][:].T  # any Zarr reader, back to (i, j, k)
    p = np.pad(a, [(0, 1), (0, 1), (0, 0)], mode="edge")
    ref = np.empty((5, 4, 3), dtype=dtype)
    for idx in np.ndindex(ref.shape):
        block = p[tuple(slice(2 * n, 2 * n + 2) for n in idx)]
        ref[idx] = round(Fraction(sum(int(v) for v in block.ravel()), block.size))
    assert level1.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(level1, ref)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "complex128"])
def test_float_levels_are_the_block_mean_without_overflow(tmp_path, dtype):
    """A float level was np.mean in the values' own dtype: eight float32 values of 3e38 (near
    FLT_MAX, some tools' mark for 'no value') summed to inf, and float64 1.7e308 likewise, so
    level 1 held inf where every value of the block is finite. Reference: Python fractions of the
    edge-padded array's blocks, rounded to the dtype; NaN and inf as np.mean gives them."""
    from fractions import Fraction

    real = np.dtype(dtype).type(0).real.dtype
    big = float(np.finfo(real).max) * 0.9
    rng = np.random.default_rng(6)
    shape = (5, 4, 4)
    a = (rng.random(shape) * 200 - 100).astype(dtype)
    a[:2, :2, :2] = big  # whole blocks near the largest value, positive and negative
    a[2:4, :2, :2] = -big
    a[:2, 2:, :2] = big * 0.5 if np.dtype(dtype).kind == "f" else big * (0.5 - 0.25j)
    a[2:4, 2:, 2:] = np.nan
    a[:2, :2, 2:] = np.inf
    out = lv.Volume(a, np.eye(4)).to_zarr(tmp_path / "f.zarr", levels=2)
    level1 = zarr.open_group(out, mode="r")["1"][:].T
    p = np.pad(a, [(0, 1), (0, 0), (0, 0)], mode="edge")

    def mean(values):
        if not np.all(np.isfinite(values)):
            with np.errstate(invalid="ignore"):
                return np.mean(values.astype(np.complex128 if values.dtype.kind == "c" else float))
        parts = [values.real] + ([values.imag] if values.dtype.kind == "c" else [])
        exact = [sum(Fraction(float(v)) for v in x.ravel()) / values.size for x in parts]
        return complex(*map(float, exact)) if len(exact) == 2 else float(exact[0])

    ref = np.empty((3, 2, 2), dtype=dtype)
    for idx in np.ndindex(ref.shape):
        ref[idx] = mean(p[tuple(slice(2 * n, 2 * n + 2) for n in idx)])
    assert level1.dtype == np.dtype(dtype)
    assert np.array_equal(np.isfinite(level1), np.isfinite(ref))
    eps = float(np.finfo(real).eps)  # (the random blocks' sums cancel: an absolute bound too)
    np.testing.assert_allclose(level1, ref, rtol=4 * eps, atol=1000 * eps)


def test_graph_is_picklable_and_runs_on_processes(tmp_path):
    a = _rand((32, 24, 20), "int16", seed=8)
    out = lv.Volume(a).to_zarr(tmp_path / "p.zarr", chunks=(32, 24, 5))
    vol = lv.open(out, chunks=(32, 24, 5))
    assert vol.data.numblocks == (1, 1, 4)
    graph = dict(vol.data.__dask_graph__())
    pickle.loads(pickle.dumps(graph))
    total = dask.compute(vol.data.sum(dtype=np.int64), scheduler="processes", num_workers=2)[0]
    assert total == a.sum(dtype=np.int64)


def test_all_zero_volume_is_complete(tmp_path):
    out = lv.Volume(np.zeros((10, 10, 10), "uint8")).to_zarr(
        tmp_path / "z.zarr", chunks=5, shards=False
    )
    files = [f for _, _, fs in os.walk(os.path.join(out, "0", "c")) for f in fs]
    assert len(files) == 8  # zero chunks are written too, so completeness can be checked
    np.testing.assert_array_equal(lv.open(out).compute(), 0)


# -- what other tools read: NIfTI-Zarr header, RFC-4 orientation, plain zarr, OME-Zarr 0.4 -----------


@pytest.mark.parametrize("shape", [(40, 30, 20), (12, 10, 8, 3)])
def test_niizarr_reads_the_exact_oblique_affine(tmp_path, shape):
    """NIfTI-Zarr: niizarr (the spec's reference implementation) gives lazyvol's exact affine,
    which OME-Zarr transforms cannot express, and the values."""
    niizarr = pytest.importorskip("niizarr", reason="nifti-zarr is in the test extra")
    a = _rand(shape, "int16", seed=40)
    out = lv.Volume(a, OBLIQUE, meta={"axis4_spacing": 2.5}).to_zarr(tmp_path / "o.zarr")
    img = niizarr.zarr2nii(out)
    np.testing.assert_allclose(img.header.get_best_affine(), OBLIQUE, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(img.dataobj), a)
    assert img.get_data_dtype() == np.dtype("int16")
    saved = niizarr.zarr2nii(out, str(tmp_path / "o.nii.gz"))  # written as NIfTI, read by nibabel
    ref = nib.load(tmp_path / "o.nii.gz")
    np.testing.assert_allclose(ref.affine, OBLIQUE, atol=1e-5)
    np.testing.assert_array_equal(ref.get_fdata(), a)
    if len(shape) == 4:
        assert ref.header.get_zooms()[3] == pytest.approx(2.5)
    assert saved is not None


def test_nifti_header_array_follows_the_spec(tmp_path):
    """The ``nifti`` array holds the binary NIfTI-1 header (348 bytes, no extension flag) that
    nibabel parses to the volume's shape, dtype and sform."""
    a = _rand((9, 7, 5), "float32", seed=41)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "h.zarr")
    raw = np.asarray(zarr.open_group(out, mode="r")["nifti"][:])
    assert raw.dtype == np.uint8 and raw.size == 348
    hdr = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(raw.tobytes()), check=False)
    assert hdr.get_data_shape() == (9, 7, 5) and hdr.get_data_dtype() == np.float32
    np.testing.assert_allclose(hdr.get_sform(), OBLIQUE, atol=1e-6)
    # part of the checked store: a damaged header is refused at open
    chunk = os.path.join(out, "nifti", "c", "0")
    _flip(chunk, 40, 1)
    with pytest.raises(IntegrityError, match="nifti"):
        lv.open(out)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (None, (1, 1)),
        ((2, 0), (2, 0)),
        ((4, 2), (4, 2)),
        ((3, 1), (3, 1)),
        ("sheared", (1, 0)),
    ],
    ids=["dicom", "nifti-sform-only", "nifti-mni-aligned", "nifti-talairach", "nifti-sheared"],
)
def test_nifti_header_array_states_the_codes_to_nifti_writes(tmp_path, codes, expected):
    """The store's NIfTI header and to_nifti state the same sform/qform codes: 1 (scanner, as
    dcm2niix writes) for a DICOM series, a NIfTI source's own otherwise; qform code 0 where the
    qform cannot hold the affine (a sheared one). The store said 2 (aligned) for DICOM, and
    copied the sform code into a qform the source left at 0."""
    import io

    from lazyvol.testing import write_dicom_series

    if codes is None:
        write_dicom_series(tmp_path / "s", (9, 7, 5))
        vol = lv.open(tmp_path / "s")
    else:
        rot = nib.eulerangles.euler2mat(0.3, -0.2, 0.1)  # oblique, not sheared
        affine = (
            OBLIQUE
            if codes == "sheared"
            else nib.affines.from_matvec(rot * [0.9, 1.1, 2], [-10.25, 5.5, 7.1])
        )
        img = nib.Nifti1Image(_rand((9, 7, 5), "float32", seed=3), affine)
        img.header.set_sform(affine, code=1 if codes == "sheared" else codes[0])
        img.header.set_qform(affine, code=1 if codes == "sheared" else codes[1])
        nib.save(img, tmp_path / "n.nii")
        vol = lv.open(tmp_path / "n.nii")
    written = nib.load(vol.to_nifti(tmp_path / "o.nii")).header
    raw = np.asarray(zarr.open_group(vol.to_zarr(tmp_path / "o.zarr"), mode="r")["nifti"][:])
    stored = nib.Nifti1Header.from_fileobj(io.BytesIO(raw.tobytes()), check=False)
    assert (int(written["sform_code"]), int(written["qform_code"])) == expected
    assert (int(stored["sform_code"]), int(stored["qform_code"])) == expected


@pytest.mark.parametrize(
    ("affine", "expected"),
    [
        (
            np.diag([1.0, 1.0, 1.0, 1.0]),
            ("left-to-right", "posterior-to-anterior", "inferior-to-superior"),
        ),
        (
            np.diag([-0.8, -0.8, 3.0, 1.0]),
            ("right-to-left", "anterior-to-posterior", "inferior-to-superior"),
        ),
        (
            np.array([[0, 0, -1.0, 0], [1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, 0, 1]]),
            ("posterior-to-anterior", "superior-to-inferior", "right-to-left"),
        ),
        (OBLIQUE, ("left-to-right", "posterior-to-anterior", "inferior-to-superior")),
    ],
)
def test_rfc4_anatomical_orientation_of_each_axis(tmp_path, affine, expected):
    out = lv.Volume(np.zeros((4, 5, 6), "uint8"), affine).to_zarr(tmp_path / "r.zarr")
    axes = _json(os.path.join(out, "zarr.json"))["attributes"]["ome"]["multiscales"][0]["axes"]
    by_name = {ax["name"]: ax for ax in axes}
    for name, value in zip("xyz", expected):  # x = i, y = j, z = k
        assert by_name[name]["orientation"] == {"type": "anatomical", "value": value}
    # nibabel's independent reading of the same affine: i points to its first code
    codes = nib.orientations.aff2axcodes(affine)
    towards = {"left-to-right": "R", "right-to-left": "L", "posterior-to-anterior": "A"}
    towards |= {
        "anterior-to-posterior": "P",
        "inferior-to-superior": "S",
        "superior-to-inferior": "I",
    }
    assert tuple(towards[v] for v in expected) == codes


def test_store_validates_as_ome_zarr_0_5(tmp_path):
    """ome-zarr-models (pydantic models of the spec) accepts the store with its extra nodes
    (``nifti``, ``lazyvol-manifest``) and RFC-4 orientations."""
    v05 = pytest.importorskip("ome_zarr_models.v05.image", reason="ome-zarr-models not installed")
    out = lv.Volume(_rand((12, 10, 8, 2), "int16"), OBLIQUE).to_zarr(tmp_path / "v.zarr", levels=2)
    image = v05.Image.from_zarr(zarr.open_group(out, mode="r"))
    axes = image.ome_attributes.multiscales[0].axes
    assert [a.name for a in axes] == ["t", "z", "y", "x"]


def test_plain_zarr_opens_a_store_without_warnings(tmp_path):
    import warnings

    a = _rand((16, 12, 8), "int16", seed=42)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "w.zarr", levels=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        group = zarr.open(out, mode="r")
        names = sorted(name for name, _ in group.members(max_depth=None))
        np.testing.assert_array_equal(group["0"][:], a.T)
    assert {"0", "1", "nifti"} <= set(names)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ome_zarr")
@pytest.mark.filterwarnings("ignore::UserWarning:ome_zarr")
def test_ome_zarr_0_4_zarr_v2_store_opens(tmp_path):
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    a = _rand((6, 20, 16, 12), "int16", seed=43)  # t, z, y, x
    path = str(tmp_path / "v04.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=2)
    write_image(a, group, scale_factors=[2], axes=["t", "z", "y", "x"], fmt=FormatV04())
    assert not os.path.exists(os.path.join(path, "zarr.json"))
    attrs_path = os.path.join(path, ".zattrs")
    attrs = _json(attrs_path)
    ms = attrs["multiscales"][0]
    assert ms["version"] == "0.4"
    for ax in ms["axes"][1:]:
        ax["unit"] = "micrometer"
    ms["datasets"][0]["coordinateTransformations"] = [
        {"type": "scale", "scale": [3.0, 2.0, 1.5, 1.25]},
        {"type": "translation", "translation": [0.0, 10.0, -5.0, 2.5]},
    ]
    with open(attrs_path, "w") as f:
        json.dump(attrs, f)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), a.T)
    expected = np.diag([1.25e-3, 1.5e-3, 2.0e-3, 1.0])
    expected[:3, 3] = [2.5e-3, -5e-3, 10e-3]
    np.testing.assert_allclose(vol.affine, expected, rtol=1e-12)
    assert vol.meta["xyzt_units"][0] == "mm"
    assert vol.meta["ome_version"] == "0.4"
    assert zarr_io.open_zarr(path, level=1).shape == (6, 8, 20, 6)


# -- bad stores ---------------------------------------------------------------------------------------


def test_not_lazyvol_or_ome_store(tmp_path):
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w", zarr_format=3)
    with pytest.raises(FormatError, match="neither a lazyvol store"):
        lv.open(tmp_path / "g.zarr")
    zarr.create_array(str(tmp_path / "arr.zarr"), shape=(4, 4, 4), dtype="int16")
    with pytest.raises(FormatError, match="neither"):
        lv.open(tmp_path / "arr.zarr")


def test_missing_manifest_is_incomplete(tmp_path):
    out = lv.Volume(_rand((8, 8, 8), "int16")).to_zarr(tmp_path / "x.zarr")
    os.remove(os.path.join(out, zarr_io.MANIFEST))
    with pytest.raises(FormatError, match="incomplete"):
        lv.open(out)


def test_missing_chunk_detected_at_open_and_in_tasks(tmp_path):
    a = _rand((16, 16, 16), "int16", seed=9) + 100
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", chunks=8, shards=False)
    vol = lv.open(out, chunks=8)  # opened while complete
    victim = os.path.join(out, "0", "c", "1", "0", "1")
    assert os.path.isfile(victim)
    os.remove(victim)
    with pytest.raises(FormatError, match="chunk"):
        lv.open(out)
    # a task reading the gone chunk fails instead of returning zeros
    with pytest.raises(FormatError, match="missing"):
        vol.compute()
    np.testing.assert_array_equal(vol[:, :, :8].compute(), a[:, :, :8])


def test_corrupt_chunk_raises_lazyvol_error(tmp_path):
    out = lv.Volume(_rand((8, 8, 8), "int16")).to_zarr(tmp_path / "x.zarr")
    chunk = next(
        os.path.join(d, f) for d, _, fs in os.walk(os.path.join(out, "0", "c")) for f in fs
    )
    size = os.path.getsize(chunk)
    with open(chunk, "r+b") as f:
        f.write(b"\xff" * size)  # same size, garbage content
    vol = lv.open(out)
    with pytest.raises(IntegrityError, match="c/0/0/0"):
        vol.compute()


# -- integrity: checksums in every chunk, a manifest that ties chunks to keys and hashes metadata ----


def _chunk_files(store):
    base = os.path.join(store, "0")
    return sorted(
        os.path.relpath(os.path.join(d, f), base).replace(os.sep, "/")
        for d, _, fs in os.walk(os.path.join(base, "c"))
        for f in fs
    )


def _flip(path, pos, bit):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([b ^ (1 << bit)]))


STORE_KINDS = {
    "zstd": {"codec": "zstd", "chunks": (16, 12, 5), "shards": False},
    "blosc-lz4": {"codec": "blosc-lz4", "chunks": (16, 12, 5), "shards": False},
    "none": {"codec": "none", "chunks": (16, 12, 5), "shards": False},
    "zstd-sharded": {"codec": "zstd", "chunks": (8, 6, 5)},
    "blosc-lz4-sharded": {"codec": "blosc-lz4", "chunks": (8, 6, 5)},
    "none-sharded": {"codec": "none", "chunks": (8, 6, 5)},
}


@pytest.mark.parametrize("kind", sorted(STORE_KINDS))
def test_bit_flips_in_chunks_raise_integrity_error(tmp_path, kind):
    """Every flipped bit of every chunk file, at positions spread over the whole file (every bit
    index, headers, payload, the crc32c trailer, a shard's index), is an IntegrityError naming the
    store and the chunk: never a silently wrong value (3 of 8 zstd flips were before checksums)."""
    a = _rand((32, 24, 5), "int16", seed=21)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / f"{kind}.zarr", **STORE_KINDS[kind])
    meta = _json(os.path.join(out, "0", "zarr.json"))
    assert (meta["codecs"][0]["name"] == "sharding_indexed") == kind.endswith("sharded")
    keys = _chunk_files(out)
    rng = np.random.default_rng(5)
    flips = 0
    for key in keys:
        path = os.path.join(out, "0", *key.split("/"))
        size = os.path.getsize(path)
        positions = {0, 1, size // 2, size - 5, size - 4, size - 1}
        positions |= {int(p) for p in rng.integers(0, size, 4)}
        for pos in sorted(positions):
            bit = flips % 8
            _flip(path, pos, bit)
            chunks = "auto" if flips % 2 else (5, 5, 3)  # whole chunks/shards, or partial reads
            with pytest.raises(IntegrityError) as exc:
                lv.open(out, chunks=chunks).compute()
            assert out in str(exc.value) and key in str(exc.value), str(exc.value)
            _flip(path, pos, bit)  # restored: reads back exactly
            flips += 1
    assert flips >= 6 * len(keys)
    np.testing.assert_array_equal(lv.open(out).compute(), a)


def test_every_bit_of_a_zstd_chunk(tmp_path):
    """All 8 bit positions at every byte of one zstd chunk (the issue's case) raise."""
    a = _rand((16, 8, 4), "int16", seed=22)
    out = lv.Volume(a).to_zarr(tmp_path / "z.zarr", codec="zstd", shards=False)
    (key,) = _chunk_files(out)
    path = os.path.join(out, "0", *key.split("/"))
    size = os.path.getsize(path)
    for pos in sorted({0, 1, 2, 3, size - 4, size - 1, *np.linspace(4, size - 5, 30).astype(int)}):
        for bit in range(8):
            _flip(path, pos, bit)
            with pytest.raises(IntegrityError, match=key):
                lv.open(out).compute()
            _flip(path, pos, bit)
    np.testing.assert_array_equal(lv.open(out).compute(), a)


def test_other_zarr_clients_verify_the_checksums(tmp_path):
    a = _rand((16, 12, 10), "int16", seed=23)
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec="zstd", shards=False, chunks=(16, 12, 5))
    codecs = _json(os.path.join(out, "0", "zarr.json"))["codecs"]
    assert [c["name"] for c in codecs] == ["bytes", "zstd", "crc32c"]
    np.testing.assert_array_equal(zarr.open_array(os.path.join(out, "0"), mode="r")[:], a.T)
    path = os.path.join(out, "0", "c", "1", "0", "0")
    _flip(path, os.path.getsize(path) // 2, 3)
    with pytest.raises(ValueError, match="checksum"):  # plain zarr, zarr's own crc32c codec
        zarr.open_array(os.path.join(out, "0"), mode="r")[:]
    sharded = lv.Volume(a).to_zarr(tmp_path / "s.zarr", chunks=(8, 6, 5))
    cfg = _json(os.path.join(sharded, "0", "zarr.json"))["codecs"][0]["configuration"]
    assert cfg["codecs"][-1]["name"] == "crc32c" and cfg["index_codecs"][-1]["name"] == "crc32c"


def test_swapped_chunk_files_raise(tmp_path):
    """Uncompressed chunks of equal size swapped (the issue's case): each is intact, neither is at
    its key. Found when read, naming a swapped key."""
    a = _rand((16, 16, 32), "int16", seed=24)
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec="none", chunks=(16, 16, 8), shards=False)
    c0 = os.path.join(out, "0", "c", "0", "0", "0")
    c3 = os.path.join(out, "0", "c", "3", "0", "0")
    assert os.path.getsize(c0) == os.path.getsize(c3)
    tmp = c0 + ".swap"
    os.rename(c0, tmp)
    os.rename(c3, c0)
    os.rename(tmp, c3)
    vol = lv.open(out)  # sizes and names still match the manifest
    with pytest.raises(IntegrityError) as exc:
        vol.compute()
    assert out in str(exc.value) and re.search(r"c/[03]/0/0", str(exc.value))
    # the untouched middle reads fine
    np.testing.assert_array_equal(vol[:, :, 8:24].compute(), a[:, :, 8:24])


def test_chunk_copied_from_another_store_raises(tmp_path):
    a = _rand((16, 16, 16), "int16", seed=25)
    one = lv.Volume(a).to_zarr(tmp_path / "a.zarr", codec="none", chunks=8, shards=False)
    two = lv.Volume(a[::-1]).to_zarr(tmp_path / "b.zarr", codec="none", chunks=8, shards=False)
    key = os.path.join("0", "c", "1", "1", "0")
    with open(os.path.join(two, key), "rb") as f:
        other = f.read()
    with open(os.path.join(one, key), "wb") as f:
        f.write(other)
    with pytest.raises(IntegrityError, match="c/1/1/0"):
        lv.open(one).compute()


def test_swapped_inner_chunks_of_a_shard_raise(tmp_path):
    """Two inner chunks of one shard swapped (index untouched): each passes its own crc32c."""
    a = _rand((16, 16, 16), "int16", seed=26)
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec="none", chunks=8, shards=(16, 16, 16))
    (key,) = _chunk_files(out)
    path = os.path.join(out, "0", *key.split("/"))
    raw = bytearray(Path(path).read_bytes())
    n = 8 * 8 * 8 * 2 + 4  # uncompressed inner chunk + crc32c, stored back to back
    raw[0:n], raw[n : 2 * n] = raw[n : 2 * n], raw[0:n]
    Path(path).write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match=key):
        lv.open(out).compute()
    with pytest.raises(IntegrityError, match=key):
        lv.open(out, chunks=(8, 8, 8)).compute()  # partial reads of the shard


@pytest.mark.parametrize("sharded", [False, True])
def test_truncated_or_extended_chunk_file(tmp_path, sharded):
    a = _rand((16, 16, 16), "int16", seed=27)
    kw = {"chunks": 8} if sharded else {"chunks": 8, "shards": False}
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", **kw)
    key = _chunk_files(out)[0]
    path = os.path.join(out, "0", *key.split("/"))
    vol = lv.open(out)  # opened while intact
    size = os.path.getsize(path)
    os.truncate(path, size - 7)
    with pytest.raises(IntegrityError, match=key) as exc:
        lv.open(out)
    assert "bytes" in str(exc.value)
    with pytest.raises(IntegrityError, match=key):  # and in a task of the volume opened before
        vol.compute()
    os.truncate(path, size + 3)  # zero-padded: longer than recorded
    with pytest.raises(IntegrityError, match=key):
        lv.open(out)


def test_edited_array_metadata_raises(tmp_path):
    """data_type int16 -> uint16 would reinterpret every value: the manifest's hash refuses it."""
    a = _rand((16, 12, 8), "int16", seed=28) - 20000
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", codec="none")
    zj = os.path.join(out, "0", "zarr.json")
    original = Path(zj).read_bytes()
    meta = json.loads(original)
    meta["data_type"] = "uint16"
    Path(zj).write_text(json.dumps(meta, indent=2))
    with pytest.raises(IntegrityError) as exc:
        lv.open(out)
    msg = str(exc.value)
    assert out in msg and "zarr.json" in msg and "array '0'" in msg
    vol_before = None
    Path(zj).write_bytes(original)
    vol_before = lv.open(out)
    Path(zj).write_bytes(original.replace(b'"int16"', b'"uint16"'))  # edited after open
    zarr_io._ARRAYS.clear()  # a fresh worker process opens the array again
    with pytest.raises(IntegrityError, match=r"zarr\.json"):
        vol_before.compute()


def test_edited_group_metadata_and_manifest_raise(tmp_path):
    a = _rand((8, 8, 8), "int16", seed=29)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "x.zarr")
    gj = os.path.join(out, "zarr.json")
    original = Path(gj).read_bytes()
    meta = json.loads(original)
    meta["attributes"]["lazyvol"]["affine"][0][0] = -0.9  # a mirrored affine
    Path(gj).write_text(json.dumps(meta))
    with pytest.raises(IntegrityError, match="group metadata"):
        lv.open(out)
    Path(gj).write_bytes(original)
    mj = os.path.join(out, zarr_io.MANIFEST)
    node = _json(mj)
    man = node["attributes"][zarr_io.MANIFEST_ATTR]
    table = man["levels"][0]["chunks"]
    man["levels"][0]["chunks"] = {k: [v[0], v[1] ^ 1] for k, v in table.items()}
    Path(mj).write_text(json.dumps(node))
    with pytest.raises(IntegrityError, match="manifest"):
        lv.open(out)


@pytest.mark.parametrize("manifest", ["current", "before-content-hash"])
def test_consolidated_metadata_is_not_an_edit(tmp_path, manifest):
    """zarr.consolidate_metadata() (a routine step before publishing a store) changes no
    attribute, array metadata or chunk, only adds the consolidated copy to the group's zarr.json:
    lazyvol refused the store as edited. An edit of the attributes is still refused."""
    import xarray as xr

    a = _rand((8, 9, 10), "int16", seed=33)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "x.zarr", levels=2)
    if manifest == "before-content-hash":  # a store written before group_content_sha256
        mj = os.path.join(out, zarr_io.MANIFEST)
        node = _json(mj)
        man = node["attributes"][zarr_io.MANIFEST_ATTR]
        del man["group_content_sha256"]
        node["attributes"][zarr_io.MANIFEST_ATTR] = zi.seal_manifest(man)
        Path(mj).write_text(json.dumps(node))
    zarr.consolidate_metadata(out)
    gj = os.path.join(out, "zarr.json")
    assert "consolidated_metadata" in _json(gj)
    vol = lv.open(out)
    np.testing.assert_array_equal(vol.compute(), a)
    np.testing.assert_allclose(vol.affine, OBLIQUE)
    ds = xr.open_dataset(out, engine="lazyvol")
    np.testing.assert_array_equal(ds[next(iter(ds.data_vars))].values, a)
    meta = _json(gj)
    meta["attributes"]["lazyvol"]["affine"][0][0] = -0.9  # an edit of what lazyvol relies on
    Path(gj).write_text(json.dumps(meta, indent=2))
    with pytest.raises(IntegrityError, match="group metadata"):
        lv.open(out)


def _level0(man):
    return man["levels"][0]


@pytest.mark.parametrize(
    ("damage", "field"),
    [
        (lambda m: m.__setitem__("levels", {"0": 1}), "'levels'"),
        (lambda m: m["levels"].__setitem__(0, 5), r"levels\[0\] is not"),
        (lambda m: _level0(m).__setitem__("chunks", [1, 2]), "'chunks'"),
        (lambda m: _level0(m)["chunks"].update({k: "x" for k in _level0(m)["chunks"]}), "'chunks'"),
        (lambda m: _level0(m).__setitem__("shape", "abc"), "'shape'"),
        (lambda m: _level0(m).__setitem__("shape", None), "'shape'"),
        (lambda m: _level0(m).__setitem__("affine", [[1, 2], [3]]), "'affine'"),
        (lambda m: _level0(m).__setitem__("affine", "x"), "'affine'"),
        (lambda m: _level0(m).__setitem__("meta_sha256", 5), "'meta_sha256'"),
        (lambda m: m.__setitem__("complete", "no"), "'complete'"),
        (lambda m: m.__setitem__("arrays", {"nifti": [1]}), "arrays"),
    ],
)
def test_a_sealed_manifest_of_the_wrong_shape_is_refused_typed(tmp_path, damage, field):
    """A manifest edited and sealed again (its hash is no secret) whose fields are not what
    lazyvol writes -- a level that is no mapping, a chunk table that is a list, a shape of
    letters, an affine of ragged rows -- raised a bare KeyError / TypeError / ValueError from
    deep in the open (or, 'complete': "no", opened). Now a FormatError naming the field."""
    out = lv.Volume(_rand((6, 7, 8), "int16", seed=37), OBLIQUE).to_zarr(tmp_path / "x.zarr")
    mj = os.path.join(out, zarr_io.MANIFEST)
    node = _json(mj)
    man = node["attributes"][zarr_io.MANIFEST_ATTR]
    damage(man)
    node["attributes"][zarr_io.MANIFEST_ATTR] = zi.seal_manifest(man)
    Path(mj).write_text(json.dumps(node))
    with pytest.raises(FormatError, match=f"x.zarr.*manifest.*{field}"):
        lv.open(out).compute()


@pytest.mark.parametrize("path", ["../moved", "/abs/0", "0/../../moved", "./0"])
def test_a_manifest_never_leads_out_of_its_store(tmp_path, path):
    """A sealed manifest whose level path leaves the store ('../moved') read the array found
    there -- another store's, any Zarr array on the disk -- as the store's own, checksums and all
    (the manifest lists them, and its seal is no secret). The level's path must name an array
    inside the store."""
    a = _rand((6, 7, 8), "int16", seed=38)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "x.zarr")
    shutil.copytree(os.path.join(out, "0"), tmp_path / "moved")  # the array, outside the store
    mj = os.path.join(out, zarr_io.MANIFEST)
    node = _json(mj)
    man = node["attributes"][zarr_io.MANIFEST_ATTR]
    _level0(man)["path"] = path if path != "/abs/0" else str(tmp_path / "moved")
    node["attributes"][zarr_io.MANIFEST_ATTR] = zi.seal_manifest(man)
    Path(mj).write_text(json.dumps(node))
    with pytest.raises(FormatError, match=r"path .* is not a key inside the store"):
        lv.open(out).compute()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"node_type"', b'"nod,_type"'),
        (b'"group"', b'"groqp"'),
        (b'"zarr_format":3', b'"zarr_format":4'),
    ],
)
def test_an_edited_manifest_node_is_refused_though_its_content_is_intact(tmp_path, old, new):
    # Found by the long Zarr fuzz run: a key of the manifest's Zarr node renamed ("nod,_type"):
    # the sealed manifest inside was intact, so the store read without error, yet other Zarr
    # readers can no longer walk the node.
    a = _rand((8, 8, 8), "int16", seed=31)
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr")
    np.testing.assert_array_equal(lv.open(out).compute(), a)
    mj = os.path.join(out, zarr_io.MANIFEST)
    raw = Path(mj).read_bytes()
    assert raw.count(old) == 1
    Path(mj).write_bytes(raw.replace(old, new))
    with pytest.raises(lv.FormatError, match="manifest") as exc:
        lv.open(out).compute()
    assert "lazyvol-manifest" in str(exc.value)


def test_a_lazyvol_store_whose_group_lost_its_lazyvol_attributes_is_refused(tmp_path):
    # Found by the long Zarr fuzz run: the group's "lazyvol" key renamed ("laAyvol") made the
    # store read as a plain OME-Zarr, without error, though lazyvol's manifest is there.
    a = _rand((8, 8, 8), "int16", seed=32)
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr")
    gj = os.path.join(out, "zarr.json")
    raw = Path(gj).read_bytes()
    assert raw.count(b'"lazyvol":') == 1
    Path(gj).write_bytes(raw.replace(b'"lazyvol":', b'"laAyvol":'))
    with pytest.raises(IntegrityError, match="no 'lazyvol' attributes") as exc:
        lv.open(out)
    assert gj in str(exc.value)
    # Without lazyvol's manifest it is someone else's OME-Zarr, opened from its OME metadata.
    shutil.rmtree(os.path.join(out, os.path.dirname(zarr_io.MANIFEST)))
    np.testing.assert_array_equal(lv.open(out).compute(), a)


def test_extra_or_missing_chunk_file_at_open(tmp_path):
    a = _rand((16, 16, 16), "int16", seed=30)
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", chunks=8, shards=False)
    stray = os.path.join(out, "0", "c", "9", "9", "9")
    os.makedirs(os.path.dirname(stray))
    Path(stray).write_bytes(b"\0" * 16)
    with pytest.raises(IntegrityError, match="c/9/9/9"):
        lv.open(out)


def _write_format1_store(path, a, affine):
    """A store as lazyvol 0.1 store format 1 wrote it: no crc32c codec, a manifest of counts."""
    from zarr.codecs import ZstdCodec

    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    arr = group.create_array(
        "0", shape=a.T.shape, dtype=a.dtype, chunks=a.T.shape, compressors=[ZstdCodec(level=3)]
    )
    arr[:] = a.T
    size = os.path.getsize(os.path.join(path, "0", "c", "0", "0", "0"))
    level = {"path": "0", "shape": list(a.T.shape), "affine": affine.tolist()}
    group.attrs.update(
        {
            "lazyvol": {
                "format": "lazyvol-zarr",
                "version": 1,
                "affine": affine.tolist(),
                "meta": {},
                "source": None,
                "dtype": a.dtype.str,
                "shape": list(a.shape),
                "levels": [level],
            }
        }
    )
    manifest = {
        "format": "lazyvol-zarr",
        "version": 1,
        "complete": True,
        "created": 0.0,
        "source": None,
        "levels": [{**level, "chunk_files": 1, "chunk_bytes": size, "unit": list(a.T.shape)}],
    }
    Path(path, zarr_io.LEGACY_MANIFEST).write_text(json.dumps(manifest))
    return str(path)


@pytest.mark.parametrize("affine", ["x", [[1, 0], [0, 1]], None])
def test_a_store_without_checksums_whose_affine_is_no_matrix_is_refused_typed(tmp_path, affine):
    """A format-1 store (no checksums: a damaged file is not caught by a hash) whose level lists
    no affine and whose group's affine is no 4x4 matrix raised a bare ValueError / TypeError from
    numpy; now a FormatError naming the store and level."""
    real = _write_format1_store(tmp_path / "old.zarr", _rand((8, 6, 4), "int16", seed=36), OBLIQUE)
    where = Path(real, zarr_io.LEGACY_MANIFEST)
    manifest = json.loads(where.read_text())
    del manifest["levels"][0]["affine"]
    where.write_text(json.dumps(manifest))
    group = zarr.open_group(real, mode="r+")
    group.attrs["lazyvol"] = {**group.attrs["lazyvol"], "affine": affine}
    with pytest.warns(zi.UnverifiedStoreWarning), pytest.raises(FormatError, match=r"level 0.*4x4"):
        lv.open(real)


def test_store_without_checksums_opens_with_a_warning(tmp_path):
    """Stores of the previous format are read (refusing them would lock users out of their data),
    with a warning that they cannot be verified; the cache never uses one."""
    a = _rand((8, 6, 4), "int16", seed=31)
    old = _write_format1_store(tmp_path / "old.zarr", a, OBLIQUE)
    with pytest.warns(zi.UnverifiedStoreWarning, match="without checksums"):
        vol = lv.open(old)
    np.testing.assert_array_equal(vol.compute(), a)
    assert np.array_equal(vol.affine, OBLIQUE)
    with pytest.raises(IntegrityError, match="no checksums"):
        zarr_io.open_store(old, require_checksums=True)
    new = vol.to_zarr(tmp_path / "new.zarr")  # the documented upgrade
    np.testing.assert_array_equal(lv.open(new).compute(), a)


def test_foreign_store_crc32c_failure_is_an_integrity_error(tmp_path):
    """A store without a lazyvol manifest (another tool's OME-Zarr with crc32c): zarr's own
    checksum failure becomes an IntegrityError naming the chunk."""
    a = _rand((16, 12, 10), "int16", seed=32)
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr", chunks=(16, 12, 5), shards=False)
    gj = os.path.join(out, "zarr.json")
    meta = _json(gj)
    del meta["attributes"]["lazyvol"]
    Path(gj).write_text(json.dumps(meta))
    os.remove(os.path.join(out, zarr_io.MANIFEST))
    np.testing.assert_array_equal(lv.open(out).compute(), a)
    path = os.path.join(out, "0", "c", "1", "0", "0")
    _flip(path, os.path.getsize(path) // 3, 6)
    with pytest.raises(IntegrityError, match="c/1/0/0"):
        lv.open(out).compute()


# -- refused / failed writes --------------------------------------------------------------------------


def _snapshot(path):
    return {
        os.path.relpath(os.path.join(d, f), path): Path(d, f).read_bytes()
        for d, _, fs in os.walk(path)
        for f in fs
    }


def test_existing_store_not_overwritten(tmp_path):
    out = lv.Volume(_rand((8, 8, 8), "int16")).to_zarr(tmp_path / "x.zarr")
    before = _snapshot(out)
    with pytest.raises(WriteError, match="overwrite=True"):
        lv.Volume(np.ones((8, 8, 8), "int16")).to_zarr(out)
    assert _snapshot(out) == before
    lv.Volume(np.ones((4, 4, 4), "int16")).to_zarr(out, overwrite=True)
    np.testing.assert_array_equal(lv.open(out).compute(), 1)
    assert sorted(os.listdir(tmp_path)) == ["x.zarr"]


def test_overwrite_refuses_non_zarr(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "important.txt").write_text("x")
    with pytest.raises(WriteError, match="not a Zarr store"):
        lv.Volume(np.ones((4, 4, 4))).to_zarr(tmp_path / "keep", overwrite=True)
    assert (tmp_path / "keep" / "important.txt").read_text() == "x"


@pytest.mark.parametrize("node", ["group", "array"])
def test_overwrite_refuses_a_zarr_v2_store_saying_what_it_is(tmp_path, node):
    """A Zarr v2 / OME-Zarr 0.4 store at the destination (which lv.open reads as a Zarr store) was
    refused as "not a Zarr store (no zarr.json)"; the refusal says it is a Zarr v2 store lazyvol
    does not replace, and what to do. The store is left as it was."""
    dest = tmp_path / "old.zarr"
    truth = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    if node == "group":
        zarr.open_group(dest, mode="w", zarr_format=2).create_array("0", data=truth)
    else:
        zarr.create_array(dest, data=truth, zarr_format=2)
    before = _snapshot(dest)
    marker = ".zgroup" if node == "group" else ".zarray"
    with pytest.raises(WriteError, match=rf"is a Zarr v2 store \(.*\{marker}") as exc:
        lv.Volume(np.ones((4, 4, 4), "int16")).to_zarr(dest, overwrite=True)
    assert "remove it yourself or choose another destination" in str(exc.value)
    assert _snapshot(dest) == before
    v2 = zarr.open(dest, mode="r")
    np.testing.assert_array_equal((v2["0"] if node == "group" else v2)[...], truth)


def test_read_only_destination(tmp_path, monkeypatch):
    real_mkdir = os.mkdir

    def deny(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", deny)
    with pytest.raises(WriteError, match="Permission denied"):
        lv.Volume(np.ones((4, 4, 4))).to_zarr(tmp_path / "x.zarr")
    assert os.listdir(tmp_path) == []


def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    out = lv.Volume(_rand((8, 8, 8), "int16")).to_zarr(tmp_path / "x.zarr")
    before = _snapshot(out)
    real_store = zarr_write.store_blocks

    def full_disk(x, arr, unit, progress, label):
        real_store(x[:4], arr, unit, progress, label)  # some chunks land, then the disk is "full"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zarr_write, "store_blocks", full_disk)
    with pytest.raises(WriteError, match="No space left"):
        lv.Volume(np.ones((8, 8, 8), "int16")).to_zarr(out, overwrite=True)
    with pytest.raises(WriteError, match="No space left"):
        lv.Volume(np.ones((8, 8, 8), "int16")).to_zarr(tmp_path / "y.zarr")
    assert sorted(os.listdir(tmp_path)) == ["x.zarr"]
    assert _snapshot(out) == before


def test_unsupported_dtype(tmp_path):
    a = np.zeros((4, 4, 4), dtype=[("r", "u1"), ("g", "u1"), ("b", "u1")])
    with pytest.raises(UnsupportedError, match="dtype"):
        lv.Volume(da.from_array(a)).to_zarr(tmp_path / "x.zarr")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("dtype", ["longdouble", "clongdouble"])
def test_extended_precision_is_refused_typed(tmp_path, dtype):
    """zarr has no data type for numpy's extended precision: its ValueError escaped (h92)."""
    if np.dtype(dtype).itemsize <= {"f": 8, "c": 16}[np.dtype(dtype).kind]:
        pytest.skip("longdouble is double on this platform")
    with pytest.raises(UnsupportedError, match=r"x\.zarr: dtype .* cannot be stored.*astype"):
        lv.Volume(np.zeros((2, 3, 4), dtype)).to_zarr(tmp_path / "x.zarr")
    assert os.listdir(tmp_path) == []


def test_runs_on_distributed(tmp_path):
    from distributed import Client, LocalCluster

    a = _rand((32, 24, 20), "int32", seed=10)
    out = lv.Volume(a).to_zarr(tmp_path / "d.zarr", chunks=(32, 24, 5))
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        vol = lv.open(out, chunks=(32, 24, 5))
        assert int(vol.data.sum(dtype=np.int64).compute()) == int(a.sum(dtype=np.int64))
        # a write on the cluster: the store target (two chunks per assignment) is pickled to
        # the worker process
        src = write_phantom_nifti(tmp_path / "w.nii.gz", (40, 30, 24))
        written = lv.open(src).to_zarr(tmp_path / "w.zarr", chunks=(16, 16, 8), shards=False)
    np.testing.assert_array_equal(lv.open(written).compute(), np.asarray(nib.load(src).dataobj))


def test_open_rejects_unknown_options(tmp_path):
    out = lv.Volume(np.ones((4, 4, 4))).to_zarr(tmp_path / "x.zarr")
    with pytest.raises(TypeError, match="unexpected options"):
        zarr_io.open_zarr(out, bogus=1)
    with pytest.raises(ValueError, match="levels"):
        lv.Volume(np.ones((4, 4, 4))).to_zarr(tmp_path / "y.zarr", levels=0)


def test_levels_past_one_voxel_are_refused_before_writing(tmp_path):
    """levels=10**6 wrote level after level of the same single voxel (a million arrays); the
    levels a volume has are those halving its spatial lengths (odd ones rounded up) down to one
    voxel: 5 for (9, 16, 3) (9 -> 5 -> 3 -> 2 -> 1)."""
    vol = lv.Volume(np.ones((9, 16, 3), "int16"))
    for levels in (6, 10**6):
        with pytest.raises(lv.OptionError, match=r"halves to one voxel in 5 levels"):
            vol.to_zarr(tmp_path / "p.zarr", levels=levels)
    assert not list(tmp_path.iterdir())
    out = lv.open(vol.to_zarr(tmp_path / "p.zarr", levels=5), level=4)
    assert out.shape == (1, 1, 1)


def test_store_replaced_after_open_is_refused(tmp_path):
    a = _rand((8, 8, 8), "int16")
    out = lv.Volume(a).to_zarr(tmp_path / "x.zarr")
    vol = lv.open(out)
    lv.Volume(a + 1).to_zarr(out, overwrite=True)
    with pytest.raises(FormatError, match="replaced"):
        vol.compute()
    np.testing.assert_array_equal(lv.open(out).compute(), a + 1)


def test_concurrent_overwrites_leave_one_complete_store(tmp_path):
    import threading

    dest = tmp_path / "x.zarr"
    lv.Volume(np.zeros((16, 16, 16), "int16")).to_zarr(dest)
    errors = []

    def writer(value):
        try:
            lv.Volume(np.full((16, 16, 16), value, "int16")).to_zarr(dest, overwrite=True, chunks=4)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(v,)) for v in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    data = lv.open(dest).compute()
    assert len(np.unique(data)) == 1 and int(data[0, 0, 0]) in (1, 2, 3, 4)
    assert sorted(os.listdir(tmp_path)) == ["x.zarr"]


def test_reader_conformance(tmp_path):
    """The checks every lazyvol reader passes (tests/test_conformance.py), for Zarr stores."""
    a = _rand((20, 16, 12, 2), "int16", seed=11)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "c.zarr", chunks=(8, 8, 4, 1))
    vol = lv.open(out, chunks={0: -1, 1: -1, 2: 5})
    blocks = [vol.data.blocks[b].compute() for b in np.ndindex(*vol.data.numblocks)]
    assert {b.dtype for b in blocks} == {np.dtype("int16")}
    clone = pickle.loads(pickle.dumps(vol))
    assert clone.data.name == vol.data.name
    np.testing.assert_array_equal(clone.compute(), a)
    assert lv.open(out).data.name == lv.open(out).data.name
    f64 = zarr_io.open_zarr(out, dtype="float64")
    assert f64.dtype == np.float64 and f64.data.name != lv.open(out).data.name
    np.testing.assert_array_equal(f64.compute(), a.astype(np.float64))
    total = vol.data.astype(np.float64).sum()
    assert float(total.compute(scheduler="sync")) == float(total.compute(scheduler="threads"))
    lv.open(out).compute()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        lv.open(out, chunks={0: -1, 1: -1, 2: 3}).data.sum().compute()
    assert len(os.listdir("/proc/self/fd")) <= before


def test_sigkill_during_overwrite_keeps_old_store(tmp_path):
    import signal
    import subprocess
    import sys

    a = _rand((16, 16, 16), "int16", seed=12)
    dest = lv.Volume(a).to_zarr(tmp_path / "x.zarr", chunks=(16, 16, 2), shards=False)
    before = _snapshot(dest)
    script = (
        "import sys, time, numpy as np, dask.array as da, lazyvol as lv\n"
        "def slow(b):\n"
        "    sys.stdout.write('block\\n'); sys.stdout.flush(); time.sleep(0.05); return b + 1\n"
        "x = da.zeros((16, 16, 16), dtype='int16', chunks=(16, 16, 2)).map_blocks(slow, dtype='int16')\n"
        "lv.Volume(x).to_zarr(sys.argv[1], overwrite=True, chunks=(16, 16, 2), shards=False)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(lv.__file__).resolve().parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, dest],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(3):
        assert proc.stdout.readline().startswith("block")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert _snapshot(dest) == before  # the old store is untouched and still opens
    np.testing.assert_array_equal(lv.open(dest).compute(), a)
    leftovers = [n for n in os.listdir(tmp_path) if n != "x.zarr"]
    assert all(zarr_io.TMP_MARK in n for n in leftovers)  # only a hidden temporary directory
    with pytest.raises(FormatError, match="incomplete"):
        lv.open(tmp_path / leftovers[0])  # which is never mistaken for a store


def test_shard_damaged_after_a_read_is_refused_at_the_next_read(tmp_path):
    """Verified shards are not kept across reads: a shard damaged after one read (mtime put back,
    so nothing in the store's stat changes) is refused by the next read, also through partial
    (inner-chunk) reads, never served from memory."""
    a = _rand((32, 24, 5), "int16", seed=23)
    out = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "s.zarr", codec="blosc-lz4", chunks=(8, 6, 5))
    vol = lv.open(out, chunks=(5, 5, 3))  # partial reads of shards
    np.testing.assert_array_equal(vol.compute(), a)
    key = _chunk_files(out)[0]
    path = os.path.join(out, "0", *key.split("/"))
    st = os.stat(path)
    _flip(path, os.path.getsize(path) // 2, 3)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(IntegrityError, match=key):
        vol.compute()
    with pytest.raises(IntegrityError, match=key):
        lv.open(out, chunks=(5, 5, 3)).compute()


def test_credentials_in_urls_are_never_written(tmp_path):
    """URLs in the source and metadata lose user, password and credential query values; other
    URLs (fragments included) are kept as they are."""
    secret, password = "sig-9f8e7d6c5b4a", "pw-1a2b3c4d"
    meta = {
        "files": [f"https://user:{password}@example.org/a.dcm?X-Amz-Signature={secret}&v=2"],
        "ref": "http://dicom.nema.org/medical/dicom/current#sect_C.7.6.2",
    }
    src = f"s3://bucket/key.nii?token={secret}"
    out = lv.Volume(_rand((4, 4, 4), "int16"), meta=meta, source=src).to_zarr(tmp_path / "c.zarr")
    blob = b"".join(p.read_bytes() for p in Path(out).rglob("*") if p.is_file())
    assert secret.encode() not in blob and password.encode() not in blob
    back = lv.open(out)
    assert back.meta["ref"] == meta["ref"]
    assert back.meta["files"] == ["https://***@example.org/a.dcm?X-Amz-Signature=***&v=2"]
    assert back.source == "s3://bucket/key.nii?token=***"


def _ome_store(path: str) -> str:
    group = zarr.open_group(path, mode="w", zarr_format=3)
    arr = group.create_array("0", shape=(5, 7, 6), chunks=(5, 7, 3), dtype="int16")
    arr[...] = np.arange(210, dtype="int16").reshape(5, 7, 6)
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [{"name": n, "type": "space", "unit": "millimeter"} for n in "zyx"],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}],
                    }
                ],
            }
        ],
    }
    return path


def _edit_json(path: str, change) -> None:
    meta = _json(path)
    change(meta)
    with open(path, "w") as f:
        json.dump(meta, f)


def _ome_scale(value, unit=None):
    def change(meta):
        ms = meta["attributes"]["ome"]["multiscales"][0]
        ms["datasets"][0]["coordinateTransformations"][0]["scale"] = value
        if unit:
            for axis in ms["axes"]:
                axis["unit"] = unit

    return change


def _ome_dataset_path(value):
    def change(meta):
        meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = value

    return change


@pytest.mark.parametrize("path", [0, "0/"])
def test_a_dataset_path_written_as_a_number_or_with_a_slash_opens(tmp_path, path):
    """Writers put the dataset key as a number or with a trailing slash: the key they mean."""
    store = _ome_store(str(tmp_path / "s.zarr"))
    _edit_json(os.path.join(store, "zarr.json"), _ome_dataset_path(path))
    np.testing.assert_array_equal(lv.open(store).compute(), np.arange(210).reshape(5, 7, 6).T)


def _ome_axis_names(names):
    def change(meta):
        for axis, name in zip(meta["attributes"]["ome"]["multiscales"][0]["axes"], names):
            axis["name"] = name

    return change


@pytest.mark.parametrize(
    ("unit", "factor", "label"),
    [
        ("foot", 304.8, "mm"),
        ("inch", 25.4, "mm"),
        ("kilometer", 1e6, "mm"),
        ("nanometer", 1e-6, "mm"),
        ("mm", 1.0, "mm"),  # spellings other writers use
        ("Millimeter", 1.0, "mm"),
        ("micrometer", 1e-3, "mm"),
        ("micron", 1e-3, "mm"),
        ("meter", 1e3, "mm"),
    ],
)
def test_ome_space_units_convert_to_millimetres(tmp_path, unit, factor, label):
    """Every OME-NGFF space unit is converted to mm (foot, inch and kilometer were read as mm),
    and ``meta["xyzt_units"]`` says so."""
    store = _ome_store(str(tmp_path / "s.zarr"))
    _edit_json(os.path.join(store, "zarr.json"), _ome_scale([2, 3, 4], unit))
    vol = lv.open(store)
    np.testing.assert_allclose(vol.spacing[:3], [4 * factor, 3 * factor, 2 * factor])
    assert vol.meta["xyzt_units"][0] == label


@pytest.mark.parametrize(
    ("where", "change", "error", "match"),
    [
        (
            "0/zarr.json",
            lambda m: m.__setitem__("shape", [-5, 7, 6]),
            lv.FormatError,
            "field shape",
        ),
        (
            "0/zarr.json",
            lambda m: m["chunk_grid"]["configuration"].__setitem__("chunk_shape", [0, 7, 3]),
            lv.FormatError,
            "chunk_shape",
        ),
        (
            "0/zarr.json",
            lambda m: m.__setitem__("shape", [2**40] * 3),
            lv.ResourceLimitError,
            "LAZYVOL_MAX_VOLUME_BYTES",
        ),
        (
            "0/zarr.json",
            lambda m: m.__setitem__("codecs", [{"name": "nonexistent"}]),
            lv.FormatError,
            "nonexistent",
        ),
        ("zarr.json", _ome_scale([1, 1]), lv.FormatError, "not 3 numbers"),
        ("zarr.json", _ome_scale(["a", 1, 1]), lv.FormatError, "not 3 numbers"),
        ("zarr.json", _ome_scale([1e308, 1, 1], "kilometer"), lv.FormatError, "non-finite or sing"),
        ("zarr.json", _ome_scale([1, math.nan, 1]), lv.FormatError, "non-finite or singular"),
        ("zarr.json", _ome_scale([1, 0, 1]), lv.FormatError, "non-finite or singular"),
        ("zarr.json", _ome_scale([1, 1, 1], "second"), lv.UnsupportedError, "'second'"),
        ("zarr.json", _ome_scale([1, 1, 1], "furlong"), lv.UnsupportedError, "space units"),
        ("zarr.json", _ome_scale([1, 1, 1], "Mm"), lv.UnsupportedError, "'Mm'"),  # a megametre?
        ("zarr.json", _ome_dataset_path("../other.zarr/0"), lv.FormatError, "inside the store"),
        ("zarr.json", _ome_axis_names("xyz"), lv.UnsupportedError, "order"),
    ],
    ids=[
        "negative-shape",
        "zero-chunk",
        "absurd-shape",
        "unknown-codec",
        "short-scale",
        "text-scale",
        "overflowing-scale",
        "nan-scale",
        "zero-scale",
        "time-unit",
        "unknown-unit",
        "symbol-in-another-case",
        "path-outside-the-store",
        "axes-x-y-z",
    ],
)
def test_a_foreign_store_with_corrupt_metadata_is_refused_at_open(
    tmp_path, where, change, error, match
):
    """A foreign store's metadata is checked before anything is sized from it: a typed error
    naming the field at open (an absurd shape used to raise MemoryError while chunking, a zero
    chunk ZeroDivisionError, zarr's own errors escaped untyped)."""
    store = _ome_store(str(tmp_path / "s.zarr"))
    np.testing.assert_array_equal(lv.open(store).compute(), np.arange(210).reshape(5, 7, 6).T)
    _edit_json(os.path.join(store, where), change)
    with pytest.raises(error, match=match):
        lv.open(store)


def test_dtype_on_a_store_refuses_values_the_dtype_cannot_hold(tmp_path):
    """dtype="int16" on a float store wrapped 40000 to -25536 and read NaN as 0, where the same
    values in a NIfTI raise: every reader casts alike now (checked to fit, and to be whole
    numbers: 1.7 was truncated to 1 without a word)."""
    import lazyvol as lv

    values = np.array([1.7, -2.9, 40000.0, np.nan], np.float32).reshape(1, 2, 2)
    store = lv.Volume(values, np.eye(4)).to_zarr(tmp_path / "f.zarr")
    with pytest.raises(lv.DataTypeError, match=r"f\.zarr: values \(40000\.0 .. 40000\.0, NaN"):
        lv.open(store, dtype="int16").compute()
    cut = lv.Volume(values[:, :1, :].copy(), np.eye(4)).to_zarr(tmp_path / "g.zarr")
    with pytest.raises(lv.DataTypeError, match=r"g\.zarr: 2 values in this block are not whole"):
        lv.open(cut, dtype="int16").compute()  # 1.7 and -2.9
    whole = np.array([[[2.0, -3.0]]], np.float32)
    fine = lv.Volume(whole, np.eye(4)).to_zarr(tmp_path / "h.zarr")
    np.testing.assert_array_equal(lv.open(fine, dtype="int16").compute(), whole.astype(np.int16))


@pytest.mark.parametrize("kind", ["zarr", "nifti", "dangling"])
def test_a_destination_that_is_a_symlink_is_written_through(tmp_path, kind):
    """A destination that is a symbolic link (a store or file kept on another disk): the file or
    store it names is replaced and the link kept, as open() writes through a link; nothing left
    behind. (A store's overwrite replaced the link by a directory and left the old link under a
    hidden name; a NIfTI write replaced the link by a file.)"""
    import nibabel as nib

    old = lv.Volume(np.arange(64, dtype="int16").reshape(4, 4, 4), np.eye(4))
    new = lv.Volume(np.full((4, 4, 4), 7, dtype="int16"), np.diag([2.0, 2.0, 2.0, 1.0]))
    (tmp_path / "disk").mkdir()
    suffix = ".nii" if kind == "nifti" else ".zarr"
    target = tmp_path / "disk" / f"real{suffix}"
    link = tmp_path / f"link{suffix}"
    if kind == "zarr":
        old.to_zarr(target)
    elif kind == "nifti":
        old.to_nifti(target)
    link.symlink_to(os.path.relpath(target, tmp_path))
    if kind == "nifti":
        new.to_nifti(link, overwrite=True)
        got = np.asanyarray(nib.load(target).dataobj)
    else:
        new.to_zarr(link, overwrite=True)
        got = zarr.open_array(target / "0", mode="r")[...].T
    assert link.is_symlink() and link.resolve() == target.resolve()
    np.testing.assert_array_equal(got, new.compute())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", link.name]
    assert sorted(p.name for p in (tmp_path / "disk").iterdir()) == [target.name]


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".zarr"])
def test_a_link_to_nothing_yet_is_written_through_and_a_broken_one_refused(tmp_path, suffix):
    """A link to a name not written yet: the writer creates what it names, with no overwrite=True
    (open() would; the NIfTI writer said "file exists", and with overwrite=True then "no such
    file"). A link whose target's folder is missing, or a loop of links: a WriteError naming the
    link and what is wrong (the store writer named the link's own folder), nothing written."""
    import nibabel as nib

    vol = lv.Volume(np.arange(24, dtype="int16").reshape(2, 3, 4), np.eye(4))
    write = vol.to_zarr if suffix == ".zarr" else vol.to_nifti
    (tmp_path / "disk").mkdir()
    link = tmp_path / f"link{suffix}"
    link.symlink_to(tmp_path / "disk" / f"new{suffix}")
    assert write(link) == str(link) and link.is_symlink()
    if suffix == ".zarr":
        got = zarr.open_array(tmp_path / "disk" / "new.zarr" / "0", mode="r")[...].T
    else:
        got = np.asanyarray(nib.load(tmp_path / "disk" / f"new{suffix}").dataobj)
    np.testing.assert_array_equal(got, vol.compute())
    broken = tmp_path / f"broken{suffix}"
    broken.symlink_to(tmp_path / "gone" / f"x{suffix}")
    loop_a, loop_b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    for dest, why in [(broken, r"gone.x.*whose folder does not exist"), (loop_a, "loop of links")]:
        for overwrite in (False, True):
            with pytest.raises(lv.WriteError, match=rf"{dest.name}: is a symbolic link.*{why}"):
                write(dest, overwrite=overwrite)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["disk", link.name, broken.name, loop_a.name, loop_b.name]
    )
    assert loop_a.is_symlink() and loop_b.is_symlink()
    (tmp_path / "notes.txt").write_text("x")
    through_file = tmp_path / f"through{suffix}"
    through_file.symlink_to(tmp_path / "notes.txt" / f"x{suffix}")
    with pytest.raises(lv.WriteError, match=r"Not a directory: to .*notes\.txt") as info:
        write(through_file, overwrite=True)
    assert "loop" not in str(info.value)
    if suffix != ".zarr":  # a link to a folder: said at once, not "pass overwrite=True"
        to_dir = tmp_path / f"dir{suffix}"
        to_dir.symlink_to(tmp_path / "disk")
        for overwrite in (False, True):
            with pytest.raises(lv.WriteError, match="is a directory"):
                write(to_dir, overwrite=overwrite)


def test_a_nifti_link_is_written_through_under_its_own_name(tmp_path):
    """A link whose name says .nii.gz to a file named otherwise (a BIDS name over a store of
    blobs, git-annex style): the name given decides the format (gzip), the sidecars' names and
    what the writer returns, as nib.save does; the file the link names receives the bytes."""
    import nibabel as nib

    vol = lv.Volume(np.arange(64, dtype="int16").reshape(4, 4, 4), np.eye(4))
    (tmp_path / "annex").mkdir()
    blob = tmp_path / "annex" / "SHA256-s123--abc"
    blob.write_bytes(b"old")
    link = tmp_path / "sub-01_T1w.nii.gz"
    link.symlink_to(blob)
    out = vol.to_nifti(link, overwrite=True)
    assert out == str(link) and link.is_symlink()
    assert blob.read_bytes()[:2] == b"\x1f\x8b"  # gzip, as the name says
    np.testing.assert_array_equal(np.asanyarray(nib.load(link).dataobj), vol.compute())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annex", link.name]
    assert [p.name for p in (tmp_path / "annex").iterdir()] == [blob.name]


def test_a_local_destination_whose_name_holds_two_colons_is_written(tmp_path):
    """zarr takes a path string holding "::" for a chained fsspec URL: to_zarr into such a folder
    (a legal POSIX name) failed 'No such file or directory' (a pyramid's level 1 too), and a cache
    folder so named never held an entry (every open warned and read uncached)."""
    import warnings

    from lazyvol import cache as lvcache

    data = np.arange(4 * 6 * 8, dtype=np.int16).reshape(4, 6, 8)
    vol = lv.Volume(data, np.diag([1.0, 2.0, 3.0, 1.0]))
    folder = tmp_path / "scan::2"
    folder.mkdir()
    store = vol.to_zarr(folder / "a::b.zarr", levels=2)
    disk = zarr.open_group(zarr.storage.LocalStore(store, read_only=True), mode="r")["0"]
    np.testing.assert_array_equal(disk[:].T, data)
    np.testing.assert_array_equal(lv.open(store).compute(), data)
    assert lv.open(store, level=1).shape == (2, 3, 4)
    src = vol.to_nifti(tmp_path / "a.nii")
    with warnings.catch_warnings():
        warnings.simplefilter("error", lvcache.CacheWarning)
        cached = lv.open(src, cache=folder / "cache")
    np.testing.assert_array_equal(cached.compute(), data)
    assert lvcache.list_entries(folder / "cache")


def test_a_store_without_checksums_of_links_to_its_files_reads(tmp_path):
    """A format-1 lazyvol store whose files are symbolic links to regular files (a git-annex /
    DataLad dataset holds every file so; `cp -rs`) was refused as 'has 1 chunk files (N bytes)
    but the manifest lists ...: chunks are missing or damaged': the check summed the links' own
    sizes, where 2e96e59 made the format-2 check follow them to their files."""
    a = _rand((8, 6, 4), "int16", seed=33)
    real = _write_format1_store(tmp_path / "real.zarr", a, OBLIQUE)
    links = linked_copy(real, tmp_path / "links.zarr")
    with pytest.warns(zi.UnverifiedStoreWarning):
        vol = lv.open(links)
    np.testing.assert_array_equal(vol.compute(), a)


def test_a_store_without_checksums_with_a_chunk_link_to_no_file_names_it(tmp_path):
    """A format-1 lazyvol store fetched in part (a git-annex / DataLad chunk link whose file is not
    here): 0bb07dc sums the chunk files' sizes through their links, a link to no file as -1, so
    the store was refused as 'has 1 chunk files (-1 bytes) ... chunks are missing or damaged;
    write the store again'. The link is named with how to get its file, as format 2 does."""
    a = _rand((8, 6, 4), "int16", seed=34)
    real = Path(_write_format1_store(tmp_path / "real.zarr", a, OBLIQUE))
    chunk = real / "0" / "c" / "0" / "0" / "0"
    assert chunk.is_file()
    chunk.unlink()
    os.symlink("../../../../.git/annex/objects/Xx/SHA256E-s394--0f", chunk)
    with (
        pytest.warns(zi.UnverifiedStoreWarning),
        pytest.raises(IntegrityError, match="datalad get") as exc,
    ):
        lv.open(real).compute()
    assert "c/0/0/0" in str(exc.value) and "-1 bytes" not in str(exc.value)


def test_a_store_without_checksums_with_a_file_added_says_so(tmp_path):
    """A format-1 store (checked by chunk file count and bytes) holding a chunk file more than
    its manifest lists was refused as 'chunks are missing or damaged': nothing was missing."""
    real = _write_format1_store(tmp_path / "old.zarr", _rand((8, 6, 4), "int16", seed=39), OBLIQUE)
    stray = Path(real, "0", "c", "9", "9", "9")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"\0" * 16)
    with pytest.warns(zi.UnverifiedStoreWarning), pytest.raises(FormatError) as exc:
        lv.open(real)
    assert "has 2 chunk files" in str(exc.value) and "does not list were added" in str(exc.value)
    assert "are missing" not in str(exc.value)


@pytest.mark.parametrize("count", ["abc", [1]], ids=["text", "list"])
def test_a_store_without_checksums_whose_manifest_count_is_no_number_is_refused_typed(
    tmp_path, count
):
    """A format-1 manifest whose level 'chunk_files' is no count (damaged): 9e22ad3 bounds the
    check's listing by int(chunk_files), which raised a bare ValueError / TypeError instead of
    the FormatError naming the manifest's count. Refused typed, as a wrong count is."""
    real = _write_format1_store(tmp_path / "real.zarr", _rand((8, 6, 4), "int16", seed=35), OBLIQUE)
    where = Path(real, zarr_io.LEGACY_MANIFEST)
    manifest = json.loads(where.read_text())
    manifest["levels"][0]["chunk_files"] = count
    where.write_text(json.dumps(manifest))
    with (
        pytest.warns(zi.UnverifiedStoreWarning),
        pytest.raises(FormatError, match="chunks are missing or damaged"),
    ):
        lv.open(real).compute()
