"""The value objects every signal extractor returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Strength(StrEnum):
    """How much one signal says about a country (the reasons per kind are in docs/signals.md).

    - strong: the value names a place directly and is rarely wrong about it (EXIF GPS, IPTC/XMP location,
      geo.position on a local page);
    - medium: points to a country but is often shared or copied (ccTLD, region-tagged language, schema.org address,
      national phone number);
    - weak: consistent with several countries or easily misleading (UTC offset, bare language, server IP, camera
      model)."""

    STRONG = "strong"
    MEDIUM = "medium"
    WEAK = "weak"


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of evidence that an image, or one sighting of it, is tied to a country.

    ``weight`` is 1 for a signal naming one country; a value consistent with ``n`` countries (a bare ``fr``, a UTC
    offset) yields one signal per candidate with ``weight = 1/n``. ``detail`` holds extra facts as short strings
    (e.g. ``{"near_border_km": "2.1"}``)."""

    kind: str
    country: str  # ISO 3166-1 alpha-2, upper case
    strength: Strength
    evidence: str  # the raw value it came from, e.g. 'EXIF GPS 48.8566,2.3522' or '<html lang="fr-BE">'
    weight: float = 1.0
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OptOut:
    """An opt-out or consent signal met on a sighting's page, image or host: not a country, but what a regulator
    asks next. ``kind`` e.g. ``robots_txt``, ``x_robots_tag``, ``meta_robots``, ``tdm_reservation``, ``c2pa_training``;
    ``value`` the directive (``noimageindex``, ``noai``, ``disallow:Googlebot-Image``, ...)."""

    kind: str
    value: str
    evidence: str
    applies_to: str = "*"  # the user agent the directive names, or "*"
