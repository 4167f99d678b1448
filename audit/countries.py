"""ISO 3166-1 alpha-2 country codes, checked: every ``--country`` of the command line and every report goes through
:func:`check_country`, so that ``UK`` (not a code: the United Kingdom is ``GB``) or ``EL`` (the EU's code for Greece;
ISO's is ``GR``) is refused with a suggestion instead of producing a report about nobody.

The 249 officially assigned codes are written out below (ISO 3166-1, as of 2024; no download); a test checks them
against pycountry's. Plain data: this module imports nothing but the standard library, and pycountry only to read a
country's name (``France``) on the way to an error message.
"""

from __future__ import annotations

#: the 249 officially assigned ISO 3166-1 alpha-2 codes
ASSIGNED: frozenset[str] = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
YE YT
ZA ZM ZW
""".split())

#: codes people type for a country that has another one: reserved, withdrawn or used by other bodies (the EU's EL
#: and UK, alpha-3 codes) -> the ISO 3166-1 alpha-2 code meant
MISTAKES: dict[str, str] = {
    "UK": "GB",  # exceptionally reserved for the United Kingdom; its code is GB
    "EL": "GR",  # the EU's code for Greece
    "FX": "FR",  # "metropolitan France", exceptionally reserved
    "TP": "TL",  # East Timor, withdrawn
    "ZR": "CD",  # Zaire, withdrawn
    "BU": "MM",  # Burma, withdrawn
    "YU": "RS",  # Yugoslavia, withdrawn
    "FRA": "FR", "ITA": "IT", "GRC": "GR", "NLD": "NL", "GBR": "GB", "DEU": "DE", "ESP": "ES", "BEL": "BE",
    "PRT": "PT", "AUT": "AT", "CHE": "CH", "IRL": "IE", "POL": "PL", "SWE": "SE", "DNK": "DK", "FIN": "FI",
    "NOR": "NO", "USA": "US", "CAN": "CA", "AUS": "AU", "LUX": "LU",
}
#: the codes ISO 3166-1 leaves to users (AA, QM-QZ, XA-XZ, ZZ): they name no country
USER_ASSIGNED: frozenset[str] = frozenset(
    {"AA", "ZZ"} | {f"Q{c}" for c in "MNOPQRSTUVWXYZ"} | {f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
#: what some of them, and some reserved codes, are used for, said plainly
USED_FOR: dict[str, str] = {"XK": "Kosovo", "EU": "the European Union"}

# neighbouring keys of a QWERTY keyboard, for the close-letters hint
_ROWS = ("QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM")
_POS = {ch: (r, c) for r, row in enumerate(_ROWS) for c, ch in enumerate(row)}


def _near(a: str, b: str) -> bool:
    (ra, ca), (rb, cb) = _POS[a], _POS[b]
    return a != b and abs(ra - rb) <= 1 and abs(ca - cb) <= 1


def _by_name(name: str) -> str | None:
    """The code of the country called ``name`` in English (``France``, ``united kingdom``), from pycountry's ISO 3166
    data (a dependency that ships it), or None. Imported only here, on the way to an error message."""
    import pycountry

    wanted = " ".join(name.split()).casefold()
    for c in pycountry.countries:
        names = {getattr(c, attr, "") for attr in ("name", "common_name", "official_name")}
        if wanted in {n.casefold() for n in names if n}:
            return str(c.alpha_2) if str(c.alpha_2) in ASSIGNED else None
    return None


def suggestions(code: str) -> list[str]:
    """Assigned codes ``code`` may have been meant as: a known mistake's code, the two letters swapped, or one letter
    replaced by a neighbouring key (at most three, sorted)."""
    cc = code.strip().upper()
    if cc in MISTAKES:
        return [MISTAKES[cc]]
    if len(cc) > 3:  # a country's name (France, Deutschland is not known: English names only)
        by_name = _by_name(code)
        return [by_name] if by_name else []
    if cc in USER_ASSIGNED or cc in USED_FOR or len(cc) != 2 or not all(ch in _POS for ch in cc):
        return []
    if cc[::-1] in ASSIGNED and cc[::-1] != cc:
        return [cc[::-1]]
    near = {a + cc[1] for a in _POS if _near(a, cc[0])} | {cc[0] + b for b in _POS if _near(b, cc[1])}
    return sorted(near & ASSIGNED)[:3]


def check_country(code: str) -> str:
    """``code`` as an officially assigned ISO 3166-1 alpha-2 code, upper case (``fr`` -> ``FR``); ValueError
    otherwise, saying what was probably meant (``UK is not an ISO 3166-1 alpha-2 code; did you mean GB?``)."""
    cc = str(code).strip().upper()
    if cc in ASSIGNED:
        return cc
    shown = repr(code) if not cc.isalpha() or not cc.isascii() or len(cc) > 3 else cc
    message = f"{shown} is not an ISO 3166-1 alpha-2 code"
    if cc in USED_FOR:
        message += f" (it is used for {USED_FOR[cc]}, but is not an officially assigned country code)"
    elif cc in USER_ASSIGNED:
        message += " (it is a user-assigned code: it names no country)"
    hints = suggestions(cc)
    if hints:
        message += f"; did you mean {' or '.join(hints)}?"
    elif cc not in USER_ASSIGNED and cc not in USED_FOR:
        message += " (two letters, such as FR, IT, GR, NL or GB)"
    raise ValueError(message)
