"""The scikit-learn Pipeline factory, shared by training and serving.

The pipeline pickles a reference to ``feature_text`` by module path, so this
module must stay importable by the service; training imports it from here.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from .normalize import normalize

LABELS: tuple[str, ...] = ("efficacy", "mechanism", "dosing", "safety")
FLAGS: tuple[str, ...] = (
    "disease_claim", "opioid_substitution", "safety_assurance", "absolute_claim",
    "drug_combination", "vulnerable_population", "dosing_instruction",
    "wellbeing_claim", "unsupported_evidence",
)
# One model predicts the claim labels and, for the policy, each flag's likelihood.
OUTPUTS: tuple[str, ...] = LABELS + tuple(f"flag:{f}" for f in FLAGS)
FAMILIES: tuple[str, ...] = ("logreg", "svm", "nb")

WORD_TOKENS = r"(?u)\b\w+\b"  # single letters too: "g", "mg" matter for dosing
_DIGITS_RE = re.compile(r"\d+(?:[.,]\d+)?")


def feature_text(text: str) -> str:
    """Normalise and fold every number to one token: "2.5 g" and "4 g" are the same cue."""
    return _DIGITS_RE.sub("0", normalize(text))


def build_pipeline(family: str = "logreg", *, C: float = 4.0, seed: int = 0) -> Pipeline:
    """Build the unfitted pipeline for ``family`` (see ``FAMILIES``)."""
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
        ]
    )
    return Pipeline([("features", features), ("clf", _classifier(family, C, seed))])


def _classifier(family: str, C: float, seed: int) -> Any:
    if family == "logreg":
        base: Any = LogisticRegression(
            C=C, class_weight="balanced", solver="liblinear", random_state=seed, max_iter=2000
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
