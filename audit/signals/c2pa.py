"""Signals carried by an image's embedded C2PA manifest (Content Credentials): signed location claims and the
training-and-data-mining opt-out.

``read_manifest`` (:mod:`audit.decode.c2pa`, importable from here too) reads the manifest store offline with
``c2pa-python`` (imported lazily, so the rest of the project loads without it): remote manifests are never fetched,
OCSP is never queried, no network host is allowed, and a file that only references a remote manifest yields None.
``c2pa_signals`` and ``c2pa_opt_outs`` are pure functions of the
bytes. What is read, the strengths and what is left out are in docs/signals-c2pa.md. Nothing here raises for bad
data: it yields None or [] and logs at debug.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections.abc import Iterator, Mapping
from typing import Any

from audit.decode.c2pa import MAX_BYTES as MAX_BYTES
from audit.decode.c2pa import read_manifest
from audit.signals.base import OptOut, Signal, Strength
from audit.signals.countries import country_from_code, country_from_name
from audit.signals.geo import country_at, valid_position

log = logging.getLogger(__name__)

MAX_EVIDENCE_VALUE = 80
MAX_ENTRIES = 64  # training-mining entries looked at per assertion

CREATIVE_WORK = "stds.schema-org.CreativeWork"
EXIF_LABELS = ("stds.exif", "c2pa.metadata")
TRAINING_LABELS = ("c2pa.training-mining", "cawg.training-mining")
PLACE_KEYS = ("locationCreated", "contentLocation")
OPTED_OUT_USES = ("notAllowed", "constrained")

_LABEL_SUFFIX = re.compile(r"(__\d+)?$")
_VERSION_SUFFIX = re.compile(r"\.v\d+$")


def _short(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_EVIDENCE_VALUE else text[: MAX_EVIDENCE_VALUE - 1] + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# --- reading -----------------------------------------------------------------------------------------------------


def _active(store: Mapping[str, Any]) -> Mapping[str, Any] | None:
    manifests = store.get("manifests")
    label = store.get("active_manifest")
    if not isinstance(manifests, Mapping) or not isinstance(label, str):
        return None
    manifest = manifests.get(label)
    return manifest if isinstance(manifest, Mapping) else None


def _base_label(label: object) -> str:
    """``c2pa.training-mining__1`` -> ``c2pa.training-mining``; ``c2pa.metadata.v2`` -> ``c2pa.metadata``."""
    if not isinstance(label, str):
        return ""
    return _VERSION_SUFFIX.sub("", _LABEL_SUFFIX.sub("", label.strip(), count=1))


def _assertions(manifest: Mapping[str, Any], labels: tuple[str, ...]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(base label, data)`` of the active manifest's assertions whose label is one of ``labels``."""
    found = manifest.get("assertions")
    if not isinstance(found, list):
        return
    for assertion in found:
        if not isinstance(assertion, Mapping):
            continue
        label = _base_label(assertion.get("label"))
        body = assertion.get("data")
        if label in labels and isinstance(body, Mapping):
            yield label, body


def _validation(store: Mapping[str, Any]) -> str:
    """``trusted``, ``untrusted signer``, ``valid`` or ``invalid``: the SDK's verdict on the active manifest."""
    state = str(store.get("validation_state") or "").lower()
    status = store.get("validation_status")
    codes = {s.get("code") for s in (status if isinstance(status, list) else [])
             if isinstance(s, Mapping) and isinstance(s.get("code"), str)}
    if state == "invalid":
        return "invalid"
    if state == "trusted":
        return "trusted"
    if "signingCredential.untrusted" in codes:
        return "untrusted signer"
    return state or "unknown"


def _signer(manifest: Mapping[str, Any]) -> str:
    info = manifest.get("signature_info")
    if not isinstance(info, Mapping):
        return "unknown"
    for key in ("issuer", "common_name"):
        if isinstance(info.get(key), str) and info[key].strip():
            return _short(info[key])
    return "unknown"


# --- location ----------------------------------------------------------------------------------------------------


