"""The class report renders in a real browser, offline: both charts are drawn, in proportion to
the data, and the page asks for nothing from the network.

The browser is Debian's ``chromium`` (``apt-get install -y chromium``), or the one named by
``GRADER_TEST_BROWSER``; without one these tests skip and say so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from grader.reports import class_report
from grader.reports.gradebook import Entry

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def browser() -> str | None:
    named = os.environ.get("GRADER_TEST_BROWSER")
    if named:
        return shutil.which(named) or named
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


needs_browser = pytest.mark.skipif(
    browser() is None,
    reason="no headless browser to render the class report: install Debian's chromium (apt-get install -y chromium) "
    "or set GRADER_TEST_BROWSER",
)


def result(student: str, statuses: dict[str, list[str]], **extra) -> dict:
    """A result with the given check statuses per hook, one point per check, a cpu cell each."""
    hooks, total, mx = {}, 0.0, 0.0
    for hook, checks in statuses.items():
        cells = []
        for name, status in zip(("outputs", "gradients", "structure"), checks):
            score = 1.0 if status == "passed" else 0.0
            cells.append(
                {
                    "id": f"{hook}/{name}[cpu]",
                    "status": status,
                    "score": score,
                    "max_score": 0.0 if status == "skipped" else 1.0,
                    "device": "cpu",
                    "message": "",
                }
            )
        hs, hm = sum(c["score"] for c in cells), sum(c["max_score"] for c in cells)
        total, mx = total + hs, mx + hm
        hooks[hook] = {
            "section": "layers_and_blocks",
            "status": "passed" if hs == hm else "failed",
            "score": hs,
            "max_score": hm,
            "message": "",
            "checks": cells,
        }
    r = {
        "schema": "grader-result/1",
        "submission": student,
        "student": student,
        "score": total,
        "max_score": mx,
        "seed": 42,
        "devices": ["cpu"],
        "versions": {"grader": "0.1.0"},
        "warnings": [],
        "hooks": hooks,
    }
    r.update(extra)
    return r


P, F, S = "passed", "failed", "skipped"
CLASS = [
    Entry("ada", result("ada", {"mlp": [P, P, P], "nest_mlp": [P, P, P]})),
    Entry("bo", result("bo", {"mlp": [P, F, P], "nest_mlp": [P, P, S]})),
    Entry("cy", result("cy", {"mlp": [F, F, P], "nest_mlp": [F, F, S]})),
    Entry("<script>alert(1)</script>", result("x", {"mlp": [F, F, F], "nest_mlp": [F, F, F]})),
    Entry(
        "dee",
        {
            "schema": "grader-result/1",
            "submission": "dee",
            "score": 0.0,
            "max_score": 0.0,
            "seed": 42,
            "hooks": {},
            "grading_error": "the grading process ended unexpectedly",
            "grading_status": "grading error",
        },
    ),
]

# Measures what the browser drew and leaves it in the DOM for --dump-dom to print.
PROBE = """<script>
window.addEventListener("load", () => {
  const box = e => { const r = e.getBoundingClientRect(); return {w: r.width, h: r.height}; };
  const out = {
    rates: [...document.querySelectorAll("#checks-chart rect.rate")].map(e => ({check: e.dataset.check, rate: +e.dataset.rate, ...box(e)})),
    tracks: [...document.querySelectorAll("#checks-chart rect.track")].map(box),
    bins: [...document.querySelectorAll("#distribution-chart rect.bin")].map(e => ({count: +e.dataset.count, ...box(e)})),
    charts: [...document.querySelectorAll("svg.chart")].map(box),
    resources: performance.getEntriesByType("resource").length,
    scripts: document.scripts.length,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def render_in_browser(page: str, tmp_path) -> dict:
    """Load ``page`` (the report, its CSP relaxed only to let the probe script run) in headless
    Chromium from a file URL, with every host name unresolvable, and return what it measured."""
    probed = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page).replace("</body>", PROBE + "</body>")
    html = tmp_path / "report.html"
    html.write_text(probed, encoding="utf-8")
    cmd = [
        browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,2000",
        "--dump-dom",
        html.as_uri(),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe">(.*?)</pre>', p.stdout, re.S)
    assert m, f"the browser printed no measurements (exit {p.returncode}): {p.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


@needs_browser
def test_both_charts_render_in_proportion_to_the_data(tmp_path):
    got = render_in_browser(class_report.render(CLASS), tmp_path)
    assert len(got["charts"]) == 2 and all(c["w"] > 100 and c["h"] > 50 for c in got["charts"])
    # Pass rate per check, over the students it was graded for (the grading error counts nowhere).
    rates = {r["check"]: r for r in got["rates"]}
    expected = {
        "mlp/outputs": 2 / 4,
        "mlp/gradients": 1 / 4,
        "mlp/structure": 3 / 4,
        "nest_mlp/outputs": 2 / 4,
        "nest_mlp/gradients": 2 / 4,
        "nest_mlp/structure": 1 / 2,
    }
    assert {k: r["rate"] for k, r in rates.items()} == pytest.approx(expected, abs=1e-4)
    full = got["tracks"][0]["w"]
    assert full > 100
    for r in rates.values():
        assert r["w"] == pytest.approx(full * r["rate"], abs=1.0)
    # Score distribution: 10 bins; heights proportional to the counts (4 graded students).
    bins = got["bins"]
    assert [b["count"] for b in bins] == [1, 0, 1, 0, 0, 0, 0, 0, 1, 1]
    tallest = max(b["h"] for b in bins)
    for b in bins:
        assert b["h"] == pytest.approx(tallest * b["count"], abs=1.0)
    # Nothing fetched; the only script is the probe; the student name is text, not markup.
    assert got["resources"] == 0 and got["scripts"] == 1


def test_the_report_is_self_contained_and_escapes_names():
    page = class_report.render(CLASS)
    assert "default-src 'none'" in page
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"(src|href)\s*=|url\(|@import|https?://", page)
    assert class_report.render(CLASS) == page  # deterministic


def test_an_empty_class_still_renders():
    page = class_report.render([CLASS[-1]])
    assert "No check was graded" in page and "grading errors" in page


def _with(entry: Entry, hook: str, check: str, **fields) -> Entry:
    """``entry`` with fields set on one check cell of one hook (a hint, not_attempted…)."""
    for c in entry.result["hooks"][hook]["checks"]:
        if c["id"].startswith(f"{hook}/{check}["):
            c.update(fields)
    return entry


def test_non_submitters_count_in_no_rate_and_no_statistic():
    na = result("na", {"mlp": [F, F, F], "nest_mlp": [F, F, F]})
    for h in na["hooks"].values():
        h["status"] = "not_attempted"
        for c in h["checks"]:
            c["not_attempted"] = True
    empty = result("nf", {"mlp": [F, F, F]}, nothing_found=True, warnings=["no Python module at the top level"])
    half = result("half", {"mlp": [P, P, P], "nest_mlp": [F, F, F]})  # nest_mlp not attempted
    half["hooks"]["nest_mlp"]["status"] = "not_attempted"
    for c in half["hooks"]["nest_mlp"]["checks"]:
        c["not_attempted"] = True
    entries = [Entry("na", na), Entry("nf", empty), Entry("half", half), *CLASS]
    rates = {r.key: r for r in class_report.check_rates(entries)}
    # As for CLASS alone, plus `half`: its mlp checks count, its nest_mlp ones are "not attempted".
    assert (rates["mlp/outputs"].passed, rates["mlp/outputs"].graded) == (3, 5)
    assert (rates["nest_mlp/outputs"].passed, rates["nest_mlp/outputs"].graded) == (2, 4)
    assert rates["nest_mlp/outputs"].not_attempted == 1
    page = class_report.render(entries)
    assert "2/4 (50 %) · 1 not attempted" in page
    cards = {label: value for value, label in re.findall(r'<div class="card"><b>([^<]*)</b><span>([^<]*)</span>', page)}
    assert cards["not attempted"] == "1" and cards["nothing found"] == "1"
    # The mean is over the five students who handed something in and were graded.
    percents = [100 * e.result["score"] / e.result["max_score"] for e in [Entry("half", half), *CLASS[:4]]]
    assert cards["mean"] == f"{sum(percents) / len(percents):.1f} %"


def test_the_most_frequent_hints_come_first_each_student_once():
    a = _with(Entry("a", result("a", {"mlp": [F, F, P]})), "mlp", "outputs", hint="use the ReLU")
    _with(a, "mlp", "gradients", hint="use the ReLU")  # the same hint twice: one student
    b = _with(Entry("b", result("b", {"mlp": [F, P, P]})), "mlp", "outputs", hint="use the ReLU")
    c = _with(Entry("c", result("c", {"mlp": [P, P, F]})), "mlp", "structure", hint="<b>register</b> it")
    d = _with(Entry("d", result("d", {"mlp": [P, P, P]})), "mlp", "outputs", hint="never shown: passed")
    hints = class_report.frequent_hints([c, a, b, d])
    assert [(h.text, h.students, h.checks) for h in hints] == [
        ("use the ReLU", 2, ["mlp/outputs", "mlp/gradients"]),
        ("<b>register</b> it", 1, ["mlp/structure"]),
    ]
    page = class_report.render([c, a, b, d])
    assert "&lt;b&gt;register&lt;/b&gt; it" in page and "never shown" not in page


def test_the_histogram_labels_its_bin_edges_up_to_100():
    page = class_report.render(CLASS)
    svg = page.split('id="distribution-chart"', 1)[1].split("</svg>", 1)[0]
    edges = re.findall(r'<text class="tick edge" x="([\d.]+)"[^>]*>(\d+)</text>', svg)
    assert [label for _, label in edges] == [str(10 * i) for i in range(11)]
    bins = re.findall(r'<rect class="bin"[^>]* x="([\d.]+)"[^>]* width="([\d.]+)"', svg)
    last_x, last_w = map(float, bins[-1])
    # "100" stands under the right edge of the last bin (each bin is drawn 2 px in from its edges).
    assert float(edges[-1][0]) == pytest.approx(last_x + last_w + 2, abs=0.11)
    assert float(edges[0][0]) == pytest.approx(float(bins[0][0]) - 2, abs=0.11)
    assert "90 to 100 %: 1 submission" in svg and "0 to under 10 %: 1 submission" in svg


def test_each_student_links_to_their_feedback_next_to_the_page(tmp_path):
    out = tmp_path / "out"
    for name, files in {
        "ann": ("result.json", "text.txt"),
        "bo b": ("result.json", "markdown.md"),
        "cy": ("result.json",),
    }.items():
        (out / "submissions" / name).mkdir(parents=True)
        for f in files:
            (out / "submissions" / name / f).write_text("{}")
    elsewhere = tmp_path / "collected"
    elsewhere.mkdir()
    (elsewhere / "dee.json").write_text("{}")
    (elsewhere / "dee.txt").write_text("feedback")
    entries = [
        Entry(n, result(n, {"mlp": [P, P, P]}), str(out / "submissions" / n / "result.json"))
        for n in ("ann", "bo b", "cy")
    ] + [Entry("dee", result("dee", {"mlp": [P, P, P]}), str(elsewhere / "dee.json"))]
    page = class_report.render(entries, html_path=out / "report.html")
    links = dict((name, href) for href, name in re.findall(r'<a href="([^"]*)">([^<]*)</a>', page))
    assert links == {
        "ann": "submissions/ann/text.txt",
        "bo b": "submissions/bo%20b/markdown.md",
        "cy": "submissions/cy/result.json",
        "dee": "../collected/dee.txt",
    }
    assert "<a " not in class_report.render(entries)  # no page location: no links
