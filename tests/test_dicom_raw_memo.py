"""A file's sidecar values are computed once per distinct header input
(:mod:`lazyvol.dicom.raw_memo`): each file still gets its own values, checked here against
pydicom's reading of that file, and the memo answers only for inputs the function really saw."""

from __future__ import annotations

import pydicom
import pytest

from lazyvol.dicom import file_values as memo_site
from lazyvol.dicom.header import read_header
from lazyvol.dicom.raw_memo import GIVE_UP, RawMemo
from lazyvol.dicom.walker import _RawValue
from lazyvol.testing import write_dicom_series

CSA_SERIES_TAG = 0x00291020


def _record(path: str) -> object:
    got = read_header(path)
    assert not isinstance(got, list)
    assert hasattr(got, "acq"), got
    return got


def test_values_that_differ_file_to_file_are_each_files_own(tmp_path):
    """RepetitionTime and FlipAngle change from file to file and come back (so the memo holds
    several inputs and answers for repeated ones): every file's sidecar values are its own."""
    trs = ["2000", "2000", "3000", "3000", "2000", "2500", "2000", "3000"]
    flips = ["90", "90", "90", "15", "90", "90", "15", "90"]
    per_slice = [{"RepetitionTime": tr, "FlipAngle": fa} for tr, fa in zip(trs, flips, strict=True)]
    truth = write_dicom_series(
        tmp_path / "s",
        (8, 8, len(trs)),
        modality="MR",
        extra={"Manufacturer": "GE MEDICAL SYSTEMS", "ProtocolName": "memo"},
        per_slice=per_slice,
    )
    hits = memo_site.file_values.hits
    for path in truth.files:
        rec = _record(path)
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert rec.acq["RepetitionTime"] == pytest.approx(float(ds.RepetitionTime) / 1000)
        assert rec.acq["FlipAngle"] == pytest.approx(float(ds.FlipAngle))
        assert rec.acq["ProtocolName"] == "memo"
    # (repeated inputs were answered by the memo: the test covers its answers, not only calls)
    assert memo_site.file_values.hits > hits


def _with_csa_series(path: str, uid_digits: int) -> None:
    """Give a file a Siemens CSA series header (0029,1020), the same bytes in every file, after a
    SOPInstanceUID of ``uid_digits`` digits (so the header's offset moves with that length)."""
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "SIEMENS"
    ds.SOPInstanceUID = "1.2." + "7" * uid_digits
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    block.add_new(0x20, "OB", b"SV10\x04\x03\x02\x01" + b"\x00" * 56)
    ds.save_as(path, enforce_file_format=True)


def test_an_elements_offset_is_each_files_own(tmp_path):
    """Where the CSA series header lies (``_csa_series``, read at stacking) is a per-file offset
    even when its bytes are the same in every file: files whose header sits at another offset
    (a longer SOPInstanceUID before it) must not get another file's offset."""
    truth = write_dicom_series(tmp_path / "s", (8, 8, 8), modality="MR")
    digits = [20, 20, 22, 22, 20, 24, 20, 22]
    for path, n in zip(truth.files, digits, strict=True):
        _with_csa_series(path, n)
    hits = memo_site.file_values.hits
    offsets = set()
    for path in truth.files:
        at, length = _record(path).acq["_csa_series"]
        offsets.add(at)
        with open(path, "rb") as f:
            f.seek(at)
            assert f.read(length) == pydicom.dcmread(path)[CSA_SERIES_TAG].value
    assert len(offsets) == 3
    assert memo_site.file_values.hits > hits


def _raw(**values: bytes) -> dict[int, object]:
    tags = {"a": 0x00100010, "b": 0x00100020, "c": 0x00100030}
    return {tags[k]: _RawValue(v, True, "LO", 100 + len(v), len(v)) for k, v in values.items()}


def test_a_result_is_a_fresh_copy_for_each_file():
    """Callers may change what they get (records are completed in place): a later file's answer
    is never that changed object."""
    memo = RawMemo(lambda raw: {"x": [raw.get(0x00100010).value.decode()]})
    first = memo(_raw(a=b"one"))
    first["x"].append("changed by the caller")
    again = memo(_raw(a=b"one"))
    assert again == {"x": ["one"]} and memo.hits == 1


def test_inputs_looked_at_decide_and_absent_ones_count():
    """An answer is given for the same looked-at elements only: one present that was absent, or a
    value that differs, is a new call."""
    calls = []

    def fn(raw):
        calls.append(1)
        return [0x00100020 in raw, raw.get(0x00100010).value.decode()]

    memo = RawMemo(fn)
    assert memo(_raw(a=b"x")) == [False, "x"]
    assert memo(_raw(a=b"x", c=b"not looked at")) == [False, "x"]  # (a hit)
    assert memo(_raw(a=b"x", b=b"now present")) == [True, "x"]
    assert memo(_raw(a=b"y")) == [False, "y"]
    assert len(calls) == 3 and memo.hits == 1


def test_a_function_that_goes_over_all_elements_is_always_called():
    memo = RawMemo(lambda raw: len(raw))
    assert [memo(_raw(a=b"x")), memo(_raw(a=b"x", c=b"z")), memo(_raw(a=b"x"))] == [1, 2, 1]
    assert memo.hits == 0


def test_converted_values_are_not_recorded():
    """An element pydicom converted (not raw bytes) is not compared: the call is made each time."""

    class Converted:
        VR, is_little_endian, value_tell, length = "DS", True, 0, 0

        def __init__(self, value):
            self.value = value

    memo = RawMemo(lambda raw: raw.get(1).value)
    assert [memo({1: Converted([1.5])}), memo({1: Converted([2.5])})] == [[1.5], [2.5]]
    assert memo.hits == 0


def test_a_function_changing_the_elements_is_refused():
    def fn(raw):
        raw[1] = None

    with pytest.raises(TypeError, match="changed a header's elements"):
        RawMemo(fn)(_raw(a=b"x"))


def test_a_function_that_never_hits_stays_right_after_recording_pauses():
    """A per-image input (every file different) never hits; once recording pauses, calls go on and
    each answer is still the file's own."""
    memo = RawMemo(lambda raw: raw.get(0x00100010).value.decode())
    values = [str(n).encode() for n in range(3 * GIVE_UP)]
    assert [memo(_raw(a=v)) for v in values] == [v.decode() for v in values]
    assert memo(_raw(a=values[0])) == "0"
