"""Opt-out signals: robots.txt, X-Robots-Tag, robots meta, TDMRep."""

from __future__ import annotations

import json

from audit.decode.pagefacts import page_facts
from audit.signals.consent import (
    DEFAULT_AGENTS,
    deciding_rule,
    header_opt_outs,
    meta_opt_outs,
    recorded_robots_fragments,
    recorded_robots_opt_outs,
    robots_opt_outs,
    robots_unreachable,
    robots_url_fragments,
    tdmrep_opt_outs,
)

ROBOTS = """
User-agent: GPTBot
User-agent: CCBot
Disallow: /

User-agent: Googlebot
Disallow: /private/

User-agent: Googlebot-Image
Disallow: /photos/
Allow: /photos/public/

User-agent: *
Disallow: /admin/
"""


def agents(opt_outs) -> set[str]:
    return {o.applies_to for o in opt_outs}


def test_robots_per_agent_groups() -> None:
    assert agents(robots_opt_outs(ROBOTS, "https://x.example/news/a.html")) == {"GPTBot", "CCBot"}
    photo = robots_opt_outs(ROBOTS, "https://x.example/photos/a.jpg")
    assert agents(photo) == {"GPTBot", "CCBot", "Googlebot-Image"}
    assert all(o.kind == "robots_txt" and o.value == "disallow" for o in photo)
    assert agents(robots_opt_outs(ROBOTS, "https://x.example/photos/public/a.jpg")) == {"GPTBot", "CCBot"}
    # Googlebot's group does not cover Googlebot-Image, which has its own
    assert agents(robots_opt_outs(ROBOTS, "https://x.example/private/a")) == {"GPTBot", "CCBot", "Googlebot"}
    assert agents(robots_opt_outs(ROBOTS, "https://x.example/admin/")) == {
        "provaudit", "Bingbot", "Google-Extended", "*", "GPTBot", "CCBot"}
    assert robots_opt_outs("", "https://x.example/") == []
    assert robots_opt_outs("garbage \x00 not robots", "https://x.example/") == []
    everything = robots_opt_outs("User-agent: *\nDisallow: /\n", "https://x.example/a", ("provaudit", "GPTBot"))
    assert agents(everything) == {"provaudit", "GPTBot"}


def test_the_deciding_rule_is_named() -> None:
    from protego import Protego

    parser = Protego.parse(ROBOTS)
    assert deciding_rule(parser, "https://x.example/photos/a.jpg", "Googlebot-Image") == (
        "Disallow: /photos/ (User-agent: googlebot-image)")
    # the longer Allow wins, and is named
    assert deciding_rule(parser, "https://x.example/photos/public/a.jpg", "Googlebot-Image") == (
        "Allow: /photos/public/ (User-agent: googlebot-image)")
    assert deciding_rule(parser, "https://x.example/admin/x", "provaudit") == "Disallow: /admin/ (User-agent: *)"
    assert deciding_rule(parser, "https://x.example/news/", "provaudit") is None  # no rule matches
    assert deciding_rule(None, "https://x.example/", "provaudit") is None  # a parser that does not tell
    evidence = {o.applies_to: o.evidence for o in robots_opt_outs(ROBOTS, "https://x.example/photos/a.jpg")}
    assert evidence["GPTBot"] == "robots.txt disallows /photos/a.jpg for GPTBot: Disallow: / (User-agent: gptbot)"


def test_x_robots_tag_variants() -> None:
    out = header_opt_outs({"X-Robots-Tag": ["noindex, nofollow", "googlebot: noimageindex",
                                            "otherbot: noai, noimageai", "unavailable_after: 25 Jun 2030 15:00:00 PST",
                                            "NONE"]})
    got = {(o.kind, o.value, o.applies_to) for o in out}
    assert got == {("x_robots_tag", "noindex", "*"), ("x_robots_tag", "noimageindex", "googlebot"),
                   ("x_robots_tag", "noai", "otherbot"), ("x_robots_tag", "noimageai", "otherbot"),
                   ("x_robots_tag", "none", "*")}
    assert next(o for o in out if o.value == "noindex").evidence == "X-Robots-Tag: noindex, nofollow"
    assert header_opt_outs({"x-robots-tag": ["max-image-preview:large, index"]}) == []
    assert header_opt_outs({}) == []


