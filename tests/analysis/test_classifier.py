import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.analysis.classifier import ModelRegistry, load_model
from service.analysis.errors import ModelError
from service.analysis.taxonomy import LABELS


@pytest.fixture()
def model_copy(models_dir, tmp_path):
    src = next(p for p in models_dir.iterdir() if p.is_dir())
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def test_model_scores_each_text_with_one_probability_per_output(tiny_model):
    probs = tiny_model.predict_proba(["Kratom eases pain.", "Take 2 g."])
    assert probs.shape == (2, len(tiny_model.outputs))
    assert ((probs >= 0) & (probs <= 1)).all()
    assert set(LABELS) <= set(tiny_model.outputs)


def test_an_empty_batch_scores_nothing(tiny_model):
    assert tiny_model.predict_proba([]).shape == (0, len(tiny_model.outputs))


def without_scorer(directory):
    """Make a model directory serve through its pickle, as svm and nb models do."""
    card = json.loads((directory / "card.json").read_text())
    del card["scorer"]
    (directory / "card.json").write_text(json.dumps(card))
    return card


@pytest.mark.parametrize("artifact", ["scorer.npz", "model.joblib"])
def test_a_tampered_artifact_is_refused(model_copy, artifact):
    if artifact == "model.joblib":
        without_scorer(model_copy)
    with (model_copy / artifact).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="SHA-256"):
        load_model(model_copy)


def test_a_pickle_built_with_other_library_versions_is_refused(model_copy):
    card = without_scorer(model_copy)
    card["libraries"]["scikit-learn"] = "0.24.2"
    (model_copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="scikit-learn"):
        load_model(model_copy)


def test_the_pickle_path_scores_like_the_exported_scorer(model_copy, tiny_model):
    without_scorer(model_copy)
    pickled = load_model(model_copy)
    assert pickled.scorer is None and pickled.pipeline is not None
    texts = ["Kratom cures pain.", "Take 2 g.", ""]
    assert abs(pickled.predict_proba(texts) - tiny_model.predict_proba(texts)).max() < 1e-5


def test_serving_imports_no_scikit_learn(models_dir, tmp_path):
    import os
    import subprocess
    import sys

    code = "import sys, service.wsgi; print('sklearn' in sys.modules, 'joblib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MODELS_DIR": str(models_dir), "LOG_REQUESTS": "0",
                              "DATA_DIR": str(tmp_path)})
    assert out.stdout.split() == ["False", "False"]


def test_a_missing_model_says_how_to_build_one(tmp_path):
    with pytest.raises(ModelError, match="make model"):
        ModelRegistry(tmp_path).load()


@pytest.mark.parametrize("version", ["../etc", "a/b", "", "x" * 200])
def test_versions_cannot_point_outside_the_models_directory(models_dir, version):
    with pytest.raises(ModelError):
        ModelRegistry(models_dir).directory(version)


def test_registry_lists_versions_and_switches_the_active_one(model_copy):
    registry = ModelRegistry(model_copy.parent)
    card = json.loads((model_copy / "card.json").read_text())
    registry.set_active(card["version"])
    assert registry.active_version() == card["version"]
    assert [c["version"] for c in registry.versions()] == [card["version"]]
    assert registry.load().version == card["version"]


def reference_pipeline(models_dir):
    import joblib

    return joblib.load(next(p for p in models_dir.iterdir() if p.is_dir()) / "model.joblib")


def test_the_exported_scorer_gives_the_pipelines_probabilities(models_dir, tiny_model, seed_text):
    assert tiny_model.scorer is not None and tiny_model.pipeline is None
    texts = [*seed_text.splitlines(), "Kr@tom ｃｕｒｅｓ pain!!", "", "a b c", "7-OH 😀 " * 50]
    expected = reference_pipeline(models_dir).predict_proba(texts)
    assert abs(tiny_model.predict_proba(texts) - expected).max() < 1e-6


def test_the_ngrams_match_scikit_learns_analysers(models_dir):
    import re

    from sklearn.base import clone

    from service.analysis.featurize import char_wb_grams, word_grams

    steps = dict(reference_pipeline(models_dir).named_steps["features"].transformer_list)
    char = clone(steps["char"]).set_params(preprocessor=None).build_analyzer()
    word = clone(steps["word"]).set_params(preprocessor=None).build_analyzer()
    pattern = re.compile(steps["word"].token_pattern)
    for text in ["a b cd", "kratom  eases\tpain", "x", "", "7-oh 0 g élan 😀😀", "one two three four"]:
        assert char_wb_grams(text, steps["char"].ngram_range) == char(text)
        assert sorted(word_grams(text, steps["word"].ngram_range, pattern)) == sorted(word(text))


