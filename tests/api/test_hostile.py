"""Hostile input to POST /v1/moderate and /v1/moderate/batch: each is answered correctly or with a
4xx problem, never a 500, and never hangs a worker.

"Correctly" means: offsets index the submitted text (``text[start:end]`` is the sentence's text for
format text; evidence spans likewise), and a claim disguised with look-alike letters or invisible
characters is flagged as its plain spelling is, by the same tiny model (compared, not hard-coded).

Each request's wall time is measured in-process against ``HANG_GUARD``. That is a hang guard only,
deliberately loose: performance is measured by the benchmarks (``make bench``), never asserted in
timed tests. It catches work that explodes (the quadratic HTML parsing fixed in ``extract.py`` took
minutes on 200 kB), not a slow machine.
"""

from __future__ import annotations

import html
import json
import re
import time

import pytest

HANG_GUARD = 10.0  # seconds; a hang guard, not a performance assertion (see the module docstring)
MAX_TEXT = 200_000
CLAIM = "Kratom cures cancer."


def post(client, body=None, *, data=None, path="/v1/moderate", content_type="application/json"):
    """POST ``body`` as UTF-8 JSON (or raw ``data``) and check the request did not hang."""
    if data is None:  # as most clients send it: UTF-8, not \u escapes (12 bytes for one emoji)
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    started = time.perf_counter()
    r = client.post(path, data=data, content_type=content_type)
    elapsed = time.perf_counter() - started
    assert elapsed < HANG_GUARD, f"{path} took {elapsed:.1f} s (hang guard)"
    assert r.status_code != 500, r.get_data(as_text=True)
    return r


def moderate(client, text, fmt="text", **extra):
    r = post(client, {"text": text, "format": fmt, "store": False, **extra})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert_offsets(text, fmt, body)
    return body


def assert_problem(r, status):
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    assert body["request_id"] == r.headers["X-Request-ID"]
    assert "Traceback" not in body["detail"]
    return body


