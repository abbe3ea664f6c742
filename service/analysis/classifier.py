"""Load a model checked against its card, and score sentences in batches.

The service scores with the exported ``scorer.npz``: plain arrays read with
``allow_pickle=False``, so loading a model runs no code and needs no
scikit-learn. Only a model whose family cannot be exported falls back to the
joblib pickle, and then only from the models directory, only if its SHA-256
matches the card written beside it at training time, and only with the
library versions the card records.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .featurize import LinearScorer
from .taxonomy import LABELS

CARD_FILE = "card.json"
ARTIFACT_FILE = "model.joblib"
SCORER_FILE = "scorer.npz"
ACTIVE_FILE = "ACTIVE"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Model:
    """A fitted pipeline with the card that describes it."""

    name: str
    version: str
    card: dict[str, Any]
    pipeline: Any = field(repr=False)
    outputs: tuple[str, ...]
    thresholds: np.ndarray = field(repr=False)
    scorer: LinearScorer | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, card: dict[str, Any], pipeline: Any, outputs: Sequence[str], thresholds: np.ndarray,
              scorer: LinearScorer | None = None) -> Model:
        return cls(card["name"], card["version"], card, pipeline, tuple(outputs), thresholds, scorer)

    def predict_proba(self, texts: Sequence[str], normalized: Sequence[str] | None = None) -> np.ndarray:
        """Return one row of output probabilities per text, in ``outputs`` order.

        ``normalized``: the same texts already ``normalize``d, if the caller has them
        (the exported scorer then skips normalising them again)."""
        if not texts:
            return np.zeros((0, len(self.outputs)), dtype=np.float64)
        if self.scorer is not None:
            if normalized is not None:
                return self.scorer.predict_proba(normalized, normalized=True)
            return self.scorer.predict_proba(texts)
        return np.asarray(self.pipeline.predict_proba(list(texts)), dtype=np.float64)

    def threshold(self, output: str) -> float:
        return float(self.thresholds[self.outputs.index(output)])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions that must match between the trainer and a server that loads the pickle."""
    import joblib
    import scipy
    import sklearn

    return {
        "python": ".".join(map(str, sys.version_info[:2])),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def load_model(directory: Path) -> Model:
    """Load the model in ``directory`` after checking it against its card."""
    card_path = directory / CARD_FILE
    artifact = directory / ARTIFACT_FILE
    if not card_path.is_file():
        raise ModelError(f"{directory} has no {CARD_FILE} and {ARTIFACT_FILE}; run `make model`")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        outputs = tuple(card["outputs"])
        thresholds = np.array([float(card["thresholds"][o]) for o in outputs])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{card_path} is not a valid model card: {exc}") from exc
    if not set(LABELS) <= set(outputs):
        raise ModelError(f"model {directory.name} does not predict every label in {LABELS}")
    scorer_info = card.get("scorer")
    if scorer_info:
        path = directory / SCORER_FILE
        _check_hash(path, scorer_info.get("sha256", ""))
        try:
            scorer = LinearScorer.load(path)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{path} is not a valid scorer: {exc}") from exc
        return Model.build(card, None, outputs, thresholds, scorer)
    _check_hash(artifact, card.get("artifact", {}).get("sha256", ""))
    trained_with = card.get("libraries", {})
    running = library_versions()
    for lib in ("scikit-learn", "numpy", "python"):
        if _minor(trained_with.get(lib, "")) != _minor(running[lib]):
            raise ModelError(
                f"model {directory.name} was trained with {lib} {trained_with.get(lib)}, "
                f"this service runs {running[lib]}; retrain it with `make model`"
            )
    import joblib

    # A pickle: loaded only after its SHA-256 matched the card, and only from the models directory.
    pipeline = joblib.load(artifact)  # nosec B301
    return Model.build(card, pipeline, outputs, thresholds)


def _check_hash(path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelError(f"{path} is missing; run `make model`")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(f"{path} has SHA-256 {actual}, its card says {expected}: refusing to load it")


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


class ModelRegistry:
    """The models directory: one sub-directory per version and an ``ACTIVE`` pointer."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self) -> list[dict[str, Any]]:
        """Cards of every model in the directory, newest first."""
        cards = []
        for card_path in sorted(self.root.glob(f"*/{CARD_FILE}")):
            try:
                cards.append(json.loads(card_path.read_text(encoding="utf-8")))
            except ValueError:
                continue
        return sorted(cards, key=lambda c: c.get("created_at", ""), reverse=True)

    def active_version(self) -> str | None:
        pointer = self.root / ACTIVE_FILE
        if pointer.is_file():
            return pointer.read_text(encoding="utf-8").strip() or None
        return None

    def set_active(self, version: str) -> None:
        self.directory(version)  # validates and checks existence
        tmp = self.root / f".{ACTIVE_FILE}.tmp"
        tmp.write_text(version + "\n", encoding="utf-8")
        tmp.replace(self.root / ACTIVE_FILE)

    def directory(self, version: str) -> Path:
        """Resolve ``version`` to its ``<name>-<version>`` directory inside the models directory."""
        if not _VERSION_RE.match(version):
            raise ModelError(f"invalid model version {version!r}")
        for path in sorted(self.root.glob(f"*-{version}")):
            card_path = path / CARD_FILE
            if card_path.is_file() and path.parent == self.root:
                try:
                    if json.loads(card_path.read_text(encoding="utf-8")).get("version") == version:
                        return path
                except ValueError:
                    continue
        raise ModelError(f"no model version {version!r} in {self.root}")

    def load(self, version: str | None = None) -> Model:
        """Load ``version``, or the active one."""
        version = version or self.active_version()
        if not version:
            raise ModelError(f"no active model in {self.root}; run `make model`")
        return load_model(self.directory(version))
