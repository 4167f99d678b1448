"""Content credentials through the whole path: ingest, store, audit, opt-outs."""

from __future__ import annotations

from audit.decode.imagefacts import analyse_image
from audit.derive.run import run_audit
from audit.ingest.run import ingest
from audit.signals.image import image_signals
from audit.store.db import Store
from conftest import ROOT

DATA = ROOT / "tests" / "data" / "c2pa"


def test_record_keeps_the_manifest_and_signals_read_it():
    record = analyse_image((DATA / "location_fr.jpg").read_bytes())
    assert record.c2pa is not None and record.error is None
    c2pa = [s for s in image_signals(record) if s.kind == "c2pa_location"]
    assert [s.country for s in c2pa] == ["FR"]
    assert analyse_image((DATA / "plain.jpg").read_bytes()).c2pa is None


def test_ingest_and_audit_carry_c2pa_signals_and_training_opt_outs(tmp_path):
    with Store.open(tmp_path / "s.duckdb") as store:
        ingest(store, [DATA])
        (kept,) = store.query("SELECT count(*) FROM images WHERE c2pa IS NOT NULL")[0]
        assert kept >= 3  # location, GPS, training; the plain file has none
        run_audit(store)
        kinds = {r[0]: r[1] for r in store.query("SELECT kind, country FROM signals WHERE kind = 'c2pa_location'")}
        assert kinds
        opt = store.query("SELECT value FROM opt_outs WHERE kind = 'c2pa_training'")
        values = {r[0] for r in opt}
        assert any(v.endswith("=notAllowed") for v in values) and any(v.endswith("=constrained") for v in values)
        assert not any(v.endswith("=allowed") for v in values)
