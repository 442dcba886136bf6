"""Fixtures of the remote-source tests: real servers on loopback (see remote_servers.py)."""

from remote_servers import http_server, s3_bucket, s3_server

__all__ = ["http_server", "s3_bucket", "s3_server"]
