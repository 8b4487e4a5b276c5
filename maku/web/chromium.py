"""Headless Debian Chromium under Playwright, for the browser tests and benchmarks.

Never downloads a browser: it drives the system's `chromium` (apt-get install -y chromium)
with a fresh profile and the flags that keep it from reaching the network on its own.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from maku.cli.serve import make_server
from maku.errors import MakuError

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def served(folder: str | Path) -> Iterator[str]:
    """Serves `folder` on a free local port (maku serve's server) and yields its URL."""
    server = make_server(folder, port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser_context(extra_args: tuple[str, ...] = ()):
    """A Playwright browser context of headless system Chromium with a throwaway profile."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise MakuError("the browser tools need Playwright: pip install playwright (no browser download)") from None
    executable = chromium_path()
    if executable is None:
        raise MakuError("Chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="maku-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield context
        finally:
            context.close()
