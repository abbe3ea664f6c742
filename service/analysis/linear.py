"""Score with a fitted TF-IDF + one-vs-rest logistic-regression pipeline in one product.

scikit-learn's ``predict_proba`` on our pipeline runs the normaliser once per
vectoriser, validates and converts inputs at every step, and loops over the
13 one-vs-rest estimators. The fitted model is linear, so scoring is: the
same n-grams (the fitted vectorisers' own analysers, fed text normalised
once), TF-IDF weights, and one matrix product with every output's
coefficients stacked in one matrix. ``LinearScorer.verify`` checks it gives
the pipeline's probabilities.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from .features import CueFeatures, feature_text

WORD_CACHE_SIZE = 200_000


@dataclass(frozen=True)
class _Block:
    """One TF-IDF vectoriser: how to cut n-grams, its vocabulary and idf, its column offset."""

    analyze: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear: bool
    offset: int
    per_word: bool  # char_wb n-grams never cross words: a word's columns can be cached

    def columns(self, text: str, cache: dict[str, list[int]]) -> list[int]:
        """Vocabulary columns of the n-grams of ``text``, one entry per occurrence."""
        get = self.vocabulary.get
        if not self.per_word:
            return [c for c in map(get, self.analyze(text)) if c is not None]
        cols: list[int] = []
        for word in text.split():
            hit = cache.get(word)
            if hit is None:
                hit = [c for c in map(get, self.analyze(word)) if c is not None]
                if len(cache) >= WORD_CACHE_SIZE:
                    cache.clear()  # bounded memory; the common words come back at once
                cache[word] = hit
            cols.extend(hit)
        return cols


_WHITE_SPACES = re.compile(r"\s\s+")


def _char_wb_grams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """The n-grams of scikit-learn's ``char_wb`` analyser, built with list comprehensions."""
    min_n, max_n = ngram_range
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        w = f" {word} "
        size = len(w)
        for n in range(min_n, max_n + 1):
            if n >= size:  # a short word counts once, whole
                grams.append(w)
                break
            grams.extend([w[i : i + n] for i in range(size - n + 1)])
    return grams


class UnsupportedPipeline(Exception):
    """The pipeline is not TF-IDF blocks followed by one-vs-rest logistic regression."""


class LinearScorer:
    def __init__(self, pipeline: Pipeline) -> None:
        features, clf = pipeline.named_steps.get("features"), pipeline.named_steps.get("clf")
        if not isinstance(features, FeatureUnion) or not isinstance(clf, OneVsRestClassifier):
            raise UnsupportedPipeline("expected FeatureUnion -> OneVsRestClassifier")
        self.blocks: list[_Block] = []
        self.cues: tuple[CueFeatures, int] | None = None
        offset = 0
        for _, step in features.transformer_list:
            if isinstance(step, TfidfVectorizer):
                if step.preprocessor is not feature_text or step.norm != "l2" or not step.use_idf:
                    raise UnsupportedPipeline("vectoriser settings differ from build_pipeline's")
                per_word = step.analyzer == "char_wb"
                if per_word:
                    analyze = partial(_char_wb_grams, ngram_range=step.ngram_range)
                else:
                    analyze = clone(step).set_params(preprocessor=None, lowercase=False).build_analyzer()
                self.blocks.append(_Block(analyze, step.vocabulary_, step.idf_.astype(np.float64),
                                          step.sublinear_tf, offset, per_word))
                offset += len(step.vocabulary_)
            elif isinstance(step, CueFeatures):
                self.cues = (step, offset)
                offset += len(step.patterns_)
            else:
                raise UnsupportedPipeline(f"unsupported feature step {type(step).__name__}")
        self.n_features = offset
        coef = np.zeros((offset, len(clf.estimators_)), dtype=np.float64)
        intercept = np.zeros(len(clf.estimators_), dtype=np.float64)
        self.constant: dict[int, float] = {}
        for j, est in enumerate(clf.estimators_):
            if isinstance(est, LogisticRegression):
                coef[:, j] = est.coef_.ravel()
                intercept[j] = float(est.intercept_[0])
            elif hasattr(est, "y_"):  # one-vs-rest's constant predictor: one class only
                self.constant[j] = float(np.ravel(est.y_)[0])
            else:
                raise UnsupportedPipeline(f"unsupported estimator {type(est).__name__}")
        self.coef = coef
        self.intercept = intercept
        self._word_cache: dict[str, list[int]] = {}

    def _row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and TF-IDF values of one text (each block L2-normalised)."""
        t = feature_text(text)
        cols_parts, vals_parts = [], []
        for block in self.blocks:
            # map/Counter run in C: the per-n-gram work stays out of the interpreter
            counts = Counter(block.columns(t, self._word_cache))
            if not counts:
                continue
            cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            if block.sublinear:
                tf = np.log(tf) + 1.0
            w = tf * block.idf[cols]
            w /= math.sqrt(float(w @ w))
            cols_parts.append(cols + block.offset)
            vals_parts.append(w)
        if self.cues is not None:
            step, offset = self.cues
            hits = [offset + k for k, pattern in enumerate(step.patterns_) if pattern.search(t)]
            if hits:
                cols_parts.append(np.array(hits, dtype=np.int64))
                vals_parts.append(np.full(len(hits), step.weight, dtype=np.float64))
        if not cols_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return np.concatenate(cols_parts), np.concatenate(vals_parts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        z = np.empty((len(texts), self.coef.shape[1]), dtype=np.float64)
        for i, text in enumerate(texts):
            cols, vals = self._row(text)
            z[i] = vals @ self.coef[cols]
        z += self.intercept
        p = 1.0 / (1.0 + np.exp(-z))
        for j, value in self.constant.items():
            p[:, j] = value
        return p

    def verify(self, pipeline: Any, texts: Sequence[str], tolerance: float = 1e-5) -> float:
        """Largest difference from the pipeline's own probabilities on ``texts``."""
        diff = float(np.abs(self.predict_proba(texts) - pipeline.predict_proba(list(texts))).max())
        if diff > tolerance:
            raise UnsupportedPipeline(f"fast scorer differs from the pipeline by {diff:.2e}")
        return diff
