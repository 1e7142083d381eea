"""A Chromium for the browser tests: find it, or install it.

``python -m digitlib.cli.chromium --install`` (run by ``make chromium``) is a quick no-op when
the browsers are there. Otherwise, as root it installs Debian's ``chromium`` and
``chromium-headless-shell`` packages (apt-get), else it runs ``playwright install chromium``.
Tests call ``find_chromium()`` and fail, never skip, when it returns nothing:
``missing_browser_message()`` says how to fix that.

The crowd (many pages at once: ``digitlib.testing.crowd``) runs in ``find_crowd_chromium()``:
Chromium's headless shell when it is there. It is the same engine (Blink and V8 of the same
release) without the desktop browser around it, and it is what Playwright itself runs for a
headless page by default. Its pages stand in for visitors' own browsers on their own machines:
here they share the server's 2 cores, and the full browser's process used about 0.5 s of CPU a
page where the shell's used 0.15 s (renderers 1.3 s against 0.8 s).
"""

from __future__ import annotations

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

#: Chromium's headless shell (Debian's ``chromium-headless-shell``), for the crowd.
HEADLESS_SHELL_CANDIDATES = ("/usr/bin/chromium-headless-shell",)

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


def _first_found(
    environ: dict[str, str] | None, variable: str, candidates: tuple[str, ...]
) -> Path | None:
    """The path in ``environ[variable]`` (which must exist), else the first of ``candidates``
    that exists, else None."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(variable)
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise FileNotFoundError(
                f"{variable}={explicit} does not exist; unset it or fix the path"
            )
        return path
    return next((Path(candidate) for candidate in candidates if Path(candidate).exists()), None)


def find_chromium(*, environ: dict[str, str] | None = None) -> Path | None:
    """The Chromium executable to use: ``DIGITLIB_CHROMIUM``, a system one, or Playwright's."""
    found = _first_found(environ, "DIGITLIB_CHROMIUM", SYSTEM_CANDIDATES)
    if found is not None:
        return found
    for name in ("chromium", "chromium-browser"):
        on_path = shutil.which(name)
        if on_path:
            return Path(on_path)
    return _playwright_chromium()


def find_crowd_chromium(*, environ: dict[str, str] | None = None) -> Path | None:
    """The Chromium for a crowd of pages: ``DIGITLIB_CROWD_CHROMIUM``, Chromium's headless shell,
    else ``find_chromium()`` (see the module docstring)."""
    found = _first_found(environ, "DIGITLIB_CROWD_CHROMIUM", HEADLESS_SHELL_CANDIDATES)
    return found if found is not None else find_chromium(environ=environ)


def browser_version(path: Path) -> str:
    """What ``path --version`` prints (``"Chromium 156.0.8078.108 ..."``), or ``"unknown"``."""
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def missing_browser_message() -> str:
    return (
        "No Chromium found for the browser tests. Run `make chromium` (as root it installs Debian's "
        "`chromium` with apt-get; otherwise it runs `playwright install chromium`), or point "
        "DIGITLIB_CHROMIUM at a Chromium or Chrome executable."
    )


def install_chromium() -> Path:
    """Make sure a Chromium is there and return its path. As root with apt-get, Debian's
    ``chromium`` and ``chromium-headless-shell`` are installed when missing (the shell is only
    tried: without it the crowd runs in the full browser); otherwise, with no Chromium at all,
    ``playwright install chromium``."""
    found = find_chromium()
    has_shell = any(Path(candidate).exists() for candidate in HEADLESS_SHELL_CANDIDATES)
    if found is not None and has_shell:
        return found
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "--no-install-recommends"]
        subprocess.run(["apt-get", "update"], check=True, env=env)
        if found is None:
            subprocess.run([*install, "chromium"], check=True, env=env)
        if not has_shell:
            shell = subprocess.run([*install, "chromium-headless-shell"], check=False, env=env)
            if shell.returncode != 0:
                print(
                    "chromium-headless-shell did not install: the crowd runs in the full browser",
                    file=sys.stderr,
                )
    elif found is None:
        subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=True)
    found = find_chromium()
    if found is None:
        raise RuntimeError(missing_browser_message())
    return found
