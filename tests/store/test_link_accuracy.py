"""Page -> image link recall and precision of the ingest against the independent reference parser
(``tests/refparser.py``) on real archives nobody here made: a crawl of iana.org with 123 revisits, a 2008 crawl as ARC,
a wget crawl of archive.org with pages captured twice, and a Common Crawl capture of a Wikipedia article (whose
links to ``File:…jpg`` description pages are no images). Both must be at least 99%, every revisit whose original is
in the file resolved. ``bench/link_accuracy.py`` runs the same over every archive of the corpora."""

from __future__ import annotations

import pytest
from linkcheck import check

ARCHIVES = {
    "iana": "warc/pywb/iana.warc.gz",
    "blackbook-arc": "warc/ukwa-small/IAH-20080430204825-00000-blackbook-truncated.arc.gz",
    "archive.org-wget": "warc/ukwa-small/IAH-urls-wget.warc.gz",
    "common-crawl": "datasets/common-crawl/whirlwind.warc.gz",
}
MIN_PAIRS = {"iana": 40, "blackbook-arc": 15, "archive.org-wget": 15, "common-crawl": 35}


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_link_recall_and_precision(corpora, tmp_path, name):
    c = check(name, [corpora / ARCHIVES[name]], tmp_path)
    assert c.reference_pairs >= MIN_PAIRS[name], c  # the comparison is not vacuous
    assert not c.reference_unreadable and not c.pages_reference_only and not c.pages_production_only
    assert c.recall >= 0.99, c.missed[:10]
    assert c.precision >= 0.99, c.extra[:10]
    assert c.revisits_resolved == c.revisits_in_reach == c.revisits
    if name == "common-crawl":  # the link to the image's File: description page (HTML) was once a sighting
        assert c.extra == []

