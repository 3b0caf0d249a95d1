"""IPython syntax in a code cell: what of it is Python, and what is never run.

A notebook's cells are IPython, not Python: line magics (``%matplotlib inline``), shell lines
(``!pip install d2l``), help (``obj?``), assignments from them (``files = !ls``) and cell magics
(``%%bash``). None of them is ever executed. Where a magic's argument is Python (``%time stmt``,
``%%time`` and the like, and the d2l book's ``%%tab pytorch``), that Python runs.

Only the lines Python itself refuses are treated as IPython: the cell is parsed, and a line is
replaced only where the parser stops on it and it has IPython's form, so a ``!`` or ``%`` inside
a string is never touched. Every replaced line becomes ``pass`` at its own indentation (or a
blank line), so the cell keeps its line numbers and its blocks stay valid.

Standard library only: both sides use it (the trusted side to read a notebook's definitions
without running it, the worker to run its cells).
"""

from __future__ import annotations

import ast
import re

# Cell magics whose body is Python that IPython runs (once here: ``%%timeit``'s repetitions and
# ``%%capture``'s capture are not reproduced).
PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit"})
# Line magics whose argument is a Python statement (after options): the statement runs.
PYTHON_BODY_LINE_MAGICS = frozenset({"time", "timeit", "prun", "debug", "memit"})
# Options of those that take a value (``%timeit -n 10 -r 3 f()``).
VALUE_OPTIONS = frozenset({"-n", "-r", "-p", "-l", "-s", "-T", "-D"})
# The d2l book's ``%%tab FRAMEWORKS`` marks code for some frameworks: its body runs for these.
TAB_RUNS = frozenset({"pytorch", "all"})

# Finding IPython lines costs a parse of the cell per line found: at most PARSE_BUDGET characters
# parsed for one file (``Budget``), after which every line of IPython's form is replaced at once.
# Reading a hostile notebook so costs the trusted process about a second of CPU at most.
PARSE_BUDGET = 1 << 20


class Budget:
    """What is left of one file's parse budget; both sides spend it the same way, cell by cell,
    so the trusted side reads exactly the code the worker runs."""

    def __init__(self, chars: int = PARSE_BUDGET):
        self.left = chars


_MAGIC = re.compile(r"^(\s*)(%%?[A-Za-z_]\w*|!)")
_ASSIGN = re.compile(r"^(\s*)[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[%!]")
_HELP = re.compile(r"^(\s*)(\?{1,2}[A-Za-z_][\w.]*|[A-Za-z_][\w.]*\?{1,2})\s*$")
_LINE_MAGIC = re.compile(r"^(\s*)%([A-Za-z_]\w*)(\s+(.*))?$")


def ipython_line(line: str) -> bool:
    """Whether ``line`` has the form of an IPython-only line (magic, shell, help, assignment
    from a magic or the shell)."""
    return bool(_MAGIC.match(line) or _ASSIGN.match(line) or _HELP.match(line))


def _statement(args: str) -> str:
    """A Python-body line magic's statement: its arguments less the leading options."""
    words = args.split(" ")
    i = 0
    while i < len(words) and (words[i].startswith("-") or not words[i]):
        i += 2 if words[i] in VALUE_OPTIONS else 1
    return " ".join(words[i:])


def _replacement(line: str) -> str:
    """What an IPython line becomes: its Python statement for ``%time stmt`` and the like, else
    ``pass`` at its indentation."""
    m = _LINE_MAGIC.match(line)
    if m and m.group(2) in PYTHON_BODY_LINE_MAGICS:
        statement = _statement((m.group(4) or "").strip())
        if statement:
            return m.group(1) + statement
    return _MAGIC.match(line).group(1) if _MAGIC.match(line) else re.match(r"\s*", line).group(0)  # type: ignore[union-attr]


def _skip_line(lines: list[str], i: int, skipped: list[tuple[int, str]]) -> None:
    """Replace the IPython line at ``i`` (and its ``\\`` continuation lines), recording it
    unless its Python statement runs instead."""
    text = lines[i]
    lines[i] = _replacement(text)
    if lines[i].strip() == "":
        lines[i] = lines[i] + "pass"
        skipped.append((i + 1, text.strip()))
    j = i
    while text.rstrip().endswith("\\") and j + 1 < len(lines):
        j += 1
        text = lines[j]
        lines[j] = ""


def python_source(cell: str, budget: Budget | None = None) -> tuple[str | None, list[tuple[int, str]]]:
    """The Python that a cell runs, with its line numbers unchanged, and the IPython lines left
    out as ``(line, text)`` (a magic whose Python runs is not among them). The source is None
    when nothing of the cell runs (a cell magic whose body is not Python, such as ``%%bash``).
    Lines end at ``\n``, ``\r\n`` or ``\r``, as Python's own. A cell that is not valid Python for another reason
    comes back with that error in it (running it raises the SyntaxError). ``budget``: the file's
    (a fresh one when None)."""
    budget = budget if budget is not None else Budget()
    lines = re.split(r"\r\n|\r|\n", cell)
    skipped: list[tuple[int, str]] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        m = re.match(r"%%(\w+)\s*(.*)", lines[first])
        name, args = (m.group(1), m.group(2)) if m else ("", "")
        runs = name in PYTHON_BODY_CELL_MAGICS or (
            name == "tab" and bool(TAB_RUNS & {w.strip().lower() for w in args.split(",")})
        )
        if not runs:
            return None, [(first + 1, lines[first].strip())]
        lines[first] = ""
    if not any(line and ipython_line(line) for line in lines):
        return "\n".join(lines), []  # nothing of IPython's form: Python (or a plain syntax error)
    source = "\n".join(lines)
    while budget.left > 0:
        budget.left -= len(source) + 1
        try:
            ast.parse(source)
            return source, sorted(skipped)
        except SyntaxError as e:
            i = (e.lineno or 0) - 1
            if not (0 <= i < len(lines)) or not ipython_line(lines[i]) or lines[i] == "":
                break
            _skip_line(lines, i, skipped)
            source = "\n".join(lines)
        except (ValueError, RecursionError, MemoryError):
            break
    # The parser stopped elsewhere (a real syntax error), or the budget is spent: replace every
    # line of IPython's form, and let what remains raise when run.
    for i, line in enumerate(lines):
        if line and ipython_line(line):
            _skip_line(lines, i, skipped)
    return "\n".join(lines), sorted(skipped)
