"""Offsets as properties: for any input, sentences tile the text and point back at it."""

import html as htmlmod
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from service.analysis.extract import extract
from service.analysis.segment import segment

WEBBY = st.lists(
    st.sampled_from([*"abcXYZ 019.,!?…-–'\"\n\r\t&;#<>/😀\u200bé€\u2028 ", "Dr.", "e.g.", "2.5", "7-OH", "  "]),
    max_size=120,
).map("".join)


@given(WEBBY)
@settings(max_examples=300, deadline=None)
def test_text_sentences_are_ordered_disjoint_in_range_and_cover_every_visible_char(text):
    ex = extract(text, "text")
    spans = segment(ex.text, ex.blocks)
    covered = set()
    last_end = 0
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert s.start >= last_end
        assert not text[s.start].isspace() and not text[s.end - 1].isspace()
        covered.update(range(s.start, s.end))
        last_end = s.end
    visible = {i for i, c in enumerate(text) if not c.isspace()}
    assert visible <= covered


WORDS = st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=8), min_size=1, max_size=6)
TAGS = st.sampled_from(["p", "li", "h2", "div", "td", "span", "b", "a", "blockquote"])


@st.composite
def html_documents(draw):
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        tag = draw(TAGS)
        words = draw(WORDS)
        sep = draw(st.sampled_from([" ", "&nbsp;", " <i>", "\n"]))
        body = sep.join(words)
        if draw(st.booleans()):
            body += draw(st.sampled_from([".", "!", " &amp; more.", "&#46;"]))
        parts.append(f"<{tag}>{body}</{tag}>")
    return "".join(parts)


@given(html_documents())
@settings(max_examples=200, deadline=None)
def test_html_sentence_spans_contain_the_sentence_words(doc):
    ex = extract(doc, "html")
    spans = segment(ex.text, ex.blocks)
    last = 0
    for s in spans:
        start, end = ex.to_source(s.start, s.end)
        assert 0 <= start < end <= len(doc) and start >= last
        last = end
        source = re.sub(r"\s", "", htmlmod.unescape(re.sub(r"<[^>]*>", "", doc[start:end])))
        assert re.sub(r"\s", "", ex.text[s.start : s.end]) in source
    visible = re.sub(r"\s", "", ex.text)
    assert visible == "".join(re.sub(r"\s", "", ex.text[s.start : s.end]) for s in spans)