def visible(source: str) -> str:
    """What a reader sees of a simple HTML fragment, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", source)).split())


def assert_offsets(text: str, fmt: str, body: dict) -> None:
    """Sentences are in order, inside the submitted text, and their spans are what they say."""
    prev_end = 0
    for s in body["sentences"]:
        assert prev_end <= s["start"] < s["end"] <= len(text), s
        prev_end = s["end"]
        if fmt == "text":
            assert text[s["start"] : s["end"]] == s["text"]
        for f in s["flags"]:
            for e in f["evidence"]:
                assert s["start"] <= e["start"] < e["end"] <= s["end"], (s, e)
                if fmt == "text":
                    assert text[e["start"] : e["end"]] == e["text"]
    assert body["summary"]["sentences"] == len(body["sentences"])


def flag_codes(body: dict) -> set[str]:
    return {f["code"] for s in body["sentences"] for f in s["flags"]}


@pytest.fixture()
def plain_codes(client) -> set[str]:
    """What the tiny model and the policy raise on the plain claim; disguised spellings must match."""
    codes = flag_codes(moderate(client, CLAIM))
    assert "disease_claim" in codes, "precondition: the plain claim is a disease claim for the tiny model"
    return codes


# -- bytes that are not UTF-8 JSON -------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    [
        b'{"text": "Kratom \xff\xfe cures cancer."}',                   # bytes never valid in UTF-8
        b'{"text": "\xc0\xaf"}',                                        # overlong encoding of "/"
        b'{"text": "Kratom \xe2\x82"}',                                 # truncated sequence
        b'{"text": "\xed\xa0\x80"}',                                    # a surrogate encoded (CESU-8)
        '{"text": "Kratom caf\xe9 cures cancer."}'.encode("latin-1"),   # Latin-1, not UTF-8
        '{"text": "Kratom cures cancer."}'.encode("utf-16"),            # UTF-16 with a BOM
        b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",         # nested past the recursion limit
        b'{"text": "x", "store": ' + b"9" * 100_000 + b"}",             # an integer json.loads refuses
    ],
    ids=["0xff", "overlong", "truncated", "cesu-surrogate", "latin-1", "utf-16", "deep-json", "long-int"],
)
@pytest.mark.parametrize("path", ["/v1/moderate", "/v1/moderate/batch"])
def test_a_body_that_is_not_utf8_json_is_a_400_problem(client, raw, path):
    if path.endswith("batch") and raw.startswith(b'{"text": '):
        raw = b'{"documents": [' + raw + b"]}"
    assert_problem(post(client, data=raw, path=path), 400)


def test_a_charset_parameter_does_not_make_latin1_acceptable(client):
    raw = '{"text": "Kratom caf\xe9."}'.encode("latin-1")
    assert_problem(post(client, data=raw, content_type="application/json; charset=latin-1"), 400)


# -- NUL, C0 and C1 control characters ---------------------------------------------------------------

C0 = "".join(chr(c) for c in range(0x20))
C1 = "".join(chr(c) for c in range(0x7F, 0xA0))


@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize(
    "text",
    [
        "Kratom\x00 cures\x00 cancer.",
        "\x00" * 1000 + CLAIM + "\x00" * 1000,
        "Kratom\x01 cures\x07 cancer\x1f.\x7f",
        C0 + CLAIM + C1,
        "Kratom" + "\x1b[31m" + " cures cancer." + "\x1b[0m",   # ANSI escape sequences
    ],
    ids=["nul-between-words", "nul-runs", "c0-between-words", "all-c0-and-c1", "ansi"],
)
def test_control_characters_keep_offsets_and_the_claim(client, plain_codes, text, fmt):
    body = moderate(client, text, fmt)
    assert "disease_claim" in flag_codes(body)
    if fmt == "html":
        claim = next(s for s in body["sentences"] if "cancer" in s["text"])
        assert "cancer" in text[claim["start"] : claim["end"]]


@pytest.mark.parametrize("fmt", ["text", "html"])
def test_a_text_of_nothing_but_control_characters_is_answered_unflagged(client, fmt):
    body = moderate(client, "\x00\x01\x02" * 100 + C1, fmt)
    assert body["flagged"] is False and body["risk"]["level"] == "none"


# -- lone surrogates: valid JSON escapes, not valid Unicode ---------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\udc00\\ud800"])
def test_a_lone_surrogate_in_the_text_is_a_422(client, fmt, escape):
    raw = f'{{"text": "Kratom {escape} cures cancer.", "format": "{fmt}", "store": false}}'.encode()
    body = assert_problem(post(client, data=raw), 422)
    assert "surrogate" in body["detail"]


def test_a_lone_surrogate_in_a_batch_is_a_422(client):
    raw = b'{"documents": [{"text": "Fine.", "store": false}, {"text": "\\ud800", "store": false}]}'
    assert "surrogate" in assert_problem(post(client, data=raw, path="/v1/moderate/batch"), 422)["detail"]


def test_a_lone_surrogate_in_a_stored_document_id_is_a_422_not_a_database_error(client):
    raw = b'{"text": "Kratom cures cancer and anxiety, guaranteed.", "document_id": "doc-\\ud800", "review": true}'
    assert_problem(post(client, data=raw), 422)


def test_a_surrogate_pair_is_one_character_and_offsets_count_it_once(client):
    raw = b'{"text": "\\ud83d\\ude00 Kratom cures cancer.", "store": false}'
    body = post(client, data=raw).get_json()
    assert body["sentences"][-1]["end"] == 2 + len(CLAIM)  # "😀 " is two code points, not three
    assert_offsets("\U0001f600 " + CLAIM, "text", body)


def test_an_html_reference_to_a_surrogate_decodes_to_the_replacement_character(client):
    body = moderate(client, "<p>Kratom &#xD800; cures &#55296; cancer.</p>", "html")
    assert body["sentences"][0]["text"] == "Kratom \ufffd cures \ufffd cancer."


# -- 100 000 characters without a space or a full stop --------------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize(
    "unit",
    ["a", "kratom", "Kratomcurescancer", "\u0430", "\u5361", "a\u200b", "a\u0301", "a.", "\U0001f33f"],
    ids=["a", "kratom", "claim-run", "cyrillic", "cjk", "zero-width", "combining", "dots", "emoji"],
)
def test_a_100k_character_run_without_a_space_is_cut_into_capped_sentences(client, fmt, unit):
    run = unit * (100_000 // len(unit))
    text = run if fmt == "text" else f"<p>{run}</p>"
    body = moderate(client, text, fmt)
    sentences = body["sentences"]
    assert sentences and all(len(s["text"]) <= 1000 for s in sentences)
    if fmt == "text":  # nothing is lost: the pieces tile the run
        assert "".join(s["text"] for s in sentences) == run
    else:
        assert sentences[0]["start"] == 3 and sentences[-1]["end"] == len(text) - 4


# -- deep nesting -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "source",
    [
        "<div>" * 10_000 + CLAIM + "</div>" * 10_000,
        "<div>" * 10_000 + CLAIM,                                        # never closed
        "<b>" * 20_000 + CLAIM + "</b>" * 20_000,                        # inline
        "<ul><li>" * 5_000 + CLAIM,                                      # nested lists
        "<div><span>" * 5_000 + CLAIM + "</span></div>" * 5_000,
    ],
    ids=["div", "div-unclosed", "b", "ul-li", "div-span"],
)
def test_html_nested_thousands_deep_is_a_422_naming_the_nesting(client, source):
    assert "nested" in assert_problem(post(client, {"text": source, "format": "html", "store": False}), 422)["detail"]


@pytest.mark.parametrize(
    "source",
    [
        "<br>" * 5_000 + CLAIM,                                       # void elements never nest
        "<img src=x.png>" * 2_000 + CLAIM,
        "<p>Kratom is a tree" * 1_000 + "<p>" + CLAIM,                # <p> closes the open <p>
        "<p>Kratom is <b>a</b> tree" * 1_000 + "<p>" + CLAIM,
        "<ul>" + "<li>Red vein" * 1_000 + "<li>" + CLAIM + "</ul>",
        "<table>" + "<tr><td>Dose<td>2 g" * 1_000 + "<tr><td>" + CLAIM + "</table>",
        "<dl>" + "<dt>Term<dd>Meaning" * 1_000 + "<dd>" + CLAIM + "</dl>",
        "<div>" * 500 + CLAIM + "</div>" * 500,                      # deep, but within the limit
        "</div>" * 5_000 + "<div>" * 500 + CLAIM,                     # stray end tags close nothing
    ],
    ids=["br", "img", "p", "p-with-inline", "li", "td", "dd", "div-500", "stray-end-tags"],
)
def test_long_but_shallow_html_is_analysed(client, plain_codes, source):
    """Elements without end tags (<br>, <img>) or with optional ones (<p>, <li>, <td>) are siblings,
    not nesting: a page with 600 line breaks was refused as "nested more than 512 deep"."""
    body = moderate(client, source, "html")
    claim = body["sentences"][-1]
    assert claim["text"] == CLAIM
    assert source[claim["start"] : claim["end"]] == CLAIM
    assert flag_codes({"sentences": [claim]}) == plain_codes


# -- HTML bombs: empty tags, entities, markup that never closes ----------------------------------------

@pytest.mark.parametrize(
    "source",
    [
        "<p></p>" * 25_000 + CLAIM,             # 50 000 tags
        "<b></b>" * 25_000 + CLAIM,
        "<b/>" * 45_000 + CLAIM,
        "<br>" * 45_000 + CLAIM,
        "<span> </span>" * 14_000 + CLAIM,
        "<!---->" * 25_000 + CLAIM,              # empty comments
        "<p>" + "<!-- x -->" * 19_000 + CLAIM + "</p>",
    ],
    ids=["p", "b", "self-closed", "br", "span", "comments", "comments-inline"],
)
def test_tens_of_thousands_of_empty_tags_leave_only_the_text(client, plain_codes, source):
    body = moderate(client, source, "html")
    assert [s["text"] for s in body["sentences"]] == [CLAIM]
    s = body["sentences"][0]
    assert visible(source[s["start"] : s["end"]]) == CLAIM
    assert flag_codes(body) == plain_codes


def test_fifty_thousand_empty_tag_pairs_are_over_the_text_limit(client):
    body = assert_problem(post(client, {"text": "<p></p>" * 50_000, "format": "html", "store": False}), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/text"]


def test_a_hundred_thousand_entities_are_over_the_text_limit(client):
    body = assert_problem(post(client, {"text": "&amp;" * 100_000, "format": "html", "store": False}), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/text"]


@pytest.mark.parametrize(
    ("entity", "char"),
    [("&amp;", "&"), ("&nbsp;", "\xa0"), ("&#x2713;", "\u2713"), ("&#128512;", "\U0001f600"),
     ("&#xFFFFFFFF;", "\ufffd"), ("&#9999999999;", "\ufffd"), ("&#0;", "\ufffd"), ("&#x10FFFF;", ""),
     ("&amp", "&"), ("&nosuchentity;", "&nosuchentity;")],
)
def test_the_most_entities_the_limit_allows_decode_and_map_to_their_source(client, entity, char):
    n = (MAX_TEXT - 7) // len(entity)
    source = "<p>" + entity * n + "</p>"
    body = moderate(client, source, "html")
    decoded = "".join(s["text"] for s in body["sentences"])
    if not char.strip():  # white space or nothing: no sentence
        assert body["sentences"] == [] and body["warnings"]
        return
    assert decoded == char * n
    for s in body["sentences"]:  # each sentence's span is exactly the references it decodes
        assert html.unescape(source[s["start"] : s["end"]]) == s["text"]


def test_entities_as_format_text_are_literal(client):
    text = "&amp;" * (MAX_TEXT // 5)
    body = moderate(client, text, "text")
    assert "".join(s["text"] for s in body["sentences"]) == text


def test_a_billion_laughs_declaration_is_not_expanded(client):
    lol = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    source = f"<!DOCTYPE lolz [{lol}]><p>&lol9; {CLAIM}</p>"
    body = moderate(client, source, "html")
    # As in browsers, the doctype ends at its first ">" (HTML has no internal subset): "]>" is text.
    assert [s["text"] for s in body["sentences"]] == ["]>", f"&lol9; {CLAIM}"]


@pytest.mark.parametrize(
    "source",
    [
        "<a " * 66_000,                            # start tags that never end: 450 s before the fix
        "<!--" * 49_000,                           # comments that never end: 16 s
        "</" * 99_000, "<?" * 99_000, "<!" * 99_000, "<![if x>" * 24_000,
        "<!--a>" * 33_000,                         # ends with ">" but never with "-->"
        "<p x='>" * 28_000, "<a/" * 66_000, "<a =" * 49_000 + ">",
        "<" * MAX_TEXT, "&" * MAX_TEXT, "&#" * 99_000, "< a" * 66_000,
    ],
    ids=["a", "comment", "end", "pi", "decl", "ms-if", "comment-gt", "quote", "slash", "eq",
         "lt", "amp", "amp-hash", "lt-space"],
)
def test_markup_that_never_closes_is_parsed_in_one_pass(client, source):
    """Python 3.11's html.parser re-scans the rest of the document for each of these: quadratic."""
    moderate(client, source, "html")


