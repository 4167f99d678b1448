"""The audit's set-wise statements stay within DuckDB's memory bound when what they carry is far larger than it.

A 10M-sighting audit ran out of its 2.5 GiB bound ("a query that cannot spill") while writing the opt-outs: their
de-duplication kept every evidence string in ``arg_min`` aggregate states, which DuckDB cannot spill to disk. Here
the same statements run on a store whose strings (evidence, page URLs) are several times DuckDB's bound, so that only
statements that spill can finish; the statements before the fix fail on these stores.
"""

from __future__ import annotations

from pathlib import Path

from audit.derive.sql import COPIES_SQL, FIRST_SIGHTINGS_SQL, OPT_OUTS_SQL
from audit.derive.units import OPT_OUT_FIELDS
from audit.schema import CLUSTERS, COPIES, O_FETCH, O_IMAGE, O_PAGE, O_ROBOTS, O_TDMREP
from audit.store.db import Store

BOUND = 100 * 1024**2  # DuckDB's memory for the statements under test
N = 30_000  # sightings (opt-outs) or images (copies)
LONG = 6_000  # characters of each evidence string / page URL: N * LONG is 1.7x to 3.6x the bound


def _seed(path: Path, sql: str) -> None:
    with Store.open(path) as store:
        store.con.execute(sql)


def _opt_out_tables(store: Store) -> None:
    fields = ", ".join(f"{name} {'INTEGER' if name == 'ord' else 'VARCHAR'}" for name, _ in OPT_OUT_FIELDS)
    for table, key in ((O_ROBOTS, "crawl_id VARCHAR, host VARCHAR, url VARCHAR"),
                       (O_TDMREP, "crawl_id VARCHAR, host VARCHAR, url VARCHAR"),
                       (O_FETCH, "crawl_id VARCHAR, url VARCHAR"), (O_PAGE, "crawl_id VARCHAR, url VARCHAR"),
                       (O_IMAGE, "sha256 VARCHAR")):
        store.con.execute(f"CREATE TEMP TABLE {table} ({key}, {fields})")


def test_opt_outs_with_evidence_larger_than_the_memory_bound(tmp_path: Path) -> None:
    """Each image URL is disallowed by its robots.txt (rank 1) and by its response's header (rank 4), with the same
    directive: one opt-out per sighting survives, with the evidence of the robots.txt rule (the reference's order),
    though the evidence strings add up to 3.6x the memory DuckDB may use."""
    path = tmp_path / "store.duckdb"
    _seed(path, f"""
        INSERT INTO sightings (sighting_id, crawl_id, sha256, image_url, image_host, page_url, page_host)
        SELECT 's' || i, 'c', sha256(i::VARCHAR), 'http://h' || (i % 50) || '.example/img/' || i || '.jpg',
               'h' || (i % 50) || '.example', 'http://p.example/' || (i // 2), 'p.example'
        FROM range({N}) t(i)""")
    with Store.open(path, memory=BOUND, options={"preserve_insertion_order": False}) as store:
        _opt_out_tables(store)
        store.con.execute(f"""INSERT INTO {O_ROBOTS} (crawl_id, host, url, ord, kind, value, applies_to, evidence)
            SELECT crawl_id, image_host, image_url, 10000, 'robots', 'disallow', 'images',
                   'robots:' || sighting_id || ':' || repeat('x', {LONG}) FROM sightings""")
        store.con.execute(f"""INSERT INTO {O_FETCH} (crawl_id, url, ord, kind, value, applies_to, evidence)
            SELECT crawl_id, image_url, 40000, 'robots', 'disallow', 'images',
                   'header:' || sighting_id || ':' || repeat('y', {LONG}) FROM sightings""")
        for sql in OPT_OUTS_SQL:
            store.con.execute(sql)
        rows = store.query("SELECT count(*), count(DISTINCT sighting_id), "
                           "count(*) FILTER (WHERE evidence = 'robots:' || sighting_id || ':' || repeat('x', ?)), "
                           "min(origin), max(origin) FROM opt_outs", [LONG])
    assert rows == [(N, N, N, "image host", "image host")]


def test_copies_naming_page_urls_larger_than_the_memory_bound(tmp_path: Path) -> None:
    """Pairs of near-duplicates seen on two pages each, with page URLs adding up to 3.6x DuckDB's memory: every
    copy's carried-over evidence names its first sighting's page."""
    path = tmp_path / "store.duckdb"
    _seed(path, f"""
        INSERT INTO sightings (sighting_id, crawl_id, sha256, image_url, page_url)
        SELECT 's' || i || '-' || j, 'c', sha256(i::VARCHAR), 'http://h.example/' || i || '.jpg',
               'http://h.example/' || repeat('p', {LONG}) || '/' || i || '/' || j
        FROM range({N}) t(i), range(2) u(j)""")
    with Store.open(path, memory=BOUND, options={"preserve_insertion_order": False}) as store:
        store.con.execute(f"CREATE TEMP TABLE {CLUSTERS} AS SELECT sha256(i::VARCHAR) AS sha256, "
                          f"(i // 2)::INTEGER AS cluster_id, 2 AS size FROM range({N}) t(i)")
        store.con.execute(FIRST_SIGHTINGS_SQL)
        store.con.execute(COPIES_SQL)
        rows = store.query(  # the first sighting of image i is on page .../i/0
            f"SELECT count(*), count(*) FILTER (WHERE c.prefix = 'via near-duplicate ' || c.via || "
            f"' on http://h.example/' || repeat('p', {LONG}) || '/' || n.i || '/0: ') "
            f"FROM {COPIES} c JOIN (SELECT i, sha256(i::VARCHAR) AS sha256 FROM range({N}) t(i)) n ON n.sha256 = c.via")
    assert rows == [(N, N)]


def test_opt_outs_with_an_order_past_the_packed_range(tmp_path: Path) -> None:
    """A record with more directives than the packed order holds (hostile input) still gives one opt-out per
    directive, from the earlier record, instead of an overflow error."""
    path = tmp_path / "store.duckdb"
    _seed(path, "INSERT INTO sightings (sighting_id, crawl_id, sha256, image_url, image_host) "
                "VALUES ('s1', 'c', 'aa', 'http://h.example/a.jpg', 'h.example')")
    with Store.open(path) as store:
        _opt_out_tables(store)
        store.con.execute(f"INSERT INTO {O_FETCH} (crawl_id, url, ord, kind, value, applies_to, evidence) VALUES "
                          "('c', 'http://h.example/a.jpg', 2000000000, 'robots', 'noai', 'images', 'late'), "
                          "('c', 'http://h.example/a.jpg', 40000, 'robots', 'noai', 'images', 'early')")
        for sql in OPT_OUTS_SQL:
            store.con.execute(sql)
        assert store.query("SELECT sighting_id, value, evidence FROM opt_outs") == [("s1", "noai", "early")]
