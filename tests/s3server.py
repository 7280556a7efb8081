"""A real S3-compatible HTTP endpoint for tests: moto's server on a free 127.0.0.1 port.

    with moto_s3_server() as endpoint_url:
        client = s3_client(endpoint_url=endpoint_url, access_key_id=ACCESS_KEY_ID, ...)

moto keeps its state per process, not per server: every server started in one process sees the
same buckets. `moto_s3_server` therefore wipes that state when it exits (reset=True), and two
servers used at the same time in one process share their buckets. moto does not check signatures
or expiry of presigned URLs (a tampered or expired one is still served), though it refuses
anonymous reads unless a bucket policy allows them: a test can prove that a presigned URL
addresses the right object, not that S3 would accept its signature (MinIO in docker-compose can).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "dreamcache-test"
SECRET_ACCESS_KEY = "dreamcache-test-secret"
REGION = "us-east-1"


def reset_moto(endpoint_url: str) -> None:
    """Forget every bucket and object in this process's moto state."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST", data=b"")
    with _opener().open(request, timeout=10) as response:
        response.read()


@contextmanager
def moto_s3_server(*, reset: bool = True) -> Iterator[str]:
    """Run moto's HTTP server on 127.0.0.1 (port chosen by the OS) and yield its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    try:
        yield endpoint_url
    finally:
        try:
            if reset:
                reset_moto(endpoint_url)
        finally:
            server.stop()


def _opener() -> urllib.request.OpenerDirector:
    """A urllib opener that ignores proxy environment variables (the server is on loopback)."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET a URL with plain urllib, bypassing proxies: status, body and lower-cased headers.

    An HTTP error status is returned, not raised.
    """
    try:
        with _opener().open(url, timeout=10) as response:
            return response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}


def allow_public_reads(client: Any, bucket: str, prefix: str = "") -> None:
    """Let anonymous clients GET objects under prefix (what a public_base_url deployment needs)."""
    resource = f"arn:aws:s3:::{bucket}/{prefix}*"
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": resource}
    client.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
