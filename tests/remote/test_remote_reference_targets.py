"""``lv.open("reference://", storage_options={"fo": ...})`` of kerchunk references: another
tool's whose targets are URLs (http://, s3://), and lazyvol's own, read through real loopback
servers and compared with nibabel's and pydicom's reading of the local files."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest
from ome_refs import nifti_image_refs
from remote_servers import S3, HttpServer

import lazyvol as lv
from lazyvol.errors import FormatError
from lazyvol.testing.dicom import write_dicom_series
from lazyvol.testing.nifti import write_phantom_nifti


def _ome_references(path, target: str, nii) -> None:
    """kerchunk references (version 1) at ``path`` of the voxels of the NIfTI image ``nii``
    stored in ``target`` (a URL), as an OME-Zarr 0.4 image (z, y, x) another tool writes: one
    chunk per slice, ``[url, offset, length]`` into the file's data."""
    path.write_text(json.dumps(nifti_image_refs(target, nii)), encoding="utf-8")


#: storage_options besides ``fo``: none (fsspec finds the targets' protocol in the references),
#: the targets' protocol named (fsspec's usual recipe), and the recipe zarr's FsspecStore needs
#: (an asynchronous reference filesystem and targets).
_FORMS = {
    "plain": lambda proto, opts: {"remote_options": opts} if opts else {},
    "remote-protocol": lambda proto, opts: {"remote_protocol": proto, "remote_options": opts},
    "asynchronous": lambda proto, opts: {
        "remote_protocol": proto,
        "remote_options": opts,
        "asynchronous": True,
    },
    "zarr-recipe": lambda proto, opts: {
        "remote_protocol": proto,
        "remote_options": {**opts, "asynchronous": True},
        "asynchronous": True,
    },
}


@pytest.mark.parametrize("form", sorted(_FORMS))
@pytest.mark.parametrize("where", ["http", "s3"])
def test_references_to_url_targets_open_with_the_files_values(
    tmp_path, form, where, http_server: HttpServer, s3_server: S3, s3_bucket
):
    """References to http:// or s3:// targets were refused: lazyvol read the references'
    metadata through a synchronous reference filesystem and its chunks through zarr's
    FsspecStore, asynchronous, and fsspec refuses a reference filesystem whose targets'
    filesystem is not as asynchronous as itself (a FormatError "cannot open the Zarr array", an
    OptionError given ``asynchronous=True``; only zarr's whole recipe opened).
    lazyvol now makes each filesystem
    with its targets' as it needs them, whatever the options say."""
    path = write_phantom_nifti(tmp_path / "a.nii", (7, 6, 5), dtype="int16", seed=3)
    data = open(path, "rb").read()
    if where == "http":
        target, opts = http_server.put("v/a.nii", data), {}
    else:
        s3_server.client.put_object(Bucket=s3_bucket, Key="v/a.nii", Body=data)
        target, opts = f"s3://{s3_bucket}/v/a.nii", s3_server.options()
    nii = nib.load(path)
    _ome_references(tmp_path / "refs.json", target, nii)
    options = {"fo": str(tmp_path / "refs.json"), **_FORMS[form](where, opts)}
    vol = lv.open("reference://", storage_options=options)
    np.testing.assert_array_equal(np.asarray(vol.compute()), np.asarray(nii.dataobj.get_unscaled()))


# -- the references lazyvol.references writes ----------------------------------------------------


def _written(tmp_path, source, **options) -> dict:
    """``lv.open`` options reading the references of ``source`` from a JSON file."""
    path = tmp_path / "own.json"
    path.write_text(json.dumps(lv.references(source, **options)), encoding="utf-8")
    return {"storage_options": {"fo": str(path)}}


@pytest.mark.parametrize("where", ["local", "http"])
@pytest.mark.parametrize(("shape", "dtype"), [((9, 7, 6), "int16"), ((6, 5, 4, 3), "float32")])
def test_lazyvols_own_nifti_references_open_as_the_file(
    tmp_path, where, shape, dtype, http_server: HttpServer
):
    """``lv.open("reference://", ...)`` of references lazyvol.references wrote was refused with
    "attribute lazyvol.format = None, expected 'lazyvol-zarr'": their group attributes
    ("lazyvol": affine, stored axes, the source's metadata) were taken for a lazyvol store's,
    which states its format. They now open as the file opens: axes (i, j, k, ...), the affine,
    the values scaled as nibabel scales them (scale=False: the stored values)."""
    path = write_phantom_nifti(tmp_path / "a.nii", shape, dtype=dtype, slope=0.5, inter=3.0)
    source = path if where == "local" else http_server.put("v/a.nii", open(path, "rb").read())
    nii = nib.load(path)
    options = _written(tmp_path, source)
    vol = lv.open("reference://", **options)
    np.testing.assert_allclose(np.asarray(vol.compute()), nii.get_fdata(), rtol=1e-6)
    np.testing.assert_allclose(vol.affine, nii.affine, atol=1e-6)
    stored = lv.open("reference://", scale=False, **options)
    np.testing.assert_array_equal(np.asarray(stored.compute()), nii.dataobj.get_unscaled())


