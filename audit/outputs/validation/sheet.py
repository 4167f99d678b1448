"""The labelling sheet of a sample: ``sample.html`` (one self-contained page: a form per image and a button that
saves the answers as CSV in the browser), ``sample.csv`` (the same sheet for a spreadsheet) and ``sample.json``
(what the sample was: seed, strata sizes, allocation).

Every scraped string (URLs, alt text, captions, evidence) goes through :func:`audit.textsafe.html_text` in the page
and :func:`audit.textsafe.csv_cell` in the CSV; URLs are links only for http(s). The page loads nothing: its only
script is inline and allowed by its hash in the Content-Security-Policy, images are ``data:`` URIs."""

from __future__ import annotations

import base64
import csv
import hashlib
import logging
from pathlib import Path

from audit.outputs.validation.answer import STRATA
from audit.outputs.validation.sample import Sample, SampleItem
from audit.textsafe import csv_cell, html_text, http_href, json_dumps

logger = logging.getLogger(__name__)

# the sheet's columns: the labels file `provaudit validate` reads has at least LABEL_COLUMNS
CSV_COLUMNS = ("sample_id", "sha256", "country", "seed", "stratum", "stratum_size", "weight", "page_urls",
               "image_urls", "located", "resides")
ANSWERS = (("yes", "{verb} in {cc}"), ("no", "not {verb_short} in {cc}"), ("unknown", "can't tell"))

