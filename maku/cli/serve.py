"""`maku serve DIR`: serve a folder made by `maku build --target web` on this machine.

Binds 127.0.0.1 by default (use --host to share it), sends .wasm as application/wasm (which
WebAssembly.instantiateStreaming requires) and the cross-origin isolation headers (COOP/COEP)
that multi-threaded WebAssembly needs for SharedArrayBuffer.
"""

from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from maku.errors import InputError

HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files with the right types for a maku site and the isolation headers."""

    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".maku": "application/octet-stream",
    }

    def end_headers(self) -> None:
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)


def make_server(root: str | Path, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False) -> ThreadingHTTPServer:
    """An HTTP server for `root` (port 0: any free port; see server.server_address)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder (build one with maku build MODEL --target web -o {root})")
    server = ThreadingHTTPServer((host, port), functools.partial(SiteHandler, directory=str(root)))
    server.quiet = quiet
    return server


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="serve a web build locally", description=__doc__)
    p.add_argument("folder", help="a folder made by maku build --target web")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")


def run(args: argparse.Namespace) -> int:
    try:
        server = make_server(args.folder, args.host, args.port)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    host, port = server.server_address[:2]
    print(f"serving {args.folder} at http://{host}:{port}/  (Ctrl-C to stop)")
    with server:
        server.serve_forever()
    return 0
