"""What the classifier sees, and scoring with its fitted weights: no scikit-learn here.

Training fits a scikit-learn pipeline (``features.py``) whose vectorisers use
``feature_text`` and the n-gram definitions below; ``features.compile_scorer``
then exports its vocabularies, idf weights and the coefficients of every
output into a ``LinearScorer``, saved as plain arrays. The service loads
those arrays (no pickle, no code) and scores a batch with one matrix product.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import re2

from .normalize import normalize

try:  # built by `make install` (setup.py); without it the same features are computed in Python
    from ._ngrams import NgramScorer
except ImportError:  # pragma: no cover - exercised where no compiler was available
    NgramScorer = None

WORD_TOKENS = r"(?u)\b\w+\b"  # single letters too: "g", "mg" matter for dosing
WORD_CACHE_SIZE = 200_000
CHUNK = 256  # sentences scored together: one pass, with an (n-grams x outputs) array of a few MB
_DIGITS_RE = re.compile(r"\d+(?:[.,]\d+)?")
_WHITE_SPACES = re.compile(r"\s\s+")


def feature_text(text: str) -> str:
    """Normalise and fold every number to one token: "2.5 g" and "4 g" are the same cue."""
    return fold_numbers(normalize(text))


def fold_numbers(normalized: str) -> str:
    """``feature_text`` of text that is already normalised (the policy normalises it too)."""
    return _DIGITS_RE.sub("0", normalized)


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
    # General-language cues, not topic words: how a sentence frames what it says. Appended
    # only: a saved scorer names the groups it was fitted with, so existing groups never change.
    "hedge": r"\b(?:may|might|could|possibl[ey]|potential(?:ly)?|perhaps|likely|unlikely|appears? to|seems? to"
             r"|suggest\w*|promis(?:e|es|ing)|preliminary|anecdotal\w*|some (?:users|people|studies|evidence))\b",
    "negation": r"\b(?:not|no|never|none|neither|nor|without|cannot|can't|won't|doesn't|don't|didn't|isn't|aren't"
                r"|wasn't|lacks?|lacking|fails? to|failed to|nothing|zero)\b",
    "attribution": r"\b(?:says?|said|claim(?:s|ed|ing)?|report(?:s|ed|edly)?|according to|marketed|promoted|touted"
                   r"|advertis\w+|sold as|users?|consumers?|customers?|advocates?|proponents?|vendors?|testimonials?"
                   r"|swear\w*|describ\w+|believ\w+|insist\w*|alleg\w+)\b",
    # a directive to the reader: a sentence-initial imperative, after an optional list marker
    "imperative": r"^\W*(?:0[.)]?\s*|step 0:?\s*)?(?:take|start|begin|try|mix|add|wait|use|stick|keep|avoid|stay"
                  r"|don't|do not|never|always|consider|measure|weigh|increase|decrease|reduce|split|drink|stir"
                  r"|swallow|dissolve|brew|steep|boil|pour|give|allow|remember|make sure|be sure|aim|limit|space)\b",
    "second_person": r"\b(?:you|your|yours|yourself|you're|you'll|you've)\b",
    "study": r"\b(?:stud(?:y|ies|ied)|trials?|participants?|subjects|respondents|surveys?(?:ed)?|researchers?"
             r"|scientists?|investigators?|cohort|placebo|randomi[sz]ed|double-blind|in vitro|in vivo|mice|rats?"
             r"|rodents?|animal models?|preclinical|clinical|findings?|found|observed|demonstrated|published"
             r"|journal|et al|meta-analys[ie]s|case reports?|patients?|n ?= ?0)\b",
    "evidence_appeal": r"\b(?:(?:studies|research|science|evidence|data|experts|scientists|doctors)"
                       r" (?:show|shows|shown|suggest|suggests|prove|proves|proven|confirm|confirms|say|says"
                       r"|agree|agrees|indicate|indicates|support|supports|back|backs)|(?:clinically|scientifically)"
                       r" (?:proven|tested|backed)|research-backed|science-backed)\b",
}


class CueMatcher:
    """Which cue groups a text matches, all groups in one pass.

    RE2's multi-pattern set scans the text once for every group; one ``re``
    search per group cost 40 µs a sentence, a quarter of classifying it. RE2's
    ``\\b`` and ``\\w`` are ASCII-only where ``re``'s are Unicode; on normalised text
    the two agree on every corpus sentence (tests check), and training and
    serving both use this class, so a difference could not make them drift.
    """

    def __init__(self, groups: Sequence[str]) -> None:
        self.groups = list(groups)
        options = re2.Options()
        options.never_capture = True
        matcher = re2.Set.SearchSet(options)
        try:
            for group in self.groups:
                matcher.Add(CUE_GROUPS[group])
            matcher.Compile()
        except re2.error as exc:
            raise ValueError(f"the cue groups are not a valid RE2 set: {exc}") from exc
        self._set = matcher

    def hits(self, text: str) -> list[int]:
        """Indices (into ``groups``) of the groups ``text`` matches, in no particular order."""
        return self._set.Match(text) or []

    def __reduce__(self):  # an RE2 set cannot be pickled: rebuild it from the group names
        return (CueMatcher, (self.groups,))


def char_wb_grams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """The n-grams of scikit-learn's ``char_wb`` analyser (tests check they are identical)."""
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


