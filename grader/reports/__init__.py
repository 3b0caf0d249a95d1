"""Report formats. Each one is an internal plugin (``grader_report_formats``) that derives its
output from the JSON result alone, so no two formats can disagree about a score."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from .. import sanitize

if TYPE_CHECKING:
    from pluggy import PluginManager

AUDIENCES = ("student", "instructor")


@dataclass
class ReportOptions:
    """What a format may take into account besides the result."""

    color: bool = False
    per_hook: bool = False  # Gradescope: one test per hook instead of one per check
    # "student": the messages of checks whose visibility is not "visible" are withheld (the
    # default: CI logs and step summaries are read by students); "instructor": everything.
    audience: str = "student"
    extra: dict = field(default_factory=dict)


@dataclass
class ReportFormat:
    name: str
    description: str
    render: Callable[[dict, ReportOptions], str | bytes]
    extension: str = ".txt"


def report_formats(pm: PluginManager) -> dict[str, ReportFormat]:
    """Every report format the plugins of ``pm`` offer (``grader_report_formats``), by name.
    Two plugins offering one name is a ``PluginError`` naming both: silently keeping one would let
    an instructor's ``json`` lose to the built-in, or replace it."""
    from ..plugins import PluginError

    out: dict[str, ReportFormat] = {}
    owner: dict[str, str] = {}
    for impl in pm.hook.grader_report_formats.get_hookimpls():
        plugin = getattr(impl.plugin, "__file__", None) or impl.plugin_name
        for f in cast("list[ReportFormat] | None", impl.function()) or []:
            if f.name in out:
                a, b = sorted((owner[f.name], plugin))
                raise PluginError(f"report format {f.name!r} is offered by both {a} and {b}: rename one")
            out[f.name], owner[f.name] = f, plugin
    return out


def visible_to_students(entry: dict) -> bool:
    return entry.get("visibility", "visible") == "visible"


# -- helpers shared by the formats ------------------------------------------------------------

WITHHELD = {
    "hidden": "details hidden from students",
    "after_due_date": "details shown after the due date",
    "after_published": "details shown when grades are published",
}


def shows_details(visibility: str, options: ReportOptions) -> bool:
    return options.audience == "instructor" or visibility == "visible"


def withheld(visibility: str) -> str:
    return WITHHELD.get(visibility, "details hidden from students")


def student_copy(result: dict) -> dict:
    """A copy of ``result`` holding nothing a student may not read, for a result handed to a
    student's own process (a kernel's ``%grade``): each check that is not visible has its message
    replaced by what withholds it and no hint; a hook's message likewise where the hook is not
    visible or the message is such a check's; the instructor's ``integrity`` flags are left out.
    A student-audience report renders the copy as it renders the result."""
    import copy

    out = copy.deepcopy(result)
    out.pop("integrity", None)
    for h in (out.get("hooks") or {}).values():
        if not isinstance(h, dict):
            continue
        withheld_messages = set()
        for c in h.get("checks") or []:
            vis = c.get("visibility", "visible") if isinstance(c, dict) else "visible"
            if vis != "visible":
                withheld_messages.add(c.get("message"))
                c["message"] = withheld(vis)
                c.pop("hint", None)
        vis = h.get("visibility", "visible")
        if vis != "visible" or (h.get("message") and h.get("message") in withheld_messages):
            h["message"] = withheld(vis if vis != "visible" else "hidden")
    return out


def graded_hooks(result: dict) -> list[tuple[str, dict]]:
    """The hooks this run graded (its selection), in course order."""
    selection = result.get("selection")
    return [(n, h) for n, h in result.get("hooks", {}).items() if selection is None or n in selection]


def hook_notes(result: dict) -> list[tuple[str, str]]:
    """(hook, note) for each note of a graded hook: how it was found or called when not as a
    function of its name taking the spec's argument names ("graded class `MLP` as `mlp`")."""
    return [(n, str(note)) for n, h in graded_hooks(result) for note in h.get("notes") or []]


def check_key(entry: dict) -> str:
    """``mlp/outputs[cpu]`` → ``mlp/outputs``; ``param_shapes/shapes[rgnet-cuda:0]`` →
    ``param_shapes/shapes[rgnet]``: the device cell (from the entry's ``device``) is dropped."""
    cid, device = entry["id"], entry.get("device")
    if device:
        if cid.endswith(f"[{device}]"):
            return cid[: -len(device) - 2]
        if cid.endswith(f"-{device}]"):
            return cid[: -len(device) - 2] + "]"
    return cid


@dataclass
class Check:
    """One check with its device cells folded together: what the formats call a test."""

    key: str
    hook: str
    section: str
    status: str  # passed | failed | error | skipped
    score: float
    max_score: float
    visibility: str
    description: str
    cells: list[dict]
    not_attempted: bool = False

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]

    @property
    def ran(self) -> list[dict]:
        return [c for c in self.cells if c["status"] != "skipped"]

    def details(self, options: ReportOptions) -> list[tuple[str, str, str | None]]:
        """(cell label, message, hint) of each cell that ran and did not pass (one unlabelled
        line when they all failed alike), or one withheld line when the audience may not read
        them."""
        bad = [c for c in self.ran if c["status"] != "passed"]
        if not bad:
            return []
        if not shows_details(self.visibility, options):
            return [("", withheld(self.visibility), None)]
        if len(self.cells) == 1 or (
            len(bad) == len(self.ran) and len({(c["message"], c.get("hint")) for c in bad}) == 1
        ):
            # One cell, or every cell failing the same way (e.g. not attempted): no device label.
            return [("", bad[0]["message"] or bad[0]["status"], bad[0].get("hint"))]
        return [(c.get("device") or "", c["message"] or c["status"], c.get("hint")) for c in bad]

    def skipped_cells(self) -> list[tuple[str, str]]:
        """(cell label, reason) of the cells that did not run (no CUDA device, …)."""
        return [(c.get("device") or "", c["message"] or "skipped") for c in self.cells if c["status"] == "skipped"]


