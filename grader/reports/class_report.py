"""The class report: one static HTML page for the instructor, from the gradebook's entries.

Self-contained and offline: inline CSS and inline SVG charts drawn here (no script, no font, no
image, nothing fetched; a Content-Security-Policy of ``default-src 'none'`` says so to the
browser). Titled with the assignment's name, it shows the counts (graded, not attempted, nothing
found, timed out, grading errors), the distribution of scores, the pass rate of every check
(device cells folded), the hints the class received most often, a table per hook and one row
per student, linked to that student's feedback file when the report knows where it is written.
Students who handed in nothing to grade ("not attempted", "nothing found") count in no pass rate
and no score statistic; nor does a student for whom a check was skipped, or who did not attempt
its exercise, in that check's rate. Deterministic: the same results give the same bytes.
"""

from __future__ import annotations

import html
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .. import sanitize
from . import folded_checks, graded_hooks, points
from .gradebook import GRADED, GRADING_ERROR, NOT_ATTEMPTED, NOTHING_FOUND, TIMED_OUT, Entry

BAR_W = 360  # pixels of a 100 % bar
TOP_HINTS = 10  # hints listed, most frequent first


@dataclass
class CheckRate:
    """A check's pass rate: ``passed`` of the ``graded`` students (those who attempted its
    exercise and for whom it ran); ``not_attempted`` students are counted apart."""

    key: str
    hook: str
    passed: int
    graded: int
    not_attempted: int = 0

    @property
    def rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


def check_rates(entries: list[Entry]) -> list[CheckRate]:
    """Pass rate of each check over the students who handed something in and attempted its
    exercise, where it ran (skipped cells aside), in course order."""
    rates: dict[str, CheckRate] = {}
    for e in entries:
        if not e.submitted:
            continue
        for c in folded_checks(e.result):
            r = rates.setdefault(c.key, CheckRate(c.key, c.hook, 0, 0))
            if c.not_attempted:
                r.not_attempted += 1
            elif c.status != "skipped":
                r.graded += 1
                r.passed += c.status == "passed"
    return [r for r in rates.values() if r.graded or r.not_attempted]


@dataclass
class Hint:
    """A hint the class received: its text, how many students got it, and on which checks."""

    text: str
    students: int = 0
    checks: list[str] = field(default_factory=list)


def frequent_hints(entries: list[Entry], n: int = TOP_HINTS) -> list[Hint]:
    """The ``n`` hints given to the most students (each student counted once per hint), most
    frequent first, then in the order first met."""
    found: dict[str, Hint] = {}
    for e in entries:
        if not e.submitted:
            continue
        mine: set[str] = set()
        for c in folded_checks(e.result):
            for cell in c.ran:
                text = cell.get("hint")
                if cell["status"] == "passed" or not isinstance(text, str) or not text:
                    continue
                h = found.setdefault(text, Hint(text))
                if c.key not in h.checks:
                    h.checks.append(c.key)
                mine.add(text)
        for text in mine:
            found[text].students += 1
    return sorted(found.values(), key=lambda h: -h.students)[:n]


