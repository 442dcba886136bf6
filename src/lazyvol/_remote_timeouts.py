"""The timeouts lazyvol gives the remote filesystems it makes (:func:`with_timeouts`), where the
caller set none: ``LAZYVOL_REMOTE_TIMEOUT`` seconds without progress (default 30), and
``LAZYVOL_REMOTE_DEADLINE`` seconds in all when it is set (:mod:`lazyvol._remote_errors` reads
both)."""

from __future__ import annotations

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
