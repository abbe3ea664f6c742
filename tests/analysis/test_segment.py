import time

import pytest

from service.analysis.extract import extract
from service.analysis.segment import MAX_SENTENCE_CHARS, segment


def sentences(text: str, fmt: str = "text") -> list[str]:
    ex = extract(text, fmt)
    return [ex.text[s.start : s.end] for s in segment(ex.text, ex.blocks)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kratom eases pain. Take 2 g daily.", ["Kratom eases pain.", "Take 2 g daily."]),
        ("Best Kratom for Pain\nIt works. Really!", ["Best Kratom for Pain", "It works.", "Really!"]),
        ("- Red bali\n- Green malay\n* White borneo",
         ["- Red bali", "- Green malay", "* White borneo"]),
        ("Some herbs, e.g. kratom, are sold online. Others, i.e. kava, too.",
         ["Some herbs, e.g. kratom, are sold online.", "Others, i.e. kava, too."]),
        ("Dr. Smith and Prof. Jones spoke. It was fine.",
         ["Dr. Smith and Prof. Jones spoke.", "It was fine."]),
        ("Take approx. 2.5 g. Wait an hour.", ["Take approx. 2.5 g.", "Wait an hour."]),
        ("Use 1–3 grams. Or 1.5-2 g. Fine.", ["Use 1–3 grams.", "Or 1.5-2 g.", "Fine."]),
        ("7-OH is potent. 7-hydroxymitragynine too.", ["7-OH is potent.", "7-hydroxymitragynine too."]),
        ("Well... it helped. Then it stopped...", ["Well... it helped.", "Then it stopped..."]),
        ("It works… and fast. Sure.", ["It works… and fast.", "Sure."]),
        ('He said "it cured me." Then he left.', ['He said "it cured me."', "Then he left."]),
        ("Is it safe? Nobody knows!", ["Is it safe?", "Nobody knows!"]),
        ("best strain ever 😍🔥 totally recommend. 10/10", ["best strain ever 😍🔥 totally recommend.", "10/10"]),
        ("The U.S. Food and Drug Administration warned. Okay.",
         ["The U.S. Food and Drug Administration warned.", "Okay."]),
        ("See No. 5 on the list. Done.", ["See No. 5 on the list.", "Done."]),
        ("Visit kratom.com today. Thanks.", ["Visit kratom.com today.", "Thanks."]),
        ("J. Smith wrote it. It was long.", ["J. Smith wrote it.", "It was long."]),
        ("Take 2 g. Done.", ["Take 2 g.", "Done."]),
        ("   \n\n  ", []),
    ],
)
def test_web_text_is_split_into_expected_sentences(text, expected):
    assert sentences(text) == expected


def test_html_blocks_end_sentences_and_nested_lists_are_items():
    html = (
        "<h2>Kratom and Pain</h2><p>It eases pain<br>for many. Really.</p>"
        "<ul><li>Red<ul><li>Bali</li><li>Borneo</li></ul></li><li>Green</li></ul>"
        "<table><tr><td>Dose</td><td>2 g</td></tr></table>"
    )
    assert sentences(html, "html") == [
        "Kratom and Pain", "It eases pain", "for many.", "Really.", "Red", "Bali", "Borneo",
        "Green", "Dose", "2 g",
    ]


def test_overlong_runs_are_cut_into_capped_pieces():
    text = "word " * 1000
    pieces = sentences(text)
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize(
    "unit",
    ["1.2.3.4.5.6.7.8.9.0 ", ". . . . 1. 2. ", "a" * 50, "...... ", "Dr. " , "e.g. 2.5 g. ", "7-OH… "],
)
def test_time_grows_linearly_on_hostile_input(unit):
    def cost(n: int) -> float:
        text = unit * n
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            sentences(text)
            best = min(best, time.perf_counter() - t0)
        return best

    small, large = cost(2_000), cost(20_000)
    # 10x the input; linear code stays near 10x. A quadratic one would be ~100x.
    assert large < small * 30 + 0.05