def test_a_marked_section_with_an_unknown_keyword_is_not_a_500(client, plain_codes):
    for source in (f"<![foo >{CLAIM}", f"<![ >{CLAIM}", f"<![CDATA[x]]>{CLAIM}"):
        body = moderate(client, source, "html")
        assert [s["text"] for s in body["sentences"]] == [CLAIM] and flag_codes(body) == plain_codes


def test_a_stray_character_reference_does_not_turn_the_rest_into_text(client):
    source = "<p>&#; a</p><p>&#x; b</p><script>var claim = 'kratom cures cancer'</script><p>Kratom.</p>"
    body = moderate(client, source, "html")
    assert [s["text"] for s in body["sentences"]] == ["&#; a", "&#x; b", "Kratom."]


# -- look-alike letters, invisible characters, bidi controls, mixed scripts ----------------------------

DISGUISED = {
    "cyrillic-a": "Kr\u0430tom cures cancer.",
    "cyrillic-mix": "Kr\u0430t\u043em cur\u0435s c\u0430nc\u0435r.",
    "greek": "\u039a\u03c1\u03b1\u03c4\u03bfm cures cancer.",
    "zero-width-space": "Kra\u200btom cu\u200bres can\u200bcer.",
    "zero-width-joiners": "K\u200dr\u200ca\u2060tom cures cancer.",
    "soft-hyphen": "Kra\u00adtom cures can\u00adcer.",
    "bom": "\ufeffKratom cures\ufeff cancer.",
    "rlo-one-letter": "Kratom cures \u202ec\u202cancer.",   # an override of one letter changes nothing shown
    "isolates": "\u2066Kratom\u2069 \u2067cures\u2069 \u2068cancer\u2069.",
    "marks": "\u200fKratom\u200e cures\u200f cancer.",
    "embeddings": "\u202aKratom\u202c \u202bcures\u202c cancer.",
    "full-width": "\uff2bratom cures cancer.",
    "math-bold": "Kratom \U0001d41c\U0001d42e\U0001d42b\U0001d41e\U0001d42c cancer.",
    "everything": "\u202eK\u202c\u200br\u0430\u2066t\u2069\u043em \u200fcur\u0435s \u00adc\u0430n\u200dc\u0435r.",
}


