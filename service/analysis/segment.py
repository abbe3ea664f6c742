"""Split extracted text into sentences with ``[start, end)`` offsets.

A small rule-based splitter rather than pysbd or syntok: pysbd's run time
explodes on numbers and dots, syntok's on long blocks, and web text here comes
already cut into blocks (lines, HTML block elements), so what remains is
deciding which of ``. ! ? …`` ends a sentence. Every loop below does a bounded
amount of work per character, so time is linear in the input, including
hostile input (tests/analysis/test_segment.py measures that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .extract import Block, Origin

# Abbreviations after which a full stop does not end a sentence (lower case,
# without the final stop), and those that only abbreviate before a number.
ABBREVIATIONS = frozenset(
    {
        "a.k.a", "approx", "ca", "cf", "dept", "dr", "e.g", "eg", "i.e", "ie", "inc", "incl", "jr",
        "ltd", "mr", "mrs", "ms", "prof", "sr", "st", "tbsp", "tsp", "u.k", "u.s", "u.s.a", "vs",
        "viz", "wt", "oz", "lb", "lbs", "al", "jan", "feb", "apr", "aug", "sept", "oct", "nov",
        "dec",
    }
)
NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "vol", "fig", "figs", "pp", "p", "ref"})
MAX_SENTENCE_CHARS = 1000

_TERMINATOR_RE = re.compile(r"[.!?…]+[\"'”’)\]»]*")
_WORD_BEFORE_RE = re.compile(r"[A-Za-z][A-Za-z.]{0,11}\Z")


@dataclass(frozen=True)
class Span:
    """A sentence's place in the extracted text."""

    start: int
    end: int
    origin: Origin = "body"


def segment(text: str, blocks: Iterable[Block]) -> list[Span]:
    """Return the sentences of every block, in order."""
    spans: list[Span] = []
    for block in blocks:
        cut = block.start
        for m in _TERMINATOR_RE.finditer(text, block.start, block.end):
            if _ends_sentence(text, m.start(), m.end(), block.end):
                _append(spans, text, cut, m.end(), block.origin)
                cut = m.end()
        _append(spans, text, cut, block.end, block.origin)
    return spans


def _ends_sentence(text: str, punct_start: int, punct_end: int, block_end: int) -> bool:
    if punct_end >= block_end:
        return True
    if not text[punct_end].isspace():
        return False  # "2.5 g", "e.g.,", "kratom.com", "7-OH..."
    nxt = _next_visible(text, punct_end, block_end)
    if nxt is None:
        return True
    mark = text[punct_start]
    if mark in "!?":
        return True
    if nxt.islower():
        return False  # "approx. two grams", "... and then"
    if text[punct_start : punct_end] == ".":
        before = _WORD_BEFORE_RE.search(text, max(0, punct_start - 12), punct_start)
        if before:
            word = before.group().lower()
            if word in ABBREVIATIONS or (word in NUMBER_ABBREVIATIONS and nxt.isdigit()):
                return False  # "Dr. Smith", "approx. 2 g", "No. 5"
            if len(word) == 1 and before.group().isupper() and nxt.isupper():
                return False  # an initial: "J. Smith"
    return True


def _next_visible(text: str, pos: int, end: int) -> str | None:
    # Bounded look-ahead keeps the splitter linear on long runs of spaces.
    for i in range(pos, min(end, pos + 64)):
        if not text[i].isspace():
            return text[i]
    return None if end <= pos + 64 else "A"


def _append(spans: list[Span], text: str, start: int, end: int, origin: Origin) -> None:
    """Add ``[start, end)`` trimmed of white space, cut into pieces no longer than the cap."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start + MAX_SENTENCE_CHARS // 2, start + MAX_SENTENCE_CHARS)
        cut = cut if cut > start else start + MAX_SENTENCE_CHARS
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        spans.append(Span(start, piece_end, origin))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        spans.append(Span(start, end, origin))