SCRIPT = """
document.getElementById('save').addEventListener('click', function () {
  var cols = ['sample_id', 'sha256', 'country', 'seed', 'stratum', 'stratum_size', 'weight', 'page_urls',
              'image_urls', 'located', 'resides'];
  var cell = function (v) { v = String(v); return /[",\\r\\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; };
  var lines = [cols.join(',')];
  var items = document.querySelectorAll('fieldset.item');
  for (var i = 0; i < items.length; i++) {
    var d = items[i].dataset;
    var pick = function (q) {
      var c = items[i].querySelector('input[name="' + q + '-' + d.sampleId + '"]:checked');
      return c ? c.value : '';
    };
    lines.push([d.sampleId, d.sha256, d.country, d.seed, d.stratum, d.stratumSize, d.weight, '', '',
                pick('located'), pick('resides')].map(cell).join(','));
  }
  var blob = new Blob([lines.join('\\r\\n') + '\\r\\n'], {type: 'text/csv'});
  var a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'labels.csv';
  document.body.appendChild(a);
  a.click();
  document.body.removeChild(a);
});
"""
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
CSP = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src '{SCRIPT_HASH}'"
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 6px;
vertical-align:top;text-align:left}th{background:#f3f3f3}.muted{color:#666}.ev{font-size:12px;word-break:break-all}
fieldset.item{border:1px solid #bbb;margin:1.2em 0;padding:.6em 1em}legend{font-weight:bold}
.q{margin:.3em 0}.q label{margin-right:1.2em}img.thumb{float:right;max-width:128px;margin-left:1em}
#save{font-size:1.1em;padding:.4em 1em;position:sticky;top:0}
"""


def _link(url: object) -> str:
    if url is None:
        return '<span class="muted">—</span>'
    href = http_href(url)
    text = html_text(url)
    return f'<a href="{href}" rel="noopener noreferrer nofollow">{text}</a>' if href else text


def _question(item: SampleItem, q: str, cc: str) -> str:
    verb, short = ("located", "located") if q == "located" else ("resides", "resident")
    title = f"Is the image located in {cc}?" if q == "located" else f"Does the person shown reside in {cc}?"
    opts = "".join(
        f'<label><input type="radio" name="{q}-{html_text(item.sample_id)}" value="{value}"> '
        f"{html_text(text.format(verb=verb, verb_short=short, cc=cc))}</label>" for value, text in ANSWERS)
    return f'<div class="q"><b>{html_text(title)}</b> {opts}</div>'


def _item(item: SampleItem, cc: str, seed: int) -> str:
    e = html_text
    attrs = (f'data-sample-id="{e(item.sample_id)}" data-sha256="{e(item.sha256)}" data-country="{e(cc)}" '
             f'data-seed="{seed}" data-stratum="{e(item.stratum)}" data-stratum-size="{item.stratum_size}" '
             f'data-weight="{item.weight:.6g}"')
    parts = [f'<fieldset class="item" id="{e(item.sample_id)}" {attrs}><legend>{e(item.sample_id)}</legend>']
    if item.thumbnail and item.thumbnail.startswith("data:image/jpeg;base64,"):
        parts.append(f'<img class="thumb" src="{e(item.thumbnail)}" alt="thumbnail">')
    answer = (f"{e(item.country)} {e(item.tier)} (score {item.score:.2f})" if item.country and item.score is not None
              else "no country")
    parts.append(f'<div><code>{e(item.sha256)}</code> · stratum <b>{e(item.stratum)}</b> '
                 f'({item.stratum_size:,} images) · attribution: {answer} · {item.sighting_count} sighting(s)</div>')
    rows = "".join(f"<tr><td>{_link(s['page_url'])}</td><td>{_link(s['image_url'])}</td><td>{e(s['alt_text'])}</td>"
                   f"<td>{e(s['caption'])}</td></tr>" for s in item.sightings)
    more = (f'<div class="muted">{item.sighting_count - len(item.sightings)} more sighting(s) not shown</div>'
            if item.sighting_count > len(item.sightings) else "")
    parts.append("<table><thead><tr><th>page</th><th>image</th><th>alt text</th><th>caption</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>{more}")
    if item.signals:
        rows = "".join(f"<tr><td>{e(s['kind'])}</td><td>{e(s['country'])}</td><td>{e(s['strength'])}</td>"
                       f"<td class=\"ev\">{e(s['evidence'])}</td><td>{'carried over' if s['via_sha256'] else 'own'}"
                       "</td></tr>" for s in item.signals)
        parts.append("<table><thead><tr><th>signal</th><th>country</th><th>strength</th><th>evidence</th>"
                     f"<th>from</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        parts.append('<div class="muted">No signal of any country.</div>')
    if item.explanation:
        parts.append(f'<details><summary>the attribution\'s reasoning</summary><div class="ev muted">'
                     f"{e(item.explanation)}</div></details>")
    parts.append(_question(item, "located", cc) + _question(item, "resides", cc))
    parts.append('<div style="clear:both"></div></fieldset>')
    return "".join(parts)


def render_sheet(sample: Sample) -> str:
    """The labelling page: one form per image and a button saving the answers as ``labels.csv``."""
    cc = html_text(sample.country)
    strata = "".join(f"<tr><td>{html_text(s)}</td><td>{sample.sizes.get(s, 0):,}</td>"
                     f"<td>{sample.allocation.get(s, 0):,}</td></tr>" for s in STRATA)
    items = "".join(_item(i, sample.country, sample.seed) for i in sample.items)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex, noimageindex">'
        f"<title>Labelling sheet: {cc}, seed {sample.seed}</title><style>{CSS}</style></head><body>"
        f"<h1>Labelling sheet: is each image located in {cc}, does its subject reside there?</h1>"
        f"<p>A stratified random sample of {len(sample.items):,} of the store's {sample.population:,} images (seed "
        f"{sample.seed}). Answer from what the sightings and the evidence show, and say \"can't tell\" rather than "
        "guess. Unanswered images are left out. When done, save the answers and run "
        "<code>provaudit validate --db STORE --labels labels.csv</code>.</p>"
        f"<table><thead><tr><th>stratum</th><th>images</th><th>in the sample</th></tr></thead><tbody>{strata}"
        f'</tbody></table><button type="button" id="save">Save the answers as CSV</button>{items}'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_sheet(sample: Sample, out_dir: Path) -> tuple[Path, Path, Path]:
    """Write ``sample.html``, ``sample.csv`` and ``sample.json`` into ``out_dir`` (created if missing)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, csv_path, json_path = out_dir / "sample.html", out_dir / "sample.csv", out_dir / "sample.json"
    html_path.write_text(render_sheet(sample), encoding="utf-8")
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for i in sample.items:
            pages = sorted({s["page_url"] for s in i.sightings if s["page_url"]})
            images = sorted({s["image_url"] for s in i.sightings if s["image_url"]})
            w.writerow([csv_cell(v) for v in (i.sample_id, i.sha256, sample.country, sample.seed, i.stratum,
                                              i.stratum_size, f"{i.weight:.6g}", pages, images, "", "")])
    json_path.write_text(json_dumps(sample.as_dict(), indent=2) + "\n", encoding="utf-8")
    logger.info("labelling sheet of %d images in %s", len(sample.items), out_dir)
    return html_path, csv_path, json_path
