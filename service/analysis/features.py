"""The scikit-learn Pipeline factory (training), and its export to a ``LinearScorer``.

The pipeline pickles references to ``featurize.feature_text`` and
``CueFeatures`` by module path, so both live in ``service.analysis`` where a
pickled pipeline can always find them; the service itself serves the
exported arrays and never needs this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from .featurize import CUE_GROUPS, WORD_TOKENS, Block, CueMatcher, LinearScorer, feature_text
from .taxonomy import FLAGS, LABELS, OUTPUTS

__all__ = ["EXPORTABLE", "FAMILIES", "FLAGS", "LABELS", "OUTPUTS", "CueFeatures", "NBLogisticRegression",
           "build_pipeline", "compile_scorer"]

FAMILIES: tuple[str, ...] = ("nblogreg", "logreg", "svm", "nb")
# The families ``compile_scorer`` exports as plain arrays (served several times faster).
EXPORTABLE: tuple[str, ...] = ("nblogreg", "logreg")

class CueFeatures(TransformerMixin, BaseEstimator):
    """One column per cue group: whether the sentence matches it (scaled by ``weight``)."""

    def __init__(self, weight: float = 0.5) -> None:
        self.weight = weight

    def fit(self, X, y=None):
        self.groups_ = list(CUE_GROUPS)
        self.matcher_ = CueMatcher(self.groups_)
        return self

    def transform(self, X):
        rows, cols = [], []
        if not hasattr(self, "matcher_"):  # pickled before the RE2 matcher (models of 2026-11-24 and older)
            self.matcher_ = CueMatcher(self.groups_)
        for i, text in enumerate(X):
            t = feature_text(text)
            for j in self.matcher_.hits(t):
                rows.append(i)
                cols.append(j)
        data = np.full(len(rows), self.weight, dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(X), len(self.groups_)))

    def get_feature_names_out(self, input_features=None):
        return np.array([f"cue:{g}" for g in self.groups_], dtype=object)


class NBLogisticRegression(LogisticRegression):
    """Logistic regression over features scaled by their naive-Bayes log-count ratio.

    Wang & Manning's NBSVM ("Baselines and bigrams", 2012) with a logistic loss:
    each n-gram is weighted by how much more often it occurs in positive than in
    negative sentences before the regression sees it, which a few thousand
    sentences cannot teach a plain L2-regularised model for rare n-grams. After
    ``fit`` the ratios are folded into ``coef_``, so the fitted model is an
    ordinary logistic regression over the unscaled features (and exports as one).
    """

    def __init__(self, *, alpha: float = 0.5, C: float = 1.0, class_weight: Any = None,
                 solver: str = "liblinear", dual: bool = True, random_state: Any = None,
                 max_iter: int = 2000) -> None:
        super().__init__(C=C, class_weight=class_weight, solver=solver, dual=dual,
                         random_state=random_state, max_iter=max_iter)
        self.alpha = alpha

    def fit(self, X, y, sample_weight=None):
        X = sp.csr_matrix(X)
        y = np.asarray(y)
        present = X.copy()
        present.data = np.ones_like(present.data)
        pos = self.alpha + np.asarray(present[y == 1].sum(axis=0)).ravel()
        neg = self.alpha + np.asarray(present[y != 1].sum(axis=0)).ravel()
        self.nb_ratio_ = np.log((pos / pos.sum()) / (neg / neg.sum()))
        super().fit(X.multiply(self.nb_ratio_).tocsr(), y, sample_weight=sample_weight)
        self.coef_ = self.coef_ * self.nb_ratio_
        return self


def build_pipeline(family: str = "logreg", *, C: float = 4.0, seed: int = 0, cues: float = 0.25) -> Pipeline:
    """Build the unfitted pipeline for ``family`` (see ``FAMILIES``); ``cues=0`` drops the cue block."""
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(
                preprocessor=feature_text, lowercase=False, ngram_range=(1, 2),
                token_pattern=WORD_TOKENS, sublinear_tf=True, min_df=1, dtype=np.float32,
            )),
            ("char", TfidfVectorizer(
                preprocessor=feature_text, lowercase=False, analyzer="char_wb",
                ngram_range=(2, 5), sublinear_tf=True, min_df=2, dtype=np.float32,
            )),
            *([("cues", CueFeatures(weight=cues))] if cues else []),
        ]
    )
    return Pipeline([("features", features), ("clf", _classifier(family, C, seed))])


def _classifier(family: str, C: float, seed: int) -> Any:
    if family == "nblogreg":
        base: Any = NBLogisticRegression(C=C, class_weight="balanced", random_state=seed)
    elif family == "logreg":
        # dual=True: the same L2 problem solved in its dual, which has one variable per sentence
        # instead of one per n-gram; several times faster to fit here, same coefficients.
        base = LogisticRegression(
            C=C, class_weight="balanced", solver="liblinear", dual=True, random_state=seed, max_iter=2000
        )
    elif family == "svm":
        base = CalibratedClassifierCV(
            LinearSVC(C=C / 8, class_weight="balanced", random_state=seed), cv=3,
            method="sigmoid",
        )
    elif family == "nb":
        base = ComplementNB(alpha=1.0 / C)
    else:
        raise ValueError(f"unknown model family {family!r}; choose from {FAMILIES}")
    return OneVsRestClassifier(base)


class UnsupportedPipeline(Exception):
    """The pipeline is not TF-IDF blocks followed by one-vs-rest logistic regression."""


def compile_scorer(pipeline: Pipeline, check_texts: list[str], tolerance: float = 1e-5) -> LinearScorer:
    """Export a fitted logistic-regression pipeline as a ``LinearScorer`` and check it agrees."""
    features, clf = pipeline.named_steps.get("features"), pipeline.named_steps.get("clf")
    if not isinstance(features, FeatureUnion) or not isinstance(clf, OneVsRestClassifier):
        raise UnsupportedPipeline("expected FeatureUnion -> OneVsRestClassifier")
    blocks: list[Block] = []
    cue_groups: list[str] = []
    cue_weight = 0.0
    offset = 0
    for _, step in features.transformer_list:
        if isinstance(step, TfidfVectorizer):
            if (step.preprocessor is not feature_text or step.norm != "l2" or not step.use_idf
                    or step.analyzer not in ("word", "char_wb") or step.stop_words is not None):
                raise UnsupportedPipeline("vectoriser settings differ from build_pipeline's")
            blocks.append(Block(step.analyzer, tuple(step.ngram_range), dict(step.vocabulary_),
                                step.idf_.astype(np.float64), bool(step.sublinear_tf), offset,
                                step.token_pattern))
            offset += len(step.vocabulary_)
        elif isinstance(step, CueFeatures):
            if offset != sum(len(b.vocabulary) for b in blocks) or step is not features.transformer_list[-1][1]:
                raise UnsupportedPipeline("the cue block must come last")
            cue_groups, cue_weight = list(step.groups_), float(step.weight)
            offset += len(cue_groups)
        else:
            raise UnsupportedPipeline(f"unsupported feature step {type(step).__name__}")
    coef = np.zeros((offset, len(clf.estimators_)), dtype=np.float64)
    intercept = np.zeros(len(clf.estimators_), dtype=np.float64)
    constant: dict[int, float] = {}
    for j, est in enumerate(clf.estimators_):
        if isinstance(est, LogisticRegression):
            coef[:, j] = est.coef_.ravel()
            intercept[j] = float(est.intercept_[0])
        elif hasattr(est, "y_"):  # one-vs-rest's constant predictor: one class only
            constant[j] = float(np.ravel(est.y_)[0])
        else:
            raise UnsupportedPipeline(f"unsupported estimator {type(est).__name__}")
    scorer = LinearScorer(blocks, cue_groups, cue_weight, coef, intercept, constant)
    diff = float(np.abs(scorer.predict_proba(check_texts) - pipeline.predict_proba(check_texts)).max())
    if diff > tolerance:
        raise UnsupportedPipeline(f"the exported scorer differs from the pipeline by {diff:.2e}")
    return scorer
