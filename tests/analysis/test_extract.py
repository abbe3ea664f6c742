import re

import pytest

from service.analysis.errors import InputError
from service.analysis.extract import extract
from service.analysis.segment import segment


def spans(html: str):
    ex = extract(html, "html")
    return [(ex.text[s.start : s.end], s.origin, html[slice(*ex.to_source(s.start, s.end))])
            for s in segment(ex.text, ex.blocks)]


def test_text_is_taken_as_is_with_lines_as_blocks():
    ex = extract("One.\r\nTwo\n\nThree", "text")
    assert ex.text == "One.\r\nTwo\n\nThree"
    assert [ex.text[b.start : b.end] for b in ex.blocks] == ["One.", "Two", "Three"]
    assert ex.to_source(0, 4) == (0, 4)


def test_scripts_styles_templates_and_noscript_are_skipped():
    html = ("<p>Visible.</p><script>var cure = 'kratom cures';</script><style>p{}</style>"
            "<template><p>Hidden.</p></template><noscript>Enable JS.</noscript><p>Shown.</p>")
    assert [t for t, _, _ in spans(html)] == ["Visible.", "Shown."]


def test_entities_are_decoded_and_map_to_their_source_span():
    html = "<p>Kratom &amp; kava&nbsp;ease pain &#8212; fast &#x2713;.</p>"
    [(text, _origin, source)] = spans(html)
    assert text == "Kratom & kava\xa0ease pain — fast ✓."
    assert source == "Kratom &amp; kava&nbsp;ease pain &#8212; fast &#x2713;."


def test_metadata_and_alt_text_are_analysed_with_their_origin():
    html = ('<html><head><title>Kratom Cures Pain</title>'
            '<meta name="description" content="Relieves arthritis &amp; anxiety.">'
            "<meta property='og:description' content='Safe for everyone.'>"
            '<meta name="viewport" content="width=device-width"></head>'
            '<body><img src="a.png" alt="No side effects!"><p>Body.</p></body></html>')
    got = spans(html)
    assert [(t, o) for t, o, _ in got] == [
        ("Kratom Cures Pain", "title"), ("Relieves arthritis & anxiety.", "meta"),
        ("Safe for everyone.", "meta"), ("No side effects!", "alt"), ("Body.", "body"),
    ]
    assert got[1][2] == "Relieves arthritis &amp; anxiety."
    assert got[3][2] == "No side effects!"


def test_inline_tags_do_not_split_a_sentence_and_the_source_span_covers_them():
    html = "<p>Kratom <b>eases</b> <a href='#'>back pain</a>.</p>"
    [(text, _, source)] = spans(html)
    assert text == "Kratom eases back pain."
    assert source == "Kratom <b>eases</b> <a href='#'>back pain</a>."


def test_broken_markup_is_tolerated():
    html = "<div><p>Unclosed paragraph <b>bold<p>Next one</div></span>trailing"
    assert [t for t, _, _ in spans(html)] == ["Unclosed paragraph bold", "Next one", "trailing"]


def test_nesting_beyond_the_limit_is_an_input_error():
    with pytest.raises(InputError, match="nested"):
        extract("<div>" * 600 + "deep" + "</div>" * 600, "html")


def test_unknown_format_is_an_input_error():
    with pytest.raises(InputError):
        extract("x", "pdf")  # type: ignore[arg-type]


def test_words_of_adjacent_blocks_stay_apart():
    ex = extract("<li>Red</li><li>Green</li>", "html")
    assert re.search(r"Red\s+Green", ex.text)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>A<!-->Kratom cures cancer.</p>", "AKratom cures cancer."),     # abruptly closed, empty
        ("<p>A<!--->Kratom cures cancer.</p>", "AKratom cures cancer."),
        ("<p>A<!-- note --!>Kratom cures cancer.</p>", "AKratom cures cancer."),  # "--!>" ends it
        ("<p>A<!---->B</p>", "AB"),
        ("<p>A<!-- x -- >hidden -->B</p>", "AB"),                          # "-- >" does not end it
    ],
)
def test_comments_end_where_browsers_end_them(html, text):
    """HTML5's comment endings: Python 3.11's parser missed "<!-->" and "--!>", hiding a claim
    that a browser shows."""
    assert extract(html, "html").text.strip() == text
