"""The test web's captions name places the way real ones do, hard cases included, and say which country each names."""

from __future__ import annotations

from audit.testbed.testweb.world import HARD_NONE, HARD_PLACED, SITE_BY_HOST, build_world


def test_hard_captions_are_drawn_with_their_truth_and_leave_the_world_unchanged(monkeypatch):
    world = build_world(400, 2022)
    cases = {p.caption_case for p in world.photos} - {""}
    assert len(cases) >= 8  # stop-listed words, brands, people, foods, qualified names, a destination...
    assert any(c.startswith("stop:") for c in cases) and "destination:rome" in cases
    assert any(c.startswith("qualified:") for c in cases)
    none = {name for name, _, country in HARD_NONE if country is None}
    for p in world.photos:
        if not p.caption_case:
            assert p.caption_country == p.city.country and p.city.name in p.title
        elif p.caption_case in none:
            assert p.caption_country is None
        elif p.caption_case == "destination:rome":
            assert p.caption_country == "IT" and "flight to Rome" in p.title
        else:  # a hard case naming a place: only for photos taken in its country, so it tells the truth
            assert p.caption_case in {name for name, _ in HARD_PLACED[p.city.country]}
            assert p.caption_country == p.city.country
    # the photos themselves (who, where, when, which file) do not depend on the captions' own draws
    monkeypatch.setattr("audit.testbed.testweb.world.HARD_CAPTIONS", 0.0)
    plain = build_world(400, 2022)
    assert {p.caption_case for p in plain.photos} == {""}
    assert [(p.photo_id, p.person, p.city, p.taken_at, p.img_seed) for p in world.photos] == \
        [(p.photo_id, p.person, p.city, p.taken_at, p.img_seed) for p in plain.photos]


def test_ordinary_captions_are_in_the_publishing_sites_language():
    world = build_world(400, 2022)
    seen = set()
    for post in world.posts:
        if post.source_url is not None or post.site.kind not in ("local_news", "blog"):
            continue
        lang = (SITE_BY_HOST[post.site.host].lang or "en")[:2]
        for fig in post.figures:
            p = fig.main.photo
            word = {"fr": " à ", "es": " en ", "it": " a "}.get(lang)
            if word and not p.caption_case and fig.caption.startswith(p.person.name.split()[0] + word):
                seen.add(lang)
    assert {"fr", "es", "it"} <= seen
