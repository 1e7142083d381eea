"""``python -m digitlib.cli.chromium [--install]`` (``make chromium``): find, or install, the
Chromium that the browser tests and the crowd benchmark drive (``digitlib.ops.browser``)."""

from __future__ import annotations

import argparse
import sys

from digitlib.ops.browser import (
    find_chromium,
    find_crowd_chromium,
    install_chromium,
    missing_browser_message,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Find (or install) Chromium for the browser tests."
    )
    parser.add_argument(
        "--install", action="store_true", help="install Chromium when none is found"
    )
    args = parser.parse_args(argv)
    if args.install:
        path = install_chromium()
    else:
        path = find_chromium()
        if path is None:
            print(missing_browser_message(), file=sys.stderr)
            return 1
    print(f"chromium: {path}")
    print(f"crowd chromium: {find_crowd_chromium()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