@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize("text", DISGUISED.values(), ids=DISGUISED.keys())
def test_a_disguised_claim_is_flagged_as_the_plain_one(client, plain_codes, text, fmt):
    source = text if fmt == "text" else f"<p>{text}</p>"
    body = moderate(client, source, fmt)
    [s] = body["sentences"]
    assert flag_codes(body) == plain_codes
    assert source[s["start"] : s["end"]] == text
    if fmt == "html":
        assert s["text"] == text


@pytest.mark.parametrize("text", DISGUISED.values(), ids=DISGUISED.keys())
def test_a_disguised_claim_with_its_invisibles_as_html_references_is_flagged(client, plain_codes, text):
    source = "<p>" + "".join(f"&#x{ord(c):x};" if ord(c) > 0x7F else c for c in text) + "</p>"
    body = moderate(client, source, "html")
    [s] = body["sentences"]
    assert s["text"] == text and visible(source[s["start"] : s["end"]]) == text
    assert flag_codes(body) == plain_codes


@pytest.mark.parametrize(
    "source",
    ["<p>Kratom cures <!-->cancer.</p>", "<p><!-- hidden? --!>Kratom cures cancer.</p>",
     "<p>Kratom cures<!--->  cancer.</p>"],
    ids=["empty-comment", "bang-close", "dash-empty"],
)
def test_a_claim_after_an_html5_comment_ending_is_flagged(client, plain_codes, source):
    """A browser ends these comments where shown, so the claim is on the page."""
    assert flag_codes(moderate(client, source, "html")) == plain_codes


