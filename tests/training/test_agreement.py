import dataclasses
import json

import pytest

from service.analysis.analyzer import Analyzer
from training import agreement as agreement_cli
from training.agreement import SECOND_LABELS, agreement, compare
from training.corpus import SEED_FILE, load_corpus, read_rows

from ..conftest import MINI_CORPUS


@pytest.fixture(scope="module")
def rows():
    return read_rows(MINI_CORPUS)


def test_a_labeller_who_copies_the_reference_agrees_fully(rows):
    result = compare(rows, rows)
    assert result["macro_f1"] == 1.0 and result["flags_micro_f1"] == 1.0
    assert result["sentences"] == len(rows)


def test_disagreement_is_scored_per_label_and_per_flag(rows):
    i = next(k for k, r in enumerate(rows) if r.flags == ("dosing_instruction",))
    other = list(rows)
    other[i] = dataclasses.replace(rows[i], labels=(), flags=())  # one dosing row missed entirely
    result = compare(rows, other)
    dosing = [r for r in rows if "dosing" in r.labels]
    assert result["per_label"]["dosing"]["recall"] == round(1 - 1 / len(dosing), 4)
    assert result["per_label"]["dosing"]["precision"] == 1.0
    assert result["per_label"]["safety"]["f1"] == 1.0
    di = result["flags"]["dosing_instruction"]
    assert di["precision"] == 1.0 and di["recall"] == round(1 - 1 / di["support"], 4)
    assert di["raised"] == di["support"] - 1


def test_agreement_scores_labeller_and_model_on_the_same_rows(tiny_model, policy, rows):
    analyzer = Analyzer(tiny_model, policy)
    second = rows[::-1]  # any order: rows are matched by id
    result = agreement(rows, second, analyzer)
    assert result["second_labeller"]["macro_f1"] == 1.0
    assert result["model"]["sentences"] == len(rows) == result["second_labeller"]["sentences"]
    texts = [r.text for r in second]
    expected = [tuple(j[0]) for j in analyzer.judge(texts)]
    predicted_dosing = sum("dosing" in labels for labels in expected)
    true_dosing = sum("dosing" in r.labels for r in second)
    hits = sum("dosing" in labels and "dosing" in r.labels for labels, r in zip(expected, second, strict=True))
    assert predicted_dosing and result["model"]["per_label"]["dosing"]["precision"] == round(hits / predicted_dosing, 4)
    assert result["model"]["per_label"]["dosing"]["support"] == true_dosing


def test_second_labelled_rows_must_be_corpus_rows(tiny_model, policy, rows):
    stranger = dataclasses.replace(rows[0], id="not-in-corpus")
    with pytest.raises(ValueError, match="not in the corpus"):
        agreement(rows, [stranger], Analyzer(tiny_model, policy))


def test_cli_prints_both_rows_of_the_table(models_dir, tmp_path, capsys, rows):
    second = tmp_path / "second.jsonl"
    second.write_text("".join(json.dumps({"id": r.id, "text": r.text, "labels": list(r.labels),
                                          "flags": list(r.flags)}) + "\n" for r in rows))
    code = agreement_cli.main(["--second", str(second), "--data", str(SEED_FILE), str(MINI_CORPUS),
                               "--models-dir", str(models_dir)])
    assert code == 0
    out = capsys.readouterr().out
    assert f"{len(rows)} sentences" in out and "| second labeller (blind) | 1.000 |" in out
    assert "| model tiny.1 + policy |" in out and "| dosing_instruction |" in out


def test_the_committed_second_labels_are_corpus_rows_with_the_same_text():
    corpus = {r.id: r for r in load_corpus()}
    second = read_rows(SECOND_LABELS)
    assert len(second) == len({r.id for r in second}) >= 600
    assert all(r.id in corpus and corpus[r.id].text == r.text for r in second)
