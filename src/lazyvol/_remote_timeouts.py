"""The timeouts lazyvol gives the remote filesystems it makes (:func:`with_timeouts`), where the
caller set none: ``LAZYVOL_REMOTE_TIMEOUT`` seconds without progress (default 30), and
``LAZYVOL_REMOTE_DEADLINE`` seconds in all when it is set (:mod:`lazyvol._remote_errors` reads
both)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ._remote_errors import remote_deadline, remote_timeout

__all__ = ["with_timeouts"]


def with_timeouts(
    protocol: str, options: dict[str, Any], *, asynchronous: bool = False
) -> dict[str, Any]:
    """Add lazyvol's timeouts where the caller set none (HTTP via aiohttp, S3 via botocore); for
    ``reference://``, to its ``remote_options`` when ``remote_protocol`` names the targets', and
    to the options its references file is read with when ``fo`` is a URL (``target_options``,
    or ``ref_storage_args`` when given). Its chunks are read by the byte layer
    (:mod:`lazyvol._zarr_refs_store`), with the targets' own timeouts.

    A reference filesystem is made ``asynchronous`` (zarr's store) or not (the byte layer), its
    targets' filesystem with it, whatever the options say: fsspec refuses a reference filesystem
    whose target filesystem differs (the ``asynchronous=True`` zarr's recipe gives both was
    refused by the byte layer, and the targets of options without it by zarr's store)."""
    timeout, total = remote_timeout(), remote_deadline()
    opts = dict(options)
    if protocol == "reference":
        remote = dict(opts.get("remote_options") or {})
        target = opts.get("remote_protocol")
        if isinstance(target, str) and target != "reference":
            remote = with_timeouts(target, remote)
        opts["remote_options"] = {**remote, "asynchronous": asynchronous}
        opts["asynchronous"] = asynchronous
        fo = opts.get("fo")  # (references read from a URL: with the timeouts of its protocol)
        if isinstance(fo, str) and "://" in fo and not fo.startswith("file://"):
            # (fsspec opens fo with ref_storage_args, else target_options)
            name = "ref_storage_args" if opts.get("ref_storage_args") else "target_options"
            fo_protocol = opts.get("target_protocol") or fo.split("://", 1)[0].lower()
            if isinstance(fo_protocol, str) and fo_protocol != "reference":
                opts[name] = with_timeouts(fo_protocol, dict(opts.get(name) or {}))
    elif protocol in ("http", "https"):
        import aiohttp

        client = dict(opts.get("client_kwargs") or {})
        client.setdefault(
            "timeout",
            aiohttp.ClientTimeout(
                total=total, connect=timeout, sock_connect=timeout, sock_read=timeout
            ),
        )
        opts["client_kwargs"] = client
    elif protocol in ("s3", "s3a"):
        config = dict(opts.get("config_kwargs") or {})
        config.setdefault("connect_timeout", timeout)
        config.setdefault("read_timeout", timeout)
        config.setdefault("retries", {"max_attempts": 3, "mode": "standard"})
        if total is not None and _takes_session_class():
            config.setdefault("http_session_cls", _deadline_session(total))
        opts["config_kwargs"] = config
    elif protocol in ("gs", "gcs"):
        import aiohttp

        # gcsfs passes requests_timeout to every aiohttp request.
        opts.setdefault(
            "requests_timeout",
            aiohttp.ClientTimeout(
                total=total, connect=timeout, sock_connect=timeout, sock_read=timeout
            ),
        )
    return opts


class DeadlineTimeout(Exception):
    """An S3 request that did not end within ``LAZYVOL_REMOTE_DEADLINE`` (its message says so).
    Not a :class:`TimeoutError`, nor botocore's ``ReadTimeoutError``: botocore and s3fs would try
    it again (three attempts each, nested: fifteen deadlines for one request), where a server
    sending a few bytes at a time sends as slowly the next time."""


@lru_cache(maxsize=1)
def _takes_session_class() -> bool:
    """Whether aiobotocore's ``AioConfig`` takes ``http_session_cls`` (recent versions; s3fs
    2024.6 came with one that does not, where S3 listings and HEADs keep botocore's limits)."""
    import inspect

    try:
        from aiobotocore.config import AioConfig
    except ImportError:  # pragma: no cover - s3fs brings it
        return False
    return "http_session_cls" in inspect.signature(AioConfig.__init__).parameters


@lru_cache(maxsize=8)
def _deadline_session(total: float) -> type:
    """aiobotocore's HTTP session class (``AioConfig(http_session_cls=...)``) whose every request
    ends ``total`` seconds after it began, its answer's body included (aiohttp's ``total``
    timeout; botocore's ``connect_timeout`` and ``read_timeout`` bound a stall only), raising
    :class:`DeadlineTimeout`: an S3 prefix's listing, an object's HEAD and every other request
    s3fs makes, as the byte layer's own S3 reads are bounded (:mod:`lazyvol._s3_range`)."""
    import asyncio

    import aiohttp
    from aiobotocore.httpsession import AIOHTTPSession

    base: Any = AIOHTTPSession  # (untyped: the class is made by type() below)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        stall = vars(self).get("_timeout")  # (its stall limits)
        if isinstance(stall, aiohttp.ClientTimeout):
            self._timeout = aiohttp.ClientTimeout(
                total=total, sock_connect=stall.sock_connect, sock_read=stall.sock_read
            )

    def _get_request_timeout(self: Any, request: Any) -> aiohttp.ClientTimeout | None:
        got = base._get_request_timeout(self, request)  # (a request's own read timeout)
        if got is None:
            return None
        return aiohttp.ClientTimeout(
            total=total, sock_connect=got.sock_connect, sock_read=got.sock_read
        )

    async def send(self: Any, request: Any) -> Any:
        began = asyncio.get_running_loop().time()
        try:
            return await base.send(self, request)
        except Exception as exc:
            late = asyncio.get_running_loop().time() - began >= total
            if late and "timeout" in type(exc).__name__.lower():
                raise DeadlineTimeout(
                    f"no whole answer within LAZYVOL_REMOTE_DEADLINE={total:g} s"
                ) from exc
            raise

    methods = {"__init__": __init__, "send": send}
    if hasattr(base, "_get_request_timeout"):
        methods["_get_request_timeout"] = _get_request_timeout
    return type("DeadlineSession", (base,), methods)
