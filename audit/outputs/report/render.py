"""The claim report as one self-contained HTML file: inline CSS, inline SVG, no script, no remote resource.

Every string that came from the web (URLs, alt text, captions, evidence, hosts, header values) goes through
:func:`audit.textsafe.html_text` (imported as ``esc``); URLs become links only for http and https
(:func:`audit.textsafe.http_href`, in :func:`link`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from audit.outputs.custody import custody_html, custody_line, store_sha256
from audit.outputs.printing import print_css
from audit.outputs.report.answers import answers_html
from audit.outputs.report.svg import bar_chart, interval_chart, line_chart, load_outlines, map_chart
from audit.outputs.report.verdict import verdict_html
from audit.signals.kinds import KINDS_BY_NAME
from audit.testweb_marker import BANNER
from audit.textsafe import html_text as esc
from audit.textsafe import http_href

logger = logging.getLogger(__name__)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;
color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
blockquote{border-left:4px solid #c33;margin:1em 0;padding:.5em 1em;background:#fbf3f3;font-style:italic}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 6px;
vertical-align:top;text-align:left}th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.key{font-size:1.15em;background:#f4f8fc;border:1px solid #cde;padding:.8em 1em}
.ev{font-size:12px;word-break:break-all}.muted{color:#666}.sample{border:1px solid #ddd;margin:1em 0;padding:.6em}
svg.chart{display:block;margin:.8em 0;max-width:100%;height:auto;font-family:sans-serif}
code{font-size:12px}
.testweb-banner{background:#fff3cd;border:2px solid #b8860b;color:#5a4200;font-weight:bold;text-align:center;
padding:.5em 1em;margin:0 0 1em}
"""


# the banner of a store of the built-in test web, on screen at the top and, printed, on every page (a
# ``position: fixed`` element of a print stylesheet repeats on every printed page)
def banner_html(d: dict[str, Any]) -> str:
    """The test-web banner's HTML for figures ``d`` (``d["test_web"]``), or nothing for a real store."""
    if not d.get("test_web"):
        return ""
    return f'<div class="testweb-banner" id="testweb-banner" role="note">{esc(d.get("banner") or BANNER)}</div>'


CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def link(url: Any, text: Any = None) -> str:
    """An ``<a>`` for an http(s) URL, escaped text for anything else (``javascript:``, ``data:``, ``file:``)."""
    if url is None:
        return '<span class="muted">—</span>'
    label = esc(text if text is not None else url)
    href = http_href(url)
    if href is not None:
        return f'<a href="{href}" rel="noopener noreferrer nofollow">{label}</a>'
    return f'<span class="url">{label}</span>'


def pct(r: dict[str, Any] | None, *, interval: bool = True) -> str:
    if not r:
        return "—"
    if not r["n"]:
        return '<span class="muted">0/0</span>'
    text = f'{100 * r["value"]:.1f}% <span class="muted">({r["hits"]:,}/{r["n"]:,})</span>'
    if interval:
        text += f' <span class="muted">[{100 * r["low"]:.1f}–{100 * r["high"]:.1f}]</span>'
    return text


