from training.check_corpus import _similar_pairs, find_duplicates
from training.corpus import Row

TEXTS = [
    "Kratom eased my back pain within an hour of the first dose.",
    "The senate bill would ban kratom sales to anyone under 21.",
    "Kratom eased my back pain within an hour of my first dose.",
    "Mitragynine is a partial agonist at the mu-opioid receptor.",
    "KRATOM  eased my back pain within an hour of the first dose.",
    "Store the powder in a cool, dry place away from sunlight.",
]


def _row(i: int, text: str, labels: tuple[str, ...]) -> Row:
    return Row(id=f"d{i}-01", doc_id=f"d{i}", text=text, labels=labels, flags=())


def test_near_duplicates_duplicates_and_contradictions_are_found():
    rows = [_row(i, t, ("efficacy",)) for i, t in enumerate(TEXTS)]
    rows[2] = _row(2, TEXTS[2], ())  # same sentence, other labels
    findings = find_duplicates(rows)
    assert [(a.id, b.id) for a, b in findings.duplicates] == [("d0-01", "d4-01")]
    near = {(a.id, b.id) for a, b, _ in findings.near_duplicates}
    assert near == {("d0-01", "d2-01"), ("d0-01", "d4-01"), ("d2-01", "d4-01")}
    assert {(a.id, b.id) for a, b, _ in findings.contradictions} == {("d0-01", "d2-01"), ("d2-01", "d4-01")}


def test_the_pairs_do_not_depend_on_the_block_size():
    texts = TEXTS * 3
    whole = _similar_pairs(texts, 0.9, block=len(texts))
    assert whole == _similar_pairs(texts, 0.9, block=1) == _similar_pairs(texts, 0.9, block=4)
    assert all(i < j and s >= 0.9 for i, j, s in whole)
    assert len(whole) == len({(i, j) for i, j, _ in whole}) > 0
