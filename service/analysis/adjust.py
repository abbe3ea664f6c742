"""What people add on top of the model and policy: publishers' term lists and
moderators' sentence corrections.

Term lists catch product names, slang and code words faster than retraining;
corrections make a moderator's decision about a sentence hold at once, until a
retrained model agrees with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .normalize import Normalized, normalize
from .policy import Policy, RaisedFlag
from .taxonomy import FLAGS, LABELS

EFFECTS = ("raise", "suppress")


@dataclass(frozen=True)
class Term:
    id: int
    term: str
    flag: str
    effect: str  # "raise" or "suppress"


@dataclass(frozen=True)
class Correction:
    """A sentence's labels and flags as a moderator decided them."""

    id: int
    labels: tuple[str, ...]
    flags: tuple[str, ...]


# sentence keys -> the latest correction of each key that has one
CorrectionLookup = Callable[[Sequence[str]], Mapping[str, Correction]]


def term_pattern(term: str) -> re.Pattern[str]:
    """Match ``term`` as whole words, in normalised text, with any white space between words."""
    words = normalize(term).split()
    if not words:
        raise ValueError("a term needs at least one word")
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)")


class TermList:
    """Compiled term lists: one alternation per flag and effect."""

    def __init__(self, terms: Iterable[Term] = (), generation: int = 0) -> None:
        self.terms = tuple(terms)
        self.generation = generation
        grouped: dict[tuple[str, str], list[str]] = {}
        for t in self.terms:
            if t.flag not in FLAGS or t.effect not in EFFECTS:
                raise ValueError(f"term {t.term!r}: unknown flag {t.flag!r} or effect {t.effect!r}")
            grouped.setdefault((t.flag, t.effect), []).append(term_pattern(t.term).pattern)
        self._patterns = {k: re.compile("|".join(v)) for k, v in grouped.items()}

    def __bool__(self) -> bool:
        return bool(self.terms)

    def apply(self, sentence: Normalized, raised: list[RaisedFlag], policy: Policy) -> list[RaisedFlag]:
        """Suppress, then raise: a suppress term removes the policy's flag; a raise term adds
        the flag wherever it appears, whatever the labels."""
        if not self._patterns:
            return raised
        text = sentence.text
        out = [f for f in raised
               if not ((p := self._patterns.get((f.code, "suppress"))) and p.search(text))]
        have = {f.code for f in out}
        for (code, effect), pattern in self._patterns.items():
            if effect != "raise" or code in have:
                continue
            spans = [m.span() for m in pattern.finditer(text)]
            if spans:
                rule = policy.rule(code)
                out.append(RaisedFlag(code, rule.severity, rule.message,
                                      tuple(sentence.to_original(a, b) for a, b in spans), "term_list"))
        return out


def apply_correction(
    correction: Correction, labels: tuple[str, ...], raised: list[RaisedFlag], length: int, policy: Policy,
) -> tuple[tuple[str, ...], list[RaisedFlag]] | None:
    """The sentence as the moderator decided it, or None where the model already agrees."""
    if set(labels) == set(correction.labels) and {f.code for f in raised} == set(correction.flags):
        return None
    kept = {f.code: f for f in raised if f.code in correction.flags}
    flags = []
    for code in FLAGS:
        if code not in correction.flags:
            continue
        if code in kept:
            flags.append(kept[code])
        else:
            rule = policy.rule(code)
            flags.append(RaisedFlag(code, rule.severity, rule.message, ((0, length),), "feedback"))
    return tuple(label for label in LABELS if label in correction.labels), flags