def word_grams(text: str, ngram_range: tuple[int, int], pattern: re.Pattern[str]) -> list[str]:
    """The n-grams of scikit-learn's ``word`` analyser without stop words."""
    tokens = pattern.findall(text)
    min_n, max_n = ngram_range
    grams = list(tokens) if min_n == 1 else []
    for n in range(max(2, min_n), min(max_n, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


@dataclass(frozen=True)
class Block:
    """One TF-IDF vectoriser's part of the feature space."""

    analyzer: str  # "word" or "char_wb"
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear: bool
    offset: int
    token_pattern: str = WORD_TOKENS

    def columns(self, text: str, cache: dict[str, list[int]]) -> list[int]:
        """Columns in the scorer's feature space (``offset`` added) of the n-grams of ``text``,
        one entry per occurrence."""
        get = self.vocabulary.get
        offset = self.offset
        if self.analyzer == "word":
            grams = word_grams(text, self.ngram_range, _pattern(self.token_pattern))
            if offset:
                return [c + offset for c in map(get, grams) if c is not None]
            return [c for c in map(get, grams) if c is not None]
        cols: list[int] = []
        for word in text.split():  # char_wb n-grams never cross words: cache each word's columns
            hit = cache.get(word)
            if hit is None:
                hit = [c + offset for c in map(get, char_wb_grams(word, self.ngram_range)) if c is not None]
                if len(cache) >= WORD_CACHE_SIZE:
                    cache.clear()  # bounded memory; the common words come back at once
                cache[word] = hit
            cols.extend(hit)
        return cols


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(source: str) -> re.Pattern[str]:
    if source not in _PATTERNS:
        _PATTERNS[source] = re.compile(source)
    return _PATTERNS[source]


class LinearScorer:
    """TF-IDF features and one-vs-rest logistic regression as arrays and one product."""

    def __init__(self, blocks: list[Block], cue_groups: list[str], cue_weight: float,
                 coef: np.ndarray, intercept: np.ndarray, constant: dict[int, float]) -> None:
        self.blocks = blocks
        self.cue_groups = cue_groups
        self.cue_weight = cue_weight
        self.cues = CueMatcher(cue_groups)
        self.cue_offset = (blocks[-1].offset + len(blocks[-1].vocabulary)) if blocks else 0
        self.coef = coef
        self.intercept = intercept
        self.constant = constant
        self._word_cache: dict[str, list[int]] = {}
        # per-column idf and sublinear flag over all blocks, for one vectorised pass
        n = coef.shape[0]
        self._idf = np.ones(n, dtype=np.float64)
        self._sublinear = np.zeros(n, dtype=bool)
        for b in blocks:
            self._idf[b.offset : b.offset + len(b.vocabulary)] = b.idf
            self._sublinear[b.offset : b.offset + len(b.vocabulary)] = b.sublinear
        self._compiled = self._compile() if NgramScorer is not None else None

    def clear_word_cache(self) -> None:
        """Forget every word's cached n-gram columns (benchmarks measure a cold start with it)."""
        self._word_cache.clear()
        if self._compiled is not None:
            self._compiled.clear_cache()

    @property
    def compiled(self) -> bool:
        """Whether n-grams are scored by the compiled extension (else by ``_ngram_scores``)."""
        return self._compiled is not None

    def _compile(self):
        if any(b.analyzer == "word" and b.token_pattern != WORD_TOKENS for b in self.blocks):
            return None  # the extension knows one token pattern
        self.coef = np.ascontiguousarray(self.coef, dtype=np.float64)
        return NgramScorer(
            [(b.analyzer, b.ngram_range[0], b.ngram_range[1], b.sublinear, b.offset,
              sorted(b.vocabulary, key=b.vocabulary.__getitem__)) for b in self.blocks],
            self._idf, self.coef,
        )

    def evidence(self, text: str, output: int, limit: int = 3) -> list[tuple[int, int]]:
        """Spans of the (at most ``limit``) words of ``text`` whose own weight pushes ``output``
        up most: what a reviewer should look at when the model raises a flag no cue explains.
        ``text`` is normalised (as the policy sees it); numbers are folded as in training."""
        word = next((b for b in self.blocks if b.analyzer == "word"), None)
        if word is None:
            return []
        scored = []
        for m in _pattern(word.token_pattern).finditer(text):
            col = word.vocabulary.get(_DIGITS_RE.sub("0", m.group()))
            if col is not None and self.coef[word.offset + col, output] > 0:
                scored.append((float(self.coef[word.offset + col, output]), m.span()))
        return sorted(span for _, span in sorted(scored, reverse=True)[:limit])

    def predict_proba(self, texts: Sequence[str], *, normalized: bool = False) -> np.ndarray:
        """Probabilities of every output for every text, in chunks that bound memory;
        ``normalized``: the texts are already ``normalize``d."""
        if len(texts) <= CHUNK:
            return self._predict_chunk(texts, normalized=normalized)
        return np.vstack([self._predict_chunk(texts[i : i + CHUNK], normalized=normalized)
                          for i in range(0, len(texts), CHUNK)])

    def _predict_chunk(self, texts: Sequence[str], compiled: bool = True, normalized: bool = False) -> np.ndarray:
        """One pass over all the n-grams and cues of ``texts``."""
        ft = [fold_numbers(t) for t in texts] if normalized else [feature_text(t) for t in texts]
        if compiled and self._compiled is not None:
            z = np.zeros((len(ft), self.coef.shape[1]), dtype=np.float64)
            self._compiled.score(ft, z)
        else:
            z = self._ngram_scores(ft)
        cue_rows: list[int] = []
        cue_cols: list[int] = []
        for i, t in enumerate(ft):
            for k in self.cues.hits(t):
                cue_rows.append(i)
                cue_cols.append(self.cue_offset + k)
        if cue_cols:
            np.add.at(z, np.array(cue_rows, dtype=np.int64), self.cue_weight * self.coef[cue_cols])
        z += self.intercept
        p = 1.0 / (1.0 + np.exp(-z))
        for j, value in self.constant.items():
            p[:, j] = value
        return p

    def _ngram_scores(self, texts: Sequence[str]) -> np.ndarray:
        """The n-gram blocks' share of the decision function in Python and numpy: the
        reference the compiled extension is tested against, and the fallback without it."""
        z = np.zeros((len(texts), self.coef.shape[1]), dtype=np.float64)
        cols: list[int] = []
        counts: list[int] = []
        segments: list[int] = []  # start of each (text, block) run in cols: normalised separately
        seg_rows: list[int] = []
        for i, t in enumerate(texts):
            for block in self.blocks:
                c = Counter(block.columns(t, self._word_cache))
                if c:
                    segments.append(len(cols))
                    seg_rows.append(i)
                    cols.extend(c)
                    counts.extend(c.values())
        if cols:
            col = np.array(cols, dtype=np.int64)
            tf = np.array(counts, dtype=np.float64)
            tf = np.where(self._sublinear[col], np.log(tf) + 1.0, tf)
            w = tf * self._idf[col]
            starts = np.array(segments, dtype=np.int64)
            norms = np.sqrt(np.add.reduceat(w * w, starts))
            w /= np.repeat(norms, np.diff(np.append(starts, len(w))))
            contrib = np.add.reduceat(w[:, None] * self.coef[col], starts)
            np.add.at(z, np.array(seg_rows, dtype=np.int64), contrib)
        return z

    # -- plain-array persistence (np.load with allow_pickle=False: no code runs) --------
    def save(self, path: Path) -> None:
        meta = {
            "blocks": [{"analyzer": b.analyzer, "ngram_range": list(b.ngram_range), "sublinear": b.sublinear,
                        "offset": b.offset, "token_pattern": b.token_pattern} for b in self.blocks],
            "cue_groups": self.cue_groups, "cue_weight": self.cue_weight,
            "constant": {str(k): v for k, v in self.constant.items()},
        }
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta)), "coef": self.coef,
                                         "intercept": self.intercept}
        for i, b in enumerate(self.blocks):
            terms = sorted(b.vocabulary, key=b.vocabulary.__getitem__)
            arrays[f"terms{i}"] = np.array(terms, dtype=str)
            arrays[f"idf{i}"] = b.idf
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> LinearScorer:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            blocks = [
                Block(m["analyzer"], tuple(m["ngram_range"]),
                      {t: i for i, t in enumerate(data[f"terms{k}"].tolist())},
                      data[f"idf{k}"].astype(np.float64), bool(m["sublinear"]), int(m["offset"]),
                      m.get("token_pattern", WORD_TOKENS))
                for k, m in enumerate(meta["blocks"])
            ]
            return cls(blocks, list(meta["cue_groups"]), float(meta["cue_weight"]),
                       data["coef"].astype(np.float64), data["intercept"].astype(np.float64),
                       {int(k): float(v) for k, v in meta["constant"].items()})
