"""Two labellers and the model on the same sentences: ``python -m training.agreement --help``.

A second labeller relabels a sample of held-out sentences blind: the rules, the sentence and its
neighbours, but neither the corpus labels nor any model output. How far they agree with the corpus
labels is about as high as a model scored against those labels can be expected to go; the model's
figures on the same rows say how far below that it stands.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sklearn.metrics import f1_score

from service.analysis.analyzer import Analyzer
from service.analysis.classifier import ModelRegistry
from service.analysis.policy import load_policy
from service.analysis.taxonomy import FLAGS, LABELS

from .corpus import DATA_DIR, DEFAULT_FILES, Row, load_corpus, read_rows
from .evaluation import flag_report, indicators, label_report

SECOND_LABELS = DATA_DIR / "agreement" / "second_labels.jsonl"


def compare(reference: Sequence[Row], other: Sequence[Row]) -> dict[str, Any]:
    """Labels and flags of ``other`` scored against ``reference`` (same rows, same order)."""
    report = label_report(indicators([r.labels for r in reference], LABELS),
                          indicators([r.labels for r in other], LABELS))
    t, p = indicators([r.flags for r in reference], FLAGS), indicators([r.flags for r in other], FLAGS)
    report["flags"] = flag_report(t, p)
    report["flags_micro_f1"] = round(float(f1_score(t, p, average="micro", zero_division=0)), 4)
    report["sentences"] = len(reference)
    return report


def model_rows(analyzer: Analyzer, rows: Sequence[Row]) -> list[Row]:
    """What the model and the policy say of ``rows``, as rows."""
    judged = analyzer.judge([r.text for r in rows])
    return [Row(id=r.id, doc_id=r.doc_id, text=r.text, labels=tuple(j[0]), flags=tuple(f.code for f in j[2]))
            for r, j in zip(rows, judged, strict=True)]


def agreement(corpus: Sequence[Row], second: Sequence[Row], analyzer: Analyzer) -> dict[str, Any]:
    """The second labeller and the model, each against the corpus labels, on the rows both have."""
    by_id: Mapping[str, Row] = {r.id: r for r in corpus}
    missing = [r.id for r in second if r.id not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} second-labelled rows are not in the corpus, e.g. {missing[:3]}")
    reference = [by_id[r.id] for r in second]
    return {"second_labeller": compare(reference, second),
            "model": compare(reference, model_rows(analyzer, reference))}


def markdown(result: Mapping[str, Any], version: str) -> str:
    who = {"second_labeller": "second labeller (blind)", "model": f"model {version} + policy"}
    lines = [f"{result['second_labeller']['sentences']} sentences, each scored against the corpus labels.", "",
             "| | macro-F1 | micro-F1 | " + " | ".join(LABELS) + " | flags micro-F1 |",
             "|---|---|---|" + "---|" * len(LABELS) + "---|"]
    for key, name in who.items():
        r = result[key]
        lines.append(f"| {name} | {r['macro_f1']:.3f} | {r['micro_f1']:.3f} | "
                     + " | ".join(f"{r['per_label'][label]['f1']:.3f}" for label in LABELS)
                     + f" | {r['flags_micro_f1']:.3f} |")
    lines += ["", "| flag | support | second labeller P / R | model P / R |", "|---|---|---|---|"]
    fmt = lambda x: "–" if x is None else f"{x:.2f}"  # noqa: E731
    for code in FLAGS:
        s, m = result["second_labeller"]["flags"][code], result["model"]["flags"][code]
        lines.append(f"| {code} | {s['support']} | {fmt(s['precision'])} / {fmt(s['recall'])} | "
                     f"{fmt(m['precision'])} / {fmt(m['recall'])} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.agreement", description=__doc__)
    ap.add_argument("--second", type=Path, default=SECOND_LABELS, help="the second labeller's JSONL rows")
    ap.add_argument("--data", nargs="+", type=Path, default=list(DEFAULT_FILES), help="the corpus files")
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    ap.add_argument("--model", help="model version (default: the active one)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = ap.parse_args(argv)
    model = ModelRegistry(args.models_dir).load(args.model)
    result = agreement(load_corpus(args.data), read_rows(args.second), Analyzer(model, load_policy()))
    print(json.dumps(result, indent=2) if args.json else markdown(result, model.version))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
