"""The scikit-learn Pipeline factory, shared by training and serving.

The pipeline pickles a reference to ``feature_text`` by module path, so this
module must stay importable by the service; training imports it from here.
"""

from __future__ import annotations

import re
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


# Groups of words that signal a claim type however it is phrased. They let a
# model trained on a few thousand sentences generalise past its exact n-grams
# (matched on normalised text, numbers already folded to "0").
CUE_GROUPS: dict[str, str] = {
    "amount": r"\b0(?:\s?(?:-|to|or)\s?0)?\s?(?:g|gs|grams?|gr|gms?|mg|milligrams?|kg|oz|ounces?|capsules?|caps|pills?"
              r"|tablets?|tabs?|teaspoons?|tsps?|tablespoons?|tbsps?|scoops?|shots?|ml|drops?|droppers?|servings?|doses?)\b",
    "amount_words": r"\b(?:a|one|two|three|half an?|a couple of) (?:capsules?|teaspoons?|tsp|tablespoons?|scoops?"
                    r"|grams?|shots?|tablets?|servings?|droppers?)\b",
    "frequency": r"\b(?:daily|once|twice|three times|per day|a day|every 0|hours? apart|each morning|as needed"
                 r"|redos\w*|re-dos\w*|tolerance breaks?|rotat\w+ strains)\b",
    "dose_words": r"\b(?:dos(?:e|es|ed|ing|age|ages)|servings?|serving size|titrat\w+|start (?:low|small)|toss and wash"
                  r"|empty stomach|brew\w*|steep\w*|tea|capsules?|powder|extract|tincture|shots?)\b",
    "receptor": r"\b(?:receptors?|agonis\w+|antagonis\w+|binds?|binding|affinity|mu-opioid|kappa|delta-opioid"
                r"|adrenergic|serotonerg\w*|dopamin\w*|serotonin|neurotransmitt\w+|endorphin\w*)\b",
    "pharmacology": r"\b(?:alkaloids?|mitragynine|7-?oh|7-hydroxy\w*|paynantheine|speciogynine|corynanth\w+"
                    r"|metaboli\w+|half-?life|pharmaco\w+|potency|potent|onset|kicks? in|peaks?|bioavailab\w+"
                    r"|cyp\w*|enzyme\w*|inhibit\w*|stimulant|sedat\w+|dose-dependent|plasma|liver enzymes)\b",
    "harm": r"\b(?:side[- ]effects?|risks?|dangers?|danger\w+|addict\w*|dependen\w+|withdrawal|tolerance|overdos\w*"
            r"|deaths?|died|fatal\w*|toxic\w*|liver|hepat\w+|seizures?|nausea|vomit\w*|constipat\w+|itch\w*"
            r"|salmonella|contamina\w+|heavy metals?|lead|adulterat\w+|interact\w*|poison\w*|adverse|harm\w*"
            r"|hospitali[sz]\w+|emergency|psychosis|respiratory)\b",
    "assurance": r"\b(?:safe(?:ly|r|ty)?|harmless|non-?addictive|non-?toxic|gentle|mild|well-tolerated|tested"
                 r"|lab-tested|pure|purity)\b",
    "caution": r"\b(?:warn\w*|caution\w*|consult\w*|doctor|physician|healthcare|pharmacist|pregnan\w*|breastfeed\w*"
               r"|never|avoid|do not|don't|responsibl\w+|supervision|moderation|precaution\w*|keep out of reach)\b",
    "benefit": r"\b(?:reliev\w+|relief|eas(?:e|es|ed|ing)|sooth\w+|alleviat\w+|treat\w*|cur(?:e|es|ed|ing)|heal\w*"
               r"|manag\w+|help\w*|benefit\w*|therapeut\w+|remed\w+|effective|improv\w+|boost\w*|support\w*"
               r"|promot\w+|enhanc\w+|lift\w*|combat\w*|fight\w*|reduc\w+|lessen\w*|work(?:s|ed)? for)\b",
    "condition": r"\b(?:pain\w*|aches?|arthritis|fibromyalgia|migraines?|headaches?|depress\w+|anxi\w+|ptsd|insomnia"
                 r"|diabet\w+|cancer|inflammat\w+|discomfort|ailments?|disorders?|conditions?|illness\w*|diseases?"
                 r"|symptoms?|addiction|opioid use disorder|oud|recovery|cravings?)\b",
    "wellbeing": r"\b(?:energ\w+|moods?|focus\w*|motivat\w+|relax\w*|calm\w*|unwind\w*|stress\w*|well-?being"
                 r"|euphori\w*|uplift\w*|sleep\w*|productiv\w+|sociab\w+|chatty|clarity|alert\w*|stamina)\b",
}


class CueFeatures(TransformerMixin, BaseEstimator):
    """One column per cue group: whether the sentence matches it (scaled by ``weight``)."""

    def __init__(self, weight: float = 0.5) -> None:
        self.weight = weight

    def fit(self, X, y=None):
        self.groups_ = list(CUE_GROUPS)
        self.patterns_ = [re.compile(CUE_GROUPS[g]) for g in self.groups_]
        return self

    def transform(self, X):
        rows, cols = [], []
        for i, text in enumerate(X):
            t = feature_text(text)
            for j, pattern in enumerate(self.patterns_):
                if pattern.search(t):
                    rows.append(i)
                    cols.append(j)
        data = np.full(len(rows), self.weight, dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(X), len(self.patterns_)))

    def get_feature_names_out(self, input_features=None):
        return np.array([f"cue:{g}" for g in self.groups_], dtype=object)


def build_pipeline(family: str = "logreg", *, C: float = 4.0, seed: int = 0, cues: float = 0.5) -> Pipeline:
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
