"""``lv.open("reference://", storage_options={"fo": ...})`` of kerchunk references whose targets
are URLs (http://, s3://), read through real loopback servers and compared with nibabel's
reading of the local file the targets hold."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from remote_servers import S3, HttpServer

import lazyvol as lv
from lazyvol.testing.nifti import write_phantom_nifti


def _ome_references(path, target: str, nii) -> None:
    """kerchunk references (version 1) at ``path`` of the voxels of the NIfTI image ``nii``
    stored in ``target`` (a URL), as an OME-Zarr 0.4 image (z, y, x) another tool writes: one
    chunk per slice, ``[url, offset, length]`` into the file's data."""
    i, j, k = nii.shape
    dtype = nii.get_data_dtype()
    plane = i * j * dtype.itemsize
    offset = int(nii.dataobj.offset)
    zarray = {
        "zarr_format": 2,
        "shape": [k, j, i],
        "chunks": [1, j, i],
        "dtype": dtype.str,
        "compressor": None,
        "fill_value": None,
        "filters": None,
        "order": "C",
    }
    ms = {
        "version": "0.4",
        "axes": [{"name": x, "type": "space", "unit": "millimeter"} for x in "zyx"],
        "datasets": [
            {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * 3}]}
        ],
    }
    refs = {
        ".zgroup": json.dumps({"zarr_format": 2}),
        ".zattrs": json.dumps({"multiscales": [ms]}),
        "0/.zarray": json.dumps(zarray),
        **{f"0/{z}.0.0": [target, offset + z * plane, plane] for z in range(k)},
    }
    path.write_text(json.dumps({"version": 1, "refs": refs}), encoding="utf-8")


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