def table(head: list[str], rows: list[list[str]], *, numeric: set[int] | None = None, tid: str = "") -> str:
    numeric = numeric or set()
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    ident = f' id="{esc(tid)}"' if tid else ""
    return f"<table{ident}><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _headline(d: dict[str, Any]) -> str:
    cc = esc(d["country"])
    h = d["headline"]
    rows = h["rows"]
    key = {r["level"]: r for r in rows}
    sm = key["strong or medium"]["propagated"]["images"]
    anyt = key["any tier"]["propagated"]["images"]
    raw = key["any signal (raw)"]["propagated"]["images"]
    parts = [f'<p class="key" id="headline-key">Of {h["images"]:,} distinct images collected, '
             f'{pct(anyt)} are attributed to {cc} (any tier, with near-duplicate propagation), '
             f'{pct(sm)} with a strong or medium attribution, and {pct(raw)} carry at least one signal for {cc}.']
    photos = d.get("photos")
    if photos:
        anyp = {r["level"]: r for r in photos["rows"]}["any tier"]["photos"]
        parts.append(f" Counting near-duplicate copies once, they are {photos['photos']:,} distinct photos, of which "
                     f"{pct(anyp)} are attributed to {cc}.")
    t = h.get("truth")
    if t:
        parts.append(" " + _truth_sentence(t, cc, "images"))
    parts.append("</p>")
    head = ["level", "images: own signals", "images: + near-duplicates", "sightings: own signals",
            "sightings: + near-duplicates"]
    body = [[esc(r["level"]), pct(r["direct"]["images"]), pct(r["propagated"]["images"]),
             pct(r["direct"]["sightings"]), pct(r["propagated"]["sightings"])] for r in rows]
    parts.append(table(head, body, tid="headline-table"))
    parts.append('<p class="muted">Shares with 95% Wilson intervals in brackets. "strong", "medium" and "weak": '
                 f'the image\'s attribution is {cc} in exactly that tier; "strong or medium" and "any tier" are '
                 f'cumulative; "any signal (raw)": at least one signal of any strength points to {cc}, even if '
                 'the image is attributed elsewhere. A sighting carries the country when its image does.</p>')
    parts.append(interval_chart("chart-headline", f"Share of images attributed to {d['country']}",
                                [(r["level"], r["direct"]["images"], r["propagated"]["images"]) for r in rows],
                                series=("own signals", "with near-duplicate propagation")))
    if t:
        parts.append(f"<h3>Against ground truth: recall and the opposite error</h3><p>{t['residents']:,} of the "
                     f"{t['images_with_truth']:,} images with ground truth show a resident of {cc}. Recall: share "
                     f"of those attributed to {cc}. Opposite error: share of the images attributed to {cc} whose "
                     "subject lives elsewhere (they would be deleted wrongly).</p>")
        body = [[esc(r["level"]), pct(r["direct"]["recall"]), pct(r["propagated"]["recall"]),
                 pct(r["direct"]["wrong_residence"]), pct(r["propagated"]["wrong_residence"])] for r in t["rows"]]
        parts.append(table(["level", "recall: own", "recall: + near-dup.", "residence elsewhere: own",
                            "residence elsewhere: + near-dup."], body, tid="truth-table"))
    return "".join(parts)


def _basis(d: dict[str, Any]) -> str:
    """What the figures rest on, when some images are known by reference only (a dataset's rows): the headline's
    shares split by basis, and what references cannot show. Empty for a store of crawls and archives."""
    b = d.get("basis")
    if not b or not (b["reference_only"] or b.get("still_online")):
        return ""
    cc = esc(d["country"])
    online = _still_online(b.get("still_online"), cc)
    if not b["reference_only"]:
        return "<h3>Bytes or references only</h3>" + online
    key = {r["level"]: r for r in b["rows"]}["any tier"]
    parts = [f'<h3>Bytes or references only</h3><p class="key" id="basis-key">{b["reference_only"]:,} of the '
             f'{b["reference_only"] + b["images_with_bytes"]:,} images are known by reference only (a dataset row: '
             f'the image URL, its caption and the row\'s metadata; no bytes fetched): {pct(key["reference_only"])} '
             f'of them are attributed to {cc}, '
             + (f'against {pct(key["bytes"])} of the {b["images_with_bytes"]:,} images whose bytes were read. '
                if b["images_with_bytes"] else "and no image's bytes were read. ")
             + "For images known by reference only, the figures rest on the URL and "
             "the caption alone; they cannot show: " + esc("; ".join(b["reference_only_cannot_show"])) +
             ".</p>"]
    body = [[esc(r["level"]), pct(r["bytes"]), pct(r["reference_only"])] for r in b["rows"]]
    parts.append(table(["level", "images with bytes", "images by reference only"], body, tid="basis-table"))
    parts.append(online)
    return "".join(parts)


