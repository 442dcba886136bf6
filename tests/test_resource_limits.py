"""Resource limits: configurable, checked before allocation, and a lying header never grows the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dask
import pytest

import lazyvol as lv
from lazyvol import config
from lazyvol.testing import write_dicom_series

SRC_DIR = str(Path(lv.__file__).resolve().parents[1])


def test_limits_are_configurable(monkeypatch):
    monkeypatch.delenv("LAZYVOL_MAX_VOLUME_BYTES", raising=False)
    monkeypatch.delenv("LAZYVOL_MAX_SCAN_FILES", raising=False)
    assert config.max_volume_bytes() == 2**40
    assert config.max_scan_files() == 1_000_000
    with dask.config.set({"lazyvol.max-volume-bytes": "2 GiB", "lazyvol.max-scan-files": 50}):
        assert config.max_volume_bytes() == 2 * 2**30
        assert config.max_scan_files() == 50
        monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", "3MB")
        monkeypatch.setenv("LAZYVOL_MAX_SCAN_FILES", "7")
        assert config.max_volume_bytes() == 3_000_000  # the environment wins
        assert config.max_scan_files() == 7


@pytest.mark.parametrize("value", ["0", "-5", "abc", "0.5", "nan", "1e999"])
@pytest.mark.parametrize(
    ("env", "read"),
    [
        ("LAZYVOL_CHUNK_SIZE", config.chunk_budget),
        ("LAZYVOL_MAX_VOLUME_BYTES", config.max_volume_bytes),
        ("LAZYVOL_MAX_CHUNK_BYTES", config.max_chunk_bytes),
        ("LAZYVOL_MAX_SCAN_FILES", config.max_scan_files),
    ],
)
def test_invalid_settings_raise_a_typed_error_naming_them(monkeypatch, env, read, value):
    """A chunk budget of 0 or -5 made one-voxel chunks (millions of tasks for a real volume);
    'abc' raised dask's or int()'s untyped ValueError naming no variable."""
    monkeypatch.setenv(env, value)
    with pytest.raises(lv.OptionError, match=env):
        read()


def test_invalid_dask_config_setting_is_named(monkeypatch):
    monkeypatch.delenv("LAZYVOL_CHUNK_SIZE", raising=False)
    with (
        dask.config.set({"lazyvol.chunk-size": -1}),
        pytest.raises(lv.OptionError, match=r"lazyvol\.chunk-size"),
    ):
        config.chunk_budget()


def test_chunk_size_setting_fails_at_open(tmp_path, monkeypatch):
    from lazyvol.testing import write_phantom_nifti

    path = write_phantom_nifti(tmp_path / "p.nii", (8, 8, 4))
    monkeypatch.setenv("LAZYVOL_CHUNK_SIZE", "0")
    with pytest.raises(lv.OptionError, match="LAZYVOL_CHUNK_SIZE='0'"):
        lv.open(path)


def test_max_scan_files(tmp_path, monkeypatch):
    write_dicom_series(tmp_path / "s", (8, 8, 12))
    monkeypatch.setenv("LAZYVOL_MAX_SCAN_FILES", "10")
    with pytest.raises(lv.ResourceLimitError, match="LAZYVOL_MAX_SCAN_FILES") as exc:
        lv.scan(tmp_path)
    assert str(tmp_path) in str(exc.value)


# A subprocess builds nothing big, measures its peak RSS, opens each lying file and measures again.
PROBE = textwrap.dedent(
    """
    import json, resource, sys, warnings
    warnings.simplefilter("ignore")
    import numpy as np, pydicom, nibabel, dask.array  # imports before the baseline
    import lazyvol as lv
    out = {}
    for name, path in json.loads(sys.argv[1]).items():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            vol = lv.open(path)
            err = None
        except lv.LazyvolError as exc:
            err = [type(exc).__name__, str(exc)[:400]]
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out[name] = {"error": err, "grew_kib": after - before}
    print(json.dumps(out))
    """
)


def _run_probe(code: str, arg: object, timeout: int) -> dict:
    """Run ``code`` in a fresh process with ``arg`` as JSON in argv[1] (this source tree, the
    default LAZYVOL_MAX_VOLUME_BYTES of 1 TiB); its last printed line, parsed."""
    env = dict(os.environ, PYTHONPATH=SRC_DIR)
    env.pop("LAZYVOL_MAX_VOLUME_BYTES", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(arg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _nifti_claiming(path: Path, shape, dtype) -> str:
    import nibabel as nib
    import numpy as np

    img = nib.Nifti1Image(np.zeros((2, 2, 2), dtype=dtype), np.eye(4))
    img.header.set_data_shape(shape)
    img.header["vox_offset"] = 352
    with open(path, "wb") as f:
        f.write(img.header.binaryblock + b"\0" * 4 + bytes(4096))
    return str(path)


def _lie_rows_columns(path: str, rows: int, cols: int, frames: int | None = None) -> None:
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = rows, cols
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.save_as(path)


def test_terabyte_headers_refused_without_growing(tmp_path):
    from pydicom.uid import RLELossless

    cases: dict[str, str] = {}
    # NIfTI: 32767^3 float32 = 140 TB (over the 1 TiB limit) and 32767^2 x 100 int16 = 215 GB
    # (under the limit, but the file holds 4 KiB)
    cases["nifti_140TB"] = _nifti_claiming(tmp_path / "big.nii", (32767,) * 3, "float32")
    cases["nifti_215GB_short"] = _nifti_claiming(
        tmp_path / "short.nii", (32767, 32767, 100), "int16"
    )
    # DICOM native: 65535 x 65535 x 10^4 frames x 2 bytes = 86 TB in a 1 KiB file
    t = write_dicom_series(tmp_path / "native", (16, 16, 1))
    _lie_rows_columns(t.files[0], 65535, 65535, 10**4)
    cases["dicom_native_86TB"] = t.files[0]
    # DICOM native series: 140 slices claiming 65535^2 each (1.2 TB)
    t = write_dicom_series(tmp_path / "native_series", (4, 4, 140))
    for f in t.files:
        _lie_rows_columns(f, 65535, 65535)
    cases["dicom_native_series_1.2TB"] = str(tmp_path / "native_series")
    # DICOM encapsulated (RLE): 140 slices claiming 65535^2 each = 1.2 TB: more than their RLE
    # frames can hold
    t = write_dicom_series(tmp_path / "rle", (4, 4, 140), compress=RLELossless)
    for f in t.files:
        _lie_rows_columns(f, 65535, 65535)
    cases["dicom_encapsulated_1.2TB"] = str(tmp_path / "rle")
    res = _run_probe(PROBE, cases, timeout=300)
    expected = {
        "nifti_140TB": ("ResourceLimitError", "LAZYVOL_MAX_VOLUME_BYTES"),
        "nifti_215GB_short": ("FormatError", "truncated"),
        "dicom_native_86TB": ("FormatError", "Pixel Data (7FE0,0010)"),
        "dicom_native_series_1.2TB": ("FormatError", "Pixel Data (7FE0,0010)"),
        "dicom_encapsulated_1.2TB": ("FormatError", "RLE frame of"),  # a lying header, at open
    }
    for name, (cls, text) in expected.items():
        got = res[name]
        assert got["error"] is not None, (name, got)
        assert got["error"][0] == cls, (name, got)
        assert text in got["error"][1], (name, got)
        assert os.path.basename(cases[name]) in got["error"][1], (name, got)
        # peak RSS grew by less than 64 MiB while refusing a file claiming gigabytes to terabytes
        assert got["grew_kib"] < 64 * 1024, (name, got)


def test_an_element_length_claim_is_bounded_by_the_file(tmp_path):
    """An element whose length claims 2-4 GiB in a 10 kB file: the header reader that takes over
    from the walker (pydicom, for an implicit-VR file and a remote object) read it with
    ``fp.read(length)``, which allocates the claim first: a MemoryError under an address-space
    limit, the file skipped as 'unreadable DICOM header (MemoryError): '. It reads short now, as
    a truncated file does, and the skip names the element."""
    import struct

    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("MR_small_implicit.dcm")).read_bytes()
    cases = {}
    for claim in (0x7FFFFFF0, 0xFFFFFFF0):
        i = data.find(struct.pack("<HH", 0x0020, 0x0032))  # ImagePositionPatient, implicit VR
        path = tmp_path / f"claim_{claim:x}.dcm"
        path.write_bytes(data[: i + 4] + struct.pack("<L", claim) + data[i + 8 :])
        cases[str(path)] = claim
    code = textwrap.dedent(
        """
        import json, resource, sys, warnings
        warnings.simplefilter("ignore")
        import lazyvol as lv
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        out = {}
        for path in json.loads(sys.argv[1]):
            try:
                lv.open(path)
                out[path] = None
            except lv.LazyvolError as exc:
                out[path] = [type(exc).__name__, str(exc)]
        print(json.dumps(out))
        """
    )
    res = _run_probe(code, list(cases), timeout=120)
    for path in cases:
        kind, msg = res[path]
        assert kind == "FormatError" and "MemoryError" not in msg, msg
        assert "truncated inside ImagePositionPatient (0020,0032)" in msg, msg
