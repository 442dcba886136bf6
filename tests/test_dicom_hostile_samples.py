"""SamplesPerPixel disagreeing with the rest of the file, by class, on every native encoding: a
monochrome (or palette) image stating 3 samples a pixel, and a colour interpretation stating 3
samples over pixel data that hold one. Such files were refused as colour images, sending the user
to pydicom for their RGB, which fails on them as well. lazyvol refuses them as the header
contradicting itself or its pixels, naming the file and SamplesPerPixel; a true colour image is
still refused as an unsupported colour image, and pydicom agrees that it reads as one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series

SYNTAXES = ("explicit", "implicit", "big")
#: (what the header states, the phrase the refusal holds)
LIES = (
    ({"SamplesPerPixel": 3}, "has one sample a pixel"),
    ({"SamplesPerPixel": 3, "PhotometricInterpretation": "RGB"}, "one sample a pixel"),
    ({"SamplesPerPixel": 3, "PhotometricInterpretation": "YBR_FULL"}, "one sample a pixel"),
    ({"SamplesPerPixel": 4, "PhotometricInterpretation": "PALETTE COLOR"}, "has one sample"),
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _open(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lv.open(folder)


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize(("extra", "phrase"), LIES, ids=[str(e) for e, _ in LIES])
def test_samples_per_pixel_contradicting_the_file_is_a_format_error(
    tmp_path, syntax, extra, phrase
):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), dtype="uint8", syntax=syntax)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        for keyword, value in extra.items():
            setattr(ds, keyword, value)
        ds.PlanarConfiguration = 0
        ds.save_as(f)
    with warnings.catch_warnings():  # (the reference refuses too: no colour image to read)
        warnings.simplefilter("ignore")
        with pytest.raises(Exception):  # noqa: B017 - pydicom raises its own kinds
            pydicom.dcmread(truth.files[0]).pixel_array  # noqa: B018
    with pytest.raises(lv.FormatError) as info:
        _open(tmp_path / "s")
    msg = str(info.value)
    assert not isinstance(info.value, lv.UnsupportedError), msg
    assert "SamplesPerPixel (0028,0002)" in msg and phrase in msg, msg
    assert any(str(f) in msg for f in truth.files), msg


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_a_true_colour_image_is_still_refused_as_colour(tmp_path, syntax):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), dtype="uint8", syntax=syntax)
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.PixelData = np.repeat(np.frombuffer(ds.PixelData, np.uint8), 3).tobytes()
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.save_as(f)
    assert pydicom.dcmread(truth.files[0]).pixel_array.shape == (6, 8, 3)
    with pytest.raises(lv.UnsupportedError, match="colour images"):
        _open(tmp_path / "s")
