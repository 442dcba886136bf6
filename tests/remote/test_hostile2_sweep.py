"""More misbehaving HTTP servers over each kind of remote source (the sources and the truth of
test_remote_hostile_sweep.py), each behaviour switched on after ``open`` so that the reads of
``compute`` meet it: the voxels nibabel / pydicom read from the local files, or a typed lazyvol
error naming the URL and what the server did; never other values."""

from __future__ import annotations

import numpy as np
import pytest
from hostile_server import HostileServer
from test_remote_hostile_sweep import KINDS, _source

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import RemoteReadError

#: Behaviour (fields of hostile_server.Hostile; "once": for the next request of each file only),
#: and None (the voxels) or what the RemoteReadError says after the file's URL.
SWEEP = {
    # a body sent in chunks, the connection closed before its last chunk: asked again
    "chunked-cut-once": ({"chunked": True, "cut_times": "once"}, None),
    "chunked-cut-always": ({"chunked": True, "cut_times": 10**6}, r"TransferEncodingError"),
    # a Content-Length stating more bytes than the body holds, the connection then closed
    "length-says-more": ({"length_lie": 7}, r"ContentLengthError|Content-Length"),
    # ... or fewer: the bytes after it are the next answer's start on a kept-alive connection
    "length-says-fewer": ({"length_lie": -7}, r"."),
    "redirect-loop": ({"redirect_to": "itself"}, r"redirects in a loop"),
    "429-once": ({"status_get": 429, "status_times": "once"}, None),
    "429-always": ({"status_get": 429}, r"HTTP 429"),
    "503-once": ({"status_get": 503, "status_times": "once"}, None),
}


def _switch_on(server: HostileServer, name: str, behaviour: dict[str, object]) -> None:
    obj = server.obj(name)
    for field, value in behaviour.items():
        if value == "once":
            value = obj.requests + 1
        elif value == "itself":
            value = "/" + name
        setattr(obj, field, value)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(SWEEP))
def test_more_hostile_servers_give_the_voxels_or_a_typed_error(
    tmp_path, hostile_server, kind, case, monkeypatch
):
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "2")
    monkeypatch.setenv("LAZYVOL_REMOTE_DEADLINE", "5")
    _io.clear_filesystems()
    behaviour, refusal = SWEEP[case]
    url, opts, truth, names = _source(tmp_path, hostile_server, kind)
    vol = lv.open(url, scale=False, storage_options=opts)
    for name in names:
        _switch_on(hostile_server, name, behaviour)
    if refusal is None:
        np.testing.assert_array_equal(np.asarray(vol.compute()), truth)
        return
    with pytest.raises(RemoteReadError, match=r"http://127\.0\.0\.1:\d+/\S+: .*" + f"({refusal})"):
        vol.compute()
