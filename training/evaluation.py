"""Metrics of a model and of the full policy over it, on labelled sentences."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

from service.analysis.analyzer import Analyzer
from service.analysis.classifier import Model
from service.analysis.policy import SEVERITIES, Policy
from service.analysis.taxonomy import FLAGS, LABELS

from .corpus import Row


def indicators(code_sets: Sequence[Iterable[str]], names: Sequence[str]) -> np.ndarray:
    """A 0/1 matrix: one row per set of codes, one column per name (in ``names`` order)."""
    return np.array([[int(n in codes) for n in names] for codes in code_sets], dtype=np.int8).reshape(-1, len(names))


def flag_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per flag (columns in ``FLAGS`` order): precision, recall, support and how often raised."""
    out: dict[str, dict[str, Any]] = {}
    for j, code in enumerate(FLAGS):
        t, p = y_true[:, j].astype(bool), y_pred[:, j].astype(bool)
        tp = int((t & p).sum())
        out[code] = {
            "precision": round(tp / p.sum(), 4) if p.sum() else None,
            "recall": round(tp / t.sum(), 4) if t.sum() else None,
            "support": int(t.sum()), "raised": int(p.sum()),
        }
    return out


def label_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Per-label precision, recall, F1 and support; macro and micro F1 (labels only)."""
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    return {
        "per_label": {
            label: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                    "f1": round(float(f[i]), 4), "support": int(s[i])}
            for i, label in enumerate(LABELS)
        },
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
        "micro_f1": round(float(f1_score(y_true, y_pred, average="micro", zero_division=0)), 4),
    }


def evaluate(model: Model, policy: Policy, rows: Sequence[Row]) -> dict[str, Any]:
    """Evaluate labels, flags and document risk levels of ``model`` + ``policy`` on ``rows``."""
    analyzer = Analyzer(model, policy)
    texts = [r.text for r in rows]
    probs = model.predict_proba(texts)
    judged = analyzer.judge(texts, probs)
    y_true = indicators([r.labels for r in rows], LABELS)
    y_pred = indicators([j[0] for j in judged], LABELS)
    report = label_report(y_true, y_pred)
    report["flags"] = flag_report(indicators([r.flags for r in rows], FLAGS),
                                  indicators([{f.code for f in j[2]} for j in judged], FLAGS))
    report["documents"] = _risk_accuracy(policy, rows, judged)
    report["sentences"] = len(rows)
    report["probabilities"] = probs[:, [model.outputs.index(label) for label in LABELS]].round(5).tolist()
    report["y_true"] = y_true.tolist()
    report["y_pred"] = y_pred.tolist()
    return report


def _risk_accuracy(policy: Policy, rows: Sequence[Row], judged: list) -> dict[str, Any]:
    """Share of documents whose predicted risk level equals the level of their true flags."""
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_doc[r.doc_id].append(i)
    correct = 0
    confusion: dict[str, dict[str, int]] = {a: dict.fromkeys(SEVERITIES, 0) for a in SEVERITIES}
    for idx in by_doc.values():
        disclaimer = any(judged[i][3] for i in idx)
        true_codes = [c for i in idx for c in rows[i].flags]
        pred_codes = [f.code for i in idx for f in judged[i][2]]
        levels = []
        for codes in (true_codes, pred_codes):
            sev = [policy.rule(c).severity for c in codes]
            sev += [f.severity for f in policy.document_verdict(codes, disclaimer)]
            levels.append(policy.risk(sev)[0])
        confusion[levels[0]][levels[1]] += 1
        correct += levels[0] == levels[1]
    return {"count": len(by_doc), "risk_level_accuracy": round(correct / max(1, len(by_doc)), 4),
            "confusion": confusion}