def test_tdm_headers() -> None:
    out = header_opt_outs({"tdm-reservation": ["1"], "TDM-Policy": ["https://x.example/policy.json"]})
    assert {(o.kind, o.value) for o in out} == {("tdm_reservation", "reserved"),
                                                ("tdm_policy", "https://x.example/policy.json")}
    assert header_opt_outs({"tdm-reservation": ["0"], "tdm-policy": ["https://x.example/p"]}) == []


def test_meta_opt_outs() -> None:
    html = """<html><head><meta name="robots" content="noai, noimageai, max-image-preview:large">
    <meta name="googlebot-image" content="noindex"><meta name="tdm-reservation" content="1">
    <meta name="tdm-policy" content="https://x.example/tdm.json"></head></html>"""
    out = meta_opt_outs(page_facts(html, "https://x.example/"))
    got = {(o.kind, o.value, o.applies_to) for o in out}
    assert got == {("meta_robots", "noai", "*"), ("meta_robots", "noimageai", "*"),
                   ("meta_robots", "noindex", "googlebot-image"), ("tdm_reservation", "reserved", "*"),
                   ("tdm_policy", "https://x.example/tdm.json", "*")}
    assert meta_opt_outs({}) == []
    assert meta_opt_outs({"robots_meta": [["robots", "index, follow"]], "tdm_reservation": "0"}) == []


def test_tdmrep_json() -> None:
    rules = json.dumps([
        {"location": "/public/*", "tdm-reservation": 0},
        {"location": "/images/*.jpg$", "tdm-reservation": 1, "tdm-policy": "https://x.example/policy.json"},
        {"location": "*", "tdm-reservation": 1},
    ])
    out = tdmrep_opt_outs(rules, "https://x.example/images/2024/a.jpg")
    assert {(o.kind, o.value) for o in out} == {("tdm_reservation", "reserved"),
                                                ("tdm_policy", "https://x.example/policy.json")}
    assert "/images/*.jpg$" in out[0].evidence
    assert tdmrep_opt_outs(rules, "https://x.example/public/a.jpg") == []  # first match says not reserved
    assert [o.kind for o in tdmrep_opt_outs(rules, "https://x.example/images/a.jpg.html")] == ["tdm_reservation"]
    assert tdmrep_opt_outs("{not json", "https://x.example/") == []
    assert tdmrep_opt_outs('{"location": "*"}', "https://x.example/") == []
    assert tdmrep_opt_outs("[1, null, {}]", "https://x.example/") == []
    assert out[0].evidence.startswith('tdmrep.json location "/images/*.jpg$"')
    named = tdmrep_opt_outs(rules, "https://x.example/images/2024/a.jpg", "https://x.example/.well-known/tdmrep.json")
    assert [o.evidence for o in named] == [o.evidence.replace("tdmrep.json", "https://x.example/.well-known/tdmrep.json",
                                                              1) for o in out]  # the evidence names the file


def test_test_web_robots_and_headers(tmp_path) -> None:
    from audit.testbed.testweb import build_web

    web = build_web(tmp_path, photos=60, seed=5)
    hosts = web.manifest["hosts"]
    assert isinstance(hosts, dict)
    for host, info in hosts.items():
        robots = (web.www / host / "robots.txt").read_text(encoding="utf-8")
        assert robots == info["robots_txt"]
        blocked = agents(robots_opt_outs(robots, f"http://{host}/"))
        assert blocked == set(info["blocked_agents"]), host
        for path in info["disallow_all"]:
            assert "*" in agents(robots_opt_outs(robots, f"http://{host}{path}x")), (host, path)
        if info["x_robots_tag"]:
            out = header_opt_outs({"X-Robots-Tag": [info["x_robots_tag"]]})
            assert {o.value for o in out} == {v.strip() for v in info["x_robots_tag"].split(",")}, host
        if info["kind"] not in ("cdn", "static"):
            facts = page_facts((web.www / host / "index.html").read_text(encoding="utf-8"), f"http://{host}/")
            values = {o.value for o in meta_opt_outs(facts)}
            expected = {v.strip() for v in (info["meta_robots"] or "").split(",")} & {
                "noindex", "noimageindex", "none", "noai", "noimageai"}
            assert values == expected, host


