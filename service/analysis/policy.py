"""Risk flags with evidence, and the document's verdict, from a policy data file.

The policy's cue lists, severities and messages are data (TOML), so a
publisher can replace them without touching code. A flag is raised when the
sentence carries the label the flag is about, nothing in the sentence
suppresses it (negation, warning, attribution), and either a strong cue
matches, or the model's likelihood for the flag reaches its threshold while an
evidence cue shows where, or the likelihood reaches a higher model-only
threshold (cue lists never cover every wording; a ``Locator`` then finds the
words the model weighed most, as evidence).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PolicyError
from .normalize import Normalized
from .taxonomy import FLAGS, LABELS

SEVERITIES: tuple[str, ...] = ("none", "low", "medium", "high")
DEFAULT_POLICY = Path(__file__).with_name("policy.toml")


@dataclass(frozen=True)
class FlagRule:
    code: str
    severity: str
    message: str
    description: str
    requires: frozenset[str]
    evidence: re.Pattern[str] | None
    strong: re.Pattern[str] | None
    suppress: re.Pattern[str] | None
    # words that read like a warning but play a risk down ("never had a problem", "no known
    # interactions"): blanked before the suppressors look, so they do not cancel the flag
    reassurance: re.Pattern[str] | None = None


QUESTION_LIKELIHOOD = 0.9  # a question affirms nothing unless the model is this sure
NEVER = 1.01  # a likelihood threshold no probability reaches: that path is off

Locator = Callable[[str, str], list[tuple[int, int]]]
"""(flag code, normalised sentence) -> spans of the words the model weighed most for that flag."""


@dataclass(frozen=True)
class Candidate:
    """A flag's cue matches in one sentence; ``decide`` adds the model's likelihood."""

    strong: list[tuple[int, int]]
    evidence: list[tuple[int, int]]
    suppressed: bool
    question: bool

    def decide(self, likelihood: float, threshold: float, floor: float) -> list[tuple[int, int]]:
        """The evidence spans if a cue path raises the flag, else an empty list."""
        if self.suppressed:
            return []
        if self.strong and not self.question and likelihood >= floor:
            return self.strong
        needed = max(threshold, QUESTION_LIKELIHOOD) if self.question else threshold
        if self.evidence and likelihood >= needed:
            return self.evidence
        return []


@dataclass(frozen=True)
class RaisedFlag:
    """A flag on a sentence; ``evidence`` holds ``[start, end)`` spans in the sentence."""

    code: str
    severity: str
    message: str
    evidence: tuple[tuple[int, int], ...]
    source: str = "policy"  # "policy": cue or model; "feedback"; "term_list"


@dataclass(frozen=True)
class DocumentFlag:
    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class Policy:
    version: str
    rules: tuple[FlagRule, ...]
    severity_weights: Mapping[str, float]
    disclaimer: re.Pattern[str]
    document_flags: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    label_descriptions: Mapping[str, str] = field(default_factory=dict)

    def rule(self, code: str) -> FlagRule:
        for rule in self.rules:
            if rule.code == code:
                return rule
        raise KeyError(code)

    def candidates(self, sentence: Normalized, labels: Iterable[str]) -> dict[str, Candidate]:
        """What each flag's cues find in ``sentence``, before the model has its say."""
        text = sentence.text
        labels = set(labels)
        question = text.rstrip().endswith("?")
        out = {}
        for rule in self.rules:
            if rule.requires.isdisjoint(labels):
                continue
            strong = _spans(rule.strong, text) if rule.strong is not None else []
            evidence = _spans(rule.evidence, text) if rule.evidence is not None else []
            if not strong and not evidence:
                continue
            out[rule.code] = Candidate(strong, evidence, _suppresses(rule, text), question)
        return out

    def suppressed(self, code: str, text: str) -> bool:
        """Whether something in ``text`` (normalised) keeps flag ``code`` from being raised."""
        return _suppresses(self.rule(code), text)

    def flag_sentence(
        self, sentence: Normalized, labels: Iterable[str], likelihoods: Mapping[str, float],
        thresholds: Mapping[str, float], floors: Mapping[str, float] | None = None,
        model_only: Mapping[str, float] | None = None, locate: Locator | None = None,
    ) -> list[RaisedFlag]:
        """Return the flags ``sentence`` raises, given its labels and the model's likelihoods.

        ``thresholds``: the likelihood at which the model raises a flag where an evidence
        cue shows where; ``floors``: the likelihood a strong cue needs; ``model_only``: the
        likelihood at which the model raises it with no cue (not on a question), with
        ``locate``'s spans (or the whole sentence) as evidence.
        """
        floors = floors or {}
        model_only = model_only or {}
        text = sentence.text
        labels = set(labels)
        question = text.rstrip().endswith("?")
        flags = []
        for rule in self.rules:  # the same decision as Candidate.decide, computing only what it needs
            if rule.requires.isdisjoint(labels):
                continue
            p = likelihoods.get(rule.code, 0.0)
            spans: list[tuple[int, int]] = []
            if rule.strong is not None and not question and p >= floors.get(rule.code, 0.0):
                spans = _spans(rule.strong, text)
            threshold = thresholds.get(rule.code, 1.0)
            if not spans and rule.evidence is not None and p >= (
                max(threshold, QUESTION_LIKELIHOOD) if question else threshold
            ):
                spans = _spans(rule.evidence, text)
            if not spans and not question and p >= model_only.get(rule.code, NEVER):
                spans = (locate(rule.code, text) if locate else []) or [(0, len(text.rstrip()))]
            if not spans or _suppresses(rule, text):
                continue
            flags.append(RaisedFlag(
                rule.code, rule.severity, rule.message,
                tuple(sentence.to_original(a, b) for a, b in _merge(spans)),
            ))
        return flags

    def has_disclaimer(self, sentence: Normalized) -> bool:
        return self.disclaimer.search(sentence.text) is not None

    def document_verdict(
        self, sentence_flags: Iterable[str], has_disclaimer: bool
    ) -> list[DocumentFlag]:
        found = set(sentence_flags)
        out = []
        rule = self.document_flags.get("missing_disclaimer")
        if rule and found & set(rule["when_any"]) and not has_disclaimer:
            out.append(DocumentFlag("missing_disclaimer", rule["severity"], rule["message"]))
        return out

    def risk(self, severities: Iterable[str]) -> tuple[str, float]:
        """Level = highest severity; score = 1 - prod(1 - weight) over every flag."""
        level, keep = "none", 1.0
        for sev in severities:
            keep *= 1.0 - self.severity_weights[sev]
            if SEVERITIES.index(sev) > SEVERITIES.index(level):
                level = sev
        return level, round(1.0 - keep, 4)


