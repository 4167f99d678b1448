"""Country signals from the language of an image's alt text or caption (``alt_language``, WEAK).

A language says little about a country: French alt text fits France, Belgium, Switzerland, Canada... so each detected
language spreads WEAK signals over the countries where it is official (weight 1/n). Detection uses py3langid's bundled
model with normalised probabilities; short texts and uncertain guesses yield nothing."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from audit.signals.base import Signal, Strength
from audit.signals.languages import language_countries

logger = logging.getLogger(__name__)

MIN_LETTERS = 20
MIN_PROBABILITY = 0.9
MAX_CHARS = 2000  # characters of each text given to the identifier

_lock = threading.Lock()
_identifier: Any = None


def language_identifier() -> Any:
    """py3langid's identifier with normalised probabilities, built once on first use (loads its bundled model)."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def detect_language(text: str | None) -> tuple[str, float] | None:
    """``(language, probability)`` for a text of at least ``MIN_LETTERS`` letters, or ``None``."""
    if not text:
        return None
    text = re.sub(r"\s+", " ", text[:MAX_CHARS]).strip()
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return None
    language, probability = language_identifier().classify(text)
    return str(language), float(probability)


def text_language_signals(alt_text: str | None, caption: str | None) -> list[Signal]:
    """``alt_language`` signals: the confident language(s) of the alt text and caption, spread over their countries.

    Alt text and caption are read separately; when both are confident and agree, the language counts once."""
    found: dict[str, str] = {}  # language -> evidence
    seen_texts: set[str] = set()
    for label, text in (("alt", alt_text), ("caption", caption)):
        if not text or text in seen_texts:
            continue
        seen_texts.add(text)
        guess = detect_language(text)
        if guess is None:
            continue
        language, probability = guess
        if probability < MIN_PROBABILITY or not language_countries(language):
            continue
        snippet = re.sub(r"\s+", " ", text).strip()[:60].replace('"', "'")
        found.setdefault(language, f'{label} language {language} (p={probability:.2f}): "{snippet}"')
    signals: list[Signal] = []
    for language, evidence in found.items():
        countries = language_countries(language)
        weight = 1 / (len(countries) * len(found))
        signals += [Signal(kind="alt_language", country=c, strength=Strength.WEAK, evidence=evidence, weight=weight,
                           detail={"language": language, "candidates": str(len(countries))}) for c in countries]
    return signals