def test_a_recorded_robots_txt_that_was_unreachable_disallows_everything() -> None:
    """RFC 9309, section 2.3.1.4: a robots.txt answering 5xx, or not at all, means a complete disallow; 4xx means no
    rules; 2xx its rules."""
    url = "https://x.example/news/a.jpg"
    for status, error, why in ((500, None, "HTTP 500"), (503, None, "HTTP 503"),
                               (None, "DNSLookupError: no such host", "DNSLookupError: no such host")):
        assert robots_unreachable(status, error) == why
        out = recorded_robots_opt_outs(status, "User-agent: *\nAllow: /\n", error, url)
        assert agents(out) == set(DEFAULT_AGENTS) and {o.value for o in out} == {"disallow"}
        assert all(o.evidence == f"robots.txt unreachable ({why}), so a complete disallow for {o.applies_to} "
                                 "(RFC 9309 2.3.1.4)" for o in out)
        assert recorded_robots_fragments(status, None, error) == ("",)  # every URL of the host
    for status in (404, 403, 410, 429):
        assert robots_unreachable(status, None) is None
        assert recorded_robots_opt_outs(status, "User-agent: *\nDisallow: /\n", None, url) == []
        assert recorded_robots_fragments(status, "User-agent: *\nDisallow: /\n", None) == ()
    # no row at all: nothing known, nothing claimed
    assert recorded_robots_opt_outs(None, None, None, url) == [] and recorded_robots_fragments(None, None, None) == ()
    # a 2xx: the file's own rules, as robots_opt_outs reads them
    assert recorded_robots_opt_outs(200, ROBOTS, None, url) == robots_opt_outs(ROBOTS, url)
    assert recorded_robots_opt_outs(200, ROBOTS, None, "https://x.example/photos/a.jpg") == robots_opt_outs(
        ROBOTS, "https://x.example/photos/a.jpg")
    assert recorded_robots_fragments(200, ROBOTS, None) == robots_url_fragments(ROBOTS)
    assert recorded_robots_opt_outs(500, None, None, "") == []


def test_evidence_text_is_clipped_the_same_on_its_fast_path() -> None:
    import re

    from audit.signals.consent import _clip

    def reference(value: str, limit: int = 160) -> str:
        value = re.sub(r"\s+", " ", value).strip()
        return value if len(value) <= limit else value[: limit - 1] + "…"

    samples = ["/photos/a.jpg", " lead", "trail ", "two  spaces", "tab\there", "new\nline", "nbsp\u00a0x",
               "\u2003em", "x" * 160, "x" * 161, "y" * 200 + " ", "\x1c sep", "", " ", "é café", "a\u200bb"]
    for value in samples:
        for limit in (5, 160):
            assert _clip(value, limit) == reference(value, limit), (value, limit)


def test_one_tdmrep_file_answers_each_url_by_its_own_path() -> None:
    rules = json.dumps([{"location": "/a/*", "tdm-reservation": 1},
                        {"location": "/b/*", "tdm-reservation": 0},
                        {"location": "/c/*", "tdm-reservation": 1, "tdm-policy": "https://p.example/c.json"}])
    answers = [[o.kind for o in tdmrep_opt_outs(rules, f"https://x.example/{d}/1.jpg")] for d in "abcdab"]
    assert answers == [["tdm_reservation"], [], ["tdm_reservation", "tdm_policy"], [], ["tdm_reservation"], []]
    one, other = (tdmrep_opt_outs(rules, "https://x.example/a/1.jpg", source) for source in ("s1", "s2"))
    assert one[0].evidence.startswith("s1 ") and other[0].evidence.startswith("s2 ")
