import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from service.analysis.features import NBLogisticRegression, build_pipeline, compile_scorer


@pytest.fixture()
def xy():
    rng = np.random.default_rng(0)
    X = sp.random(200, 30, density=0.2, format="csr", random_state=1, dtype=np.float64)
    y = (X[:, 0].toarray().ravel() + X[:, 1].toarray().ravel() + rng.normal(0, 0.1, 200) > 0.1).astype(int)
    return X, y


def test_nb_scaling_is_folded_into_plain_coefficients(xy):
    X, y = xy
    nb = NBLogisticRegression(C=2.0, alpha=0.5, random_state=0).fit(X, y)
    inner = LogisticRegression(C=2.0, solver="liblinear", dual=True, random_state=0, max_iter=2000)
    inner.fit(X.multiply(nb.nb_ratio_).tocsr(), y)
    assert np.allclose(nb.decision_function(X), inner.decision_function(X.multiply(nb.nb_ratio_).tocsr()))
    assert np.allclose(nb.coef_, inner.coef_ * nb.nb_ratio_)


def test_features_seen_mostly_in_positives_get_positive_ratios():
    X = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]], dtype=float))
    nb = NBLogisticRegression(alpha=0.5).fit(X, np.array([1, 1, 0, 0]))
    assert nb.nb_ratio_[0] > 0 > nb.nb_ratio_[1]
    assert nb.nb_ratio_[2] == pytest.approx(0.0)


def test_nb_logistic_regression_clones_with_its_smoothing():
    est = clone(NBLogisticRegression(alpha=0.25, C=3.0, class_weight="balanced"))
    assert est.get_params()["alpha"] == 0.25 and est.C == 3.0 and est.class_weight == "balanced"


def test_an_nb_pipeline_exports_as_the_same_linear_scorer():
    texts = ["Kratom eases my back pain.", "Take 2 grams twice a day.", "Mitragynine binds mu-opioid receptors.",
             "It can damage the liver.", "The bill passed the senate.", "Red vein helps me sleep."] * 3
    y = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]] * 3)
    pipeline = build_pipeline("nblogreg", C=4.0).fit(texts, y)
    scorer = compile_scorer(pipeline, texts)
    probe = ["My pain eased after 3 grams.", "The liver enzymes rose."]
    assert np.abs(scorer.predict_proba(probe) - pipeline.predict_proba(probe)).max() < 1e-6
