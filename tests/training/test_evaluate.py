import json

from training import evaluate as evaluate_cli

from ..conftest import MINI_CORPUS


def test_evaluate_any_labelled_file_writes_metrics_report_and_plots(models_dir, tmp_path):
    out = tmp_path / "report"
    code = evaluate_cli.main(["--models-dir", str(models_dir), "--data", str(MINI_CORPUS), "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_label"]) == {"efficacy", "mechanism", "dosing", "safety"}
    assert 0 <= metrics["macro_f1"] <= 1 and metrics["sentences"] == 30
    assert "missing" not in metrics["flags"] and "disease_claim" in metrics["flags"]
    assert 0 <= metrics["documents"]["risk_level_accuracy"] <= 1
    report = (out / "report.md").read_text()
    for png in ("pr_curves.png", "f1_bars.png", "cooccurrence.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
        assert png in report
