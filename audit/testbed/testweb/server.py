"""Serve a built test web on loopback as an HTTP/1.1 forward proxy for all its hosts.

A crawler sends ``GET http://www.lyon-actu.fr/path HTTP/1.1`` (absolute URI, as Scrapy does through
``request.meta["proxy"]``) and gets the answer of that virtual host; origin-form requests with a ``Host:`` header work
too. A person browsing ``http://127.0.0.1:<port>/`` gets an index page, and ``/_site/<host>/...`` serves that host's
pages with their links rewritten so that browsing works without a proxy.
"""

from __future__ import annotations

import argparse
import logging
import os
import posixpath
import re
import select
import subprocess
import sys
import threading
from collections.abc import Callable
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

from audit.testbed.testweb.build import TestWeb
from audit.testweb_marker import HEADER, VALUE

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
LOCAL_NAMES = {"127.0.0.1", "localhost", "::1", ""}
_ATTR = re.compile(r'\b(href|src|srcset|content|poster|background|data-src|data-original|data-lazy-src|'
                   r'data-srcset|data-lazy-srcset)="([^"]*)"')
READY_TIMEOUT = 30.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, web: TestWeb, address: tuple[str, int]) -> None:
        self.web = web
        self.www = web.www
        self.hosts: dict[str, dict[str, object]] = web.hosts
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "provaudit-testweb/1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    # --- routing ---
    def _serve(self, *, head: bool) -> None:
        target = self.path
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            host, path = (parts.hostname or "").lower(), parts.path or "/"
        else:
            host = (self.headers.get("Host") or "").lower()
            host = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0].lstrip("[")
            path = urlsplit(target).path or "/"
        if host in LOCAL_NAMES or host == self.server.server_address[0]:
            self._local(path, head)
        elif host in self.server.hosts:
            self._file(host, path, head)
        else:
            self._send(502, b"502 Bad Gateway: not a host of the test web\n", "text/plain; charset=utf-8", head)

    def _local(self, path: str, head: bool) -> None:
        if path == "/":
            self._send(200, self._index(), CONTENT_TYPES[".html"], head)
            return
        if path.startswith("/_site/"):
            host, _, rest = path[len("/_site/") :].partition("/")
            if host in self.server.hosts:
                self._file(host, "/" + rest, head, browse=True)
                return
        self._send(404, b"404 Not Found\n", "text/plain; charset=utf-8", head)

    def _file(self, host: str, path: str, head: bool, *, browse: bool = False) -> None:
        # Normalised as an absolute path, so that no "..", however written (../x, %2e%2e/, ..%2f), climbs out.
        clean = posixpath.normpath("/" + unquote(path).replace("\\", "/"))
        rel = clean.lstrip("/")
        root = (self.server.www / host).resolve()
        target = (root / rel).resolve() if rel and rel != "." else root
        if target != root and root not in target.parents:
            self._send(400, b"400 Bad Request\n", "text/plain; charset=utf-8", head)
            return
        if target.is_dir():
            if not path.endswith("/"):
                location = (f"/_site/{host}" if browse else "") + path + "/"
                self._send(301, b"", "text/plain; charset=utf-8", head, {"Location": location}, host)
                return
            target = target / "index.html"
        try:
            data = target.read_bytes()
        except OSError:
            self._send(404, b"<!DOCTYPE html><title>404</title><h1>Not Found</h1>\n", CONTENT_TYPES[".html"], head,
                       host=host)
            return
        ctype = CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream")
        if browse and target.suffix == ".html":
            data = self._rewrite(host, data)
        self._send(200, data, ctype, head, host=host)

    # --- helpers ---
    def _send(self, status: int, body: bytes, ctype: str, head: bool, extra: dict[str, str] | None = None,
              host: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        # every response says it is synthetic (audit.testweb_marker): a store that records it is marked test web
        self.send_header(HEADER, VALUE)
        if host is not None:
            tag = self.server.hosts[host].get("x_robots_tag")
            if tag:
                self.send_header("X-Robots-Tag", str(tag))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _rewrite(self, host: str, data: bytes) -> bytes:
        hosts = self.server.hosts

        def one(url: str) -> str:
            if url.startswith("http://") or url.startswith("//"):
                h, _, rest = url.split("//", 1)[1].partition("/")
                return f"/_site/{h}/{rest}" if h in hosts else url
            if url.startswith("/"):
                return f"/_site/{host}{url}"
            return url

        def attr(m: re.Match[str]) -> str:
            name, value = m.group(1), m.group(2)
            if name.endswith("srcset"):
                value = ", ".join(" ".join([one(c.split()[0])] + c.split()[1:]) for c in value.split(", ") if c)
            else:
                value = one(value)
            return f'{name}="{value}"'

        return _ATTR.sub(attr, data.decode("utf-8")).encode("utf-8")

    def _index(self) -> bytes:
        rows = []
        for host, info in sorted(self.server.hosts.items(), key=lambda kv: (str(kv[1]["kind"]), kv[0])):
            link = f'<a href="/_site/{escape(host)}/">{escape(host)}</a>' if info["kind"] not in ("cdn", "static") \
                else escape(host)
            rows.append(f"<tr><td>{link}</td><td>{escape(str(info['country'] or '—'))}</td>"
                        f"<td>{escape(str(info['kind']))}</td><td>{escape(str(info['lang'] or '—'))}</td></tr>")
        web = self.server.web
        html = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>provaudit test web</title></head>'
            f"<body><h1>provaudit test web</h1><p>{web.photos} photos, seed {web.seed}: {web.image_urls} image URLs, "
            f"{web.sightings} sightings. Use this server as an HTTP proxy to see the real host names.</p>"
            "<table><tr><th>host</th><th>country</th><th>kind</th><th>lang</th></tr>"
            + "".join(rows)
            + "</table></body></html>\n"
        )
        return html.encode("utf-8")


