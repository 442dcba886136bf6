"""The filesystem of a URL is made from what the URL says as well as the storage options, and a
URL or filesystem that cannot be made is a typed error naming the URL without credentials.

fsspec derives some filesystems' constructor arguments from the URL itself (``ftp://`` and
``hdfs://`` host, port and user; an Azure account; ``_get_kwargs_from_urls``): lazyvol made them
from the storage options alone, so ``lv.open("ftp://host/x.nii")`` (which ``fsspec.open`` reads)
raised a bare ``TypeError`` (missing 'host'); a port out of range or an unclosed ``[`` raised
urllib's bare ``ValueError``, and an unknown protocol fsspec's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from fsspec.registry import register_implementation
from fsspec.spec import AbstractFileSystem

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import OptionError, UnsupportedError
from lazyvol.testing import write_phantom_nifti

nib = pytest.importorskip("nibabel")


class HostFS(AbstractFileSystem):
    """Objects kept in memory per host; the host comes from the URL (as FTP's does), and the
    constructor cannot be called without it."""

    protocol = "lazyvoltesthost"
    cachable = False
    hosts: ClassVar[dict[str, dict[str, bytes]]] = {}

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if host == "refuses-options":
            raise TypeError("unexpected keyword argument 'colour'")
        self.objects = self.hosts[host]

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        path = str(path).split("://", 1)[-1]
        return "/" + path.split("/", 1)[1] if "/" in path else "/"

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        return {"host": str(path).split("://", 1)[1].split("/", 1)[0]}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if path not in self.objects:
            raise FileNotFoundError(path)
        return {"name": path, "size": len(self.objects[path]), "type": "file", "ETag": "e1"}

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kw: Any):
        return self.objects[self._strip_protocol(path)][start:end]


@pytest.fixture
def host_fs():
    register_implementation(HostFS.protocol, HostFS, clobber=True)
    _io.clear_filesystems()
    yield HostFS.hosts
    HostFS.hosts.clear()
    _io.clear_filesystems()


def _nifti(tmp_path: Path, name: str, seed: int) -> tuple[bytes, np.ndarray]:
    path = write_phantom_nifti(tmp_path / name, (20, 16, 6), dtype="int16", seed=seed)
    return Path(path).read_bytes(), np.asanyarray(nib.load(path).dataobj)


def test_a_filesystem_takes_its_host_from_the_url(tmp_path, host_fs):
    """Two hosts, one path: each URL reads its own host's object (the filesystems made once per
    process are told apart by what the URL says too)."""
    raw_a, truth_a = _nifti(tmp_path, "a.nii", 1)
    raw_b, truth_b = _nifti(tmp_path, "b.nii", 2)
    assert not np.array_equal(truth_a, truth_b)
    host_fs["alpha"] = {"/scan.nii": raw_a}
    host_fs["beta"] = {"/scan.nii": raw_b}
    np.testing.assert_array_equal(lv.open("lazyvoltesthost://alpha/scan.nii").compute(), truth_a)
    np.testing.assert_array_equal(lv.open("lazyvoltesthost://beta/scan.nii").compute(), truth_b)


def test_ranges_of_two_hosts_read_together_come_from_each_host(host_fs):
    """read_ranges sends the ranges of one filesystem together: two hosts are two filesystems."""
    host_fs["alpha"] = {"/f": b"A" * 100}
    host_fs["beta"] = {"/f": b"B" * 100}
    got = _io.read_ranges([("lazyvoltesthost://alpha/f", 0, 4), ("lazyvoltesthost://beta/f", 0, 4)])
    assert got == [b"AAAA", b"BBBB"]


def test_a_filesystem_that_cannot_be_made_is_an_option_error(host_fs):
    with pytest.raises(OptionError, match=r"lazyvoltesthost://refuses-options/x\.nii.*colour"):
        lv.open("lazyvoltesthost://refuses-options/x.nii")


def test_an_unknown_protocol_is_unsupported_naming_it():
    with pytest.raises(UnsupportedError, match=r"nosuchproto://h/x\.nii.*nosuchproto://"):
        lv.open("nosuchproto://h/x.nii")


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pw-s3cr3t@127.0.0.1:99999/x.nii",
        "https://[::1/x.nii",
        "http://127.0.0.1:8o/x.nii?token=s3cr3t",
        "zip://x.nii::file:///archive.zip",
        "zip://x.nii::ftp://user:pw-s3cr3t@127.0.0.1:21/archive.zip",  # (a chain's inner URL)
        "zip://x.nii::ftp://user:p@ss-s3cr3t@127.0.0.1:21/archive.zip",  # (an @ in the password)
        "simplecache::http://user:pw-s3cr3t@127.0.0.1:1/x.nii",  # (was taken for a local path)
    ],
)
def test_a_url_that_does_not_parse_is_an_option_error_without_credentials(url):
    for call in (lv.open, lv.scan, lv.references):
        with pytest.raises(OptionError, match=r"not a valid URL|URL chains") as err:
            call(url)
        assert "s3cr3t" not in str(err.value)
        assert url.split("://")[0] + "://" in str(err.value)
        assert "s3cr3t" not in repr(err.value.__cause__) + repr(err.value.__context__)
