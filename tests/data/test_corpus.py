"""Data tests: the committed corpus is well-formed and covers what the datasheet promises."""

from collections import Counter

import pytest

from service.analysis.taxonomy import FLAGS, LABELS
from training.check_corpus import find_duplicates
from training.corpus import CORPUS_FILE, SEED_FILE, load_corpus, read_rows

STYLES = ("vendor", "seo_blog", "forum", "qa", "news", "regulatory", "drug_info", "harm_reduction",
          "study_abstract", "legal")
FLAG_NEEDS = {"disease_claim": "efficacy", "wellbeing_claim": "efficacy",
              "dosing_instruction": "dosing", "safety_assurance": "safety"}


@pytest.fixture(scope="module")
def corpus():
    return read_rows(CORPUS_FILE)


def test_size_documents_and_styles(corpus):
    assert len(corpus) >= 3000
    assert len({r.doc_id for r in corpus}) >= 200
    styles = Counter(r.style for r in corpus)
    for style in STYLES:
        assert styles[style] >= 150, style


def test_every_label_and_flag_is_covered(corpus):
    labels = Counter(label for r in corpus for label in r.labels)
    for label in LABELS:
        assert labels[label] >= 400, label
    assert sum(not r.labels for r in corpus) >= 900
    flags = Counter(f for r in corpus for f in r.flags)
    near = Counter(f for r in corpus for f in r.near_miss)
    for flag in FLAGS:
        assert flags[flag] >= 60, flag
        assert near[flag] >= 60, flag


def test_flags_carry_the_label_they_are_about(corpus):
    for r in corpus:
        for flag, label in FLAG_NEEDS.items():
            assert flag not in r.flags or label in r.labels, r.id
        assert not set(r.flags) & set(r.near_miss), r.id


def test_ids_are_unique_and_the_seed_is_included(corpus):
    assert len({r.id for r in corpus}) == len(corpus)
    assert len(read_rows(SEED_FILE)) == 45


def test_no_duplicates_and_no_near_duplicates_with_contradicting_labels():
    findings = find_duplicates(load_corpus())
    assert findings.duplicates == []
    assert findings.contradictions == [], [(a.id, b.id) for a, b, _ in findings.contradictions]


def test_the_cue_matcher_agrees_with_python_re_on_every_sentence(corpus):
    """RE2's ``\\b`` is ASCII-only; on the normalised corpus text it must still find what ``re`` finds."""
    import re

    from service.analysis.featurize import CUE_GROUPS, CueMatcher, feature_text

    groups = list(CUE_GROUPS)
    matcher = CueMatcher(groups)
    patterns = [re.compile(CUE_GROUPS[g]) for g in groups]
    for row in corpus:
        text = feature_text(row.text)
        expected = {k for k, p in enumerate(patterns) if p.search(text)}
        assert set(matcher.hits(text)) == expected, row.text
