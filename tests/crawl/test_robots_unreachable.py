"""A crawled store whose robots.txt could not be read: the audit counts it as a complete disallow (RFC 9309)."""

from __future__ import annotations

from audit.signals.consent import DEFAULT_AGENTS


def test_the_audit_counts_an_unreachable_robots_txt_as_a_complete_disallow(crawled, tmp_path) -> None:
    """A crawled store whose robots.txt rows for two hosts say the file was unreachable (as an
    ``AUDIT_ROBOTS_UNREACHABLE=allow`` crawl records them: one 503, one that never answered): every image seen on
    their pages gets a ``robots_txt`` disallow for every agent, saying why, in the set-wise audit (``provaudit
    audit``) and the row-by-row reference alike."""
    import re
    import shutil

    from audit.derive.reference import reference_audit
    from audit.store.db import Store
    from conftest import provaudit

    db = tmp_path / "unreachable.duckdb"
    shutil.copy(crawled[0], db)
    with Store.open(db) as store:
        hosts = [h for (h,) in store.query(
            "SELECT hp.host FROM host_policies hp JOIN sightings s ON s.page_host = hp.host AND s.sha256 IS NOT NULL "
            "WHERE hp.kind = 'robots.txt' AND hp.status = 200 GROUP BY 1 ORDER BY count(*) DESC LIMIT 2")]
        assert len(hosts) == 2
        store.con.execute("UPDATE host_policies SET status = 503, body = 'busy' WHERE kind = 'robots.txt' "
                          "AND host = ?", [hosts[0]])
        store.con.execute("UPDATE host_policies SET status = NULL, body = NULL, error = 'DNSLookupError: no such "
                          "host' WHERE kind = 'robots.txt' AND host = ?", [hosts[1]])
    provaudit("audit", "--db", str(db))
    keys = ("sighting_id", "sha256", "kind", "value", "applies_to", "evidence")
    with Store.open(db, read_only=True) as store:
        audited = {tuple(r) for r in store.query(f"SELECT {', '.join(keys)} FROM opt_outs")}
        sightings = dict(store.query("SELECT sighting_id, page_host FROM sightings WHERE sha256 IS NOT NULL "
                                     "AND page_host IN (?, ?)", hosts))
        _, reference = reference_audit(store)
    assert audited == {tuple(r[k] for k in keys) for r in reference["opt_outs"]}
    why = {hosts[0]: "HTTP 503", hosts[1]: "DNSLookupError: no such host"}
    assert sightings and set(sightings.values()) == set(hosts)
    for sighting in sightings:
        rows = [r for r in audited if r[0] == sighting and r[2] == "robots_txt" and r[3] == "disallow"]
        assert {r[4] for r in rows} == set(DEFAULT_AGENTS), sighting
        # one row per agent: the page host's complete disallow, or the image host's own rule for that agent
        unreachable = [r for r in rows if r[5].startswith("robots.txt unreachable")]
        reasons = "|".join(re.escape(w) for w in why.values())  # the image may be on the other host
        assert unreachable and all(re.fullmatch(rf"robots\.txt unreachable \(({reasons})\), so a complete "
                                                rf"disallow for {re.escape(r[4])} \(RFC 9309 2\.3\.1\.4\)", r[5])
                                   for r in unreachable), unreachable
