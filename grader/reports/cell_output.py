"""What a ``%grade`` cell shows: the text report (``grader run``'s), and for Jupyter the same
report as HTML, a ``<pre>`` block (long lines wrapped) with the statuses coloured as a terminal
shows them.

The HTML is the text report escaped (``html.escape``) after the text format has sanitized
everything a submission influenced, so no message can add markup; the only tags are the block's
and the colour spans put where the text format paints a status.
"""

from __future__ import annotations

import html
import re

from . import ReportOptions
from .text import render as render_text

# The text format's ANSI colours (``text.COLORS``) as CSS colours readable on light and dark themes.
CSS_COLORS = {"32": "#1a7f37", "31": "#cf222e", "35": "#8250df", "33": "#9a6700", "36": "#1b7c83"}
_PAINTED = re.compile("\x1b\\[(\\d+)m([^\x1b]*)\x1b\\[0m")


class Unreadable(Exception):
    """The result does not have the structure of a grader result."""


def render(result: dict, audience: str = "student") -> tuple[str, str]:
    """``(text, html)``: the text report of ``result`` and its HTML form. Raises ``Unreadable``
    for a result the text format cannot render (a missing or mistyped field)."""
    try:
        text = render_text(result, ReportOptions(audience=audience))
        painted = render_text(result, ReportOptions(color=True, audience=audience))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise Unreadable(f"{type(e).__name__}: {e}") from None
    return text, to_html(painted)


def to_html(painted: str) -> str:
    """A coloured text report (ANSI colour codes around statuses) as one HTML ``<pre>`` block."""
    body = _PAINTED.sub(
        lambda m: f'<span style="color: {CSS_COLORS.get(m.group(1), "inherit")}">{m.group(2)}</span>',
        html.escape(painted, quote=True),
    )
    # pre-wrap: a long message wraps in the cell instead of scrolling it sideways.
    return f'<pre class="grader-report" style="white-space: pre-wrap">{body.replace(chr(27), "")}</pre>'
