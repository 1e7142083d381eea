"""``python -m digitlib.cli.cluster`` (``make cluster``): SeaweedFS, N dashboard servers and
HAProxy in front, until Ctrl-C (``digitlib.ops.cluster``)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from digitlib.config import PROJECT_ROOT
from digitlib.ops.cluster import Cluster, ClusterConfig, ClusterError, install_haproxy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run SeaweedFS, N dashboard servers and HAProxy in front (Ctrl-C stops all)."
    )
    parser.add_argument("--workers", type=int, default=2, help="dashboard servers (default 2)")
    parser.add_argument("--host", default="127.0.0.1", help="the balancer's interface")
    parser.add_argument("--port", type=int, default=8866, help="the balancer's port (8866)")
    parser.add_argument("--pool-size", type=int, default=2, help="preheated kernels a server")
    parser.add_argument("--cull-idle-seconds", type=int, default=600)
    parser.add_argument(
        "--max-kernels",
        type=int,
        default=0,
        help="kernels a server keeps live at most (default 0: the machine's budget shared "
        "among the workers)",
    )
    parser.add_argument("--runtime", choices=("lean", "keras"), default=None)
    parser.add_argument(
        "--store",
        default=None,
        metavar="S3_URL",
        help="an S3 store already running (AWS_* variables set); default: start SeaweedFS",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=PROJECT_ROOT / "data" / "cluster",
        help="logs, SeaweedFS data and haproxy.cfg (default data/cluster)",
    )
    parser.add_argument(
        "--install-haproxy",
        action="store_true",
        help="only make sure HAProxy is installed (as root: Debian's package), then exit",
    )
    args = parser.parse_args(argv)
    if args.install_haproxy:
        try:
            print(f"haproxy: {install_haproxy()}")
        except ClusterError as error:
            print(error, file=sys.stderr)
            return 1
        return 0

    def interrupt(signum, frame):
        print("stopping...", flush=True)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    config = ClusterConfig(
        workers=args.workers,
        host=args.host,
        port=args.port,
        pool_size=args.pool_size,
        cull_idle_seconds=args.cull_idle_seconds,
        max_kernels=args.max_kernels,
        runtime=args.runtime,
        store_url=args.store,
    )
    cluster = Cluster(config, args.state_dir)
    try:
        print(f"starting {args.workers} dashboard servers, the store and HAProxy...", flush=True)
        cluster.start()
        print(f"store: {cluster.store_url}")
        for server in cluster.servers:
            print(f"server {server.name}: {server.url} (log {server.log})")
        print(f"HAProxy stats: {cluster.stats_url}")
        print(f"digitlib cluster on {cluster.url} (ready in {cluster.timings['ready']:.0f} s)")
        print("Ctrl-C stops everything", flush=True)
        cluster.haproxy.wait()  # until a signal stops us, or HAProxy exits on its own
        print(f"HAProxy exited with {cluster.haproxy.returncode}; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    except ClusterError as error:
        print(f"digitlib cluster: {error}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
