"""A crawler-trap web on loopback, for tests and benchmarks: three sites whose links never run out.

    with TrapWeb() as web:
        provaudit crawl *web.start_urls --no-throttle ...

- ``explode`` (127.0.0.1): every page links 10,000 new pages (``/x/<page>-<i>``), each of which does the same.
- ``calendar`` (127.0.0.2): a calendar page per day (``/cal?date=YYYY-MM-DD``) linking every day of its month and
  the same day of the months and years before and after, forever in both directions.
- ``repeat`` (127.0.0.3): ``/a/`` links ``b/``, which links ``a/``...: ``/a/b/a/b/a/b/...`` without end.

Each site lives on its own loopback address, so that a crawl's per-host bounds apply to each trap apart. Responses
are generated from the path; nothing is stored, and the servers count the pages they served.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

LINKS_PER_PAGE = 10_000
_START_DAY = dt.date(2024, 6, 15)


def _html(body: str) -> bytes:
    return f"<!doctype html><html lang='en'><head><title>trap</title></head><body>{body}</body></html>".encode()


def explode_page(path: str, links: int = LINKS_PER_PAGE) -> bytes:
    name = path.rstrip("/").rsplit("/", 1)[-1] or "root"
    return _html("".join(f'<a href="/x/{name}-{i}">{i}</a> ' for i in range(links)))


def _shift(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        return day
    return dt.date(year, month + 1, min(day.day, 28))


def calendar_page(path: str) -> bytes:
    try:
        day = dt.date.fromisoformat(parse_qs(urlsplit(path).query).get("date", [""])[0])
    except ValueError:
        day = _START_DAY
    first = day.replace(day=1)
    month = [first + dt.timedelta(days=i) for i in range(31) if (first + dt.timedelta(days=i)).month == first.month]
    around = [_shift(day, m) for m in (-12, -1, 1, 12)]
    return _html("".join(f'<a href="/cal?date={d.isoformat()}">{d.isoformat()}</a> ' for d in [*month, *around]))


def repeat_page(path: str) -> bytes:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return _html(f'<a href="{"b" if last == "a" else "a"}/">deeper</a> <img src="/logo.png" alt="logo">')


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: str, page: str, links: int = LINKS_PER_PAGE) -> None:
        site = self
        self.served: Counter[str] = Counter()
        self._lock = threading.Lock()
        pages = {"explode": lambda path: explode_page(path, links), "calendar": calendar_page, "repeat": repeat_page}
        make = pages[page]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                path = self.path
                if path == "/robots.txt":
                    status, ctype, body = 200, "text/plain", b"User-agent: *\nAllow: /\n"
                elif path.startswith("/.well-known/") or path.endswith(".png"):
                    status, ctype, body = 404, "text/plain", b"not found"
                else:
                    status, ctype, body = 200, "text/html; charset=utf-8", make(path)
                    with site._lock:
                        site.served["pages"] += 1
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__((address, 0), Handler)
        self.address = address

    @property
    def origin(self) -> str:
        return f"http://{self.address}:{self.server_address[1]}"


class TrapWeb:
    """The three trap sites, served from threads until :meth:`close`; ``links_per_page``: how many new links each
    page of ``explode`` has."""

    def __init__(self, links_per_page: int = LINKS_PER_PAGE) -> None:
        self.sites = {"explode": _Site("127.0.0.1", "explode", links_per_page),
                      "calendar": _Site("127.0.0.2", "calendar"),
                      "repeat": _Site("127.0.0.3", "repeat")}
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                                          name=f"trap-{name}") for name, s in self.sites.items()]
        for t in self._threads:
            t.start()

    @property
    def start_urls(self) -> list[str]:
        return [self.sites["explode"].origin + "/", f"{self.sites['calendar'].origin}/cal?date={_START_DAY}",
                self.sites["repeat"].origin + "/a/"]

    @property
    def pages_served(self) -> dict[str, int]:
        return {name: site.served["pages"] for name, site in self.sites.items()}

    def close(self) -> None:
        for site in self.sites.values():
            site.shutdown()
            site.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> TrapWeb:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
