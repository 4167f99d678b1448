"""A deterministic, seeded web of ~30 sites across countries, served on loopback, with a ground-truth file.

``build_web`` generates it on disk; ``TestWebServer`` serves it as an HTTP forward proxy for all its hosts.
"""

from __future__ import annotations

from audit.testbed.testweb.build import TestWeb, build_web
from audit.testbed.testweb.server import TestWebServer, serve_forever

__all__ = ["TestWeb", "TestWebServer", "build_web", "serve_forever"]
