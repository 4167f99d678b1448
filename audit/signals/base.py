"""The value objects every signal extractor returns. Their ``kind`` must be declared in :mod:`audit.signals.kinds`
(``Strength`` lives there too and is re-exported here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from audit.signals.kinds import KINDS_BY_NAME, OPT_OUT_KINDS_BY_NAME, Strength

__all__ = ["OptOut", "Signal", "Strength"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of evidence that an image, or one sighting of it, is tied to a country.

    ``weight`` is 1 for a signal naming one country; a value consistent with ``n`` countries (a bare ``fr``, a UTC
    offset) yields one signal per candidate with ``weight = 1/n``. ``detail`` holds extra facts as short strings
    (e.g. ``{"near_border_km": "2.1"}``). Building one of a kind not in :data:`audit.signals.kinds.KINDS` raises
    ``ValueError``."""

    kind: str
    country: str  # ISO 3166-1 alpha-2, upper case
    strength: Strength
    evidence: str  # the raw value it came from, e.g. 'EXIF GPS 48.8566,2.3522' or '<html lang="fr-BE">'
    weight: float = 1.0
    detail: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS_BY_NAME:
            raise ValueError(f"unknown signal kind {self.kind!r}: declare it in audit.signals.kinds.KINDS")


@dataclass(frozen=True, slots=True)
class OptOut:
    """An opt-out or consent signal met on a sighting's page, image or host: not a country, but what a regulator
    asks next. ``kind`` one of :data:`audit.signals.kinds.OPT_OUT_KINDS` (``robots_txt``, ``x_robots_tag``,
    ``meta_robots``, ``tdm_reservation``, ``c2pa_training``, ...; any other raises ``ValueError``); ``value`` the
    directive (``noimageindex``, ``noai``, ``disallow:Googlebot-Image``, ...)."""

    kind: str
    value: str
    evidence: str
    applies_to: str = "*"  # the user agent the directive names, or "*"

    def __post_init__(self) -> None:
        if self.kind not in OPT_OUT_KINDS_BY_NAME:
            raise ValueError(f"unknown opt-out kind {self.kind!r}: declare it in audit.signals.kinds.OPT_OUT_KINDS")
