"""Text normalisation: Unicode form, mojibake repair, markup stripping, whitespace.

Each step can be switched off on its own, and every call reports which steps actually changed the text, so an
asset can say "412 texts had mojibake repaired" instead of silently rewriting data. Steps run in a fixed order:
mojibake first (it needs the raw bytes-as-characters), then the Unicode form, then markup, then whitespace last
(markup removal leaves runs of blanks behind).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Optional

UNICODE_FORMS = ("NFC", "NFKC", "NFD", "NFKD")
CHANGE_KEYS = ("unicode", "mojibake", "html", "whitespace")


@dataclass(frozen=True)
class NormaliseConfig:
    unicode_form: Optional[str] = "NFC"  # None or "" leaves the form alone
    fix_mojibake: bool = True
    strip_html: bool = True
    normalise_whitespace: bool = True

    def __post_init__(self):
        if self.unicode_form and self.unicode_form not in UNICODE_FORMS:
            raise ValueError(f"unicode_form {self.unicode_form!r} is not one of {UNICODE_FORMS} (or empty for none)")


def _fix_mojibake(text: str) -> str:
    import ftfy

    # Only the encoding repairs: ftfy's defaults also uncurl quotes, unescape HTML and normalise the Unicode
    # form, which are separate switchable steps here (and quote style is content, not damage).
    cfg = ftfy.TextFixerConfig(unescape_html=False, remove_terminal_escapes=False, fix_encoding=True,
                               restore_byte_a0=True, replace_lossy_sequences=True, decode_inconsistent_utf8=True,
                               fix_c1_controls=True, fix_latin_ligatures=False, fix_character_width=False,
                               uncurl_quotes=False, fix_line_breaks=False, fix_surrogates=True,
                               remove_control_chars=False, normalization=None, explain=False)
    return ftfy.fix_text(text, cfg)


# Only real HTML tag names count as markup, so "if a<b and c>d" or "<customer name>" placeholders survive.
_TAG_NAMES = ("a abbr address article aside b blockquote body br caption cite code col colgroup dd del details div "
              "dl dt em figcaption figure font footer h1 h2 h3 h4 h5 h6 head header hr html i img ins kbd label li "
              "link main mark meta nav ol p pre q s samp section small span strong sub summary sup table tbody td "
              "tfoot th thead title tr tt u ul var wbr center").split()
# Attributes must look like HTML (name="value" or a known flag), so "if a<b and c>d" is not taken for a <b> tag.
_ATTRS = (r"""(?:\s+(?:[A-Za-z_:][\w:.-]*\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>`=]+)"""
          r"|disabled|checked|selected|hidden|required|readonly|multiple|nowrap))*\s*")
_TAG = re.compile(r"</?(?:%s)%s/?>" % ("|".join(sorted(_TAG_NAMES, key=len, reverse=True)), _ATTRS), re.I)
_DROP_BLOCKS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LINE_BREAK = re.compile(r"<br%s/?>|<(?:li|tr|dt|dd)%s>" % (_ATTRS, _ATTRS), re.I)
_BLOCK_EDGE = re.compile(r"</?(?:p|div|h[1-6]|ul|ol|table|blockquote|pre|section|article|header|footer)"
                         r"%s>" % _ATTRS, re.I)
# Entities need their semicolon: html.unescape alone would turn "?a=1&param=2" into "?a=1¶m=2".
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _strip_html(text: str) -> str:
    out = _DROP_BLOCKS.sub("", text)
    out = _COMMENT.sub("", out)
    out = _LINE_BREAK.sub("\n", out)
    out = _BLOCK_EDGE.sub("\n\n", out)
    out = _TAG.sub("", out)
    if out != text:  # tidy the breaks the tags became, even with the whitespace step off
        out = re.sub(r"\n{3,}", "\n\n", out).strip("\n")
    # Unescape after removing tags, so an escaped "&lt;b&gt;" becomes visible text rather than being stripped.
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), out)


_ODD_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\t\f\v]")
_INVISIBLE = re.compile(r"[\u200b\u2060\ufeff]")
_INNER_RUN = re.compile(r"(?<=\S) {2,}(?=\S)")
_TRAILING = re.compile(r" +$", re.M)
_BLANK_LINES = re.compile(r"\n[ ]*\n(?:[ ]*\n)+")


def _normalise_whitespace(text: str) -> str:
    out = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    out = _INVISIBLE.sub("", out)
    out = _ODD_SPACES.sub(" ", out)
    # Leading indentation is kept (code and JSON answers rely on it); runs between words collapse to one space.
    out = _INNER_RUN.sub(" ", out)
    out = _TRAILING.sub("", out)
    out = _BLANK_LINES.sub("\n\n", out)  # at most one empty line between paragraphs
    return out.strip()


def normalise_text(text: str, cfg: NormaliseConfig | None = None) -> tuple[str, Counter]:
    """Return the normalised text and a Counter of the steps that changed it (keys: CHANGE_KEYS)."""
    cfg = cfg or NormaliseConfig()
    changes: Counter = Counter()
    if text is None:
        return "", changes
    steps = []
    if cfg.fix_mojibake:
        steps.append(("mojibake", _fix_mojibake))
    if cfg.unicode_form:
        steps.append(("unicode", lambda t: unicodedata.normalize(cfg.unicode_form, t)))
    if cfg.strip_html:
        steps.append(("html", _strip_html))
    if cfg.normalise_whitespace:
        steps.append(("whitespace", _normalise_whitespace))
    for key, step in steps:
        new = step(text)
        if new != text:
            changes[key] += 1
            text = new
    return text, changes
