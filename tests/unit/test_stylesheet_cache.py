from __future__ import annotations

import datetime as dt

from audit.crawl.stylesheets import StylesheetCache

T = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
A, B, C = "http://s.example/a.css", "http://s.example/b.css", "http://s.example/c.css"


def _pairs(refs):
    return {(r.page_url, r.image_url, r.attributes["stylesheet"], r.ref_kind) for r in refs}


def test_a_stylesheet_is_requested_once_and_every_page_gets_its_images():
    cache = StylesheetCache()
    assert cache.link(A, "http://p/1", T) == ([A], [])  # first page: fetch it
    assert cache.link(A, "http://p/2", T) == ([], [])  # in flight: the page waits
    requests, refs = cache.fetched(A, ("http://i/bg.jpg",), ())
    assert requests == []
    assert _pairs(refs) == {("http://p/1", "http://i/bg.jpg", A, "stylesheet"),
                            ("http://p/2", "http://i/bg.jpg", A, "stylesheet")}
    requests, refs = cache.link(A, "http://p/3", T)  # fetched before: no request, its images at once
    assert requests == [] and _pairs(refs) == {("http://p/3", "http://i/bg.jpg", A, "stylesheet")}
    assert cache.linked == 3


def test_imports_are_followed_one_level_and_a_loop_ends():
    cache = StylesheetCache()
    cache.link(A, "http://p/1", T)
    requests, refs = cache.fetched(A, ("http://i/a.jpg",), (B,))
    assert requests == [B] and _pairs(refs) == {("http://p/1", "http://i/a.jpg", A, "stylesheet")}
    requests, refs = cache.fetched(B, ("http://i/b.jpg",), (A, C))  # b imports a (a loop) and c (two levels)
    assert requests == [] and _pairs(refs) == {("http://p/1", "http://i/b.jpg", B, "stylesheet")}
    requests, refs = cache.link(A, "http://p/2", T)  # a later page: a's images and b's, c never requested
    assert requests == []
    assert {(p, i) for p, i, _, _ in _pairs(refs)} == {("http://p/2", "http://i/a.jpg"), ("http://p/2", "http://i/b.jpg")}


def test_a_failed_stylesheet_links_nothing_and_the_bounds_hold():
    cache = StylesheetCache(max_entries=1, max_waiting=1)
    cache.link(A, "http://p/1", T)
    cache.link(A, "http://p/2", T)  # past max_waiting
    assert cache.link(B, "http://p/1", T) == ([], [])  # past max_entries: not requested
    assert cache.fetched(A) == ([], [])
    assert cache.link(A, "http://p/3", T) == ([], [])  # known to have failed: not requested again
    assert cache.dropped == 2


def test_the_pages_a_request_carries_are_linked_by_a_cache_that_never_saw_them():
    first = StylesheetCache()  # the worker whose page linked the stylesheet
    assert first.link(A, "http://p/1", T) == ([A], [])
    carried = first.waiting(A)
    assert carried == [("http://p/1", T, 0)]
    other = StylesheetCache()  # a shared crawl's other worker, which took the request
    _, refs = other.fetched(A, ("http://i/bg.jpg",), (), carried)
    assert _pairs(refs) == {("http://p/1", "http://i/bg.jpg", A, "stylesheet")}
    _, refs = first.fetched(A, ("http://i/bg.jpg",), (), carried)  # the same worker: the page is linked once
    assert len(refs) == 1
