"""Answers whose framing is wrong: a Content-Length shorter than the body (its next bytes read
as an answer's status line: aiohttp's 'Bad status line' with the object's bytes in it, no word of
what happened), or longer (the connection closed early). Each is asked again on a new connection
(lazyvol._retry) and, when every attempt fails, a RemoteReadError names the URL, the bytes the
answer stated and those that came, and the retry policy; never the object's bytes, never data."""

from __future__ import annotations

import re

import pytest
from hostile_server import HostileServer

from lazyvol import _io
from lazyvol._remote_errors import _status, translate
from lazyvol._retry import ATTEMPTS, hung_up
from lazyvol.errors import RemoteReadError

DATA = bytes(range(256)) * 64


def _read(server: HostileServer, lie: int) -> RemoteReadError:
    url = server.put("x.bin", DATA)
    loc = _io.Location(url)
    stamp = _io.stamp(loc)
    server.obj("x.bin").length_lie = lie
    with pytest.raises(RemoteReadError) as info:
        _io.read_ranges([(loc, 0, 1000, stamp), (loc, 10, 1000, stamp)])
    text = str(info.value)
    assert url in text and "Bad status line" not in text
    assert "\\x00\\x01\\x02" not in text and '!"#$%' not in text  # (no object bytes)
    return info.value


def test_content_length_shorter_than_the_body(hostile_server: HostileServer) -> None:
    text = str(_read(hostile_server, -7))
    # (asked again on a new connection: the body's own length error, or the mis-framing named)
    assert re.search(
        r"names 1000 bytes but the body holds 993|more body bytes than its Content-Length", text
    ), text


def test_content_length_longer_than_the_body(hostile_server: HostileServer) -> None:
    text = str(_read(hostile_server, 7))
    assert "after 1000 of the 1007 bytes its Content-Length stated" in text
    assert f"{ATTEMPTS} attempts" in text
    gets = hostile_server.gets("x.bin")
    assert len(gets) == 2 * ATTEMPTS  # (each range asked again, ATTEMPTS in all)


def _bad_status_line() -> Exception:
    from aiohttp import ClientResponseError, RequestInfo
    from aiohttp.http_exceptions import BadStatusLine
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    info = RequestInfo(URL("http://h/x"), "GET", CIMultiDictProxy(CIMultiDict()), URL("http://h/x"))
    try:
        try:
            raise BadStatusLine(repr(DATA[:40]))
        except BadStatusLine as inner:
            raise ClientResponseError(info, (), status=400, message=str(inner)) from inner
    except ClientResponseError as exc:
        return exc


def test_bad_status_line_is_retried_and_worded() -> None:
    exc = _bad_status_line()
    assert _status(exc) is None  # (aiohttp's 400: no server sent it)
    assert hung_up(exc)  # (asked again on a new connection)
    loc = _io.Location("http://h/x?token=secret")
    err = translate(exc, loc, "reading bytes 0-999")
    text = str(err)
    assert isinstance(err, RemoteReadError)
    assert (
        "more body bytes than its Content-Length stated" in text and "reading bytes 0-999" in text
    )
    assert "secret" not in text and "\\x00\\x01" not in text and "HTTP 400" not in text
