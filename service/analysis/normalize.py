"""Text as the classifier and the policy see it; offsets stay on the original.

One function serves training and serving (the vectorisers call
``normalize`` as their preprocessor), so the two cannot drift.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

# Characters that render as nothing: zero-width, soft hyphen, bidi controls.
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff" + "".join(
    chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
# Cyrillic and Greek letters that look like Latin ones, as used to dodge filters.
_HOMOGLYPHS = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "к": "k",
    "м": "m", "т": "t", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ԛ": "q",
    "ԝ": "w", "α": "a", "ο": "o", "κ": "k", "τ": "t", "ι": "i", "ν": "v", "ε": "e",
    "ρ": "p", "μ": "m", "ɡ": "g", "ı": "i",
    # Typographic punctuation folded to ASCII, so "kratom’s" and "kratom's" match.
    "’": "'", "‘": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
}
_TABLE = str.maketrans({**dict.fromkeys(_INVISIBLE, None), **_HOMOGLYPHS})


def _marks_class() -> str:
    """A regex class of every combining mark (categories Mn, Me), as ranges."""
    ranges: list[list[int]] = []
    for c in [*range(0x300, 0x20000), *range(0xE0000, 0xE1000)]:
        if unicodedata.category(chr(c)) in ("Mn", "Me"):
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


# Accents and other combining marks: "ca\u0301ncer" and "cáncer" read as "cancer".
_MARKS_RE = re.compile(f"[{_marks_class()}]")
# U+202E shows what follows right to left, up to U+202C/U+2069 or the end of the paragraph:
# "\u202erecnac" reads "cancer" on screen.
_RLO = "\u202e"
_RLO_END_RE = re.compile("[\u202c\u2069\n\r\u2029]")
_SEP = r"[\s\-_.*·•'`~|/\\]{0,2}"
_KRATOM_RE = re.compile(
    rf"(?<![a-z0-9])[kc]{_SEP}r{_SEP}[a@4]{_SEP}[t7+]{_SEP}[o0u]{_SEP}m(?!m)"
)


@dataclass(frozen=True)
class Normalized:
    """Normalised text and, for each of its characters, the original index it came from."""

    text: str
    origin: tuple[int, ...] | None  # None: the i-th character came from index i

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` in the normalised text back to the original text."""
        if self.origin is None:
            return start, end
        span = self.origin[start:end]
        return min(span), max(span) + 1  # reversed (right-to-left override) runs map back too


def normalize(text: str) -> str:
    """Return ``text`` as the features see it."""
    return normalize_with_map(text).text


def sentence_key(text: str) -> str:
    """The identity of a sentence for moderators' corrections: the same after normalisation
    (case, look-alikes, white space), the same key."""
    return key_of_normalized(normalize(text))


def key_of_normalized(normalized: str) -> str:
    """``sentence_key`` of text that is already normalised."""
    return hashlib.sha256(" ".join(normalized.split()).encode("utf-8")).hexdigest()


def normalize_with_map(text: str) -> Normalized:
    """Normalise ``text`` (NFKC, invisibles removed, case folded, look-alikes and
    obfuscated spellings of "kratom" folded), keeping the way back to the original."""
    if text.isascii():
        folded, origin = text.lower(), None
    else:
        folded, origin = _fold_unicode(text)
    if "m" not in folded or all(m.group() == "kratom" for m in _KRATOM_RE.finditer(folded)):
        return Normalized(folded, origin)
    return _fold_kratom(folded, origin)


def _fold_unicode(text: str) -> tuple[str, tuple[int, ...] | None]:
    stripped = text.translate(_TABLE)
    if (_RLO not in text and unicodedata.is_normalized("NFKD", stripped)
            and not _MARKS_RE.search(stripped)):
        folded = stripped.casefold()
        if len(folded) == len(stripped) and not _MARKS_RE.search(folded):
            if len(stripped) == len(text):
                return folded, None
            return folded, tuple(i for i, c in enumerate(text) if c not in _INVISIBLE)
    # Slow path: characters whose normal form changes length (ligatures, ß, full-width,
    # accents...), or text shown in another order than it is stored.
    out: list[str] = []
    origin: list[int] = []
    for i in _display_order(text):
        piece = unicodedata.normalize("NFKD", text[i]).translate(_TABLE).casefold()
        piece = _MARKS_RE.sub("", unicodedata.normalize("NFKD", piece))
        out.append(piece)
        origin.extend([i] * len(piece))
    return "".join(out), tuple(origin)


def _display_order(text: str) -> list[int] | range:
    """Indices of ``text`` in the order a reader sees them: runs under a right-to-left
    override reversed (Latin letters under U+202E are drawn right to left)."""
    if _RLO not in text:
        return range(len(text))
    order: list[int] = []
    pos = 0
    while (rlo := text.find(_RLO, pos)) != -1:
        m = _RLO_END_RE.search(text, rlo + 1)
        end = m.start() if m else len(text)
        order.extend(range(pos, rlo + 1))
        order.extend(range(end - 1, rlo, -1))
        pos = end
    order.extend(range(pos, len(text)))
    return order


def _fold_kratom(text: str, origin: tuple[int, ...] | None) -> Normalized:
    index = origin if origin is not None else range(len(text))
    parts: list[str] = []
    new_origin: list[int] = []
    pos = 0
    for m in _KRATOM_RE.finditer(text):
        if m.group() == "kratom":
            continue
        parts.append(text[pos : m.start()])
        new_origin.extend(index[pos : m.start()])
        parts.append("kratom")
        first, last = index[m.start()], index[m.end() - 1]
        new_origin.extend([first, first, first, first, first, last])
        pos = m.end()
    parts.append(text[pos:])
    new_origin.extend(index[pos:])
    return Normalized("".join(parts), tuple(new_origin))