def histogram(percents: list[float], bins: int = 10) -> list[int]:
    """Counts of scores per bin of ``100 / bins`` percent: ``[0, 10)``, …, ``[90, 100]`` (the
    last bin holds full marks)."""
    counts = [0] * bins
    for p in percents:
        counts[min(bins - 1, max(0, int(p * bins // 100)))] += 1
    return counts


def assignment_names(entries: list[Entry]) -> str:
    """The assignment's name (the names, when the results come from several; empty if none)."""
    return " / ".join(sorted({e.assignment for e in entries} - {""}))


def default_title(entries: list[Entry]) -> str:
    """The assignment's name (``assignment_names``) with ": class report", else "Class report"."""
    names = assignment_names(entries)
    return f"{names}: class report" if names else "Class report"


def render(entries: list[Entry], title: str | None = None, html_path: str | Path | None = None) -> str:
    """The report for ``entries``, titled ``title`` (default: ``default_title``). With
    ``html_path``, where the page will be written, each student's name links to their feedback
    file (``Entry.feedback``), relative to the page."""
    title = title or default_title(entries)
    graded = [e for e in entries if not e.result.get("grading_error")]
    counted = [e for e in entries if e.submitted]
    percents = [e.percent for e in counted if e.percent is not None]
    statuses = [e.status for e in entries]
    rates = check_rates(entries)
    seeds = sorted({str(e.result.get("seed")) for e in graded})
    versions = sorted({str((e.result.get("versions") or {}).get("grader", "")) for e in graded} - {""})
    cards = [
        ("submissions", str(len(entries))),
        ("graded", str(statuses.count(GRADED))),
        ("not attempted", str(statuses.count(NOT_ATTEMPTED))),
        ("nothing found", str(statuses.count(NOTHING_FOUND))),
        ("timed out", str(statuses.count(TIMED_OUT))),
        ("grading errors", str(statuses.count(GRADING_ERROR))),
        ("mean", f"{statistics.fmean(percents):.1f} %" if percents else "–"),
        ("median", f"{statistics.median(percents):.1f} %" if percents else "–"),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        '<p class="meta">seed '
        + _e(", ".join(seeds) or "–")
        + (" · grader " + _e(", ".join(versions)) if versions else "")
        + "</p>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for k, v in cards)
        + "</div>",
        '<p class="meta">Mean, median, the distribution and the pass rates count the students who handed '
        "something in: not those whose every exercise is “not attempted” or with “nothing found”, nor, "
        "for one check, those who did not attempt its exercise.</p>",
        '<section id="distribution"><h2>Score distribution</h2>',
        _distribution_svg(histogram(percents), len(percents)),
        "</section>",
        '<section id="checks"><h2>Pass rate per check</h2>',
        _rates_svg(rates) if rates else "<p>No check was graded.</p>",
        "</section>",
        '<section id="hints"><h2>Most frequent hints</h2>',
        _hints_table(frequent_hints(entries)),
        "</section>",
        '<section id="hooks"><h2>Hooks</h2>',
        _hooks_table(counted),
        "</section>",
        '<section id="students"><h2>Students</h2>',
        _students_table(entries, Path(html_path).resolve().parent if html_path is not None else None),
        "</section></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _e(text: object) -> str:
    return html.escape(sanitize.text(text), quote=True)


def _distribution_svg(counts: list[int], n: int) -> str:
    bins = len(counts)
    w, h, left, bottom, top = 520, 220, 36, 34, 12
    bw = (w - left - 20) / bins  # room on the right for the "100" under the last edge
    peak = max(counts) or 1
    out = [
        f'<svg class="chart" id="distribution-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="Score distribution of {n} graded submissions">'
    ]
    base = h - bottom
    for t in range(0, 5):
        y = base - (base - top) * t / 4
        out.append(f'<line class="grid" x1="{left}" x2="{left + bins * bw:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(_tick(peak * t / 4))}</text>'
        )
    for i, c in enumerate(counts):
        bh = (base - top) * c / peak
        x = left + i * bw
        lo, hi = 100 * i // bins, 100 * (i + 1) // bins
        span = f"{lo} to {hi} %" if i == bins - 1 else f"{lo} to under {hi} %"
        label = f"{span}: {c} submission{'s' if c != 1 else ''}"
        out.append(
            f'<rect class="bin" data-count="{c}" x="{x + 2:.1f}" y="{base - bh:.1f}" width="{bw - 4:.1f}" '
            f'height="{bh:.1f}"><title>{_e(label)}</title></rect>'
        )
        if c:
            out.append(
                f'<text class="count" x="{x + bw / 2:.1f}" y="{base - bh - 3:.1f}" text-anchor="middle">{c}</text>'
            )
        # Bin edges: 0 under the left edge of the first bin, …, 100 under the right edge of the last.
        out.append(f'<text class="tick edge" x="{x:.1f}" y="{base + 14}" text-anchor="middle">{lo}</text>')
    out.append(f'<text class="tick edge" x="{left + bins * bw:.1f}" y="{base + 14}" text-anchor="middle">100</text>')
    out.append(
        f'<text class="axis" x="{left + (w - left) / 2:.0f}" y="{h - 4}" text-anchor="middle">score (% of the maximum)</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _tick(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _rates_svg(rates: list[CheckRate]) -> str:
    row, label_w, left_pad = 20, 300, 8
    w = label_w + BAR_W + 230
    h = row * len(rates) + 8
    out = [
        f'<svg class="chart" id="checks-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="Pass rate of {len(rates)} checks">'
    ]
    for i, r in enumerate(rates):
        y = 4 + i * row
        bw = BAR_W * r.rate
        cls = "good" if r.rate >= 0.8 else "mid" if r.rate >= 0.5 else "bad"
        text = f"{r.passed}/{r.graded} ({100 * r.rate:.0f} %)" if r.graded else "–"
        if r.not_attempted:
            text += f" · {r.not_attempted} not attempted"
        out.append(f'<text class="label" x="{label_w - left_pad}" y="{y + 14}" text-anchor="end">{_e(r.key)}</text>')
        out.append(f'<rect class="track" x="{label_w}" y="{y + 3}" width="{BAR_W}" height="{row - 6}"/>')
        out.append(
            f'<rect class="rate {cls}" data-check="{_e(r.key)}" data-rate="{r.rate:.4f}" x="{label_w}" y="{y + 3}" '
            f'width="{bw:.1f}" height="{row - 6}"><title>{_e(r.key)}: {_e(text)}</title></rect>'
        )
        out.append(f'<text class="count" x="{label_w + BAR_W + 6}" y="{y + 14}">{_e(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def _hints_table(hints: list[Hint]) -> str:
    if not hints:
        return "<p>No hint was given.</p>"
    rows = "".join(
        f"<tr><td class=num>{h.students}</td><td>{_e(h.text)}</td><td>{_e(', '.join(h.checks))}</td></tr>"
        for h in hints
    )
    return f"<table><thead><tr><th>students</th><th>hint</th><th>checks</th></tr></thead><tbody>{rows}</tbody></table>"


def _hooks_table(graded: list[Entry]) -> str:
    stats: dict[str, list] = {}
    for e in graded:
        for name, h in graded_hooks(e.result):
            s = stats.setdefault(name, [h.get("section", ""), 0.0, 0.0, 0, 0])
            s[1] += h.get("score", 0.0)
            s[2] = max(s[2], h.get("max_score", 0.0))
            s[3] += h.get("status") == "passed"
            s[4] += h.get("status") not in ("skipped",)
    rows = []
    for name, (section, total, mx, passed, n) in stats.items():
        if not n:
            continue
        mean = total / n
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{_e(section)}</td><td class=num>{_e(points(mean))} / {_e(points(mx))}</td>"
            f"<td class=num>{passed}/{n}</td></tr>"
        )
    if not rows:
        return "<p>No hook was graded.</p>"
    return (
        "<table><thead><tr><th>hook</th><th>section</th><th>mean score</th><th>passed</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _feedback_link(e: Entry, page_dir: Path | None) -> str:
    """The student's name, linked to their feedback file relative to the page (a relative,
    percent-encoded path: no scheme can sneak in through a file name)."""
    feedback = e.feedback() if page_dir is not None else None
    if feedback is None or page_dir is None:
        return _e(e.student)
    href = quote(Path(os.path.relpath(feedback.resolve(), page_dir)).as_posix())
    return f'<a href="{_e(href)}">{_e(e.student)}</a>'


def _students_table(entries: list[Entry], page_dir: Path | None = None) -> str:
    rows = []
    for e in entries:
        r = e.result
        pct = e.percent
        cls = {GRADED: "", TIMED_OUT: "warn", GRADING_ERROR: "err", NOTHING_FOUND: "none", NOT_ATTEMPTED: "none"}.get(
            e.status, ""
        )
        rows.append(
            f'<tr class="{cls}"><td>{_feedback_link(e, page_dir)}</td><td>{_e(e.status)}</td>'
            f"<td class=num>{_e(points(r.get('score', 0.0)))} / {_e(points(r.get('max_score', 0.0)))}</td>"
            f"<td class=num>{'' if pct is None else f'{pct:.1f} %'}</td><td>{_e(e.detail)}</td></tr>"
        )
    return (
        "<table><thead><tr><th>student</th><th>status</th><th>score</th><th>%</th><th>detail</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#1f2328;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#656d76;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:90px}
.card b{display:block;font-size:20px}.card span{color:#656d76}
.chart{display:block;max-width:100%;height:auto}
.chart .bin{fill:#4f7cac}.chart .track{fill:#eef1f4}
.chart .good{fill:#2da44e}.chart .mid{fill:#d4a72c}.chart .bad{fill:#cf222e}
.chart text{font-size:12px;fill:#1f2328}.chart .tick,.chart .axis{fill:#656d76}.chart .grid{stroke:#eef1f4}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef1f4;vertical-align:top}
td.num{text-align:right;white-space:nowrap}tr.warn td{background:#fff8c5}tr.err td{background:#ffebe9}
tr.none td{color:#656d76}
"""
