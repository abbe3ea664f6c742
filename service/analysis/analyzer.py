"""The four steps in order: extract, segment, classify, apply policy."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from .adjust import Correction, CorrectionLookup, TermList, apply_correction
from .classifier import Model
from .errors import InputError, LimitExceeded
from .extract import Extraction, Format, extract
from .normalize import Normalized, key_of_normalized, normalize_with_map
from .policy import SEVERITIES, Locator, Policy, RaisedFlag
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
    key: str = ""  # identity for moderators' corrections (see ``normalize.sentence_key``)
    # set where a moderator's correction replaced what the model and policy said
    correction: Correction | None = None
    model_labels: tuple[str, ...] = ()
    model_flags: tuple[str, ...] = ()


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


class Judgement(NamedTuple):
    labels: tuple[str, ...]
    scores: dict[str, float]
    flags: list[RaisedFlag]
    disclaimer: bool
    key: str


@dataclass(frozen=True)
class Document:
    text: str
    format: Format = "text"


class Prepared(NamedTuple):
    """A document extracted and split into sentences, not yet scored."""

    document: Document
    extraction: Extraction
    spans: list[Span]


class Analyzer:
    """Analyse documents with one model and one policy."""

    def __init__(
        self, model: Model, policy: Policy, *, flag_level: str = "medium",
        max_sentences: int = 5000, max_total_sentences: int = 20_000,
    ) -> None:
        self.model = model
        self.policy = policy
        self.flag_level = flag_level
        self.max_sentences = max_sentences
        self.max_total_sentences = max_total_sentences
        self._label_idx = [model.outputs.index(label) for label in LABELS]
        self._flag_idx = {
            f: model.outputs.index(f"flag:{f}") for f in FLAGS if f"flag:{f}" in model.outputs
        }
        self._flag_thresholds = {f: model.threshold(f"flag:{f}") for f in self._flag_idx}
        self._flag_floors = {f: float(v) for f, v in model.card.get("strong_floors", {}).items()}
        # models trained before the model-only path have none: it stays off for them
        self._model_only = {f: float(v) for f, v in model.card.get("model_only_thresholds", {}).items()}
        self._locate = self._locator(model)

    def analyze(self, text: str, fmt: Format = "text", *, terms: TermList | None = None,
                corrections: CorrectionLookup | None = None) -> Analysis:
        """Analyse one document."""
        return self.analyze_many([Document(text, fmt)], terms=terms, corrections=corrections)[0]

    def analyze_many(self, documents: Sequence[Document], *, terms: TermList | None = None,
                     corrections: CorrectionLookup | None = None) -> list[Analysis]:
        """Analyse documents in order, scoring all their sentences in one model call.

        ``terms`` adjust the policy's flags; ``corrections`` looks up moderators'
        decisions on sentences by key, once for the whole call.
        """
        return self.score(self.prepare(documents), terms=terms, corrections=corrections)

    def prepare(self, documents: Sequence[Document], *, counted: int = 0) -> list[Prepared]:
        """Extract and segment ``documents``, refusing them as soon as one has more than
        ``max_sentences`` or all of them (plus ``counted`` from elsewhere in the request) more
        than ``max_total_sentences``: before any scoring, so an oversized request costs little
        and never runs into the worker timeout."""
        prepared = []
        total = counted
        for i, doc in enumerate(documents):
            try:
                extraction = extract(doc.text, doc.format)
            except InputError as exc:
                exc.document = i
                raise
            spans = segment(extraction.text, extraction.blocks)
            total += len(spans)
            if len(spans) > self.max_sentences:
                raise LimitExceeded(
                    f"the document has {len(spans)} sentences; at most {self.max_sentences} "
                    "are analysed per document",
                    limit="sentences", value=len(spans), maximum=self.max_sentences, document=i,
                )
            if total > self.max_total_sentences:
                raise LimitExceeded(
                    f"the request has more than {self.max_total_sentences} sentences in all (at least "
                    f"{total}); send its documents in smaller batches",
                    limit="request_sentences", value=total, maximum=self.max_total_sentences, document=i,
                )
            prepared.append(Prepared(doc, extraction, spans))
        return prepared

    def score(self, prepared: Sequence[Prepared], *, terms: TermList | None = None,
              corrections: CorrectionLookup | None = None) -> list[Analysis]:
        """Score prepared documents' sentences in one model call and apply the policy."""
        texts = [ex.text[s.start : s.end] for _, ex, spans in prepared for s in spans]
        normalized = [normalize_with_map(t) for t in texts]  # once, for the model and the policy
        probs = self.model.predict_proba(texts, [n.text for n in normalized])
        judged = self.judge(texts, probs, terms=terms, normalized=normalized)
        found = corrections([j.key for j in judged]) if corrections and judged else {}
        results, row = [], 0
        for doc, extraction, spans in prepared:
            results.append(self._document(doc, extraction, spans, judged[row : row + len(spans)], found))
            row += len(spans)
        return results

    def judge(self, texts: Sequence[str], probs=None, *, terms: TermList | None = None,
              normalized: Sequence[Normalized] | None = None) -> list[Judgement]:
        """Label and flag sentences by the model, the policy and the term lists
        (``normalized``: ``texts`` normalised, if the caller has them)."""
        if normalized is None:
            normalized = [normalize_with_map(t) for t in texts]
        if probs is None:
            probs = self.model.predict_proba(texts, [n.text for n in normalized])
        thresholds = self.model.thresholds
        out = []
        for sentence, p in zip(normalized, probs, strict=True):
            labels = tuple(
                label for label, j in zip(LABELS, self._label_idx, strict=True)
                if p[j] >= thresholds[j]
            )
            likelihoods = {f: float(p[j]) for f, j in self._flag_idx.items()}
            raised = self.policy.flag_sentence(
                sentence, labels, likelihoods, self._flag_thresholds, self._flag_floors,
                self._model_only, self._locate,
            )
            if terms:
                raised = terms.apply(sentence, raised, self.policy)
            scores = {label: round(float(p[j]), 4) for label, j in zip(LABELS, self._label_idx, strict=True)}
            out.append(Judgement(labels, scores, raised, self.policy.has_disclaimer(sentence),
                                 key_of_normalized(sentence.text)))
        return out

    def _locator(self, model: Model) -> Locator | None:
        scorer = model.scorer
        if scorer is None:
            return None  # a pickled pipeline: the whole sentence is the evidence
        outputs = self._flag_idx
        return lambda code, text: scorer.evidence(text, outputs[code])

    def _document(self, doc: Document, extraction: Extraction, spans: list[Span],
                  judged: list[Judgement], corrections: dict[str, Correction]) -> Analysis:
        sentences = []
        disclaimer = False
        for i, (span, j) in enumerate(zip(spans, judged, strict=True)):
            disclaimer = disclaimer or j.disclaimer
            raw = extraction.text[span.start : span.end]
            labels, raised = j.labels, j.flags
            correction = corrections.get(j.key)
            corrected = apply_correction(correction, labels, raised, len(raw), self.policy) if correction else None
            if corrected is not None:
                labels, raised = corrected
            start, end = extraction.to_source(span.start, span.end)
            sentences.append(Sentence(
                index=i, start=start, end=end,
                text=raw if doc.format == "text" else _SPACES_RE.sub(" ", raw),
                origin=span.origin, labels=labels, scores=j.scores,
                flags=tuple(self._flag(extraction, span, f) for f in raised), key=j.key,
                correction=correction if corrected is not None else None,
                model_labels=j.labels if corrected is not None else (),
                model_flags=tuple(f.code for f in j.flags) if corrected is not None else (),
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