def test_lazyvols_own_dicom_references_open_as_pydicom_reads_the_files(tmp_path):
    write_dicom_series(tmp_path / "s", (8, 6, 5), slope=2.0, intercept=-1024.0)
    files = sorted((tmp_path / "s").iterdir())
    vol = lv.open("reference://", **_written(tmp_path, tmp_path / "s"))
    got = np.asarray(vol.compute())
    # pydicom: each file's pixels (rows j, columns i) rescaled, placed at its slice index along
    # the volume's k axis (found from the file's position against the affine)
    inverse = np.linalg.inv(vol.affine)
    for f in files:
        ds = pydicom.dcmread(f)
        lps = np.asarray(ds.ImagePositionPatient, dtype=float)
        k = round(float((inverse @ [-lps[0], -lps[1], lps[2], 1.0])[2]))
        want = ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_allclose(got[:, :, k], want)


def test_lazyvols_own_references_with_rescale_per_slice_open_scaled(tmp_path):
    """References stating RescaleSlope/RescaleIntercept per slice (per_slice_rescale="arrays")
    were refused with scale=True ('open them with scale=False'); each slice is now scaled by its
    own values, as pydicom applies each file's, in the dtype lazyvol.open gives the source."""
    slopes, inters = [1.0, 2.0, 0.5], [0.0, 3.0, -1.0]
    truth = write_dicom_series(tmp_path / "s", (6, 5, 3), slope=slopes, intercept=inters)
    options = _written(tmp_path, tmp_path / "s", per_slice_rescale="arrays")
    vol = lv.open("reference://", **options)
    expected = []
    for f in truth.files:  # (slice order k)
        ds = pydicom.dcmread(f)
        expected.append(ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    got = np.asarray(vol.compute())
    np.testing.assert_array_equal(got, np.stack(expected, axis=-1))
    assert got.dtype == vol.dtype == lv.open(tmp_path / "s").dtype  # (float32: 0.5 and -1.0)
    stored = lv.open("reference://", scale=False, **options)
    np.testing.assert_array_equal(np.asarray(stored.compute()), truth.stored)


def test_per_slice_rescale_references_of_a_4d_series_open_as_the_series(tmp_path):
    """The same for a 4D series (rescale arrays over (k, t)): each file's own values, as
    lazyvol.open of the folder gives them."""
    from lazyvol.testing.dicom_4d import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "s", (6, 5, 3), n_volumes=2, seed=2)
    for n, f in enumerate(sorted(truth.files)):
        ds = pydicom.dcmread(f)
        ds.RescaleSlope, ds.RescaleIntercept = (1, 2, 4)[n % 3], -3 * n
        ds.save_as(f)
    source = lv.open(tmp_path / "s")
    options = _written(tmp_path, tmp_path / "s", per_slice_rescale="arrays")
    vol = lv.open("reference://", **options)
    assert vol.shape == source.shape and vol.dtype == source.dtype
    np.testing.assert_array_equal(np.asarray(vol.compute()), np.asarray(source.compute()))


@pytest.mark.parametrize(
    "affine",
    [
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        [[float("nan"), 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
    ],
    ids=["3x3", "nan", "singular"],
)
def test_lazyvols_own_references_with_a_damaged_affine_are_a_format_error(tmp_path, affine):
    """References whose group attributes state an affine that cannot place voxels (hand-edited or
    damaged: another shape, NaN, a zero-length axis) were refused naming "reference:" and "the
    store's affine / OME scale and translation metadata", which references have none of; now the
    FormatError names the references' .zattrs, lazyvol.affine and what is wrong with it."""
    path = write_phantom_nifti(tmp_path / "a.nii", (6, 5, 4))
    refs = lv.references(path)
    attrs = json.loads(refs["refs"][".zattrs"])
    attrs["lazyvol"]["affine"] = affine
    refs["refs"][".zattrs"] = json.dumps(attrs)
    fo = tmp_path / "bad.json"
    fo.write_text(json.dumps(refs), encoding="utf-8")
    with pytest.raises(FormatError, match=r"\.zattrs.*affine") as exc:
        lv.open("reference://", storage_options={"fo": str(fo)})
    assert "OME" not in str(exc.value)
