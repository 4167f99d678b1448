"""A stratified random sample of a store's images for one country, to be labelled by a person.

Strata: the attribution's tier for the country (``strong``, ``medium``, ``weak``) and ``not attributed`` (every
other image: attributed elsewhere, or to nothing). Allocation: every non-empty stratum first gets a minimum of
``min(size, MIN_PER_STRATUM, n // strata)`` images, then the rest of ``n`` goes one image at a time to the stratum
furthest below its proportional share ``n * size / population`` (ties: the stratum listed first), never more than
the stratum holds. Within a stratum the images are a simple random sample drawn with ``random.Random(seed)`` from
the stratum's images sorted by sha256, so one store and one seed always give the same sample."""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from audit.countries import check_country
from audit.outputs.validation.answer import STRATA, Answer, answer_for, shown_sql, stratum_sql
from audit.store.db import Store

logger = logging.getLogger(__name__)

MIN_PER_STRATUM = 30
MAX_SIGHTINGS = 20  # sightings shown per image on the sheet (the count says how many there are)
MAX_SIGNALS = 12  # signals shown per image


@dataclass
class SampleItem:
    sample_id: str
    sha256: str
    stratum: str
    stratum_size: int
    weight: float  # images of the population each sampled image of its stratum stands for
    country: str | None  # the attribution's answer (any country) and its tier, score and explanation
    tier: str | None
    score: float | None
    explanation: str | None
    sightings: list[dict[str, Any]] = field(default_factory=list)
    sighting_count: int = 0
    signals: list[dict[str, Any]] = field(default_factory=list)
    thumbnail: str | None = None


@dataclass
class Sample:
    country: str
    seed: int
    n: int
    population: int
    sizes: dict[str, int]  # stratum -> images in it
    allocation: dict[str, int]  # stratum -> images drawn from it
    items: list[SampleItem]
    answer: str
    drawn_at: str

    def as_dict(self) -> dict[str, Any]:
        """What the sample was (``sample.json``): enough to weight labels back to the population."""
        return {"country": self.country, "seed": self.seed, "n": self.n, "population": self.population,
                "strata": [{"stratum": s, "size": self.sizes.get(s, 0), "sampled": self.allocation.get(s, 0)}
                           for s in STRATA],
                "answer": self.answer, "drawn_at": self.drawn_at,
                "sample_ids": [i.sample_id for i in self.items]}


def allocate(sizes: dict[str, int], n: int, minimum: int = MIN_PER_STRATUM) -> dict[str, int]:
    """How many images to draw from each stratum (see the module doc): proportional to the strata's sizes with a
    minimum per non-empty stratum. Guarantees: the total is ``min(n, population)``, no stratum gets more than its
    size, and every non-empty stratum gets at least ``min(size, minimum, n // non-empty strata)``."""
    if n < 0:
        raise ValueError(f"the sample size must be positive, not {n}")
    order = [s for s in sizes if sizes[s] > 0]
    population = sum(sizes[s] for s in order)
    alloc = {s: 0 for s in sizes}
    if not order or n == 0:
        return alloc
    floor = min(minimum, n // len(order))
    for s in order:
        alloc[s] = min(sizes[s], floor)
    left = min(n, population) - sum(alloc.values())
    while left > 0:
        open_ = [s for s in order if alloc[s] < sizes[s]]
        best = max(open_, key=lambda s: (n * sizes[s] / population - alloc[s], -order.index(s)))
        alloc[best] += 1
        left -= 1
    return alloc


def draw(store: Store, country: str, n: int, seed: int, *, answer: Answer | None = None) -> Sample:
    """The stratified sample of ``n`` images (all of them when the store has fewer) for ``country``, with every
    sighting (at most :data:`MAX_SIGHTINGS` shown) and the signals behind each image's attribution. The same
    store and ``seed`` give the same sample. ``answer``: the one the country's order counts unless given."""
    cc = check_country(country)
    answer = answer or answer_for(cc)
    members: dict[str, list[str]] = {s: [] for s in STRATA}
    for sha, stratum in store.query(f"SELECT sha256, {stratum_sql(answer)} FROM attributions ORDER BY sha256",
                                    [cc]):
        members[str(stratum)].append(str(sha))
    if not any(members.values()):
        raise ValueError("this store has no attributions yet: run `provaudit audit --db FILE` first")
    sizes = {s: len(m) for s, m in members.items()}
    alloc = allocate(sizes, n)
    rng = random.Random(seed)
    picked: list[tuple[str, str]] = []
    for s in STRATA:  # one generator, strata in a fixed order: the draw depends on nothing but the store and seed
        picked += [(sha, s) for sha in sorted(rng.sample(members[s], alloc[s]))]
    rng.shuffle(picked)  # the sheet does not show the strata in blocks: a labeller is not led by the order
    items = [SampleItem(sample_id=f"{cc}-{seed}-{i + 1:04d}", sha256=sha, stratum=s, stratum_size=sizes[s],
                        weight=sizes[s] / alloc[s], country=None, tier=None, score=None, explanation=None)
             for i, (sha, s) in enumerate(picked)]
    _details(store, items, answer, cc)
    logger.info("sample for %s, seed %d: %s", cc, seed, alloc)
    return Sample(country=cc, seed=seed, n=n, population=sum(sizes.values()), sizes=sizes, allocation=alloc,
                  items=items, answer=answer.name,
                  drawn_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat())


def _details(store: Store, items: list[SampleItem], answer: Answer, country: str) -> None:
    """Fill in each item's attribution, sightings and signals: one query per table for the whole sample."""
    by_sha = {i.sha256: i for i in items}
    shas = list(by_sha)
    if not shas:
        return
    shown_country, shown_tier = shown_sql(answer, "$2")
    for sha, c, t, score, expl in store.query(f"""
            SELECT sha256, {shown_country}, {shown_tier}, score, explanation FROM attributions
            WHERE sha256 IN (SELECT unnest($1))""", [shas, country]):
        item = by_sha[sha]
        item.country, item.tier, item.explanation = c, t, expl
        item.score = None if score is None else round(float(score), 4)
    for sha, iu, pu, alt, cap, n in store.query(f"""
            SELECT sha256, image_url, page_url, alt_text, caption, count(*) OVER (PARTITION BY sha256) FROM sightings
            WHERE sha256 IN (SELECT unnest($1))
            QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY page_url NULLS LAST, image_url) <= {MAX_SIGHTINGS}
            ORDER BY sha256, page_url NULLS LAST, image_url""", [shas]):
        item = by_sha[sha]
        item.sightings.append({"image_url": iu, "page_url": pu, "alt_text": alt, "caption": cap})
        item.sighting_count = int(n)
    for sha, kind, c, cands, strength, evidence, via in store.query(f"""
            SELECT sha256, kind, country, candidates, strength, evidence, via_sha256 FROM signals
            WHERE sha256 IN (SELECT unnest($1))
            QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY
                CASE strength WHEN 'strong' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC, via_sha256 NULLS FIRST,
                kind, evidence) <= {MAX_SIGNALS}
            ORDER BY sha256, CASE strength WHEN 'strong' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC,
                via_sha256 NULLS FIRST, kind, evidence""", [shas]):
        named = c if c is not None else (" ".join(cands[:6]) + (" …" if len(cands) > 6 else "") if cands else None)
        by_sha[sha].signals.append({"kind": kind, "country": named, "strength": strength, "evidence": evidence,
                                    "via_sha256": via})
