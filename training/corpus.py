"""The labelled corpus: loading, validation, hashing and the fixed document split."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from service.analysis.normalize import sentence_key
from service.analysis.taxonomy import FLAGS, LABELS, OUTPUTS

DATA_DIR = Path(__file__).parent / "data"
CORPUS_FILE = DATA_DIR / "corpus.jsonl"
SEED_FILE = DATA_DIR / "seed.jsonl"
DEFAULT_FILES = (SEED_FILE, CORPUS_FILE)
TEST_SHARE = 0.2  # of documents, by a hash of the document id: fixed across runs


@dataclass(frozen=True)
class Row:
    id: str
    doc_id: str
    text: str
    labels: tuple[str, ...]
    flags: tuple[str, ...]
    style: str = "unknown"
    near_miss: tuple[str, ...] = field(default=())

    def targets(self) -> list[int]:
        have = set(self.labels) | {f"flag:{f}" for f in self.flags}
        return [int(o in have) for o in OUTPUTS]


def read_rows(path: Path) -> list[Row]:
    """Read a JSONL file of ``{text, labels, flags}`` rows (other fields optional)."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                text = d["text"]
                labels = tuple(sorted(d.get("labels", [])))
                flags = tuple(sorted(d.get("flags", [])))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a labelled row: {exc}") from exc
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{path}:{n}: empty text")
            if not set(labels) <= set(LABELS) or not set(flags) <= set(FLAGS):
                raise ValueError(f"{path}:{n}: unknown label or flag in {labels} {flags}")
            rid = str(d.get("id") or f"{path.stem}-{n}")
            rows.append(Row(
                id=rid, doc_id=str(d.get("doc_id") or d.get("document_id") or rid), text=text,
                labels=labels, flags=flags, style=d.get("style", "unknown"),
                near_miss=tuple(d.get("near_miss", [])),
            ))
    return rows


def load_corpus(files: Iterable[Path] = DEFAULT_FILES, extra: Iterable[Path] = ()) -> list[Row]:
    """Load the corpus; rows in ``extra`` override corpus rows with the same normalised text."""
    rows = [r for f in files for r in read_rows(Path(f))]
    overrides = {sentence_key(r.text): r for f in extra for r in read_rows(Path(f))}
    if not overrides:
        return rows
    kept = [r for r in rows if sentence_key(r.text) not in overrides]
    return kept + list(overrides.values())


def data_hash(rows: Sequence[Row]) -> str:
    digest = hashlib.sha256()
    for r in rows:
        digest.update(json.dumps([r.doc_id, r.text, r.labels, r.flags], ensure_ascii=False).encode())
    return digest.hexdigest()


ALWAYS_TRAIN = ("seed", "feedback-")


def is_test_document(doc_id: str) -> bool:
    """Whether a document belongs to the fixed held-out split (never trained on).

    The seed article is always trained on: it is the product's reference text. So are
    moderators' corrections (exported as ``feedback-*`` documents): they fix what the model
    gets wrong, and keeping them out of the held-out split keeps that split comparable
    between model versions (the quality gate compares on it).
    """
    if doc_id.startswith(ALWAYS_TRAIN):
        return False
    h = int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < TEST_SHARE


def split(rows: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    train = [r for r in rows if not is_test_document(r.doc_id)]
    test = [r for r in rows if is_test_document(r.doc_id)]
    return train, test


def matrix(rows: Sequence[Row]) -> np.ndarray:
    return np.array([r.targets() for r in rows], dtype=np.int8).reshape(len(rows), len(OUTPUTS))
