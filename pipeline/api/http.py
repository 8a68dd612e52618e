"""What vpipe's two local pages (the `web` sink's live view, `vpipe review`) share: basic auth,
a quiet threaded server, replies that are never cached."""

from __future__ import annotations

import base64
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def basic_auth_ok(header: str | None, user: str | None, password: str | None) -> bool:
    """Whether an Authorization header carries `user` and `password` (anyone, without a user);
    compared in constant time."""
    if user is None:
        return True
    expected = base64.b64encode(f"{user}:{password}".encode()).decode()
    return header is not None and hmac.compare_digest(header.encode(), f"Basic {expected}".encode())


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a page left open never holds the process

    def handle_error(self, request, client_address) -> None:
        """Silent: a browser gone mid-reply is not the run's error, and a traceback on the
        terminal would interleave with its status line."""


class PageHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        """Silent: a request log on the terminal would interleave with the run's status line."""

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