def folded_checks(result: dict, hooks: list[tuple[str, dict]] | None = None) -> Iterator[Check]:
    """The graded hooks' checks, device cells folded, in result order."""
    for hook, h in hooks if hooks is not None else graded_hooks(result):
        groups: dict[str, list[dict]] = {}
        for c in h.get("checks", []):
            groups.setdefault(check_key(c), []).append(c)
        for key, cells in groups.items():
            ran = [c for c in cells if c["status"] != "skipped"]
            if not ran:
                status = "skipped"
            elif all(c["status"] == "passed" for c in ran):
                status = "passed"
            elif all(c["status"] == "error" for c in ran):
                status = "error"
            else:
                status = "failed"
            yield Check(
                key=key,
                hook=hook,
                section=h.get("section", ""),
                status=status,
                score=sum(c["score"] for c in cells),
                max_score=sum(c["max_score"] for c in cells),
                visibility=cells[0].get("visibility", h.get("visibility", "visible")),
                description=cells[0].get("description", ""),
                cells=cells,
                not_attempted=bool(ran) and all(c.get("not_attempted") for c in ran),
            )


def all_visible(result: dict) -> bool:
    """Whether every graded check is visible now (else a student-facing total would give away
    what the hidden ones scored: Gradescope hides the total in that case too)."""
    return all(c.visibility == "visible" for c in folded_checks(result))


def total(result: dict) -> float:
    """The grade: ``final_score`` (0 when a required hook did not pass), else ``score``."""
    return float(result.get("final_score", result["score"]))


def percent(result: dict) -> float:
    """The grade as a percentage of the maximum; 0 when nothing was graded (fail closed)."""
    return 100.0 * total(result) / result["max_score"] if result.get("max_score") else 0.0


def points(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.6g}"


# -- Markdown that renders what it says (the markdown and gradescope formats) ----------------------

_PUNCTUATION = re.compile(r"([!-/:-@\[-_{-~])")  # ASCII punctuation but the backtick


def markdown_inline(text: str) -> str:
    """``text`` (sanitized, on one line) as inline Markdown that a renderer shows as written:
    outside code spans every ASCII punctuation character is backslash-escaped (CommonMark
    renders an escaped one literally), so no link, image, autolink, HTML, entity, emphasis or
    block marker can start; code spans (a run of backticks up to the next run of the same
    length, where nothing is interpreted) are kept, and a run of backticks that closes nothing
    is escaped."""
    s = " ".join(sanitize.text(text).split("\n"))
    runs = list(re.finditer("`+", s))
    out, at, i = [], 0, 0
    while i < len(runs):
        opening = runs[i]
        close = next((j for j in range(i + 1, len(runs)) if len(runs[j].group()) == len(opening.group())), None)
        out.append(_PUNCTUATION.sub(r"\\\1", s[at : opening.start()]))
        if close is None:
            out.append("\\`" * len(opening.group()))
            at, i = opening.end(), i + 1
        else:
            out.append(s[opening.start() : runs[close].end()])
            at, i = runs[close].end(), close + 1
    out.append(_PUNCTUATION.sub(r"\\\1", s[at:]))
    return "".join(out)


def markdown_code(text: str) -> str:
    """``text`` (sanitized, on one line) as one code span, whatever backticks it holds."""
    s = sanitize.name(text, 1000)
    ticks = "`" * (max((len(r) for r in re.findall("`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def markdown_fence(text: str, indent: str = "") -> list[str]:
    """``text`` (sanitized) as the lines of a fenced block that no backtick run inside it can
    close, each line indented by ``indent``."""
    text = sanitize.text(text)
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return [f"{indent}{ticks}text", *(f"{indent}{line}" for line in text.split("\n")), f"{indent}{ticks}"]


def all_passed(result: dict) -> bool:
    """Every graded check that ran passed (skipped cells aside), no required hook failed and
    grading finished: exit code 0, Classroom ``pass``."""
    if result.get("grading_error") or result.get("required_failed"):
        return False
    return all(
        h["status"] in ("passed", "skipped") and all(c["status"] in ("passed", "skipped") for c in h.get("checks", []))
        for _, h in graded_hooks(result)
    )


INTEGRITY_TITLE = "Integrity (for the instructor: worth no points by itself)"


def integrity_lines(result: dict, options: ReportOptions) -> list[str]:
    """The result's ``integrity`` entries, one line each, for an instructor audience only (a
    student's report never shows them): what the submission's source reaches for (file and
    line) and the grader code its workers found changed."""
    if options.audience != "instructor":
        return []
    lines = []
    for entry in result.get("integrity") or []:
        if not isinstance(entry, dict):
            continue
        if entry.get("source") == "worker":
            changed = ", ".join(str(x) for x in entry.get("changed") or [])
            line = f"while {entry.get('during', '?')}: {entry.get('what', '')}" + (f" ({changed})" if changed else "")
        else:
            line = f"{entry.get('file', '?')}, line {entry.get('line', '?')}: {entry.get('what', '')} ({entry.get('code', '')})"
        lines.append(sanitize.name(line, 300))
    return lines
