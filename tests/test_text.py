"""The transcript normaliser shared by alignment and tokenisation (msaflow.text)."""

import pytest

from msaflow.text import is_nonspeech_marker, normalize_transcript, number_to_words


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", ["hello", "world"]),
        ("I DON'T think it's bad", ["i", "don't", "think", "it's", "bad"]),
        ("a well-known self-made man", ["a", "well", "known", "self", "made", "man"]),
        ("wait -- what? yes - no", ["wait", "what", "yes", "no"]),
        ("\u2018quoted\u2019 parents' 'cause", ["quoted", "parents", "'cause"]),
        ("Caf\u00e9 jalape\u00f1o", ["cafe", "jalapeno"]),
        ("AT&T", ["at", "and", "t"]),
        ("", []),
        ("... !!! ,,,", []),
    ],
)
def test_case_punctuation_hyphens_contractions(text, expected):
    assert normalize_transcript(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2", ["two"]),
        ("42", ["forty", "two"]),
        ("115", ["one", "hundred", "fifteen"]),
        ("1,000,000", ["one", "million"]),
        ("3.5", ["three", "point", "five"]),
        ("21st", ["twenty", "first"]),
        ("the 3rd and 12th", ["the", "third", "and", "twelfth"]),
        ("in 1999", ["in", "nineteen", "ninety", "nine"]),
        ("in 2015", ["in", "twenty", "fifteen"]),
        ("in 2005", ["in", "two", "thousand", "five"]),
        ("1905", ["nineteen", "oh", "five"]),
        ("the 1990s", ["the", "nineteen", "nineties"]),
        ("the 80s", ["the", "eighties"]),
        ("50%", ["fifty", "percent"]),
        ("$5", ["five", "dollars"]),
        ("$1", ["one", "dollar"]),
    ],
)
def test_numbers_become_words(text, expected):
    assert normalize_transcript(text) == expected


def test_number_to_words_large_and_negative():
    assert number_to_words(1_234_567) == ["one", "million", "two", "hundred", "thirty", "four",
                                          "thousand", "five", "hundred", "sixty", "seven"]
    assert number_to_words(-3) == ["minus", "three"]
    assert number_to_words(0) == ["zero"]


def test_markers_dropped_by_default():
    text = "(umm) I liked it <laughter> sp a lot [noise] {cough}"
    assert normalize_transcript(text) == ["i", "liked", "it", "a", "lot"]


def test_markers_kept_when_asked():
    text = "(umm) I liked it <Laughter> sp a lot [Noise] (uhh)"
    words = normalize_transcript(text, keep_markers=True)
    assert words == ["umm", "i", "liked", "it", "<laughter>", "sp", "a", "lot", "<noise>", "uhh"]
    assert [is_nonspeech_marker(w) for w in words] == [False, False, False, False, True, True, False, False, True, False]


def test_marker_placeholders_survive_number_expansion():
    # Markers are protected while numbers are spelled out; the 11th marker must not become "ten".
    text = " ".join(f"<m{i}>" for i in range(12)) + " 7"
    words = normalize_transcript(text, keep_markers=True)
    assert words[:12] == [f"<m{i}>" for i in range(12)]
    assert words[12:] == ["seven"]


def test_sp_inside_words_is_not_a_marker():
    assert normalize_transcript("spa SP sp") == ["spa"]
    assert normalize_transcript("spa SP sp", keep_markers=True) == ["spa", "sp", "sp"]


def test_deterministic_and_rejects_non_strings():
    text = "It's 2 o'clock, (umm) well-known!"
    assert normalize_transcript(text) == normalize_transcript(text)
    with pytest.raises(TypeError):
        normalize_transcript(None)  # type: ignore[arg-type]
