"""Opt-out (consent) signals met on a page, an image or a host: robots.txt, X-Robots-Tag, robots meta tags and the
W3C TDMRep protocol (``tdm-reservation`` header, meta tag or ``/.well-known/tdmrep.json``). They are not countries but
what a regulator asks next: did the site say no to crawling, indexing images or text-and-data mining?"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from protego import Protego

from audit.httputil import header_values
from audit.signals.base import OptOut

logger = logging.getLogger(__name__)

OUR_AGENT = "provaudit"
DEFAULT_AGENTS: tuple[str, ...] = (OUR_AGENT, "Googlebot-Image", "Googlebot", "Bingbot", "GPTBot", "CCBot",
                                   "Google-Extended", "*")
MAX_ROBOTS_TXT = 512_000  # Google reads the first 500 KiB
MAX_TDMREP = 1_000_000
MAX_RULES = 1000
MAX_VALUE = 500
# Directives that say "do not use this" (for images, search indexes or AI training).
OPT_OUT_DIRECTIVES = frozenset({"noindex", "noimageindex", "none", "noai", "noimageai"})
# Directives that carry a value after a colon, so "name: value" is not an agent prefix.
_VALUED_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_AGENT_PREFIX = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.\-]{0,63})\s*:\s*(.*)$", re.S)


_SPACES = re.compile(r"\s+")


def _clip(value: str, limit: int = 160) -> str:
    """``value`` with every run of whitespace made one space, stripped, and cut to ``limit`` characters."""
    if len(value) <= limit and value.isprintable() and "  " not in value and value[:1] != " " \
            and value[-1:] != " ":
        return value  # nothing to collapse or cut (a printable string's only whitespace is the ASCII space)
    value = _SPACES.sub(" ", value).strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


@lru_cache(maxsize=4096)
def _parse_robots(text: str) -> Protego | None:
    """A parsed robots.txt, once per distinct text (a host's file governs all its URLs)."""
    try:
        return Protego.parse(text)
    except Exception:  # noqa: BLE001 - a hostile file must not break the audit
        logger.debug("unparsable robots.txt", exc_info=True)
        return None


def _agent_groups(parser: Protego, agents: tuple[str, ...]) -> tuple[int, ...]:
    """For each agent, a number shared by the agents whose answers are the same for every URL: those that
    robots.txt's group matching sends to the same group. Falls back to one number per agent if the parser does
    not tell (protego's matching is not public API)."""
    key = (id(parser), agents)
    cached = _GROUPS.get(key)
    if cached is not None and cached[0] is parser:
        return cached[1]
    match = getattr(parser, "_get_matching_rule_set", None)
    groups: tuple[int, ...]
    try:
        groups = tuple(id(match(a)) for a in agents) if callable(match) else tuple(range(len(agents)))
    except Exception:  # noqa: BLE001 - a parser change must not break the audit: ask it per agent instead
        groups = tuple(range(len(agents)))
    if len(_GROUPS) > 4096:
        _GROUPS.clear()
    _GROUPS[key] = (parser, groups)
    return groups


_GROUPS: dict[tuple[int, tuple[str, ...]], tuple[Protego, tuple[int, ...]]] = {}


def deciding_rule(parser: Any, url: str, agent: str) -> str | None:
    """The robots.txt rule that decides whether ``agent`` may fetch ``url``, as ``"Disallow: /private/ (User-agent:
    *)"``; None when no rule matches, or when ``parser`` (a protego ``Protego``) does not tell: which group and rule
    applied is not protego's public API, so this reads it defensively and never raises."""
    try:
        from protego._utils import _quote_path

        ruleset = parser._get_matching_rule_set(agent)
        if ruleset is None:
            return None
        quoted = _quote_path(url)
        for rule in ruleset._rules:  # sorted as protego decides: longest pattern first, Allow before Disallow
            if rule.value.match(quoted):
                return _rule_text(rule.field == "allow", str(rule.value._pattern), str(ruleset.user_agent))
    except Exception:  # noqa: BLE001 - a parser change must not break the crawl or the audit
        logger.debug("could not tell which robots.txt rule decided %s", url, exc_info=True)
    return None


@lru_cache(maxsize=4096)
def _rule_text(allow: bool, pattern: str, user_agent: str) -> str:
    """How :func:`deciding_rule` names a rule, once per rule (the rules of one file decide for many URLs)."""
    return f"{'Allow' if allow else 'Disallow'}: {_clip(pattern, 200)} (User-agent: {_clip(user_agent, 60)})"


def robots_opt_outs(robots_txt: str, url: str, agents: tuple[str, ...] = DEFAULT_AGENTS) -> list[OptOut]:
    """One ``robots_txt`` opt-out per agent that robots.txt forbids to fetch ``url`` (``*`` stands for any crawler
    without a group of its own)."""
    if not robots_txt or not url:
        return []
    parser = _parse_robots(robots_txt[:MAX_ROBOTS_TXT])
    if parser is None:
        return []
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        return []
    out: list[OptOut] = []
    verdicts: dict[int, bool | None] = {}  # agents that robots.txt puts in one group share one answer
    rules: dict[int, str | None] = {}  # ... and one deciding rule
    shown = ""
    groups = _agent_groups(parser, agents[:50])
    for agent, group in zip(agents[:50], groups, strict=True):
        if group not in verdicts:
            try:
                verdicts[group] = parser.can_fetch(url, agent)
            except Exception:  # noqa: BLE001
                logger.debug("protego failed on %s for %s", url, agent, exc_info=True)
                verdicts[group] = None
        allowed = verdicts[group]
        if allowed is None:
            continue
        if not allowed:
            if group not in rules:
                rules[group] = deciding_rule(parser, url, agent)
            rule = rules[group]
            shown = shown or _clip(path, 120)
            out.append(OptOut(kind="robots_txt", value="disallow", applies_to=agent,
                              evidence=f"robots.txt disallows {shown} for {agent}" + (f": {rule}" if rule else "")))
    return out


# Spellings of Disallow that robots.txt parsers (protego among them) accept.
_DISALLOW_WORDS = ("disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw")


@lru_cache(maxsize=4096)
def _disallow_prefixes(robots_txt: str) -> tuple[str, ...]:
    """The literal start of every Disallow value in a robots.txt (up to its first ``*`` or ``$``), unquoted and
    lower-cased, without leading slashes. Read generously: any line that starts with a spelling of Disallow counts,
    whatever group it is in, so that the result over-approximates what a parser would disallow."""
    prefixes: set[str] = set()
    for line in robots_txt[:MAX_ROBOTS_TXT].splitlines():
        line = line.split("#", 1)[0].strip().lower()
        word = next((w for w in _DISALLOW_WORDS if line.startswith(w)), None)
        if word is None:
            continue
        value = line[len(word):].lstrip(" \t:").strip()
        if not value:
            continue  # "Disallow:" with no value allows everything
        if "://" in value:
            return ("",)
        literal = re.split(r"[*$]", value, maxsplit=1)[0]
        prefixes.add(unquote(literal).lstrip("/"))
    return tuple(sorted(prefixes))


def robots_prefilter(robots_txt: str, url: str) -> bool:
    """Whether any Disallow rule of ``robots_txt`` could apply to ``url``. ``False`` means that
    :func:`robots_opt_outs` returns nothing for it, so a caller with many URLs under one file can skip them; the
    check is a generous superset (case and percent-encoding ignored, every group's rules considered)."""
    if not robots_txt or not url:
        return False
    prefixes = _disallow_prefixes(robots_txt)
    if not prefixes:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    target = unquote(parts.path + (f"?{parts.query}" if parts.query else "")).lower().lstrip("/")
    return target.startswith(prefixes)


def robots_url_fragments(robots_txt: str) -> tuple[str, ...]:
    """Strings one of which occurs in every URL that :func:`robots_prefilter` lets through, as long as the URL is
    printable ASCII without ``%`` (a set-wise caller tests ``contains(lower(url), fragment)`` in SQL, and sends the
    other URLs to the pre-filter as they are). ``()`` when no URL can pass; ``("",)`` when any URL may."""
    prefixes = _disallow_prefixes(robots_txt) if robots_txt else ()
    if any(not p.isascii() or not p.isprintable() for p in prefixes):
        return ("",)
    return prefixes


def robots_unreachable(status: int | None, error: str | None) -> str | None:
    """Why a recorded robots.txt (a ``host_policies`` row) was unreachable, or None: a server error (5xx) or a fetch
    that failed without a response (``error``). RFC 9309, section 2.3.1.4: the crawler MUST then assume a complete
    disallow. A 4xx means the host has no rules (section 2.3.1.3)."""
    if status is not None:
        return f"HTTP {status}" if status >= 500 else None
    return _clip(error, 120) if error else None


def recorded_robots_opt_outs(status: int | None, body: str | None, error: str | None, url: str,
                             agents: tuple[str, ...] = DEFAULT_AGENTS) -> list[OptOut]:
    """``robots_txt`` opt-outs for ``url`` from its host's recorded robots.txt: the rules of a 2xx file; nothing
    for a 4xx or no row; every agent disallowed when the file was unreachable (:func:`robots_unreachable`), with
    evidence saying why."""
    if not url:
        return []
    why = robots_unreachable(status, error)
    if why is not None:
        return [OptOut(kind="robots_txt", value="disallow", applies_to=agent,
                       evidence=f"robots.txt unreachable ({why}), so a complete disallow for {agent} "
                                "(RFC 9309 2.3.1.4)")
                for agent in agents[:50]]
    if status is None or not 200 <= status < 300 or not body or not robots_prefilter(body, url):
        return []
    return robots_opt_outs(body, url, agents)


def recorded_robots_fragments(status: int | None, body: str | None, error: str | None) -> tuple[str, ...]:
    """:func:`robots_url_fragments` of a recorded robots.txt: ``("",)`` (any URL) when it was unreachable, ``()``
    when it has no rules that :func:`recorded_robots_opt_outs` would read."""
    if robots_unreachable(status, error) is not None:
        return ("",)
    if status is None or not 200 <= status < 300 or not body:
        return ()
    return robots_url_fragments(body)


def _directives(value: str, default_agent: str = "*") -> list[tuple[str, str]]:
    """``(agent, directive)`` pairs of an X-Robots-Tag / robots meta value: ``googlebot: noindex, noai`` ->
    ``[("googlebot", "noindex"), ("googlebot", "noai")]``. Only opt-out directives are returned."""
    pairs: list[tuple[str, str]] = []
    agent = default_agent
    for token in value[:MAX_VALUE].split(",")[:50]:
        token = token.strip()
        m = _AGENT_PREFIX.match(token)
        if m and m.group(1).lower() not in _VALUED_DIRECTIVES:
            agent, token = m.group(1), m.group(2).strip()
        directive = token.lower()
        if directive in OPT_OUT_DIRECTIVES and (agent, directive) not in pairs:
            pairs.append((agent, directive))
    return pairs


def _header_values(headers: Mapping[str, Any], name: str) -> list[str]:
    return header_values(headers, name, max_length=MAX_VALUE, max_values=20)


def _tdm(reservation: Iterable[str], policy: Iterable[str], where: str) -> list[OptOut]:
    out: list[OptOut] = []
    reserved = False
    for value in reservation:
        if value.strip() == "1":
            reserved = True
            out.append(OptOut(kind="tdm_reservation", value="reserved", evidence=f"{where} tdm-reservation: 1"))
            break
    if reserved:
        for value in policy:
            value = _clip(value, MAX_VALUE)
            if value:
                out.append(OptOut(kind="tdm_policy", value=value, evidence=f"{where} tdm-policy: {_clip(value)}"))
                break
    return out


def header_opt_outs(headers: Mapping[str, Any]) -> list[OptOut]:
    """``x_robots_tag`` opt-outs (noindex, noimageindex, none, noai, noimageai, with an optional ``agent:`` prefix)
    and the TDMRep ``tdm-reservation: 1`` header (with its ``tdm-policy``)."""
    out: list[OptOut] = []
    for value in _header_values(headers, "x-robots-tag"):
        for agent, directive in _directives(value):
            out.append(OptOut(kind="x_robots_tag", value=directive, applies_to=agent,
                              evidence=f"X-Robots-Tag: {_clip(value)}"))
    out += _tdm(_header_values(headers, "tdm-reservation"), _header_values(headers, "tdm-policy"), "header")
    return out


def meta_opt_outs(facts: Mapping[str, Any]) -> list[OptOut]:
    """``meta_robots`` opt-outs from the page's ``robots_meta`` facts (``<meta name="robots">`` applies to every
    crawler, ``<meta name="googlebot">`` to Googlebot) and TDMRep ``tdm-reservation``/``tdm-policy`` meta tags."""
    out: list[OptOut] = []
    pairs = (facts or {}).get("robots_meta")
    for pair in pairs if isinstance(pairs, list | tuple) else []:
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            continue
        name, content = pair
        default = "*" if name.strip().lower() == "robots" else name.strip()[:64]
        for agent, directive in _directives(content, default):
            out.append(OptOut(kind="meta_robots", value=directive, applies_to=agent,
                              evidence=f'<meta name="{_clip(name, 40)}" content="{_clip(content)}">'))
    reservation = facts.get("tdm_reservation") if facts else None
    policy = facts.get("tdm_policy") if facts else None
    out += _tdm([reservation] if isinstance(reservation, str) else [],
                [policy] if isinstance(policy, str) else [], "<meta>")
    return out


@lru_cache(maxsize=4096)
def _location_pattern(pattern: str) -> re.Pattern[str] | None:
    """A TDMRep ``location`` as a compiled regular expression (robots.txt-style: ``*`` matches any run of
    characters, a final ``$`` anchors the end; otherwise a prefix match; a full URL is compared by its path), or None
    when it matches nothing."""
    pattern = pattern.strip()
    if pattern.lower().startswith(("http://", "https://")):
        try:
            pattern = urlsplit(pattern).path or "/"
        except ValueError:
            return None
    if not pattern:
        return None
    if not pattern.startswith(("/", "*")):
        pattern = "/" + pattern
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    return re.compile(".*".join(re.escape(part) for part in body.split("*")) + ("$" if anchored else ""))


@dataclass(frozen=True, slots=True)
class _TdmRule:
    pattern: re.Pattern[str] | None  # None: a location that matches nothing
    reserved: bool
    location: str
    policy: str | None


@lru_cache(maxsize=1024)
def _tdmrep_rules(tdmrep_json: str) -> tuple[_TdmRule, ...] | None:
    """The rules of a tdmrep.json, in order, once per distinct file (a host's file governs all its URLs); None
    when it is not a JSON list. Entries that are not objects are skipped; a rule whose ``location`` is not a string
    (or is too long) never matches."""
    try:
        rules = json.loads(tdmrep_json)
    except (ValueError, RecursionError):
        logger.debug("unparsable tdmrep.json")
        return None
    if not isinstance(rules, list):
        return None
    out: list[_TdmRule] = []
    for rule in rules[:MAX_RULES]:
        if not isinstance(rule, dict):
            continue
        location = rule.get("location")
        if not isinstance(location, str) or len(location) > MAX_VALUE:
            location = None
        policy = rule.get("tdm-policy")
        out.append(_TdmRule(pattern=_location_pattern(location) if location is not None else None,
                            reserved=str(rule.get("tdm-reservation")).strip() == "1",
                            location=location or "",
                            policy=policy if isinstance(policy, str) else None))
    return tuple(out)


@lru_cache(maxsize=4096)
def _tdm_rule_opt_outs(rule: _TdmRule, source: str | None) -> tuple[OptOut, ...]:
    where = f'{_clip(source, 200) if source else "tdmrep.json"} location "{_clip(rule.location, 80)}":'
    return tuple(_tdm(["1"], [rule.policy] if rule.policy is not None else [], where))


def tdmrep_opt_outs(tdmrep_json: str, url: str, source: str | None = None) -> list[OptOut]:
    """TDMRep opt-outs from ``/.well-known/tdmrep.json`` for ``url``: the first rule whose ``location`` matches the
    URL's path decides; ``tdm-reservation: 1`` is an opt-out from text-and-data mining (with its ``tdm-policy``).
    The evidence names the file as ``source`` (its URL) when given, else as ``tdmrep.json``."""
    if not tdmrep_json or len(tdmrep_json) > MAX_TDMREP or not url:
        return []
    rules = _tdmrep_rules(tdmrep_json)
    if not rules:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        logger.debug("unparsable URL")
        return []
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for rule in rules:
        if rule.pattern is None or rule.pattern.match(path) is None:
            continue
        if not rule.reserved:
            return []  # explicitly not reserved
        return list(_tdm_rule_opt_outs(rule, source))
    return []