def _still_online(o: dict[str, Any] | None, cc: str) -> str:
    """The links of a dataset `provaudit fetch` checked: how many still serve an image (``cc`` already escaped)."""
    if not o:
        return ('<p class="muted" id="online-key">No link of a dataset was checked: whether its images are still '
                "online is unknown (<code>provaudit fetch</code>).</p>")
    return (f'<p class="key" id="online-key">Still online: of the {o["checked"]:,} image URLs of a dataset checked '
            f'by <code>provaudit fetch</code> (between {esc(o["first_check"])} and {esc(o["last_check"])}), '
            f'{pct(o["online"])} still serve a readable image; of the {o["country"]["checked"]:,} whose image is '
            f'attributed to {cc}, {pct(o["country"]["online"])}. {o["changed"]:,} serve other bytes than the hash '
            "the dataset published. A deletion order reaches the copies a vendor holds, not these links: a dead "
            "link does not mean the image was deleted anywhere.</p>")


def _truth_sentence(t: dict[str, Any], cc: str, what: str) -> str:
    """Recall and the opposite error at any tier against ground truth (``t``: a headline's ``truth``), for ``what``
    (``cc`` already escaped)."""
    tk = {r["level"]: r for r in t["rows"]}["any tier"]["propagated"]
    return (f"Against the test web's ground truth, {pct(tk['recall'])} of the {what} of {cc} residents "
            f"({t['residents']:,}) are attributed to {cc}, and of the {what} attributed to {cc}, "
            f"{pct(tk['wrong_residence'])} show someone living elsewhere.")


def _people(d: dict[str, Any]) -> str:
    """The headline figures again for images showing people (``d["people"]``, :func:`figures.people_view`)."""
    cc = esc(d["country"])
    p = d["people"]
    c = p["coverage"]
    h = p["min_face_height"]
    if not c["detected"]:
        return ('<p class="key" id="people-key">Face detection has not run on this store, so these figures cannot be '
                f"limited to images showing people: every share above counts all {c['images']:,} images, whatever "
                "they show (on a real crawl most are logos, products and banners). <code>provaudit audit --faces "
                "--db FILE</code> adds the faces.</p>")
    people = p["headline"]
    key = {r["level"]: r for r in people["rows"]}
    photos = {r["level"]: r for r in p["photos"]["rows"]}
    all_rows = {r["level"]: r for r in d["headline"]["rows"]}
    parts = [f'<p class="key" id="people-key">Of the {c["images"]:,} images, face detection looked at '
             f'{c["detected"]:,}; {c["showing_people"]:,} show at least one face {h} px high or more. Of these '
             f'images of people, {pct(key["any tier"]["propagated"]["images"])} are attributed to {cc} (any tier, '
             f'with near-duplicate propagation) and {pct(key["strong or medium"]["propagated"]["images"])} with a '
             f'strong or medium attribution. Counting near-duplicate copies once, they are '
             f'{p["photos"]["photos"]:,} distinct photos of people, of which '
             f'{pct(photos["any tier"]["photos"])} carry {cc}.</p>']
    notes = [f"detector: {esc(', '.join(c['detectors']) or 'none recorded')}",
             f"faces smaller than {h} px (crowds, bystanders) do not count (<code>--min-face-height</code>, "
             "AUDIT_MIN_FACE_HEIGHT)"]
    if c["not_detected"]:
        why = [f"{n:,} {what}" for n, what in ((c["undecoded"], "could not be decoded"),
                                              (c["failed"], "failed detection"),
                                              (c.get("reference_only", 0), "are known by reference only"),
                                              (c["not_run"], "were recorded without detection")) if n]
        notes.append(f"{c['not_detected']:,} images were not looked at ({', '.join(why)}) and are counted in "
                     "neither group")
    parts.append(f'<p class="muted">{"; ".join(notes)}. Detection only: no face is identified, compared or kept '
                 "as a crop.</p>")
    head = ["level", "all images", "images showing people", "people: own signals", "sightings of people",
            "distinct photos of people"]
    body = [[esc(level), pct(all_rows[level]["propagated"]["images"]), pct(key[level]["propagated"]["images"]),
             pct(key[level]["direct"]["images"]), pct(key[level]["propagated"]["sightings"]),
             pct(photos[level]["photos"]) if level in photos else "—"] for level in key]
    parts.append(table(head, body, tid="people-table"))
    if people.get("truth"):
        parts.append(f'<p>{_truth_sentence(people["truth"], cc, "images of people")}</p>')
    sweep_head = ["policy", "images of people deleted", "sightings"]
    if d["ground_truth"]:
        sweep_head += ["precision", "recall", "residents left behind"]
    rows = []
    for r in p["sweep"]:
        line = [f"<code>{esc(r['policy'])}</code>", f'{r["images"]:,}', f'{r["sightings"]:,}']
        if d["ground_truth"]:
            line += [pct(r["precision"]), pct(r["recall"]), pct(r["left_behind"])]
        rows.append(line)
    parts.append("<p>The deletion sweep limited to images showing people (<code>provaudit sweep --faces-only</code>):"
                 "</p>" + table(sweep_head, rows, numeric={1, 2}, tid="people-sweep-table"))
    return "".join(parts)