def test_models_the_scorer_cannot_export_are_served_from_the_pipeline(policy):
    from training.corpus import SEED_FILE, load_corpus
    from training.train import train

    from ..conftest import MINI_CORPUS

    rows = load_corpus([SEED_FILE, MINI_CORPUS])
    nb, _ = train(rows, config={"family": "nb", "C": 4.0}, policy=policy, folds=3, version="nb")
    assert nb.scorer is None
    assert nb.predict_proba(["Kratom eases pain."]).shape == (1, len(nb.outputs))


def test_the_cue_matcher_survives_pickling_and_finds_each_group():
    import pickle

    from service.analysis.featurize import CUE_GROUPS, CueMatcher

    matcher = pickle.loads(pickle.dumps(CueMatcher(list(CUE_GROUPS))))
    hits = {matcher.groups[k] for k in matcher.hits("take 0 g with tea, it binds mu-opioid receptors")}
    assert {"amount", "dose_words", "receptor", "imperative"} <= hits
    assert "harm" not in hits
    assert matcher.hits("") == []


def test_the_scorer_locates_the_words_that_push_a_flag_up(tiny_model):
    from service.analysis.normalize import normalize

    scorer = tiny_model.scorer
    out = tiny_model.outputs.index("flag:dosing_instruction")
    text = normalize("Take 2 grams of kratom every morning, then wait an hour.")
    spans = scorer.evidence(text, out)
    assert 1 <= len(spans) <= 3 and spans == sorted(spans)
    word = next(b for b in scorer.blocks if b.analyzer == "word")
    for a, b in spans:
        token = text[a:b].replace("2", "0")
        assert scorer.coef[word.offset + word.vocabulary[token], out] > 0
    assert scorer.evidence("zzz qqq", out) == []


def test_make_install_builds_the_compiled_scorer_and_the_model_uses_it(tiny_model):
    assert tiny_model.scorer.compiled, "service/analysis/_ngrams.c is not built: run `make install`"


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80) | st.text(
    st.sampled_from(list("kratom eases PAIN 7-oh 0 g\t\n\u00a0\u3000\u2003_é😀\u0663\x1c")), max_size=120)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=6))
def test_the_compiled_scorer_gives_the_python_scorers_probabilities(tiny_model, texts):
    scorer = tiny_model.scorer
    expected = scorer._predict_chunk(texts, compiled=False)
    assert np.abs(scorer._predict_chunk(texts, compiled=True) - expected).max() < 1e-9


def test_the_compiled_scorer_is_exact_past_its_word_cache_and_on_giant_words(tiny_model, seed_text):
    scorer = tiny_model.scorer
    many_words = " ".join(f"w{i}x{i * 7919 % 104729}" for i in range(40_000))  # > the cache's 32,768 words
    texts = [seed_text, many_words, "a" * 140_000 + " pain", seed_text]
    expected = scorer._predict_chunk(texts, compiled=False)
    assert np.abs(scorer._predict_chunk(texts, compiled=True) - expected).max() < 1e-9
    scorer.clear_word_cache()
    assert np.abs(scorer._predict_chunk(texts, compiled=True) - expected).max() < 1e-9


def test_the_compiled_scorer_refuses_what_it_cannot_score(tiny_model):
    compiled = tiny_model.scorer._compiled
    n_out = tiny_model.scorer.coef.shape[1]
    with pytest.raises(ValueError, match="len\\(texts\\) x n_outputs"):
        compiled.score(["a", "b"], np.zeros((1, n_out)))
    with pytest.raises(TypeError, match="str"):
        compiled.score([b"bytes"], np.zeros((1, n_out)))
    with pytest.raises(TypeError):
        compiled.score(["a"], bytes(8 * n_out))  # read-only output


def test_without_the_extension_the_service_scores_in_python_and_says_so(models_dir, tiny_model, make_app,
                                                                         monkeypatch, caplog, seed_text):
    from service.analysis import featurize

    monkeypatch.setattr(featurize, "NgramScorer", None)
    model = ModelRegistry(models_dir).load()
    assert not model.scorer.compiled
    texts = seed_text.splitlines()
    assert np.abs(model.predict_proba(texts) - tiny_model.predict_proba(texts)).max() < 1e-9
    with caplog.at_level("WARNING"):
        app = make_app()
    assert "compiled n-gram scorer is not built" in caplog.text
    r = app.test_client().post("/v1/moderate", json={"text": "Kratom cures anxiety.", "store": False})
    assert r.status_code == 200


def test_texts_the_caller_already_normalised_score_as_the_raw_texts(tiny_model, seed_text):
    from service.analysis.normalize import normalize

    texts = [*seed_text.splitlines(), "Kr@tom ｃｕｒｅｓ pain in 2.5 g!", "K R A T O M eases 4 g", "ﬁne ca\u0301ncer"]
    raw = tiny_model.predict_proba(texts)
    assert np.array_equal(tiny_model.predict_proba(texts, [normalize(t) for t in texts]), raw)
