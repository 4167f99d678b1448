"""The project's Scrapy settings: what they turn off is checked here instead."""

from __future__ import annotations

import inspect

from scrapy.utils.misc import is_generator_with_return_value

from audit.crawl.fetch import FetchSpider
from audit.crawl.run import project_settings
from audit.crawl.spider import ProvenanceSpider
from spiders.provenance import ProvenanceSpider as ProjectSpider


def test_no_callback_is_a_generator_returning_a_value():
    """spiders/settings.py turns off Scrapy's per-response check (WARN_ON_GENERATOR_RETURN_VALUE): it is done once,
    here, on every generator method of our spiders (a `return value` in one would silently drop the value)."""
    assert project_settings().getbool("WARN_ON_GENERATOR_RETURN_VALUE") is False
    checked = 0
    # the classes' own namespaces, not inspect.getmembers: reading a class's __annotations__ creates it, and another
    # test checks that the entry-point spider defines nothing of its own
    for cls in {k for spider in (ProvenanceSpider, FetchSpider, ProjectSpider) for k in spider.__mro__}:
        for name, fn in vars(cls).items():
            if inspect.isgeneratorfunction(fn):
                checked += 1
                assert not is_generator_with_return_value(fn), f"{cls.__name__}.{name}"
    assert checked >= 3