def _validation(d: dict[str, Any]) -> str:
    """The latest validation on a labelled sample (``provaudit validate``), or a plain statement that there is none."""
    v = d.get("validation")
    cc = esc(d["country"])
    if not v:
        return ('<p class="key" id="validation-key">These figures are <b>unvalidated</b>: no labelled sample of this '
                f"store has been checked for {cc} (<code>provaudit sample</code>, then <code>provaudit "
                "validate</code>).</p>")

    def share(r: dict[str, Any]) -> str:
        return f'{r["estimate"]:.2f} [{r["low"]:.2f}–{r["high"]:.2f}] <span class="muted">(n={r["labelled"]})</span>'

    parts = []
    for question, what in (("located", f"located in {cc}"), ("resides", f"residing in {cc}")):
        rows = [r for r in v["rows"] if r["question"] == question]
        tiers = [f'{esc(r["stratum"])} precision {share(r)}' for r in rows
                 if r["stratum"] != "not attributed" and r["estimate"] is not None]
        missed = [f'about {r["missed"]:,.0f} [{r["missed_low"]:,.0f}–{r["missed_high"]:,.0f}] of the '
                  f'{r["stratum_size"]:,} images not attributed to {cc}' for r in rows
                  if r["stratum"] == "not attributed" and r["missed"] is not None]
        parts.append(f"{what}: {', '.join(tiers) or 'no tier labelled'}"
                     + (f"; missed: {missed[0]}" if missed else ""))
    return (f'<p class="key" id="validation-key">Validated on a labelled sample of {v["sample"]:,} '
            f'(validation <code>{esc(v["validation_id"])}</code>, {esc(v["validated_at"])}; answer validated: '
            f'{esc(v["answer"])}) — {"; ".join(parts)}. 95% intervals in brackets '
            "(exact under 40 answers, else Wilson); \"can't tell\" answers are left out.</p>")