def serve_forever(web: TestWeb, host: str, port: int, ready: Callable[[int], None] | None = None) -> None:
    """Serve ``web`` in the foreground until interrupted; ``ready(port)`` is called once connections are accepted."""
    server = _Server(web, (host, port))
    try:
        bound = int(server.server_address[1])
        logger.info("test web %s served on http://%s:%d/ (proxy for %d hosts)", web.root, host, bound,
                    len(server.hosts))
        if ready is not None:
            ready(bound)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


class TestWebServer:
    """Run the test-web proxy in a child process (so the crawler keeps its own core) for the life of a ``with``."""

    __test__ = False  # not a pytest test class

    def __init__(self, web: TestWeb, host: str = "127.0.0.1", port: int = 0) -> None:
        self.web = web
        self.host = host
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def proxy_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs (e.g. to measure its CPU), else None."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def __enter__(self) -> TestWebServer:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-c", "from audit.testbed.testweb.server import main; main()",
               "--root", str(self.web.root),
               "--host", self.host, "--port", str(self.port), "--ready-fd", str(write_fd)]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, pass_fds=(write_fd,), env=env)
        finally:
            os.close(write_fd)
        try:
            port = self._wait_ready(read_fd)
        except BaseException:
            self._stop()
            raise
        finally:
            os.close(read_fd)
        self.port = port
        logger.debug("test web server pid %d on %s", self._proc.pid, self.proxy_url)
        return self

    def _wait_ready(self, fd: int) -> int:
        buf = b""
        while not buf.endswith(b"\n"):
            readable, _, _ = select.select([fd], [], [], READY_TIMEOUT)
            chunk = os.read(fd, 64) if readable else b""
            if not chunk:
                raise RuntimeError("the test web server did not start (see its log above)")
            buf += chunk
        return int(buf.strip())

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the child also exits on EOF of stdin, should we die before reaching here
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop()


def _watch_parent() -> None:
    """Exit when our stdin reaches EOF: the parent that started us is gone."""
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child process (also usable as ``python -m audit.testbed.testweb.server --root DIR``)."""
    parser = argparse.ArgumentParser(description="Serve a built provaudit test web (child process).")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default=0, type=int)
    parser.add_argument("--ready-fd", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    web = TestWeb.load(args.root)
    ready: Callable[[int], None] | None = None
    if args.ready_fd is not None:
        fd = args.ready_fd

        def _ready(port: int) -> None:
            os.write(fd, f"{port}\n".encode())
            os.close(fd)

        ready = _ready
        threading.Thread(target=_watch_parent, daemon=True).start()
    serve_forever(web, args.host, args.port, ready)


if __name__ == "__main__":
    main()
