"""The rendered crawl's settings, read once at the edge (audit.crawl.render): pure, no browser."""

from __future__ import annotations

import pytest
from scrapy.settings import Settings

from audit.crawl.render import CHROMIUM_ARGS, HANDLER, RenderOptions, check_browser, configure_render, launch_options
from audit.errors import AuditError, RenderError


def test_the_proxy_is_the_crawls_else_the_environments():
    explicit = RenderOptions.from_settings(Settings({"AUDIT_PROXY": "http://127.0.0.1:8080"}),
                                           {"http_proxy": "http://env:3128", "no_proxy": "localhost"})
    assert explicit.proxy == "http://127.0.0.1:8080" and explicit.proxy_bypass is None  # like ProxyMiddleware
    env = RenderOptions.from_settings(Settings(), {"http_proxy": "http://env:3128", "no_proxy": "localhost,.lan"})
    assert env.proxy == "http://env:3128" and env.proxy_bypass == "localhost,.lan"
    assert launch_options(env)["proxy"] == {"server": "http://env:3128", "bypass": "localhost,.lan"}
    none = RenderOptions.from_settings(Settings(), {})
    assert none.proxy is None and "proxy" not in launch_options(none)


def test_settings_are_read_and_bounded():
    options = RenderOptions.from_settings(Settings({"AUDIT_RENDER_SCROLLS": -2, "AUDIT_RENDER_PAGES_PER_CONTEXT": 0,
                                                    "AUDIT_RENDER_TIMEOUT": "12.5",
                                                    "AUDIT_RENDER_BROWSER": "/opt/chromium"}), {})
    assert (options.scrolls, options.pages_per_context, options.timeout, options.browser) == (0, 1, 12.5,
                                                                                               "/opt/chromium")
    launch = launch_options(options)
    assert launch["executable_path"] == "/opt/chromium" and launch["timeout"] == 12500
    assert launch["args"] == list(CHROMIUM_ARGS)


def test_a_missing_browser_is_a_render_error(tmp_path):
    with pytest.raises(RenderError, match="AUDIT_RENDER_BROWSER") as caught:
        check_browser(str(tmp_path / "chromium"))
    assert isinstance(caught.value, AuditError)
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    with pytest.raises(RenderError):
        check_browser(str(not_executable))


def test_configure_render_routes_through_scrapy_playwright_and_keeps_a_users_own(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    settings = Settings({"AUDIT_RENDER_BROWSER": str(browser), "DOWNLOAD_HANDLERS": {"ftp": None},
                         "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 5000})
    configure_render(settings)
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    assert handlers["http"] == handlers["https"] == HANDLER and handlers["ftp"] is None
    assert settings.get("PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT") == 5000  # the user's, not ours
    assert settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")["executable_path"] == str(browser)
    assert settings.get("PLAYWRIGHT_ABORT_REQUEST") is not None
