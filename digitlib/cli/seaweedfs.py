"""``python -m digitlib.cli.seaweedfs DIR``: a SeaweedFS S3 server in the foreground
(``digitlib.ops.seaweedfs``), printing the environment that points digitlib at it."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from digitlib.ops.seaweedfs import SeaweedFS


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Run a SeaweedFS S3 server for digitlib.")
    parser.add_argument("data_dir", type=Path, help="folder for the server's data")
    parser.add_argument("--bucket", default="digitlib", help="bucket to create (default digitlib)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="the S3 port (default: a free one); give it to keep the address across restarts",
    )
    args = parser.parse_args(argv)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # stop weed too, not only this process
    signal.signal(signal.SIGINT, interrupt)  # even when started in the background
    server = SeaweedFS(args.data_dir, s3_port=args.port).start()
    try:
        client = server.client()
        try:
            client.create_bucket(Bucket=args.bucket)
        except Exception as error:  # already there
            if "BucketAlready" not in str(error):
                raise
        for name, value in server.environment().items():
            print(f"export {name}={value}")
        print(f"export DIGITLIB_STORE=s3://{args.bucket}/digitlib")
        print("# Ctrl+C to stop", flush=True)
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
