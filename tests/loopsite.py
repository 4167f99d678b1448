"""A generated web site on a loopback port for crawl tests: a function of the request path gives each response."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[str], tuple[int, str, bytes]]  # path (with query) -> status, content type, body


class LoopSite(ThreadingHTTPServer):
    """Serves ``route(path)`` on ``host`` (a loopback address) until closed; counts the requests it answered and keeps
    their paths."""

    daemon_threads = True

    def __init__(self, route: Route, host: str = "127.0.0.1") -> None:
        site = self
        self.requests = 0
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with site._lock:
                    site.requests += 1
                    site.paths.append(self.path)
                status, ctype, body = route(self.path)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.paths: list[str] = []
        super().__init__((host, 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> LoopSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
