"""Printing the HTML outputs: a print stylesheet every page shares (:func:`print_css`: no navigation, a page break
before each section, table rows and charts never split, charts that fit the page, and on every printed page the
store's SHA-256 and the page number, from CSS page-margin boxes), and :func:`write_pdf`, which prints a page to PDF
through the system's headless Chromium (``AUDIT_RENDER_BROWSER``, the browser the rendered crawl uses).

The browser runs with no network (the pages hold no remote resource, and their Content-Security-Policy forbids one),
no scripts to run (the pages have none), a fresh throw-away profile, and a time bound.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
from pathlib import Path

from audit.crawl.render import CHROMIUM_ARGS
from audit.errors import PdfError

logger = logging.getLogger(__name__)

_SAFE = re.compile(r"[^0-9A-Za-z .,:;_()/+\u2014-]")
DEFAULT_PDF_TIMEOUT = 120.0
CHROMIUM_PRINT_ARGS = (
    "--headless",
    *CHROMIUM_ARGS,  # the rendered crawl's quiet, sandbox-less, GPU-less Chromium
    "--disable-extensions",
    "--disable-javascript",
    "--proxy-server=127.0.0.1:9",  # nothing may be fetched: a proxy that answers nothing
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)


def _css_string(text: str) -> str:
    """``text`` as a CSS string: only plain characters kept (a hash, a country code, a file name)."""
    return '"' + _SAFE.sub("_", text)[:160] + '"'


def print_css(footer: str, banner: str | None = None) -> str:
    """The print stylesheet; ``footer`` (e.g. ``store SHA-256 <hex>``) is printed at the bottom left of every page
    and "page N of M" at the bottom right. ``banner`` (the test-web warning) is printed at the top of every page, in
    the page's margin where it can hide nothing; the on-screen banner element (``.testweb-banner``) is then not
    printed a second time."""
    top = ""
    hide = ""
    if banner:
        top = (f"@top-center{{content:{_css_string(banner)};font:bold 9pt sans-serif;color:#5a4200;"
               "background:#fff3cd;border:1.5pt solid #b8860b;padding:1mm 3mm}")
        hide = ".testweb-banner{display:none!important}"
    return (
        "@page{size:A4;margin:16mm 12mm 16mm 12mm;"
        f"@bottom-left{{content:{_css_string(footer)};font:7pt monospace;color:#444}}"
        '@bottom-right{content:"page " counter(page) " of " counter(pages);font:8pt sans-serif;color:#444}'
        f"{top}}}"
        f"@media print{{{hide}"
        "body{max-width:none;margin:0;padding:0;font-size:9.5pt}"
        "nav,.no-print{display:none!important}"
        "section{break-before:page}section:first-of-type{break-before:auto}"
        "h2,h3{break-after:avoid}"
        "tr,blockquote,.key,.sample,.verdict,svg,figure,li{break-inside:avoid}"
        "thead{display:table-header-group}"
        "table{font-size:8pt;max-width:100%}"
        "svg.chart,svg{max-width:100%;max-height:230mm;height:auto}"
        "a{color:inherit;text-decoration:none}"
        ".ev,code{word-break:break-all}"
        "}"
    )


def check_browser(browser: str) -> Path:
    """The Chromium executable at ``browser``, or :class:`PdfError` when there is none. A command that prints to PDF
    calls it before it builds its page, so that a missing browser fails it before it says it has started."""
    exe = Path(browser)
    if not exe.is_file():
        raise PdfError(f"--pdf needs Chromium at {browser} (AUDIT_RENDER_BROWSER), and there is none: install "
                       "Debian's package (`apt-get install chromium`, or `make browser`) or point "
                       "AUDIT_RENDER_BROWSER at one")
    return exe


def write_pdf(html_path: Path, pdf_path: Path, *, browser: str, timeout: float = DEFAULT_PDF_TIMEOUT) -> Path:
    """Print ``html_path`` to ``pdf_path`` with the headless Chromium at ``browser``; :class:`PdfError` when there is
    none, it fails, or it takes more than ``timeout`` seconds."""
    exe = check_browser(browser)
    src = Path(html_path).resolve()
    out = Path(pdf_path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="provaudit-pdf-") as profile:
        cmd = [str(exe), *CHROMIUM_PRINT_ARGS, f"--user-data-dir={profile}", f"--print-to-pdf={partial}",
               src.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            partial.unlink(missing_ok=True)
            raise PdfError(f"Chromium took more than {timeout:g} s to print {src.name}: no PDF written") from exc
        except OSError as exc:
            raise PdfError(f"cannot run Chromium at {browser}: {exc.strerror or exc}") from exc
    if proc.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PdfError(f"Chromium could not print {src.name} (exit {proc.returncode})"
                       + (f": {said[-1][:300]}" if said else ""))
    with partial.open("rb") as fh:
        if fh.read(5) != b"%PDF-":
            partial.unlink(missing_ok=True)
            raise PdfError(f"Chromium wrote something that is not a PDF for {src.name}")
    partial.replace(out)
    logger.info("printed %s to %s", src, out)
    return out