@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize(
    "text",
    ["Kratom cures \u202erecnac\u202c.", "\u202e.recnac seruc motarK", "Kratom cures ca\u0301nce\u0300r."],
    ids=["rlo-word", "rlo-sentence", "combining"],
)
def test_a_claim_shown_by_overrides_or_accents_is_flagged(client, plain_codes, text, fmt):
    """What a reader sees is what counts: U+202E draws "recnac" as "cancer"; accents are noise."""
    source = text if fmt == "text" else f"<p>{text}</p>"
    assert flag_codes(moderate(client, source, fmt)) == plain_codes


def test_a_right_to_left_override_over_a_whole_word_keeps_offsets(client):
    """U+202E shows "recnac" as "cancer"; the characters are what is analysed, and where they are."""
    text = "Kratom cures \u202erecnac\u202c. \u202eKratom\u202c."
    moderate(client, text)
    moderate(client, f"<p>{text}</p>", "html")


def test_sentences_in_other_scripts_keep_offsets_and_the_latin_claim_is_found(client, plain_codes):
    text = ("\u041a\u0440\u0430\u0442\u043e\u043c \u043b\u0435\u0447\u0438\u0442 \u0440\u0430\u043a. "
            f"{CLAIM} "
            "\u05e7\u05e8\u05d8\u05d5\u05dd \u05de\u05e8\u05e4\u05d0 \u05e1\u05e8\u05d8\u05df. "
            "\u0627\u0644\u0643\u0631\u0627\u062a\u0648\u0645 \u064a\u0634\u0641\u064a. "
            "\u30af\u30e9\u30c8\u30e0\u306f\u304c\u3093\u3092\u6cbb\u3059\u3002 "
            "\u0395\u03af\u03bd\u03b1\u03b9 \u03b1\u03c3\u03c6\u03b1\u03bb\u03ad\u03c2.")
    for fmt, source in (("text", text), ("html", f"<p>{text}</p>")):
        body = moderate(client, source, fmt)
        claim = next(s for s in body["sentences"] if s["text"] == CLAIM)
        assert source[claim["start"] : claim["end"]] == CLAIM
        assert flag_codes({"sentences": [claim]}) == plain_codes


