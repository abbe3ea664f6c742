"""Turn submitted text or HTML into readable text, with a map back to the source.

HTML is parsed with the standard library's ``html.parser``: it is tolerant of
broken markup, maintained with CPython, and, unlike lxml, html5lib or
selectolax, it reports where in the source each piece of data starts, which
is what lets every sentence point back at the characters the CMS sent.
"""

from __future__ import annotations

import html
import re
from array import array
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal

from .errors import InputError

Format = Literal["text", "html"]
Origin = Literal["body", "title", "meta", "alt"]

# Elements whose content is never shown to a reader.
_SKIPPED = frozenset({"script", "style", "template", "noscript", "svg", "math", "iframe", "object"})
# Elements that start or end a block: a sentence never runs across them.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
        "h4", "h5", "h6", "header", "hr", "legend", "li", "main", "nav", "ol", "option", "p",
        "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr",
        "ul", "body", "head", "html",
    }
)
_META_NAMES = frozenset(
    {"description", "keywords", "og:description", "og:title", "twitter:description",
     "twitter:title"}
)
_ATTR_RE = re.compile(
    r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""", re.S
)
_CHARREF_RE = re.compile(r"&(?:#[xX][0-9a-fA-F]{1,8};?|#[0-9]{1,10};?|[A-Za-z][A-Za-z0-9]{0,31};?)")
_LINE_BREAK_RE = re.compile(r"\r\n|[\n\r\u2028\u2029\x0b\x0c\x85]")
_MAX_DEPTH = 512
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
# Elements without content or end tag, and elements a later start tag closes (HTML's optional end
# tags): neither nests, so "<br>" x 600 or "<p>a<p>b..." must not count as 600 levels deep.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
     "track", "wbr"}
)
_CELL_CLOSERS = frozenset({"td", "th", "tr", "tbody", "thead", "tfoot"})
_CLOSED_BY = {
    "p": _BLOCKS, "li": frozenset({"li"}), "dt": frozenset({"dt", "dd"}), "dd": frozenset({"dt", "dd"}),
    "option": frozenset({"option", "optgroup"}), "optgroup": frozenset({"optgroup"}),
    "tr": frozenset({"tr", "tbody", "thead", "tfoot"}), "td": _CELL_CLOSERS, "th": _CELL_CLOSERS,
    "thead": frozenset({"tbody", "tfoot"}), "tbody": frozenset({"tbody", "tfoot"}),
}
# A tag, end tag, comment, declaration or processing instruction starts here (html.parser's view).
_CONSTRUCT_RE = re.compile(r"<(?=[a-zA-Z/!?])")
# Where a comment ends, as browsers read it (HTML5): at "-->" or "--!>", and "<!-->" and "<!--->" are
# empty comments. Python 3.11's html.parser ended comments at "--\s*>" only, so a claim after
# "<!-->" or "<!-- x --!>" was hidden from us and shown to readers.
_COMMENT_CLOSE_RE = re.compile(r"--!?>")
_EMPTY_COMMENTS = ("<!-->", "<!--->")
_BOGUS_CHARREF_RE = re.compile(r"&(?=#(?![0-9]|[xX][0-9a-fA-F]))")  # "&#" starting no reference


@dataclass(frozen=True)
class Block:
    """A run of extracted text that no sentence crosses."""

    start: int
    end: int
    origin: Origin = "body"


@dataclass(frozen=True)
class Extraction:
    """Readable text, its blocks, and per-character source spans (``None`` = identity)."""

    text: str
    blocks: tuple[Block, ...]
    src_start: array | None = None
    src_end: array | None = None

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` in the extracted text to the covering span in the source."""
        if self.src_start is None or self.src_end is None:
            return start, end
        return self.src_start[start], self.src_end[end - 1]


def extract(source: str, fmt: Format = "text") -> Extraction:
    """Extract the text a reader sees from ``source``."""
    # JSON lets "\ud800" through; such a string cannot be encoded, hashed or stored (it was a 500).
    if not source.isascii() and (m := _SURROGATE_RE.search(source)):
        raise InputError(f"the text is not valid Unicode: a lone surrogate U+{ord(m.group()):04X} "
                         f"at character {m.start()}")
    if fmt == "text":
        return _extract_text(source)
    if fmt == "html":
        return _HtmlExtractor(source).run()
    raise InputError(f"unknown format {fmt!r}")


def _parser_view(source: str) -> str:
    """``source`` with the ``<`` of every construct that can never end (no ``>``, or for a comment
    no ``-->``, after it) and the ``&`` of every "&#" that starts no reference replaced by a NUL:
    same length and lines, so positions do not move.

    Python 3.11's HTMLParser re-scans the rest of the document once per such construct when it is
    closed: quadratic, 450 s for 200 kB of "<a " (CPython fixed it later, gh-135462; we run 3.11.7).
    It read them as text anyway; as text they cost one pass. And at the second stray "&#" it gave
    up parsing and read all the rest, tags and scripts included, as text. The extractor emits the
    source's characters, not the parser's, so the text keeps them as sent.
    """
    last_gt = source.rfind(">")
    last_close = -1
    for m in _COMMENT_CLOSE_RE.finditer(source):
        last_close = m.start()
    cuts = {m.start() for m in _CONSTRUCT_RE.finditer(source, last_gt + 1)}
    cuts.update(m.start() for m in _BOGUS_CHARREF_RE.finditer(source))
    start = max(0, last_close - 3)
    while (i := source.find("<!--", start)) != -1:
        if i + 4 > last_close and not source.startswith(_EMPTY_COMMENTS, i):
            cuts.add(i)
        start = i + 1
    if not cuts:
        return source
    out, prev = [], 0
    for i in sorted(cuts):
        out += [source[prev:i], "\x00"]
        prev = i + 1
    out.append(source[prev:])
    return "".join(out)


def _extract_text(source: str) -> Extraction:
    blocks = []
    pos = 0
    for m in _LINE_BREAK_RE.finditer(source):
        if m.start() > pos:
            blocks.append(Block(pos, m.start()))
        pos = m.end()
    if pos < len(source):
        blocks.append(Block(pos, len(source)))
    return Extraction(source, tuple(blocks))


class _HtmlExtractor(HTMLParser):
    """Collect visible text and metadata, recording each character's source span."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", source)]
        self.parts: list[str] = []
        self.src_start = array("q")
        self.src_end = array("q")
        self.length = 0
        self.blocks: list[Block] = []
        self.block_start = 0
        self.block_origin: Origin = "body"
        self.skip_depth = 0
        self.open: list[str] = []  # the elements open at this point, outermost first
        self.open_count: Counter[str] = Counter()

    def run(self) -> Extraction:
        try:
            self.feed(_parser_view(self.source))
            self.close()
        except AssertionError as exc:  # _markupbase's answer to some malformed declarations
            raise InputError(f"the HTML could not be parsed: {exc}") from None
        self._end_block()
        return Extraction("".join(self.parts), tuple(self.blocks), self.src_start, self.src_end)

    # -- positions -------------------------------------------------------
    def _offset(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    def _emit(self, text: str, start: int, end: int) -> None:
        """Append ``text`` whose characters all come from source ``[start, end)``."""
        if not text:
            return
        self.parts.append(text)
        n = len(text)
        if n == end - start:  # one source character per extracted character
            self.src_start.extend(range(start, end))
            self.src_end.extend(range(start + 1, end + 1))
        else:
            self.src_start.extend([start] * n)
            self.src_end.extend([end] * n)
        self.length += n

    def _emit_raw(self, raw: str, base: int) -> None:
        """Append source text ``raw`` found at ``base``, decoding entities as it goes."""
        pos = 0
        for m in _CHARREF_RE.finditer(raw):
            if m.start() > pos:
                self._emit(raw[pos : m.start()], base + pos, base + m.start())
            self._emit(html.unescape(m.group()), base + m.start(), base + m.end())
            pos = m.end()
        if pos < len(raw):
            self._emit(raw[pos:], base + pos, base + len(raw))

    def _end_block(self) -> None:
        if self.length > self.block_start:
            self.blocks.append(Block(self.block_start, self.length, self.block_origin))
        if self.length and (not self.parts or self.parts[-1] != "\n"):
            # A visible separator keeps words of adjacent blocks apart in ``text``.
            at = self.src_end[-1] if len(self.src_end) else 0
            self._emit("\n", at, at)
        self.block_start = self.length
        self.block_origin = "body"

    def _standalone(self, value: str, base: int, origin: Origin) -> None:
        """Emit an attribute value as its own block."""
        self._end_block()
        self.block_origin = origin
        self._emit_raw(value, base)
        self._end_block()

    # -- nesting ---------------------------------------------------------
    def _open(self, tag: str) -> None:
        if tag in _VOID:
            return
        while self.open and tag in _CLOSED_BY.get(self.open[-1], ()):
            self._close_innermost()
        self.open.append(tag)
        self.open_count[tag] += 1
        if len(self.open) > _MAX_DEPTH:
            raise InputError(f"HTML is nested more than {_MAX_DEPTH} elements deep")

    def _close_innermost(self) -> str:
        tag = self.open.pop()
        self.open_count[tag] -= 1
        return tag

    def _close(self, tag: str) -> None:
        """An end tag closes its element and any left open inside it; a stray one closes nothing."""
        if self.open_count[tag]:
            while self._close_innermost() != tag:
                pass

    # -- parser events ---------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag)
        if tag in _SKIPPED:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag in _BLOCKS:
            self._end_block()
        if tag == "title":
            self.block_origin = "title"
        elif tag in ("meta", "img", "area", "input"):
            self._attribute_text(tag, dict(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED or self.skip_depth:
            return
        if tag in _BLOCKS:
            self._end_block()
        elif tag in ("meta", "img", "area", "input"):
            self._attribute_text(tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        self._close(tag)
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if not self.skip_depth and tag in _BLOCKS:
            self._end_block()

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            start = self._offset()  # the source's characters: the parser's view has NULs for some "<"
            self._emit(self.source[start : start + len(data)], start, start + len(data))

    def handle_entityref(self, name: str) -> None:
        self._charref()

    def handle_charref(self, name: str) -> None:
        self._charref()

    def _charref(self) -> None:
        if self.skip_depth:
            return
        start = self._offset()
        m = _CHARREF_RE.match(self.source, start)
        if m:
            self._emit(html.unescape(m.group()), start, m.end())

    # -- metadata --------------------------------------------------------
    def _attribute_text(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag == "meta":
            key = (attrs.get("name") or attrs.get("property") or "").lower()
            if key in _META_NAMES and attrs.get("content"):
                self._from_raw_attribute("content", "meta")
        elif attrs.get("alt"):
            self._from_raw_attribute("alt", "alt")

    def parse_comment(self, i: int, report: int = 1) -> int:
        # HTML5's comment endings (see _COMMENT_CLOSE_RE); comments carry no visible text.
        if self.rawdata.startswith(_EMPTY_COMMENTS, i):
            return i + (5 if self.rawdata.startswith("<!-->", i) else 6)
        m = _COMMENT_CLOSE_RE.search(self.rawdata, i + 4)
        return m.end() if m else -1

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # "<![CDATA[", "<![if ...]>": a bogus comment up to ">" in HTML, as browsers read it.
        # _markupbase's version raises AssertionError on unknown keywords and scans for "]]>".
        return self.parse_bogus_comment(i, report)

    def _from_raw_attribute(self, name: str, origin: Origin) -> None:
        tag_start = self._offset()
        raw = self.source[tag_start : tag_start + len(self.get_starttag_text() or "")]
        for m in _ATTR_RE.finditer(raw, raw.find(" ") if " " in raw else len(raw)):
            if m.group(1).lower() != name:
                continue
            for group in (2, 3, 4):
                if m.group(group) is not None:
                    self._standalone(m.group(group), tag_start + m.start(group), origin)
                    return
