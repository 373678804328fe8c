"""Transcript normalisation: the one definition of "the words of an utterance".

Alignment (`msaflow align`) and tokenisation (`msaflow tokens`) both call
`normalize_transcript`, so the word table written by alignment and the words a tokeniser
sees are the same list, in the same order. Change the rules here and both stages rerun
(their rules hash this module).

Rules, applied in order:

1. Unicode: NFKC, curly quotes to ASCII, accents folded (``café`` -> ``cafe``) because the
   pronunciation dictionary is ASCII.
2. Markers, MOSI/MOSEI style: fillers in parentheses ``(umm)``, ``(uhh)``; non-speech events in
   angle, square or curly brackets ``<laughter>``, ``[noise]``, ``{cough}``; the P2FA short-pause
   token ``sp`` standing alone. With ``keep_markers=False`` (default) they are dropped; with
   ``keep_markers=True`` a filler keeps its word (``(umm)`` -> ``umm``), a bracketed event becomes
   one token ``<laughter>`` (lower case, angle brackets), and ``sp`` stays ``sp``.
   `is_nonspeech_marker` tells the two kinds apart (fillers are spoken and get aligned).
3. Case: lower case.
4. Numbers to words: cardinals (``42`` -> ``forty two``; ``1,000`` -> ``one thousand``),
   decimals (``3.5`` -> ``three point five``), ordinals (``21st`` -> ``twenty first``),
   years (``1999`` -> ``nineteen ninety nine``, ``2015`` -> ``twenty fifteen``; ``2005`` stays
   ``two thousand five``), decades (``1990s``/``90s`` -> ``nineteen nineties``/``nineties``),
   ``%`` -> ``percent``, ``$5`` -> ``five dollars``, ``&`` -> ``and``.
   The chosen reading is the one the word table lists; `normalize_transcript_groups` also
   returns the other common readings of a cardinal or year (``2019`` is also said ``two
   thousand nineteen`` or ``two thousand and nineteen``, ``1,500`` ``fifteen hundred``) so
   that the aligner can follow whichever the speaker used.
5. Hyphens and slashes split words (``well-known`` -> ``well known``) because dictionaries list
   the parts, not the compounds; dashes used as punctuation disappear.
6. Contractions stay one word (``don't``, ``it's``, ``y'all``): the CMU dictionary lists them
   and MOSI's word features treat them as one word. Quote-like apostrophes at word edges are
   removed (``'hello'`` -> ``hello``, ``parents'`` -> ``parents``) except in common clipped
   forms (``'cause``, ``'em``, ``'til``, ``'bout``).
7. Any other punctuation is removed; a token with no letters or digits left disappears.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["WordGroup", "normalize_transcript", "normalize_transcript_groups", "is_marker", "is_nonspeech_marker",
           "number_to_words"]

SHORT_PAUSE_TOKEN = "sp"
# Leading-apostrophe forms that are words in their own right (CMU dictionary spellings).
CLIPPED_FORMS = {"'cause", "'em", "'til", "'bout", "'n", "'round", "'course"}

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
                         "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": " - ", "\u2212": "-"})
_BRACKET_EVENT = re.compile(r"[<\[{]\s*([^<>\[\]{}]*?)\s*[>\]}]")
_PAREN_FILLER = re.compile(r"\(\s*([^()]*?)\s*\)")
_NUMBER_TOKEN = re.compile(
    r"(?P<cur>\$)?(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?P<dec>\.\d+)?"
    r"(?P<suf>st|nd|rd|th|s|'s|%)?(?![A-Za-z0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WordGroup:
    """Consecutive transcript words that came from one source token.

    `words` are what `normalize_transcript` lists; `alternatives` are other readings a speaker
    may have used for the same token (only numbers have any), each a tuple of words.
    """

    words: tuple[str, ...]
    alternatives: tuple[tuple[str, ...], ...] = ()


def _marker_placeholder(index: int) -> str:
    """A token made of NUL and letters only, so that number and punctuation rules leave it alone."""
    letters = ""
    while True:
        index, rest = divmod(index, 26)
        letters = chr(ord("a") + rest) + letters
        if index == 0:
            return f"\x00{letters}\x00"


def number_to_words(n: int) -> list[str]:
    """Cardinal number in words, e.g. 1234 -> ['one', 'thousand', 'two', 'hundred', 'thirty', 'four']."""
    if n < 0:
        return ["minus"] + number_to_words(-n)
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [_TENS[tens]] + ([_ONES[ones]] if ones else [])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return [_ONES[hundreds], "hundred"] + (number_to_words(rest) if rest else [])
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return number_to_words(high) + [name] + (number_to_words(rest) if rest else [])
    raise AssertionError("unreachable")


def _year_to_words(n: int) -> list[str]:
    """1999 -> nineteen ninety nine, 1905 -> nineteen oh five, 1900 -> nineteen hundred, 2015 -> twenty fifteen."""
    high, low = divmod(n, 100)
    if low == 0:
        return number_to_words(high) + ["hundred"]
    if low < 10:
        return number_to_words(high) + ["oh", _ONES[low]]
    return number_to_words(high) + number_to_words(low)


def _looks_like_year(n: int) -> bool:
    return 1100 <= n <= 1999 or 2010 <= n <= 2099


def _ordinal(words: list[str]) -> list[str]:
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return words[:-1] + [last]


def _plural(words: list[str]) -> list[str]:
    last = words[-1]
    last = last[:-1] + "ies" if last.endswith("y") else (last + "es" if last.endswith(("x", "s")) else last + "s")
    return words[:-1] + [last]


def _with_and(n: int) -> list[str]:
    """British cardinal: 'and' before the last part below a hundred (2019 -> two thousand and nineteen)."""
    rest = n % 100
    if n < 100 or rest == 0:
        return number_to_words(n)
    return number_to_words(n - rest) + ["and"] + number_to_words(rest)


def _cardinal_readings(value: int, digits: str, has_comma: bool, is_year: bool) -> list[list[str]]:
    """The transcript's reading of a plain number first, then other common ones (no duplicates)."""
    main = _year_to_words(value) if is_year else number_to_words(value)
    readings = [main, number_to_words(value), _with_and(value)]
    if len(digits) == 4 and not has_comma and 2001 <= value <= 2009:
        readings.append(["twenty", "oh", _ONES[value % 10]])  # 2005 -> twenty oh five
    if 1100 <= value <= 9900 and value % 100 == 0 and value % 1000:
        readings.append(number_to_words(value // 100) + ["hundred"])  # 1,500 -> fifteen hundred
    if 100 <= value < 200:
        readings.extend([["a"] + r[1:] for r in (number_to_words(value), _with_and(value))])  # a hundred (and) fifty
    unique: list[list[str]] = []
    for reading in readings:
        if reading not in unique:
            unique.append(reading)
    return unique


def _spell_number(match: re.Match) -> tuple[list[str], list[list[str]]]:
    """The words of a number token and the alternative readings of plain cardinals and years."""
    digits = match.group("num").replace(",", "")
    decimal = match.group("dec")
    suffix = (match.group("suf") or "").lower()
    value = int(digits)
    has_comma = "," in match.group("num")
    readings: list[list[str]]
    if decimal:
        readings = [number_to_words(value) + ["point"] + [_ONES[int(d)] for d in decimal[1:]]]
    elif suffix in ("st", "nd", "rd", "th"):
        readings = [_ordinal(number_to_words(value))]
        suffix = ""
    elif suffix == "s" and len(digits) == 2 and value % 10 == 0:  # the 90s
        readings = [_plural(number_to_words(value))]
        suffix = ""
    elif suffix == "s" and len(digits) == 4 and value % 10 == 0 and not has_comma:  # the 1990s
        readings = [_plural(_year_to_words(value) if _looks_like_year(value) or value % 100 else number_to_words(value))]
        suffix = ""
    elif len(digits) > 1 and digits.startswith("0"):  # 007, phone-like digit strings
        readings = [[_ONES[int(d)] for d in digits]]
    else:
        is_year = len(digits) == 4 and not has_comma and _looks_like_year(value) and not match.group("cur")
        readings = _cardinal_readings(value, digits, has_comma, is_year)
    finished = []
    for words in readings:
        if suffix == "'s":
            words = words[:-1] + [words[-1] + "'s"]
        elif suffix == "%":
            words = words + ["percent"]
        elif suffix == "s":
            words = _plural(words)
        if match.group("cur"):
            words = words + ["dollar" if value == 1 and not decimal else "dollars"]
        finished.append(words)
    return finished[0], finished[1:]


def _fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def is_marker(word: str) -> bool:
    """True for tokens that `normalize_transcript(keep_markers=True)` produced from markers
    other than fillers: bracketed events (``<laughter>``) and the short-pause token ``sp``."""
    return is_nonspeech_marker(word)


def is_nonspeech_marker(word: str) -> bool:
    """A kept marker that is not speech (``<laughter>``, ``sp``): an aligner should place it in
    the pause between its neighbours instead of looking for phones."""
    return word == SHORT_PAUSE_TOKEN or (word.startswith("<") and word.endswith(">"))


def _clean_word(token: str) -> list[str]:
    """Punctuation rules for one whitespace token (already lower case, numbers expanded)."""
    token = re.sub(r"[^a-z0-9'\-/]", "", token)
    words = []
    for part in re.split(r"[-/]+", token):
        if not part:
            continue
        if part in CLIPPED_FORMS:
            words.append(part)
            continue
        part = part.strip("'")
        part = re.sub(r"'{2,}", "'", part)
        if re.search(r"[a-z0-9]", part):
            words.append(part)
    return words


def normalize_transcript(text: str, keep_markers: bool = False) -> list[str]:
    """Split a transcript into the words that alignment and tokenisation share.

    Args:
        text: raw transcript (any case, punctuation, digits, MOSI markers).
        keep_markers: keep fillers such as ``(umm)`` as words and non-speech markers such as
            ``<laughter>``/``sp`` as tokens (see module docstring); drop them when False.

    Returns:
        Lower-case words in transcript order; possibly empty.

    >>> normalize_transcript("I DON'T know... (umm) it's 2 well-known <laughter> sp")
    ['i', "don't", 'know', "it's", 'two', 'well', 'known']
    >>> normalize_transcript("(umm) <laughter> sp", keep_markers=True)
    ['umm', '<laughter>', 'sp']
    """
    return [w for group in normalize_transcript_groups(text, keep_markers) for w in group.words]


def normalize_transcript_groups(text: str, keep_markers: bool = False) -> list[WordGroup]:
    """`normalize_transcript`'s words grouped by source token, with the readings of numbers.

    >>> [g.words for g in normalize_transcript_groups("in 2019")]
    [('in',), ('twenty', 'nineteen')]
    >>> normalize_transcript_groups("2019")[0].alternatives[:2]
    (('two', 'thousand', 'nineteen'), ('two', 'thousand', 'and', 'nineteen'))
    """
    if not isinstance(text, str):
        raise TypeError(f"transcript must be a string, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _fold_accents(text)

    # Markers and spelled-out numbers become placeholders so that later punctuation rules
    # cannot damage them (a number's words are already clean).
    kept: list[WordGroup] = []

    def keep(group: WordGroup) -> str:
        kept.append(group)
        return f" {_marker_placeholder(len(kept) - 1)} "

    def bracket_event(match: re.Match) -> str:
        label = re.sub(r"[^a-z0-9_]+", "_", match.group(1).lower()).strip("_")
        return keep(WordGroup((f"<{label}>",))) if keep_markers and label else " "

    def paren_filler(match: re.Match) -> str:
        if not keep_markers:
            return " "
        inner = match.group(1)
        return " " + inner + " "  # a filler is spoken: its words go through the normal rules

    def number(match: re.Match) -> str:
        words, alternatives = _spell_number(match)
        return keep(WordGroup(tuple(words), tuple(tuple(a) for a in alternatives)))

    text = _BRACKET_EVENT.sub(bracket_event, text)
    text = _PAREN_FILLER.sub(paren_filler, text)
    text = text.replace("&", " and ")
    text = _NUMBER_TOKEN.sub(number, text)
    text = text.lower()
    # A dash standing between spaces (or doubled) is punctuation, not a hyphen.
    text = re.sub(r"(?:\s-+\s)|(?:-{2,})", " ", f" {text} ")

    placeholders = {_marker_placeholder(i): group for i, group in enumerate(kept)}
    groups: list[WordGroup] = []
    for token in text.split():
        if token.startswith("\x00"):
            groups.append(placeholders[token])
            continue
        for word in _clean_word(token):
            if word == SHORT_PAUSE_TOKEN:
                if keep_markers:
                    groups.append(WordGroup((word,)))
                continue
            groups.append(WordGroup((word,)))
    return groups