# -- limits -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/moderate", "/v1/moderate/batch"])
def test_a_body_over_max_content_length_is_a_413_naming_the_limit(client, path):
    text = "Kratom cures cancer. " * 60_000  # 1.26 MB > 1 MiB
    body = {"text": text} if path == "/v1/moderate" else {"documents": [{"text": text[:MAX_TEXT]}] * 7}
    problem = assert_problem(post(client, body, path=path), 413)
    assert problem["limit"] == "body_bytes" and str(1 << 20) in problem["detail"]


def test_a_batch_document_over_max_text_chars_is_refused_naming_it(make_app):
    client = make_app(MAX_TEXT_CHARS=1_000).test_client()
    docs = [{"text": "Kratom.", "store": False}, {"text": "Kratom. " * 200, "store": False}]
    body = assert_problem(post(client, {"documents": docs}, path="/v1/moderate/batch"), 413)
    assert (body["limit"], body["value"], body["maximum"]) == ("text_chars", 1_600, 1_000)
    assert "documents/1/text" in body["detail"]


def test_a_batch_over_max_batch_documents_is_refused_naming_the_limit(make_app):
    client = make_app(MAX_BATCH_DOCUMENTS=3).test_client()
    docs = [{"text": "Kratom.", "store": False}] * 4
    body = assert_problem(post(client, {"documents": docs}, path="/v1/moderate/batch"), 413)
    assert (body["limit"], body["value"], body["maximum"]) == ("batch_documents", 4, 3)


