"""An object replaced after open on a server whose strong ETag stays the same (a tag naming no
content: fixed, or derived from the path) while its Last-Modified time moves on: every kind of
remote source read by ranged GETs took the new bytes at the old offsets (If-Match passed, the
answer's Last-Modified was compared only under a weak ETag), where a HEAD's stamp compares both
(the .nii.gz read refused it). Now a SourceChangedError naming the URL and the time."""

from __future__ import annotations

import json

import pytest
from test_remote_hostile_sweep import KINDS, _source

import lazyvol as lv
from lazyvol.errors import IntegrityError, SourceChangedError


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_version_under_the_same_strong_etag_is_refused(tmp_path, hostile_server, kind):
    url, opts, _truth, names = _source(tmp_path, hostile_server, kind)
    for obj in hostile_server.objects.values():
        obj.etag = '"v1"'
    if kind == "refs":  # (made again: they record the tag)
        refs = lv.references(f"{hostile_server.url}/a.nii")
        (tmp_path / "refs.json").write_text(json.dumps(refs), encoding="utf-8")
    vol = lv.open(url, scale=False, storage_options=opts)
    for name in names:
        obj = hostile_server.obj(name)
        data = bytearray(obj.data)
        data[len(data) // 2] ^= 0xFF
        data[-1] ^= 0xFF
        obj.data, obj.mtime = bytes(data), obj.mtime + 3600
    if kind == "zarr":  # (a lazyvol store's chunks are checked by their checksums)
        with pytest.raises(IntegrityError, match=r"c/0/0/0 fails its crc32c"):
            vol.compute()
        return
    with pytest.raises(SourceChangedError, match=r"http://127\.0\.0\.1:\d+/\S+: .*Last-Modified"):
        vol.compute()
