"""Text a submission can influence, made safe to show in any report: the one sanitizer.

Student-derived text (exception messages and type names, parameter and module names, output
tails, file and directory names, anything a worker sends) may hold control characters (NUL,
ANSI escape sequences, carriage returns, the Unicode line separators that ``str.splitlines``
honours), characters XML 1.0 forbids (lone surrogates, U+FFFE/U+FFFF), bidirectional and other
invisible format characters, and any length. ``text`` keeps newlines (a message may span lines)
and ``name`` escapes them too (a name is one line). Both show every other such character as a
Python-style escape (``\\x1b``, ``\\u202e``), break the two CI log markers a line could start
(GitHub Actions' ``::command::`` after leading spaces, ``##[``), and cap the length. The output is
printable, holds no character XML 1.0 forbids, and applying either function again changes
nothing (idempotent), so a result can be sanitized when it is built and again when a format
renders it.

Markup is each format's own business (Markdown, HTML and XML escaping): this module makes text
inert for terminals and log viewers, and well-formed.
"""

from __future__ import annotations

import re

TEXT_LIMIT = 4000
NAME_LIMIT = 200

# C0 controls but newline, DEL and C1 controls, the soft hyphen, Arabic letter mark, Mongolian
# vowel separator, zero-width and bidirectional marks, line and paragraph separators, bidi
# embeddings and isolates, invisible operators, the BOM, interlinear annotations, surrogates,
# the two XML-forbidden noncharacters, and the tag characters: every code point of categories
# Cc, Cf, Cs, Zl and Zp a terminal, browser or XML parser would act on.
_UNSAFE = (
    "\x00-\x09\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff\ufffe\uffff\U000e0001\U000e0020-\U000e007f"
)
_TEXT_UNSAFE = re.compile(f"[{_UNSAFE}]")
_NAME_UNSAFE = re.compile(f"[{_UNSAFE}\n]")
# GitHub Actions runs ``::command::`` lines (after any leading whitespace, Unicode spaces
# included) and acts on ``##[`` markers.
_LOG_COMMAND = re.compile(r"(?m)^([^\S\n]*):(?=:)")
_LOG_MARKER = re.compile(r"##\[")

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match) -> str:
    c = match.group()
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def _cap(s: str, limit: int) -> str:
    if len(s) <= limit:
        return s
    return s[: max(0, limit - 1)] + "…"


def _clean(value: object, limit: int, unsafe: re.Pattern) -> str:
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:
            value = "<unprintable>"
    # Escaping only lengthens: cut first so a huge input costs no more than its kept part.
    s = value[: limit + 1]
    if unsafe.search(s):
        s = unsafe.sub(_escape, s)
    if ":" in s:
        s = _LOG_COMMAND.sub(r"\1\\x3a", s)
    if "##[" in s:
        s = _LOG_MARKER.sub("#\\\\x23[", s)
    return _cap(s, limit)


def text(value: object, limit: int = TEXT_LIMIT) -> str:
    """``value`` (a message, an output tail: anything student-derived that may span lines) made
    inert: newlines kept, every other control or format character escaped, at most ``limit``
    characters (an ellipsis marks a cut)."""
    return _clean(value, limit, _TEXT_UNSAFE)


def name(value: object, limit: int = NAME_LIMIT) -> str:
    """``value`` (a parameter, module, file or directory name: one line) made inert: newlines
    escaped too, at most ``limit`` characters."""
    return _clean(value, limit, _NAME_UNSAFE)


def tree(value: object, limit: int = TEXT_LIMIT) -> object:
    """``value`` (JSON: dicts, lists, strings, numbers) with every string value passed through
    ``text`` (keys are the grader's own: hook names, check ids); other values as they are."""
    if isinstance(value, str):
        return text(value, limit)
    if isinstance(value, dict):
        return {k: tree(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [tree(v, limit) for v in value]
    return value


def is_clean(value: str, multiline: bool = True) -> bool:
    """Whether ``value`` holds nothing ``text`` (or, with ``multiline=False``, ``name``) would
    escape: no control or format character (bar newlines in text), no CI log command."""
    unsafe = _TEXT_UNSAFE if multiline else _NAME_UNSAFE
    return not unsafe.search(value) and not _LOG_COMMAND.search(value) and "##[" not in value