class _NoScoring:
    """The model, except that scoring fails the test."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def predict_proba(self, texts):
        raise AssertionError(f"the model scored {len(texts)} sentences of a document over the limit")


@pytest.mark.parametrize(
    ("path", "make_body"),
    [
        ("/v1/moderate", lambda n: {"text": "Kratom. " * n, "store": False}),
        ("/v1/moderate", lambda n: {"text": "<p>Kratom</p>" * n, "format": "html", "store": False}),
        ("/v1/moderate/batch", lambda n: {"documents": [{"text": "Fine.", "store": False},
                                                        {"text": "Kratom. " * n, "store": False}]}),
    ],
    ids=["text", "html", "batch"],
)
def test_too_many_sentences_is_a_413_before_the_model_runs(make_app, monkeypatch, path, make_body):
    """The document is refused after segmenting, before any scoring: refused early, not killed mid-way."""
    app = make_app(MAX_SENTENCES=50)
    client = app.test_client()
    assert post(client, make_body(50), path=path).status_code == 200
    analyzer = app.extensions["analyzers"].default
    monkeypatch.setattr(analyzer, "model", _NoScoring(analyzer.model))
    body = assert_problem(post(client, make_body(51), path=path), 413)
    assert (body["limit"], body["value"], body["maximum"]) == ("sentences", 51, 50)
    assert "sentences" in body["detail"]


def test_a_batch_of_hostile_documents_gives_what_each_gives_alone(client):
    docs = [
        {"text": "Kratom\x00 cures\x00 cancer.", "store": False},
        {"text": "a" * 100_000, "store": False},
        {"text": "<b/>" * 10_000 + DISGUISED["everything"], "format": "html", "store": False},
        {"text": "&#xFFFFFFFF;" * 5_000, "format": "html", "store": False},
        {"text": "<a " * 30_000, "format": "html", "store": False},
    ]
    assert len(json.dumps({"documents": docs})) < 1 << 20
    r = post(client, {"documents": docs}, path="/v1/moderate/batch")
    assert r.status_code == 200
    assert r.get_json()["results"] == [post(client, d).get_json() for d in docs]


def test_a_request_over_max_request_sentences_is_refused_before_scoring(make_app, monkeypatch):
    app = make_app(MAX_REQUEST_SENTENCES=50)
    scored = []
    monkeypatch.setattr(app.extensions["analyzers"].default, "score", lambda *a, **k: scored.append(a))
    docs = [{"text": "Kratom is a tree. " * 20, "store": False} for _ in range(4)]
    body = assert_problem(post(app.test_client(), {"documents": docs}, path="/v1/moderate/batch"), 413)
    assert (body["limit"], body["maximum"], body["pointer"]) == ("request_sentences", 50, "/documents/2/text")
    assert body["value"] == 60 and body["detail"].startswith("/documents/2/text: ")
    assert scored == []  # refused before any scoring: the third document crossed the limit


def test_the_request_limit_counts_documents_pinned_to_other_models(make_app, two_models):
    client = make_app(MODELS_DIR=str(two_models), MAX_REQUEST_SENTENCES=50).test_client()
    docs = [{"text": "Kratom is a tree. " * 30, "store": False},
            {"text": "Kratom is a tree. " * 30, "store": False, "model_version": "tiny.2"}]
    body = assert_problem(post(client, {"documents": docs}, path="/v1/moderate/batch"), 413)
    assert (body["limit"], body["pointer"]) == ("request_sentences", "/documents/1/text")
    assert post(client, {"documents": docs[:1]}, path="/v1/moderate/batch").status_code == 200


def test_the_worst_batch_is_refused_not_run_into_the_worker_timeout(client):
    """100 x 10 400 characters of "Ab. " were 261 400 sentences: 9.4 s and a 49 MB response."""
    docs = [{"text": "Ab. " * 2_600, "store": False}] * 100
    body = assert_problem(post(client, {"documents": docs}, path="/v1/moderate/batch"), 413)
    assert body["limit"] == "request_sentences" and body["pointer"] == "/documents/7/text"


@pytest.mark.parametrize(
    ("bad", "limit"),
    [({"text": "Kratom. " * 60}, "sentences"), ({"text": "<div>" * 600 + CLAIM, "format": "html"}, None),
     ({"text": "Kratom \ud800 cures."}, None)],
    ids=["sentences", "nesting", "surrogate"],
)
def test_a_batch_error_names_the_document(make_app, bad, limit):
    client = make_app(MAX_SENTENCES=50).test_client()
    docs = [{"text": CLAIM, "store": False}, {**bad, "store": False}, {"text": CLAIM, "store": False}]
    raw = json.dumps({"documents": docs}).encode()  # \ud800 as an escape, which JSON allows
    r = post(client, data=raw, path="/v1/moderate/batch")
    body = assert_problem(r, 413 if limit else 422)
    assert body["pointer"] == "/documents/1/text" and body["detail"].startswith("/documents/1/text: ")
    assert body.get("limit") == limit