def _suppresses(rule: FlagRule, text: str) -> bool:
    if rule.suppress is None:
        return False
    if rule.reassurance is not None:
        text = rule.reassurance.sub(lambda m: " " * len(m.group()), text)
    return rule.suppress.search(text) is not None


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text) if m.end() > m.start()]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans = sorted(spans)
    merged = [spans[0]]
    for a, b in spans[1:]:
        if a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate a policy file (the packaged default when ``path`` is None)."""
    path = path or DEFAULT_POLICY
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from exc
    try:
        lists = data.get("lists", {})
        rules = []
        for code in FLAGS:
            spec = data["flags"][code]
            if spec["severity"] not in SEVERITIES[1:]:
                raise PolicyError(f"flag {code}: unknown severity {spec['severity']!r}")
            requires = frozenset(spec.get("requires", []))
            if not requires <= set(LABELS):
                raise PolicyError(f"flag {code}: requires unknown labels {sorted(requires)}")
            rules.append(FlagRule(
                code=code, severity=spec["severity"], message=spec["message"],
                description=spec.get("description", spec["message"]), requires=requires,
                evidence=_compile(spec.get("evidence", []), lists, f"{code}.evidence"),
                strong=_compile(spec.get("strong", []), lists, f"{code}.strong"),
                suppress=_compile(spec.get("suppress", []), lists, f"{code}.suppress"),
                reassurance=_compile(spec.get("reassurance", []), lists, f"{code}.reassurance"),
            ))
        disclaimer = _compile(data["disclaimer"]["cues"], lists, "disclaimer")
        weights = {k: float(v) for k, v in data["severity_weights"].items()}
        if set(weights) != set(SEVERITIES[1:]) or not all(0 <= w < 1 for w in weights.values()):
            raise PolicyError("severity_weights needs low, medium and high in [0, 1)")
        return Policy(
            version=str(data["version"]), rules=tuple(rules), severity_weights=weights,
            disclaimer=disclaimer or re.compile(r"(?!)"),
            document_flags=data.get("document_flags", {}),
            label_descriptions={label: str(data.get("labels", {}).get(label, "")) for label in LABELS},
        )
    except KeyError as exc:
        raise PolicyError(f"policy {path} is missing {exc}") from exc


_PLACEHOLDER_RE = re.compile(r"<<(\w+)>>")


def _compile(items: list[str], lists: Mapping[str, list[str]], where: str) -> re.Pattern[str] | None:
    """Compile cue patterns into one alternation.

    ``@name`` includes the shared list ``name``; ``<<name>>`` inside a pattern
    stands for the alternation of that list.
    """

    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in lists:
            raise PolicyError(f"{where}: unknown list <<{name}>>")
        return "(?:" + "|".join(lists[name]) + ")"

    patterns: list[str] = []
    for item in items:
        if item.startswith("@"):
            if item[1:] not in lists:
                raise PolicyError(f"{where}: unknown list {item}")
            patterns.extend(lists[item[1:]])
        else:
            patterns.append(_PLACEHOLDER_RE.sub(expand, item))
    if not patterns:
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns))
    except re.error as exc:
        raise PolicyError(f"{where}: bad pattern: {exc}") from exc