def _code_spans(escaped: str) -> str:
    """Markdown code spans (`x`) of already escaped text as ``<code>`` elements."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _print_banner(d: dict[str, Any]) -> str | None:
    """The test-web banner for the top of every printed page, or None for a store of the real web."""
    return str(d.get("banner") or BANNER) if d.get("test_web") else None


def _strengths(k: dict[str, Any]) -> str:
    """Every strength a signal kind has for the country, with its images ("medium 12, weak 3"), or the one."""
    got = k.get("strengths") or []
    if len(got) <= 1:
        return esc(k["strength"])
    return ", ".join(f'{esc(s["strength"])} {s["images"]:,}' for s in got)


def _signals(d: dict[str, Any]) -> str:
    kinds = d["signal_kinds"]
    cc = d["country"]
    parts = [f"<p>Distinct images with at least one signal of each kind pointing to {esc(cc)}: from the image's own "
             "sightings and content, and including signals carried over from near-duplicate copies.</p>"]
    parts.append(bar_chart("chart-signals", f"Images per signal kind for {cc}",
                           [(k["kind"], k["direct_images"], k["images"]) for k in kinds],
                           series=("own signals", "with near-duplicates")))
    parts.append(table(["kind", "strength (images)", "images (own)", "images (+ near-dup.)"],
                       [[esc(k["kind"]), _strengths(k), f'{k["direct_images"]:,}', f'{k["images"]:,}']
                        for k in kinds], numeric={2, 3}, tid="kinds-table"))
    legend = [KINDS_BY_NAME[k["kind"]] for k in kinds if k["kind"] in KINDS_BY_NAME]
    if legend:
        parts.append('<p class="muted">What each kind is, whose country it says (the photo\'s capture place, the '
                     "publisher's, the page's audience, the host's) and its family: kinds of one family are not "
                     "independent evidence (docs/signals.md, docs/attribution.md).</p>")
        parts.append(table(["kind", "says", "family", "what it is"],
                           [[f"<code>{esc(k.name)}</code>", esc(k.says), esc(k.family), _code_spans(esc(k.doc))]
                            for k in legend],
                           tid="kinds-legend"))
    h = d["hosts"]
    parts.append(f"<h3>Page hosts</h3><p>The {len(h['rows'])} hosts (of {h['hosts']:,}) with the most images "
                 f"attributed to {esc(cc)}: distinct images, sightings, and share of their images attributed to "
                 f"{esc(cc)} (any tier, with propagation).</p>")
    parts.append(table(["page host", "images", "sightings", f"attributed to {cc}"],
                       [[esc(r["host"]), f'{r["images"]:,}', f'{r["sightings"]:,}', pct(r["attributed"])]
                        for r in h["rows"]], numeric={1, 2}, tid="hosts-table"))
    return "".join(parts)


def _thresholds(d: dict[str, Any]) -> str:
    rows = d["thresholds"]
    cc = d["country"]
    if d["ground_truth"]:
        lines = [(name, [(r[mode]["recall"]["value"], r[mode]["precision"]["value"]) for r in rows
                         if r[mode]["precision"]["n"]]) for name, mode in
                 (("with near-duplicates", "propagated"), ("own signals", "direct"))]
        labels = [(r["propagated"]["recall"]["value"], r["propagated"]["precision"]["value"], f'≥{r["threshold"]:g}')
                  for r in rows[::4] if r["propagated"]["precision"]["n"]]
        chart = line_chart("chart-threshold", f"Precision and recall for {cc} residence by score threshold", lines,
                           x_label="recall (share of residents' images attributed)",
                           y_label="precision (share attributed who live there)", labels=labels)
        intro = (f"<p>Each point is a score threshold: images attributed to {esc(cc)} with a score at least that "
                 "high. Moving right deletes more of the residents' images; moving down deletes more people who "
                 "live elsewhere.</p>")
        head = ["score ≥", "images", "precision", "recall", "images (own)", "precision (own)", "recall (own)"]
        body = [[f'{r["threshold"]:g}', f'{r["propagated"]["coverage"]["hits"]:,}', pct(r["propagated"]["precision"]),
                 pct(r["propagated"]["recall"]), f'{r["direct"]["coverage"]["hits"]:,}',
                 pct(r["direct"]["precision"]), pct(r["direct"]["recall"])] for r in rows]
    else:
        lines = [(name, [(r["threshold"], r[mode]["coverage"]["value"]) for r in rows]) for name, mode in
                 (("with near-duplicates", "propagated"), ("own signals", "direct"))]
        chart = line_chart("chart-threshold", f"Coverage of {cc} by score threshold", lines,
                           x_label="minimum score", y_label=f"share of images attributed to {cc}")
        intro = ("<p>No ground truth in this store: the curve shows how many images remain attributed to "
                 f"{esc(cc)} as the minimum score rises.</p>")
        head = ["score ≥", "images (+ near-dup.)", "images (own)"]
        body = [[f'{r["threshold"]:g}', pct(r["propagated"]["coverage"]), pct(r["direct"]["coverage"])]
                for r in rows]
    return intro + chart + table(head, body, numeric={0, 1, 4}, tid="threshold-table")


def _map(d: dict[str, Any], outlines: Path | None) -> str:
    g = d["gps"]
    shapes = None
    note = "No outlines given: a plain scatter in an equirectangular projection."
    if outlines is not None:
        try:
            shapes = load_outlines(outlines)
            note = "Outlines: Natural Earth 1:110m (public domain), equirectangular projection."
        except (OSError, ValueError) as exc:
            logger.warning("cannot read outlines %s: %s", outlines, exc)
            note = "The outlines file could not be read: a plain scatter."
    chart = map_chart("chart-map", "Images with EXIF GPS, by attributed country", g["points"], d["country"], shapes)
    return (f"<p>{g['images']:,} images carry EXIF GPS; {g['attributed_to_country']:,} of them are attributed to "
            f"{esc(d['country'])}. Each dot is a position rounded to 0.01° (about 1 km), coloured by the image's "
            f"attributed country (with propagation); the country's outline is shaded. {note}</p>" + chart)


def _record(label: str, rec: dict[str, Any] | None) -> str:
    if not rec:
        return ""
    return (f'<div class="ev">{label}: {esc(rec.get("warc"))} · {esc(rec.get("record_id") or "no record id")} · '
            f'offset {esc(rec.get("offset"))}</div>')


def _records(s: dict[str, Any]) -> str:
    """Where a sighting's image and page captures are kept (plain text: the WARC's name, the record id, the
    offset; ``provaudit package`` puts them in a WACZ)."""
    text = _record("image", s.get("image_record")) + _record("page", s.get("page_record"))
    return text or '<span class="muted">no record</span>'


def _sample(d: dict[str, Any]) -> str:
    th = d["thumbnails"]
    if th["enabled"]:
        note = (f"Thumbnails were requested: {th['found']} of {th['wanted']} found in the crawls' WARC files "
                f"({th['warcs']}) and checked against their SHA-256. They are personal data: do not publish them.")
        if th.get("missing_warcs"):
            note += (f" <strong>{len(th['missing_warcs'])} WARC file(s) the store names were not found</strong> (as "
                     "recorded, nor beside the store), so their images have no thumbnail: "
                     + ", ".join(f"<code>{esc(p)}</code>" for p in th["missing_warcs"][:5]) + ".")
    else:
        note = "Links only: thumbnails are personal data and are embedded only on request (thumbnails=True)."
    parts = [f"<p>A deterministic sample of {len(d['sample'])} images attributed to {esc(d['country'])}, "
             f"interleaving tiers. {note}</p>"]
    for item in d["sample"]:
        parts.append('<div class="sample">')
        if item.get("thumbnail") and str(item["thumbnail"]).startswith("data:image/jpeg;base64,"):
            parts.append(f'<img src="{esc(item["thumbnail"])}" alt="thumbnail" style="float:right;max-width:96px">')
        truth = f' · residence (ground truth): <b>{esc(item["residence"])}</b>' if item.get("residence") else ""
        parts.append(f'<div><code>{esc(item["sha256"])}</code> · <b>{esc(item["country"])}</b> {esc(item["tier"])} '
                     f'(score {item["score"]:.2f}; own signals: {esc(item["direct_country"])} '
                     f'{esc(item["direct_tier"])}) · {item["sightings"]} sighting(s) · near-duplicate cluster of '
                     f'{item["cluster_size"]}{truth}</div>')
        parts.append(f'<div class="ev muted">{esc(item["explanation"])}</div>')
        parts.append(table(["image", "page", "alt text", "caption", "captured in (WARC, record, offset)"],
                           [[link(s["image_url"]), link(s["page_url"]), esc(s["alt_text"]), esc(s["caption"]),
                             _records(s)] for s in item["sighting_sample"]]))
        parts.append(table(["signal", "strength", "evidence", "carried over from"],
                           [[esc(s["kind"]), esc(s["strength"]), f'<span class="ev">{esc(s["evidence"])}</span>',
                             (f'<code>{esc(str(s["via_sha256"])[:12])}…</code> on {link(s["via_url"])}'
                              if s["via_sha256"] else "own")] for s in item["signals"]]))
        parts.append('<div style="clear:both"></div></div>')
    return "".join(parts)


def _opt_outs(d: dict[str, Any]) -> str:
    o = d["opt_outs"]
    cc = esc(d["country"])
    parts = [table(["kind", "value", "applies to", "declared by", "sightings", "images"],
                   [[esc(r["kind"]), esc(r["value"]), esc(r["applies_to"]), esc(", ".join(r.get("origins") or [])),
                     f'{r["sightings"]:,}', f'{r["images"]:,}'] for r in o["table"]], numeric={4, 5},
                   tid="optouts-table")]
    se, ai = o["search_engine"], o["ai_reservation"]
    parts.append(f'<p class="key" id="search-engine-key">"Just like any other search engine"? A search engine '
                 f'honouring Googlebot-Image rules in robots.txt and noindex / noimageindex / none directives would '
                 f'not have indexed {pct(se["all"]["every_sighting_blocked"])} of the collected images (every '
                 f'sighting blocked), and would have skipped at least one sighting of '
                 f'{pct(se["all"]["some_sighting_blocked"])}. For images attributed to {cc}: '
                 f'{pct(se["country"]["every_sighting_blocked"])}.</p>')
    body = []
    for name, g in (("search engine (Googlebot-Image, noindex, noimageindex, none)", se),
                    ("AI / TDM reservation (GPTBot, CCBot, Google-Extended, noai, noimageai, TDMRep)", ai)):
        for scope, label in (("all", "all images"), ("country", f"attributed to {d['country']}")):
            body.append([esc(name), esc(label), f'{g[scope]["images"]:,}', pct(g[scope]["every_sighting_blocked"]),
                         pct(g[scope]["some_sighting_blocked"]), pct(g[scope]["sightings_blocked"])])
    parts.append(table(["directives honoured", "images", "collected", "every sighting opted out",
                        "some sighting opted out", "sightings opted out"], body, numeric={2}, tid="ignored-table"))
    return "".join(parts)


def _sweep(d: dict[str, Any]) -> str:
    rows = d["sweep"]
    head = ["policy", "what is deleted", "images", "sightings"]
    if d["ground_truth"]:
        head += ["precision", "recall", "collateral (lives elsewhere)", "residents left behind"]
    body = []
    for r in rows:
        line = [f"<code>{esc(r['policy'])}</code>", esc(r["description"]), f'{r["images"]:,}', f'{r["sightings"]:,}']
        if d["ground_truth"]:
            line += [pct(r["precision"]), pct(r["recall"]), pct(r["collateral"]), pct(r["left_behind"])]
        body.append(line)
    return ("<p>What a vendor acting in good faith would delete for the country under each policy "
            "(<code>audit.outputs.sweep</code>; a CSV or Parquet list of the images comes from "
            "<code>write_sweep</code>). Collateral: share of the deleted images whose subject lives elsewhere; "
            "left behind: share of the residents' images not deleted.</p>"
            + table(head, body, numeric={2, 3}, tid="sweep-table"))


def _method(d: dict[str, Any]) -> str:
    crawl_rows = [[esc(c["crawl_id"]), esc(c["source"]), esc(c["kind"]), esc(c["started_at"]), esc(c["finished_at"]),
                   f'{c["pages"]:,}', f'{c["images"]:,}', f'{c["sightings"]:,}', f'{c["failed_fetches"]:,}']
                  for c in d["crawls"]]
    return (
        "<ul>"
        "<li><b>Location and residence, never citizenship.</b> Every signal says where a photo was taken, published, "
        "hosted or described, and through that where its subject probably lives. None says what citizenship anyone "
        "holds — and the deletion orders concern people located or residing in the country, not its citizens.</li>"
        "<li><b>What the hashes cannot match.</b> Near-duplicates are found with pHash and dHash (mirrored copies "
        "included): resizes, re-encodings, blur, contrast and mirrors match; 90° rotations and heavy crops do not, "
        "so their signals are not carried over and the propagated figures are a lower bound.</li>"
        "<li><b>Tiers.</b> strong: score ≥ 0.75 and a strong signal or two independent medium-or-better families; "
        "medium: score ≥ 0.45; weak: any other support. Only a country named by specific evidence can be the "
        "answer: evidence that fits many countries (a bare language, a UTC offset) adds support but never picks a "
        "country by itself and never lowers a tier, and a tie for first place is no country (docs/attribution.md)."
        "</li>"
        "<li><b>Intervals.</b> 95% Wilson intervals treat images (or sightings) as independent draws; sightings of "
        "one image, and images of one site, are not, so the sighting intervals are too narrow.</li>"
        "<li><b>Scope.</b> The figures describe this crawl only, not the web or any vendor's collection. A test-web "
        "crawl measures the method against known truth; its shares are not those of the real web.</li>"
        "</ul>"
        + table(["crawl", "source", "kind", "started", "finished", "pages", "images", "sightings", "failed fetches"],
                crawl_rows, numeric={5, 6, 7, 8}, tid="crawls-table")
    )


def render(d: dict[str, Any], *, outlines: Path | None = None) -> str:
    """The HTML report from the figures of :func:`audit.outputs.report.figures.compute`."""
    cc = esc(d["country"])
    claim = d["claim"]
    source = f'<p class="muted">— {esc(claim["source"])}</p>' if claim.get("source") else ""
    truth_note = ("This store has ground truth (a crawl of the built-in test web): precision and recall are measured."
                  if d["ground_truth"] else "This store has no ground truth: only coverage can be measured.")
    sections = [
        ("claim", "The claim", f"<blockquote>{esc(claim['text'])}</blockquote>{source}<p>The question tested here "
         f"is not citizenship but whether the images of people in {cc} can be told apart from the rest with the "
         f"signals public photos carry. {truth_note}</p>"),
        ("headline", f"How many images carry {cc}", _validation(d) + _headline(d) + _basis(d)),
        ("people", "Images showing people", _people(d)),
        ("answers", f"Located in {cc} or living there: the two answers", answers_html(d)),
        ("signals", "Which signals carry the finding", _signals(d)),
        ("thresholds", "How attribution varies with the confidence threshold", _thresholds(d)),
        ("map", "Where the GPS-tagged images are", _map(d, outlines)),
        ("evidence", "Evidence: a sample of attributed images", _sample(d)),
        ("opt-outs", "Opt-out and consent signals ignored", _opt_outs(d)),
        ("sweep", "The deletion sweep, policy by policy", _sweep(d)),
        ("method", "Method and limits", _method(d)),
    ]
    custody = d.get("provenance")
    sha = store_sha256(custody) if custody else ""
    footer = f"store SHA-256 {sha}" if sha else f"store {d['store']}"
    nav = " · ".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{content}</section>' for sid, title, content in sections)
    if custody:
        nav += ' · <a href="#provenance">Provenance and fixity</a>'
        body += custody_html(custody)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex, noimageindex">'
        f"<title>Provenance audit: can images of people in {cc} be found?</title>"
        f"<style>{CSS}{print_css(footer, _print_banner(d))}</style></head><body>"
        f"{banner_html(d)}"
        f"<h1>Can the images of people in {cc} be found and deleted?</h1>"
        f'<p class="muted">provenance-audit report · store {esc(d["store"])} · generated {esc(d["generated_at"])} · '
        f"figures also in the .json file of the same name</p>{custody_line(custody) if custody else ''}"
        f'<section id="verdict"><h2>Verdict</h2>{verdict_html(d)}</section>'
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )
