"""The whole loop: moderate -> queued -> corrected -> exported -> retrained -> activated -> learnt."""

from __future__ import annotations

import json
import shutil

import pytest

from training import export_feedback, train
from training.corpus import SEED_FILE

from .conftest import MINI_CORPUS

DOCUMENT = ("Our new Bali blend arrived this week. Kratom cures anxiety with zero side effects. "
            "A cup of this tea before bed settles my restless legs.")
TARGET = "A cup of this tea before bed settles my restless legs."
SAID = {"labels": ["efficacy", "dosing"], "flags": ["disease_claim"]}  # what the moderator decides


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


@pytest.mark.slow
def test_a_moderators_correction_is_learnt_by_the_next_model(make_app, models_dir, tmp_path, database_url):
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    client = make_app(MODELS_DIR=str(models), DATABASE_URL=database_url, REFRESH_SECONDS=0).test_client()

    queued = post(client, "/v1/moderate", {"text": DOCUMENT, "document_id": "blog-7", "review": True}).get_json()
    index = next(s["index"] for s in queued["sentences"] if s["text"] == TARGET)
    before = queued["sentences"][index]
    assert (before["labels"], [f["code"] for f in before["flags"]]) != (SAID["labels"], SAID["flags"])

    r = post(client, f"/v1/reviews/{queued['review']['id']}/decision",
             {"action": "reject", "version": 1, "corrections": [{"sentence_index": index, **SAID}]})
    assert r.status_code == 200

    exported = tmp_path / "feedback.jsonl"
    assert export_feedback.main(["--database-url", database_url, "-o", str(exported)]) == 0
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [(r["text"], r["labels"], r["flags"]) for r in rows] == [(TARGET, SAID["labels"], SAID["flags"])]

    # --force: the fixture's held-out split is a few dozen sentences, where one added row moves
    # macro-F1 by more than the gate's 0.02; the gate itself is tested in tests/training.
    assert train.main(["--data", str(SEED_FILE), str(MINI_CORPUS), "--extra", str(exported),
                       "--models-dir", str(models), "--family", "nblogreg", "--C", "4", "--folds", "3",
                       "--version", "tiny.fb", "--no-activate", "--force"]) == 0
    assert post(client, "/v1/models/tiny.fb/activate", {}).status_code == 200

    later = post(client, "/v1/moderate", {"text": "Honestly? " + TARGET, "store": False}).get_json()
    assert later["model"]["version"] == "tiny.fb"
    sentence = next(s for s in later["sentences"] if s["text"] == TARGET)
    assert sentence["labels"] == SAID["labels"]
    assert [f["code"] for f in sentence["flags"]] == SAID["flags"]
    assert sentence["correction"] is None, sentence  # the model itself now agrees, no correction needed
