"""A fault-injecting web server on loopback, for tests: one site whose start page links to images and pages that
each fail in one way a crawler meets on the real web, next to good ones.

    with FaultyWeb() as web:
        provaudit crawl web.start_url --allowed-domain 127.0.0.1 -s DOWNLOAD_TIMEOUT=2 ...
        web.requests["/img/status-500.jpg"]   # how many times the crawler asked for it

Three origins on ``127.0.0.1`` (three ports): the main site, whose ``robots.txt`` disallows ``/private/``, a second
site whose ``robots.txt`` answers 500 and a third whose ``robots.txt`` resets the connection; the start page links to
a page with one good image on each of the other two. Every request is counted per origin and path
(``FaultyWeb.requests`` for the main site, ``other_requests`` and ``reset_requests`` for the others), so a test can
check that retries are bounded.

:data:`IMAGE_FAULTS` and :data:`PAGE_FAULTS` say, per path, what is wrong with it; a handler that hangs (timeouts,
slow drips) gives up when the server stops, so closing the server never waits for them.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

HANG_SECONDS = 60.0  # a hanging handler's own bound, should the server never be stopped

GOOD_IMAGES = ("/img/good-1.jpg", "/img/good-2.jpg", "/page/img/good-3.jpg")

# path -> what is wrong with it (every one of these is referenced by an <img> of the start page)
IMAGE_FAULTS: dict[str, str] = {
    "/img/status-404.jpg": "HTTP 404",
    "/img/status-410.jpg": "HTTP 410",
    "/img/status-500.jpg": "HTTP 500",
    "/img/status-503.jpg": "HTTP 503",
    "/img/timeout.jpg": "never answers",
    "/img/reset.jpg": "connection reset (RST) mid-body",
    "/img/truncated.jpg": "Content-Length larger than the body, then the connection is closed",
    "/img/no-type.jpg": "a JPEG with no Content-Type",
    "/img/wrong-type.jpg": "a JPEG served as text/plain",
    "/img/as-html.jpg": "a JPEG served as text/html",
    "/img/html-body.jpg": "an HTML page served as image/jpeg",
    "/img/loop-a.jpg": "redirect loop (a -> b -> a)",
    "/img/chain-0.jpg": "redirect chain longer than REDIRECT_MAX_TIMES",
    "/img/moved.jpg": "redirects to /img/good-1.jpg, an image the page also references",
    "/img/huge.jpg": "larger than the size limit, with Content-Length",
    "/img/huge-unsized.jpg": "larger than the size limit, no Content-Length (read until close)",
    "/img/slow.jpg": "slow drip: a few bytes a second, never done within DOWNLOAD_TIMEOUT",
    "/private/secret.jpg": "disallowed by robots.txt",
}
# path -> what is wrong with it (every one of these is an <a href> of the start page)
PAGE_FAULTS: dict[str, str] = {
    "/page/status-404.html": "HTTP 404",
    "/page/status-500.html": "HTTP 500",
    "/page/timeout.html": "never answers",
    "/page/reset.html": "connection reset (RST) mid-body",
    "/page/as-image.html": "an HTML page served as image/jpeg",
    "/page/loop-a.html": "redirect loop (a -> b -> a)",
    "/page/chain-0.html": "redirect chain longer than REDIRECT_MAX_TIMES",
    "/private/page.html": "disallowed by robots.txt",
}
CHAIN_LENGTH = 25  # redirects before the chain ends (Scrapy's REDIRECT_MAX_TIMES is 20)
SIZE_LIMIT_HINT = 100_000  # the huge responses are 3x this; crawl with AUDIT_MAX_IMAGE_BYTES <= this
DRIP_INTERVAL = 0.25


def jpeg(seed: int, size: int = 96) -> bytes:
    """A small real JPEG, distinct per seed."""
    from PIL import Image

    img = Image.new("RGB", (size, size), ((seed * 70) % 256, (seed * 130) % 256, (seed * 40) % 256))
    for x in range(0, size, 8):
        for y in range(0, size, 8):
            if (x // 8 + y // 8 + seed) % 3 == 0:
                img.paste((255 - seed * 20 % 256, x * 2 % 256, y * 2 % 256), (x, y, x + 8, y + 8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _page(title: str, body: str) -> bytes:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body>{body}</body></html>").encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, robots: str) -> None:
        self.robots = robots
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.other_origins: list[str] = []
        self.images = {"/img/good-1.jpg": jpeg(1), "/img/good-2.jpg": jpeg(2), "/page/img/good-3.jpg": jpeg(3),
                       "/b/img/good-b.jpg": jpeg(10 if robots == "reset" else 4), "any": jpeg(5, size=160)}
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that give up (timeouts, cancelled downloads) reset their connections: expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "provaudit-faults/1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    # -- helpers -----------------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str | None = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", headers={"Location": location})

    def _hang(self) -> None:
        """Never answer (until the server stops)."""
        self.close_connection = True
        self.server.stopping.wait(HANG_SECONDS)

    def _reset(self, ctype: str) -> None:
        """Headers and part of the body, then a TCP reset."""
        body = self.server.images["any"]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 3])
        self.wfile.flush()
        time.sleep(0.05)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _drip(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.close_connection = True
        deadline = time.monotonic() + HANG_SECONDS
        for i in range(0, len(body), 16):
            if self.server.stopping.wait(DRIP_INTERVAL) or time.monotonic() > deadline:
                return
            try:
                self.wfile.write(body[i:i + 16])
                self.wfile.flush()
            except OSError:
                return

    # -- routes ------------------------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.requests[path] += 1
        try:
            self._route(path)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, path: str) -> None:
        srv = self.server
        images = srv.images
        if path == "/robots.txt":
            if srv.robots == "error":
                self._send(500, b"internal error", "text/plain")
            elif srv.robots == "reset":
                self._reset("text/plain")
            else:
                self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        elif path == "/":
            imgs = "".join(f'<img src="{p}" alt="{p}">' for p in (*GOOD_IMAGES[:2], *IMAGE_FAULTS))
            links = "".join(f'<a href="{p}">{p}</a>' for p in ("/page/good.html", *PAGE_FAULTS))
            links += "".join(f'<a href="{o}/b/">another site</a>' for o in srv.other_origins)
            self._send(200, _page("faults", imgs + links))
        elif path == "/page/good.html":
            self._send(200, _page("good", '<img src="img/good-3.jpg" alt="good three">'))
        elif path == "/b/":
            self._send(200, _page("other site", '<img src="img/good-b.jpg" alt="good b">'))
        elif path in images:
            self._send(200, images[path], "image/jpeg")
        elif path.startswith(("/img/status-", "/page/status-")):
            status = int(path.rsplit("-", 1)[1].split(".")[0])
            self._send(status, _page(str(status), f"<p>error {status}</p>"))
        elif path in ("/img/timeout.jpg", "/page/timeout.html"):
            self._hang()
        elif path == "/img/reset.jpg":
            self._reset("image/jpeg")
        elif path == "/page/reset.html":
            self._reset("text/html")
        elif path == "/img/truncated.jpg":
            body = images["any"]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body) + 5000))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        elif path == "/img/no-type.jpg":
            self._send(200, jpeg(6), None)
        elif path == "/img/wrong-type.jpg":
            self._send(200, jpeg(7), "text/plain")
        elif path == "/img/as-html.jpg":
            self._send(200, jpeg(8), "text/html; charset=utf-8")
        elif path in ("/img/html-body.jpg", "/page/as-image.html"):
            self._send(200, _page("not an image", "<p>I am HTML</p>"), "image/jpeg")
        elif path in ("/img/loop-a.jpg", "/img/loop-b.jpg", "/page/loop-a.html", "/page/loop-b.html"):
            self._redirect(path.replace("-a.", "-X.").replace("-b.", "-a.").replace("-X.", "-b."))
        elif path == "/img/moved.jpg":
            self._redirect("/img/good-1.jpg")
        elif path.startswith(("/img/chain-", "/page/chain-")):
            n = int(path.rsplit("-", 1)[1].split(".")[0])
            if n >= CHAIN_LENGTH:
                if path.startswith("/img/"):
                    self._send(200, jpeg(9), "image/jpeg")
                else:
                    self._send(200, _page("end of chain", "<p>end</p>"))
            else:
                self._redirect(path.replace(f"-{n}.", f"-{n + 1}."))
        elif path == "/img/huge.jpg":
            self._send(200, images["any"] + b"\0" * (3 * SIZE_LIMIT_HINT), "image/jpeg")
        elif path == "/img/huge-unsized.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(images["any"])
            for _ in range(30):
                self.wfile.write(b"\0" * (SIZE_LIMIT_HINT // 10))
        elif path == "/img/slow.jpg":
            self._drip(images["any"])
        elif path.startswith("/private/"):
            self._send(200, images["any"] if path.endswith(".jpg") else _page("private", "<p>secret</p>"),
                       "image/jpeg" if path.endswith(".jpg") else "text/html; charset=utf-8")
        else:
            self._send(404, _page("404", "<p>not found</p>"))


class FaultyWeb:
    """The two fault-injecting origins, served from threads until :meth:`close`."""

    def __init__(self) -> None:
        self._main = _Server(robots="disallow")
        self._other = _Server(robots="error")
        self._reset_robots = _Server(robots="reset")
        self._servers = (self._main, self._other, self._reset_robots)
        self._main.other_origins = [self._other.origin, self._reset_robots.origin]
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                                          name=f"faults-{s.server_address[1]}") for s in self._servers]
        for t in self._threads:
            t.start()

    @property
    def origin(self) -> str:
        return self._main.origin

    @property
    def other_origin(self) -> str:
        """The site whose robots.txt answers 500."""
        return self._other.origin

    @property
    def reset_origin(self) -> str:
        """The site whose robots.txt resets the connection."""
        return self._reset_robots.origin

    @property
    def start_url(self) -> str:
        return self.origin + "/"

    @property
    def requests(self) -> Counter[str]:
        """Requests received by the main site, per path."""
        with self._main.lock:
            return Counter(self._main.requests)

    @property
    def other_requests(self) -> Counter[str]:
        with self._other.lock:
            return Counter(self._other.requests)

    @property
    def reset_requests(self) -> Counter[str]:
        with self._reset_robots.lock:
            return Counter(self._reset_robots.requests)

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        for s in self._servers:
            s.stopping.set()
            s.shutdown()
            s.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> FaultyWeb:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
