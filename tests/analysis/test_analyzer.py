import re

import pytest

from service.analysis.analyzer import Analyzer, Document
from service.analysis.errors import LimitExceeded


def seed_as_html(text: str) -> str:
    """The seed article with its section headings as <h2> and its list as <ul><li>."""
    lines = text.splitlines()
    out, items = [], []
    headings = {ln[2:] for ln in lines if ln.startswith("- ")}
    for ln in lines:
        if ln.startswith("- "):
            items.append(f"<li>{ln[2:]}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        out.append(f"<h2>{ln}</h2>" if ln in headings else f"<p>{ln}</p>")
    return "<html><body>" + "\n".join(out) + "</body></html>"


def test_seed_article_as_text_and_as_html_gives_same_sentences_labels_and_high_risk(analyzer, seed_text):
    as_text = analyzer.analyze(seed_text, "text")
    html = seed_as_html(seed_text)
    as_html = analyzer.analyze(html, "html")
    strip_bullet = lambda s: s.removeprefix("- ")  # noqa: E731
    assert [strip_bullet(s.text) for s in as_text.sentences] == [s.text for s in as_html.sentences]
    assert [s.labels for s in as_text.sentences] == [s.labels for s in as_html.sentences]
    assert len(as_text.sentences) == 45
    assert as_text.risk_level == as_html.risk_level == "high"
    for s in as_text.sentences:
        assert seed_text[s.start : s.end] == s.text
    for s in as_html.sentences:
        assert re.sub(r"<[^>]+>", "", html[s.start : s.end]) == s.text


def test_evidence_spans_point_into_the_submitted_html(analyzer):
    html = "<p>Kratom is <b>completely safe</b> and has <i>zero side effects</i>.</p>"
    [sentence] = analyzer.analyze(html, "html").sentences
    evidence = [e for f in sentence.flags for e in f.evidence]
    assert evidence, sentence
    for e in evidence:
        assert re.sub(r"<[^>]+>", "", html[e.start : e.end]) == e.text


def test_batch_gives_the_same_results_as_one_by_one(analyzer):
    docs = [Document("Kratom cures pain. Take 3 g."), Document("<p>Never mix it with alcohol.</p>", "html"),
            Document("Kratom trees grow in Thailand.")]
    batch = analyzer.analyze_many(docs)
    single = [analyzer.analyze(d.text, d.format) for d in docs]
    assert batch == single


def test_empty_extraction_warns(analyzer):
    result = analyzer.analyze("<script>x</script>", "html")
    assert result.sentences == () and result.risk_level == "none"
    assert result.warnings


def test_html_sent_as_text_warns(analyzer):
    assert analyzer.analyze("<p>Kratom.</p><p>Pain.</p>", "text").warnings


def test_too_many_sentences_is_a_limit_error(tiny_model, policy):
    small = Analyzer(tiny_model, policy, max_sentences=3)
    with pytest.raises(LimitExceeded) as err:
        small.analyze("One. Two. Three. Four.")
    assert err.value.limit == "sentences" and err.value.maximum == 3


@pytest.mark.parametrize(("level", "flagged"), [("low", True), ("medium", True), ("high", False)])
def test_flagged_follows_the_configured_level(tiny_model, policy, level, flagged):
    a = Analyzer(tiny_model, policy, flag_level=level)
    # only a medium flag: a dosing instruction
    result = a.analyze("Take 2 grams with water. Consult your doctor first.")
    assert result.risk_level == "medium", result
    assert result.flagged is flagged
