"""Evaluate a model and the policy over it: ``python -m training.evaluate --help``.

By default on the corpus's held-out documents (never used in training or
selection); with ``--data`` on any JSONL of ``{text, labels, flags}``.
Writes metrics.json, report.md and PNG plots.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from service.analysis.classifier import ModelRegistry
from service.analysis.policy import load_policy
from service.analysis.taxonomy import LABELS

from .corpus import DEFAULT_FILES, load_corpus, read_rows, split
from .evaluation import evaluate


def plots(report: dict[str, Any], out: Path) -> list[str]:
    """Draw precision-recall curves, F1 bars and label co-occurrence; return file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    y = np.array(report["y_true"])
    p = np.array(report["probabilities"])
    files = []

    fig, ax = plt.subplots(figsize=(6, 5))
    for j, label in enumerate(LABELS):
        if y[:, j].any():
            prec, rec, _ = precision_recall_curve(y[:, j], p[:, j])
            ax.plot(rec, prec, label=f"{label} (F1 {report['per_label'][label]['f1']:.2f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title="Precision-recall per label")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "pr_curves.png", dpi=110)
    files.append("pr_curves.png")
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [1, 2.2]})
    f1 = [report["per_label"][label]["f1"] for label in LABELS]
    ax1.bar(LABELS, f1, color="#4c72b0")
    ax1.axhline(0.85, color="grey", ls="--", lw=1)
    ax1.set(ylim=(0, 1), title=f"F1 per label (macro {report['macro_f1']:.3f})")
    for i, v in enumerate(f1):
        ax1.text(i, v + 0.01, f"{v:.2f}", ha="center")
    codes = list(report["flags"])
    x = np.arange(len(codes))
    prec = [report["flags"][c]["precision"] or 0 for c in codes]
    rec = [report["flags"][c]["recall"] or 0 for c in codes]
    ax2.bar(x - 0.2, prec, 0.4, label="precision", color="#55a868")
    ax2.bar(x + 0.2, rec, 0.4, label="recall", color="#c44e52")
    ax2.axhline(0.85, color="grey", ls="--", lw=1)
    ax2.set_xticks(x, [c.replace("_", "\n") for c in codes], fontsize=7)
    ax2.set(ylim=(0, 1.05), title="Flags: precision and recall of the full policy")
    ax2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "f1_bars.png", dpi=110)
    files.append("f1_bars.png")
    plt.close(fig)

    pred = np.array(report["y_pred"])
    co = np.array([[int((y[:, i] & pred[:, j]).sum()) for j in range(len(LABELS))]
                   for i in range(len(LABELS))])
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.imshow(co, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=30)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set(xlabel="predicted label", ylabel="true label",
           title="Label co-occurrence: true row, predicted column")
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            ax.text(j, i, co[i, j], ha="center", va="center",
                    color="white" if co[i, j] > co.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(out / "cooccurrence.png", dpi=110)
    files.append("cooccurrence.png")
    plt.close(fig)
    return files


def markdown(report: dict[str, Any], model_version: str, source: str, images: list[str]) -> str:
    lines = [f"# Evaluation of model {model_version}", "", f"Data: {source}; {report['sentences']} "
             f"sentences, {report['documents']['count']} documents.", "",
             f"**Macro-F1 {report['macro_f1']}**, micro-F1 {report['micro_f1']}, document risk-level "
             f"accuracy {report['documents']['risk_level_accuracy']}.", "",
             "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, m in report["per_label"].items():
        lines.append(f"| {label} | {m['precision']} | {m['recall']} | {m['f1']} | {m['support']} |")
    lines += ["", "| flag | precision | recall | support | raised |", "|---|---|---|---|---|"]
    for code, m in report["flags"].items():
        lines.append(f"| {code} | {m['precision']} | {m['recall']} | {m['support']} | {m['raised']} |")
    lines += ["", *(f"![{i}]({i})" for i in images), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    ap.add_argument("--model", help="model version (default: the active one)")
    ap.add_argument("--data", nargs="*", type=Path,
                    help="labelled JSONL files to evaluate on (default: the corpus's test split)")
    ap.add_argument("--out", type=Path, help="output directory (default: reports/<version>)")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)

    model = ModelRegistry(args.models_dir).load(args.model)
    if args.data:
        rows = [r for f in args.data for r in read_rows(f)]
        source = ", ".join(map(str, args.data))
    else:
        rows = split(load_corpus(DEFAULT_FILES))[1]
        source = "the corpus's held-out test documents"
    report = evaluate(model, load_policy(), rows)
    out = args.out or Path("reports") / model.version
    out.mkdir(parents=True, exist_ok=True)
    images = [] if args.no_plots else plots(report, out)
    summary = {k: v for k, v in report.items() if k not in ("probabilities", "y_true", "y_pred")}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report, model.version, source, images))
    print(f"macro-F1 {report['macro_f1']} on {len(rows)} sentences; report in {out}/report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
