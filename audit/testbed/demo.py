"""The demo: build the test web, serve it, crawl it into a fresh store, load its ground truth, summarise."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.crawl.run import Progress, run_crawl
from audit.derive.run import AUDIT_OPTIONS, run_audit
from audit.outputs.custody import custody
from audit.outputs.fixity import record as record_fixity
from audit.outputs.report import build_report, default_report_name, save_report
from audit.outputs.summary import store_summary
from audit.outputs.validation.estimate import validate
from audit.outputs.validation.labels import read_labels
from audit.outputs.validation.sample import draw
from audit.outputs.validation.sheet import write_sheet
from audit.outputs.verify import default_verification_name, verify, write_verification
from audit.provenance import start
from audit.store.db import Store
from audit.store.runs import record_run
from audit.testbed.evaluate import evaluate
from audit.testbed.groundtruth import check_against_ground_truth, load_ground_truth
from audit.testbed.labelling import label_from_truth, true_values
from audit.testbed.simulate import simulate_deletion, sloppy_vendor

logger = logging.getLogger(__name__)

VERIFY_POLICY = "strong+nd"
VALIDATION_SAMPLE = 200

# Loopback test web: no politeness delays needed, but the same concurrency a careful crawler would use.
TESTWEB_CRAWL_SETTINGS: dict[str, Any] = {
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "DOWNLOAD_DELAY": 0,
    "AUDIT_SOURCE": "built-in test web",
}


@dataclass
class DemoResult:
    db_path: Path
    warc_path: Path | None
    crawl_id: str
    summary: dict[str, Any]
    truth: dict[str, int]
    seconds: dict[str, float]
    audit: Any = None  # analysis.AuditResult
    evaluation: Any = None  # evaluate.Evaluation
    report: Path | None = None
    verification: Path | None = None
    verify_summary: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None  # the validation loop: see validate_from_truth
    dataset: dict[str, Any] | None = None  # the same web as a LAION-style table: audit.testbed.agreement


def crawl_testweb(
    web: Any,
    db_path: Path,
    *,
    settings: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> tuple[str, Path | None]:
    """Serve ``web`` on loopback and crawl all of it into ``db_path``; returns (crawl id, WARC path)."""
    from audit.testbed.testweb import TestWebServer

    with TestWebServer(web) as server:
        overrides = dict(TESTWEB_CRAWL_SETTINGS)
        overrides["AUDIT_PROXY"] = server.proxy_url
        overrides.update(settings or {})
        result = run_crawl(web.start_urls, db_path, allowed_domains=web.allowed_domains, settings=overrides,
                           progress=progress)
    return result.crawl_id, result.warc_path


def run_demo(
    out_dir: str | Path,
    *,
    photos: int = 2000,
    seed: int = 2022,
    workers: int = 2,
    country: str = "FR",
    settings: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    stage: Callable[[str], None] | None = None,
) -> DemoResult:
    """Everything ``provaudit demo`` does: build (cached) and serve the test web, crawl it into a fresh store, load
    its ground truth, audit and evaluate the store, write the claim report for ``country``, then simulate a vendor
    that deletes only part of what it should (``after-sloppy-vendor.duckdb``) and verify that deletion."""
    from audit.testbed.testweb import build_web

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    web = build_web(out / "testweb", photos=photos, seed=seed, workers=workers)
    seconds["build"] = time.perf_counter() - t0

    db_path = out / "provenance.duckdb"
    for old in [db_path, db_path.with_name(db_path.name + ".wal"), *out.glob("provenance-*.warc.gz")]:
        old.unlink(missing_ok=True)
    if stage:
        stage(f"crawling {len(web.start_urls)} sites through a loopback proxy")
    t1 = time.perf_counter()
    argv = ["provaudit", "demo", "--out", str(out), "--photos", str(photos), "--seed", str(seed)]
    crawl_run = start("crawl", {"settings": dict(settings or {}), "demo": True}, argv=argv)
    crawl_id, warc = crawl_testweb(web, db_path, settings=settings, progress=progress)
    if warc is not None and Path(warc).is_file():
        crawl_run.add_output(warc, "warc")
    crawl_run.finish()
    seconds["crawl"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    with Store.open(db_path, options=AUDIT_OPTIONS) as store:
        record_run(store, crawl_run)
        load_ground_truth(store, web.ground_truth_path)
        summary = store_summary(store, crawl_id)
        truth = check_against_ground_truth(store, crawl_id)
        seconds["ground_truth"] = time.perf_counter() - t2
        if stage:
            stage("auditing: signals, near-duplicate clusters, attributions")
        t3 = time.perf_counter()
        audit_run = start("audit", {"demo": True}, argv=argv)
        audited = run_audit(store)
        record_run(store, audit_run.finish())
        evaluation = evaluate(store)
        seconds["audit"] = time.perf_counter() - t3
        if stage:
            stage(f"validating {country} on a sample labelled from the ground truth (standing in for a person)")
        validation = validate_from_truth(store, country, out / "sample", seed=seed)
        deleted = sloppy_vendor(store, country, VERIFY_POLICY, seed=seed)
    if stage:
        stage(f"writing the claim report for {country}")
    # the outputs are written from the closed store, hashed first: each names the SHA-256 of what it was built from
    report_run = start("report", {"demo": True}, argv=argv)
    report_run.add_input(db_path, "store")
    with Store.open(db_path, read_only=True) as store:
        report = build_report(store, country, provenance=custody(report_run, {"store": store}))
    report_html, report_json = save_report(report, out / default_report_name(country))
    report_run.add_output(report_html)
    report_run.add_output(report_json)
    record_fixity(report_run.finish())
    if stage:
        stage("simulating a vendor that deletes only part of what it should, and checking it")
    after_path = out / "after-sloppy-vendor.duckdb"
    after_path.unlink(missing_ok=True)
    simulate_deletion(db_path, after_path, deleted)  # the stores are closed: DuckDB attaches a file only once
    verify_run = start("verify", {"demo": True, "policy": VERIFY_POLICY}, argv=argv)
    verify_run.add_input(db_path, "before")
    verify_run.add_input(after_path, "after")
    with Store.open(db_path, read_only=True) as before, Store.open(after_path, read_only=True) as after:
        verification = verify(before, after, country, VERIFY_POLICY)
        verification.provenance = custody(verify_run, {"before": before, "after": after})
    verify_html, verify_json = write_verification(verification, out / default_verification_name(country))
    verify_run.add_output(verify_html)
    verify_run.add_output(verify_json)
    record_fixity(verify_run.finish())
    if stage:
        stage("the same web as a LAION-style table (alt texts and URLs, no page, no bytes): ingesting and auditing it")
    t4 = time.perf_counter()
    dataset = audit_as_table(web, out, db_path, country)
    seconds["dataset"] = time.perf_counter() - t4
    seconds["total"] = time.perf_counter() - t0
    return DemoResult(db_path=db_path, warc_path=warc, crawl_id=crawl_id, summary=summary, truth=truth,
                      seconds=seconds, audit=audited, evaluation=evaluation, report=report_html,
                      verification=verify_html, verify_summary=verification.summary(), validation=validation,
                      dataset=dataset)


def audit_as_table(web: Any, out: Path, crawl_db: Path, country: str) -> dict[str, Any]:
    """Export ``web`` as a LAION-style table into ``out/laion``, ingest and audit it into ``out/laion.duckdb``, and
    compare it with the crawl's audited store (:func:`audit.testbed.agreement.table_agreement`)."""
    from audit.ingest.datasets import ingest_tables
    from audit.testbed.agreement import table_agreement
    from audit.testbed.exports import export_laion

    folder, table_db = out / "laion", out / "laion.duckdb"
    for old in (table_db, table_db.with_name(table_db.name + ".wal")):
        old.unlink(missing_ok=True)
    if folder.exists():
        for f in folder.glob("*"):
            f.unlink()
    counts = export_laion(web, folder)
    with Store.open(table_db) as store:
        ingest_tables(store, [folder])
        run_audit(store)
    return {"path": str(table_db), **counts, **table_agreement(crawl_db, table_db, country)}


def validate_from_truth(store: Store, country: str, out_dir: Path, *, n: int = VALIDATION_SAMPLE,
                        seed: int = 0) -> dict[str, Any]:
    """The validation loop with the ground truth standing in for a person: draw a sample of ``n`` images for
    ``country`` and write its sheet in ``out_dir``, fill it from the truth (``labels.csv``), validate it into the
    store, and return the estimates (``validation``, as stored) with the true values of every image beside them
    (``truth``, :func:`audit.testbed.labelling.true_values`)."""
    drawn = draw(store, country, n, seed)
    _, sample_csv, _ = write_sheet(drawn, out_dir)
    labels_csv = Path(out_dir) / "labels.csv"
    label_from_truth(store, sample_csv, labels_csv)
    result = validate(store, read_labels(labels_csv), source=labels_csv.name)
    return {"validation": result.as_dict(), "truth": true_values(store, country), "labels": str(labels_csv)}
