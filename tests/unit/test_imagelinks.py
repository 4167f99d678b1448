"""ImageLinks: ``<a href>`` links held back until the archives say whether an image is there; bounded."""

from __future__ import annotations

import datetime as dt

from audit.ingest.imagelinks import ImageLinks
from audit.records import ImageFetch, ImageRef, PageItem

WHEN = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
PAGE = "https://an.example.org/wiki/E"


def _link(url: str) -> ImageRef:
    return ImageRef(page_url=PAGE, image_url=url, ref_kind="link", fetched_at=WHEN)


def test_links_wait_for_the_images_of_later_records():
    links = ImageLinks()
    page = [PageItem(url=PAGE, status=200, fetched_at=WHEN), ImageRef(page_url=PAGE, image_url="https://x/a.jpg"),
            _link("https://x/full.jpg"), _link("https://x/File:full.jpg")]
    assert list(links.hold(page)) == page[:2]  # the links are held
    image = ImageFetch(url="https://x/full.jpg", fetched_at=WHEN, status=200)
    assert list(links.hold([image])) == [image]
    assert list(links.release()) == [page[2]]
    assert (links.kept, links.not_images, links.unchecked, links.held) == (1, 1, 0, [])


def test_links_past_the_bound_pass_unchecked():
    links = ImageLinks(max_held=2)
    refs = [_link(f"https://x/{i}.jpg") for i in range(5)]
    assert list(links.hold(refs)) == refs[2:]
    assert list(links.release()) == []
    assert (links.kept, links.not_images, links.unchecked) == (0, 2, 3)