def _first(value: Any) -> Any:
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _country_of(value: Any) -> tuple[str, str] | None:
    """``(country, raw text)`` of a schema.org ``addressCountry``: a code, a name or a ``Country`` object."""
    value = _first(value)
    if isinstance(value, Mapping):
        value = value.get("identifier") or value.get("alternateName") or value.get("name")
        value = _first(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    country = country_from_code(text) if len(text) <= 3 else None
    country = country or country_from_name(text)
    return (country, text) if country else None


def _to_float(value: Any) -> float | None:
    if _is_number(value):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return out if math.isfinite(out) else None


_XMP_GPS = re.compile(r"^\s*(\d{1,3})(?:,(\d{1,2}(?:\.\d+)?))?(?:,(\d{1,2}(?:\.\d+)?))?\s*([NSEW])\s*$", re.I)


def parse_xmp_coordinate(value: Any) -> float | None:
    """Degrees from an XMP GPS coordinate (``"41,53.4N"``, ``"41,53,24N"``) or a plain decimal number."""
    value = _first(value)
    if isinstance(value, str):
        m = _XMP_GPS.match(value)
        if m:
            deg = float(m.group(1)) + float(m.group(2) or 0) / 60 + float(m.group(3) or 0) / 3600
            return -deg if m.group(4).upper() in "SW" else deg
    return _to_float(value)


def _position_signal(lat: float | None, lon: float | None) -> tuple[str, dict[str, str]] | None:
    if lat is None or lon is None or not valid_position(lat, lon):
        return None
    hit = country_at(lat, lon)
    if hit is None:
        return None
    detail: dict[str, str] = {}
    if hit.border_km is not None:
        detail["near_border_km"] = f"{hit.border_km:.1f}" if hit.border_km >= 1 else f"{hit.border_km:.2f}"
    return hit.country, detail


def _creative_work_hits(body: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """``(country, 'field=value', detail)`` from a CreativeWork's places."""
    for key in PLACE_KEYS:
        places = body.get(key)
        for place in (places if isinstance(places, list) else [places])[:8]:
            if not isinstance(place, Mapping):
                continue
            address = _first(place.get("address"))
            if isinstance(address, Mapping):
                found = _country_of(address.get("addressCountry"))
                if found:
                    yield found[0], f"{key}.addressCountry={_short(found[1])}", {}
            geo = _first(place.get("geo"))
            if isinstance(geo, Mapping):
                lat, lon = _to_float(geo.get("latitude")), _to_float(geo.get("longitude"))
                hit = _position_signal(lat, lon)
                if hit and lat is not None and lon is not None:
                    yield hit[0], f"{key}.geo={lat:.6f},{lon:.6f}", hit[1]


def _exif_hits(body: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """``(country, 'field=value', detail)`` from a ``stds.exif`` / ``c2pa.metadata`` assertion."""
    lat = parse_xmp_coordinate(body.get("exif:GPSLatitude"))
    lon = parse_xmp_coordinate(body.get("exif:GPSLongitude"))
    hit = _position_signal(lat, lon)
    if hit and lat is not None and lon is not None:
        yield hit[0], f"exif:GPSLatitude,exif:GPSLongitude={lat:.6f},{lon:.6f}", hit[1]
    code = _first(body.get("Iptc4xmpCore:CountryCode"))
    by_code = country_from_code(code) if isinstance(code, str) else None
    if by_code and isinstance(code, str):
        yield by_code, f"Iptc4xmpCore:CountryCode={_short(code.strip())}", {}
    name = _first(body.get("photoshop:Country"))
    if isinstance(name, Mapping):  # a lang-alt read as a struct
        name = next((v for v in name.values() if isinstance(v, str)), None)
    by_name = country_from_name(name) if isinstance(name, str) else None
    if by_name and isinstance(name, str):
        yield by_name, f"photoshop:Country={_short(name.strip())}", {}


def location_signals(store: Mapping[str, Any]) -> list[Signal]:
    """``c2pa_location`` signals from the active manifest of an already read store (see ``c2pa_signals``)."""
    manifest = _active(store)
    if manifest is None:
        return []
    validation = _validation(store)
    strength = Strength.MEDIUM if validation == "invalid" else Strength.STRONG
    signer = _signer(manifest)
    out: list[Signal] = []
    seen: set[str] = set()
    for label, body in _assertions(manifest, (CREATIVE_WORK, *EXIF_LABELS)):
        hits = _creative_work_hits(body) if label == CREATIVE_WORK else _exif_hits(body)
        for country, field_value, extra in hits:
            evidence = f"C2PA {label} {field_value} (signer: {signer})"
            if evidence in seen:
                continue
            seen.add(evidence)
            out.append(Signal(kind="c2pa_location", country=country, strength=strength, evidence=evidence,
                              detail={"validation": validation, "signer": signer, **extra}))
    return out


def c2pa_signals(data: bytes, mime: str | None = None) -> list[Signal]:
    """``c2pa_location`` signals from the signed location claims of the active manifest: a CreativeWork's
    ``locationCreated``/``contentLocation`` (``address.addressCountry`` or ``geo``) and ``stds.exif``/
    ``c2pa.metadata`` GPS, ``Iptc4xmpCore:CountryCode`` and ``photoshop:Country``. STRONG (a signed claim), MEDIUM
    when the signature or a hash does not validate (``detail["validation"] == "invalid"``)."""
    store = read_manifest(data, mime)
    return location_signals(store) if store is not None else []


# --- training and data mining ------------------------------------------------------------------------------------


def training_opt_outs(store: Mapping[str, Any]) -> list[OptOut]:
    """``c2pa_training`` opt-outs from the active manifest of an already read store (see ``c2pa_opt_outs``)."""
    manifest = _active(store)
    if manifest is None:
        return []
    signer = _signer(manifest)
    validation = _validation(store)
    out: list[OptOut] = []
    for label, body in _assertions(manifest, TRAINING_LABELS):
        entries = body.get("entries")
        if not isinstance(entries, Mapping):
            continue
        for name, entry in list(entries.items())[:MAX_ENTRIES]:
            use = entry.get("use") if isinstance(entry, Mapping) else None
            if not isinstance(name, str) or use not in OPTED_OUT_USES:
                continue
            value = f"{_short(name)}={use}"
            out.append(OptOut(kind="c2pa_training", value=value,
                              evidence=f"C2PA {label} {value} (signer: {signer}; {validation})"))
    return out


def c2pa_opt_outs(data: bytes, mime: str | None = None) -> list[OptOut]:
    """One ``c2pa_training`` OptOut per training-mining entry whose use is ``notAllowed`` or ``constrained``, e.g.
    ``c2pa.ai_generative_training=notAllowed`` (the assertion is ``c2pa.training-mining``, or ``cawg.training-mining``
    since C2PA 2.1 moved it to the CAWG; entries ``*.ai_training``, ``*.ai_generative_training``, ``*.ai_inference``,
    ``*.data_mining``, any name reported as is)."""
    store = read_manifest(data, mime)
    return training_opt_outs(store) if store is not None else []
