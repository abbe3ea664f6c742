"""The four steps in order: extract, segment, classify, apply policy."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .classifier import Model
from .errors import LimitExceeded
from .extract import Extraction, Format, extract
from .normalize import normalize_with_map
from .policy import SEVERITIES, Policy, RaisedFlag
from .segment import Span, segment
from .taxonomy import FLAGS, LABELS

_LOOKS_LIKE_HTML_RE = re.compile(r"</?(?:p|div|h[1-6]|li|ul|ol|br|span|a|strong|em|b|i)\b[^>]*>", re.I)
_SPACES_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Evidence:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SentenceFlag:
    code: str
    severity: str
    message: str
    evidence: tuple[Evidence, ...]
    source: str = "policy"


@dataclass(frozen=True)
class Sentence:
    """One sentence; ``start``/``end`` index the submitted input (code points)."""

    index: int
    start: int
    end: int
    text: str
    origin: str
    labels: tuple[str, ...]
    scores: dict[str, float]
    flags: tuple[SentenceFlag, ...]


@dataclass(frozen=True)
class DocumentFlagResult:
    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class Analysis:
    model_name: str
    model_version: str
    policy_version: str
    risk_level: str
    risk_score: float
    flagged: bool
    sentences: tuple[Sentence, ...]
    flags: tuple[DocumentFlagResult, ...]
    warnings: tuple[str, ...] = ()
    summary: dict = field(default_factory=dict)


# (labels, label scores, flags raised, whether the sentence is a disclaimer)
Judgement = tuple[tuple[str, ...], dict[str, float], list[RaisedFlag], bool]


@dataclass(frozen=True)
class Document:
    text: str
    format: Format = "text"


class Analyzer:
    """Analyse documents with one model and one policy."""

    def __init__(
        self, model: Model, policy: Policy, *, flag_level: str = "medium",
        max_sentences: int = 5000,
    ) -> None:
        self.model = model
        self.policy = policy
        self.flag_level = flag_level
        self.max_sentences = max_sentences
        self._label_idx = [model.outputs.index(label) for label in LABELS]
        self._flag_idx = {
            f: model.outputs.index(f"flag:{f}") for f in FLAGS if f"flag:{f}" in model.outputs
        }
        self._flag_thresholds = {f: model.threshold(f"flag:{f}") for f in self._flag_idx}
        self._flag_floors = {f: float(v) for f, v in model.card.get("strong_floors", {}).items()}

    def analyze(self, text: str, fmt: Format = "text") -> Analysis:
        """Analyse one document."""
        return self.analyze_many([Document(text, fmt)])[0]

    def analyze_many(self, documents: Sequence[Document]) -> list[Analysis]:
        """Analyse documents in order, scoring all their sentences in one model call."""
        prepared = []
        for doc in documents:
            extraction = extract(doc.text, doc.format)
            spans = segment(extraction.text, extraction.blocks)
            if len(spans) > self.max_sentences:
                raise LimitExceeded(
                    f"the document has {len(spans)} sentences; at most {self.max_sentences} "
                    "are analysed per document",
                    limit="sentences", value=len(spans), maximum=self.max_sentences,
                )
            prepared.append((doc, extraction, spans))
        texts = [ex.text[s.start : s.end] for _, ex, spans in prepared for s in spans]
        probs = self.model.predict_proba(texts)
        results, row = [], 0
        for doc, extraction, spans in prepared:
            results.append(self._document(doc, extraction, spans, probs[row : row + len(spans)]))
            row += len(spans)
        return results

    def judge(self, texts: Sequence[str], probs=None) -> list[Judgement]:
        """Label and flag sentences: (labels, label scores, flags, is a disclaimer) per text."""
        if probs is None:
            probs = self.model.predict_proba(texts)
        thresholds = self.model.thresholds
        out = []
        for raw, p in zip(texts, probs, strict=True):
            normalized = normalize_with_map(raw)
            labels = tuple(
                label for label, j in zip(LABELS, self._label_idx, strict=True)
                if p[j] >= thresholds[j]
            )
            likelihoods = {f: float(p[j]) for f, j in self._flag_idx.items()}
            raised = self.policy.flag_sentence(
                normalized, labels, likelihoods, self._flag_thresholds, self._flag_floors
            )
            scores = {label: round(float(p[j]), 4) for label, j in zip(LABELS, self._label_idx, strict=True)}
            out.append((labels, scores, raised, self.policy.has_disclaimer(normalized)))
        return out

    def _document(self, doc: Document, extraction: Extraction, spans: list[Span], probs) -> Analysis:
        raws = [extraction.text[s.start : s.end] for s in spans]
        sentences = []
        disclaimer = False
        for i, (span, raw, (labels, scores, raised, is_disclaimer)) in enumerate(
            zip(spans, raws, self.judge(raws, probs), strict=True)
        ):
            disclaimer = disclaimer or is_disclaimer
            start, end = extraction.to_source(span.start, span.end)
            sentences.append(Sentence(
                index=i, start=start, end=end,
                text=raw if doc.format == "text" else _SPACES_RE.sub(" ", raw),
                origin=span.origin, labels=labels, scores=scores,
                flags=tuple(self._flag(extraction, span, f) for f in raised),
            ))
        codes = [f.code for s in sentences for f in s.flags]
        doc_flags = self.policy.document_verdict(codes, disclaimer)
        level, score = self.policy.risk(
            [f.severity for s in sentences for f in s.flags] + [f.severity for f in doc_flags]
        )
        summary = {
            "sentences": len(sentences),
            "labels": {label: sum(label in s.labels for s in sentences) for label in LABELS},
            "flags": dict(Counter(codes + [f.code for f in doc_flags])),
        }
        warnings = []
        if doc.format == "text" and len(_LOOKS_LIKE_HTML_RE.findall(doc.text[:20000])) >= 2:
            warnings.append("The text looks like HTML; send \"format\": \"html\" so markup is not read as words.")
        if not sentences:
            warnings.append("No text was found to analyse.")
        return Analysis(
            model_name=self.model.name, model_version=self.model.version,
            policy_version=self.policy.version, risk_level=level, risk_score=score,
            flagged=SEVERITIES.index(level) >= SEVERITIES.index(self.flag_level) and level != "none",
            sentences=tuple(sentences),
            flags=tuple(DocumentFlagResult(f.code, f.severity, f.message) for f in doc_flags),
            warnings=tuple(warnings), summary=summary,
        )

    @staticmethod
    def _flag(extraction: Extraction, span: Span, flag: RaisedFlag) -> SentenceFlag:
        evidence = []
        for a, b in flag.evidence:
            start, end = extraction.to_source(span.start + a, span.start + b)
            evidence.append(Evidence(start, end, extraction.text[span.start + a : span.start + b]))
        return SentenceFlag(flag.code, flag.severity, flag.message, tuple(evidence), flag.source)
