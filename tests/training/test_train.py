import json

import numpy as np
import pytest

from service.analysis.classifier import ModelRegistry
from service.analysis.taxonomy import FLAGS
from training import train as train_cli
from training.corpus import SEED_FILE, is_test_document, load_corpus, read_rows, split
from training.train import train

from ..conftest import MINI_CORPUS


@pytest.fixture(scope="module")
def rows():
    return load_corpus([SEED_FILE, MINI_CORPUS])


def test_training_is_deterministic(rows, policy):
    texts = [r.text for r in rows] + ["Kratom eases pain.", "Take 2 grams."]
    a, card_a = train(rows, config={"family": "nblogreg", "C": 4.0}, policy=policy, folds=3, version="a")
    b, card_b = train(rows, config={"family": "nblogreg", "C": 4.0}, policy=policy, folds=3, version="b")
    assert np.array_equal(a.predict_proba(texts), b.predict_proba(texts))
    assert card_a["thresholds"] == card_b["thresholds"]


@pytest.mark.parametrize("family", ["logreg", "nb"])  # svm calibration needs 3+ positives per output
def test_other_families_train_and_score(rows, policy, family):
    model, _ = train(rows, config={"family": family, "C": 4.0}, policy=policy, folds=3, version="x")
    assert model.predict_proba(["Kratom eases pain."]).shape == (1, len(model.outputs))


def test_cli_writes_artifact_card_and_activates_and_the_service_loads_it(tmp_path, make_app):
    models = tmp_path / "models"
    code = train_cli.main(["--data", str(SEED_FILE), str(MINI_CORPUS), "--models-dir", str(models),
                           "--folds", "3", "--version", "v1", "--family", "nblogreg"])
    assert code == 0
    directory = models / "kratom-claims-v1"
    card = json.loads((directory / "card.json").read_text())
    for field in ("name", "version", "created_at", "outputs", "thresholds", "family", "params",
                  "data", "libraries", "metrics", "artifact"):
        assert field in card, field
    assert card["data"]["sha256"] and card["libraries"]["scikit-learn"]
    assert set(card["model_only_thresholds"]) == set(card["strong_floors"]) == set(FLAGS)
    assert (directory / "card.md").read_text().startswith("# Model card")
    sums = dict(line.split()[::-1] for line in (directory / "SHA256SUMS").read_text().splitlines())
    assert sums == {"model.joblib": card["artifact"]["sha256"], "scorer.npz": card["scorer"]["sha256"]}
    assert ModelRegistry(models).active_version() == "v1"
    app = make_app(MODELS_DIR=str(models))
    assert app.test_client().get("/v1/model").get_json()["version"] == "v1"


def test_if_absent_does_nothing_when_a_model_is_active(models_dir, capsys):
    assert train_cli.main(["--models-dir", str(models_dir), "--if-absent"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_gate_refuses_a_worse_model_unless_forced(tmp_path):
    models = tmp_path / "models"
    common = ["--models-dir", str(models), "--folds", "3"]
    assert train_cli.main(["--data", str(SEED_FILE), str(MINI_CORPUS), *common, "--version", "good"]) == 0
    # Same test documents, but the training documents lost their labels: a genuinely worse model.
    spoiled = tmp_path / "spoiled.jsonl"
    with spoiled.open("w") as out:
        for path in (SEED_FILE, MINI_CORPUS):
            for line in path.read_text().splitlines():
                row = json.loads(line)
                if not is_test_document(row["doc_id"]):
                    row["labels"], row["flags"] = [], []
                out.write(json.dumps(row) + "\n")
    worse = ["--data", str(spoiled), *common, "--version", "bad"]
    assert train_cli.main(worse) == 1
    assert not (models / "kratom-claims-bad").exists()
    assert train_cli.main([*worse, "--force"]) == 0
    assert ModelRegistry(models).active_version() == "bad"


def test_extra_rows_override_corpus_rows_with_the_same_text(tmp_path):
    extra = tmp_path / "feedback.jsonl"
    extra.write_text(json.dumps({"text": "KRATOM trees grow along rivers in Thailand and Malaysia.",
                                 "labels": ["safety"], "flags": []}) + "\n")
    rows = load_corpus([MINI_CORPUS], [extra])
    matching = [r for r in rows if "rivers in Thailand" in r.text]
    assert [r.labels for r in matching] == [("safety",)]


def test_the_test_split_is_whole_documents_and_never_the_seed(rows):
    train_rows, test_rows = split(rows)
    assert not {r.doc_id for r in train_rows} & {r.doc_id for r in test_rows}
    assert all(r.doc_id != "seed" for r in test_rows)


def test_bad_rows_are_refused_with_their_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "labels": ["efficacy"]}\n{"text": "x", "labels": ["happiness"]}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_rows(bad)


def test_selection_prefers_the_exportable_family_within_noise():
    from training.train import choose_config

    results = [{"family": "svm", "C": 10.0, "cv_macro_f1": 0.804},
               {"family": "logreg", "C": 10.0, "cv_macro_f1": 0.8036},
               {"family": "nb", "C": 4.0, "cv_macro_f1": 0.75}]
    assert choose_config(results) == {"family": "logreg", "C": 10.0}
    results.append({"family": "nblogreg", "C": 4.0, "cv_macro_f1": 0.8031})
    assert choose_config(results) == {"family": "logreg", "C": 10.0}  # both exportable: the better one
    results[0]["cv_macro_f1"] = 0.83
    assert choose_config(results) == {"family": "svm", "C": 10.0}


def test_flag_tuning_for_a_precision_target_keeps_it_where_reachable(rows, policy):
    from training.corpus import matrix
    from training.train import choose_thresholds, cross_val_proba, tune_flags

    train_rows = split(rows)[0]
    proba = cross_val_proba(train_rows, "nblogreg", 4.0, folds=3)
    thresholds = choose_thresholds(matrix(train_rows), proba)
    *_, f05 = tune_flags(train_rows, proba, thresholds, policy)
    *_, precise = tune_flags(train_rows, proba, thresholds, policy, precision_target=0.99)
    assert {r["objective"] for r in f05.values()} == {"F0.5"}
    reached = [code for code, r in precise.items() if r["objective"].startswith("recall at precision")]
    assert reached, precise  # the tiny corpus has flags the policy raises without a false alarm
    for code in reached:
        assert precise[code]["precision"] >= 0.99
    for code, r in precise.items():
        if code not in reached:
            assert r["objective"] == "F0.5 (precision 0.99 not reached)"
            assert (r["precision"], r["recall"]) == (f05[code]["precision"], f05[code]["recall"])
