"""A Chromium for the browser tests: find it, or install it.

``python -m digitlib.testing.browser --install`` (run by ``make chromium``) is a quick no-op when a
browser is there. Otherwise, as root it installs Debian's ``chromium`` package (apt-get), else it
runs ``playwright install chromium``. Tests call ``find_chromium()`` and fail, never skip, when it
returns nothing: ``missing_browser_message()`` says how to fix that.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: Where a system Chromium is looked for, first match wins (``DIGITLIB_CHROMIUM`` comes first).
SYSTEM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
)

#: Flags for headless Chromium in containers and CI (root, no GPU, no background traffic).
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def _playwright_chromium() -> Path | None:
    """The Chromium that ``playwright install chromium`` downloaded, if any."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as playwright:
            path = Path(playwright.chromium.executable_path)
    except Exception:  # noqa: BLE001 - no driver or no browser: treat as absent
        return None
    return path if path.exists() else None


def find_chromium(*, environ: dict[str, str] | None = None) -> Path | None:
    """The Chromium executable to use: ``DIGITLIB_CHROMIUM``, a system one, or Playwright's."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("DIGITLIB_CHROMIUM")
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise FileNotFoundError(
                f"DIGITLIB_CHROMIUM={explicit} does not exist; unset it or fix the path"
            )
        return path
    for candidate in SYSTEM_CANDIDATES:
        if Path(candidate).exists():
            return Path(candidate)
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return _playwright_chromium()


def missing_browser_message() -> str:
    return (
        "No Chromium found for the browser tests. Run `make chromium` (as root it installs Debian's "
        "`chromium` with apt-get; otherwise it runs `playwright install chromium`), or point "
        "DIGITLIB_CHROMIUM at a Chromium or Chrome executable."
    )


def install_chromium() -> Path:
    """Make sure a Chromium is there and return its path; installs one only when none is found."""
    found = find_chromium()
    if found is not None:
        return found
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            check=True,
            env=env,
        )
    else:
        subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=True)
    found = find_chromium()
    if found is None:
        raise RuntimeError(missing_browser_message())
    return found


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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
