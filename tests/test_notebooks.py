"""Submission forms beyond modules: notebooks (.ipynb) and Markdown notes (.md), alone, mixed in a
directory and as a single file; running their cells in the worker; bad input."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from conftest import ROOT
from nbformat import v4

from grader.cli import main
from grader.testing import Graded
from grader.trusted.notebooks import MAX_NOTEBOOK, Unreadable, notebook_cells, notes_cells, read_cells
from grader.trusted.sources import Sources
from grader.worker.code_cells import SUFFIX, CodeCell
from grader.worker.ipython_syntax import python_source

REFERENCE_MODULES = ["layers_and_blocks", "parameters", "lazy_init", "custom_layers", "file_io", "gpu"]


def write_notebook(path: Path, cells: list) -> Path:
    """``cells``: strings (code) or ``("md", text)``."""
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell(c[1]) if isinstance(c, tuple) else v4.new_code_cell(c) for c in cells]
    path.write_text(nbformat.writes(nb))
    return path


def chunks(source: str) -> list[str]:
    """A module's top-level statements, split before each ``def``/``class`` (comments above one go
    with it), as a learner's cells would hold them."""
    lines = source.splitlines()
    tree = ast.parse(source)
    starts = [0]
    for node in tree.body[1:]:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            while start > 0 and lines[start - 1].startswith("#"):
                start -= 1
            starts.append(start)
    starts.append(len(lines))
    return ["\n".join(lines[a:b]).strip() for a, b in zip(starts, starts[1:]) if "\n".join(lines[a:b]).strip()]


def reference_code(module: str) -> str:
    source = (ROOT / "reference" / f"{module}.py").read_text()
    # In a notebook every hook lives in the one namespace: the registry of load_model_file finds
    # its factories there (in Jupyter as here: ``__name__`` is the notebook's module).
    return re.sub(
        r"def _factory_module\(name\):\n(    .*\n)+",
        "def _factory_module(name):\n    import sys\n\n    return sys.modules[__name__]\n",
        source,
    )


def reference_notebook(path: Path) -> Path:
    """The reference as a learner's notebook: Markdown headings, IPython magics, a shell line, the
    book's ``d2l`` import and a demo that uses it, demo cells, a ``%%time`` cell holding a hook,
    and one failing demo cell."""
    cells: list = [
        ("md", "# Chapter 5, worked"),
        "%matplotlib inline\n!pip install d2l==1.0.3\nimport torch\nfrom torch import nn\nfrom d2l import torch as d2l",
    ]
    for module in REFERENCE_MODULES:
        cells.append(("md", f"## {module}"))
        for chunk in chunks(reference_code(module)):
            if chunk.startswith("def chimera"):
                chunk = "%%time\n" + chunk
            cells.append(chunk)
            if chunk.startswith("def mlp"):
                cells += [
                    "net = mlp()\nX = torch.rand(2, 20)\n%timeit net(X)\nnet(X).shape",
                    "net(torch.rand(2, 19))  # the wrong width: this demo fails",
                    "d2l.plot(torch.arange(3), [torch.arange(3)])\nfiles = !ls\nmlp?",
                ]
    return write_notebook(path, cells)


def full_marks(r) -> bool:
    return r.score == r.max_score > 0 and {h["status"] for h in r["hooks"].values()} <= {"passed", "skipped"}


# -- the reference as a notebook --------------------------------------------------------------------


@pytest.mark.slow
def test_the_reference_as_a_notebook_gets_full_marks_as_a_directory_and_as_a_file(grade, tmp_path):
    nb = reference_notebook(tmp_path / "work.ipynb")
    reference = grade(ROOT / "reference")
    for submission in (tmp_path, nb):
        r = grade(submission)
        assert full_marks(r), {
            n: h["message"] for n, h in r["hooks"].items() if h["status"] not in ("passed", "skipped")
        }
        assert r.score == reference.score and r.max_score == reference.max_score
        warnings = r["warnings"]
        # What was not run, once; d2l, once, with the cells it failed; the failing demo, one line.
        skipped = [w for w in warnings if w.startswith("IPython lines not run")]
        assert len(skipped) == 1 and "`%matplotlib inline` (cell 2, line 1)" in skipped[0]
        assert "`!pip install d2l==1.0.3` (cell 2, line 2)" in skipped[0] and "`files = !ls`" in skipped[0]
        assert "%timeit" not in skipped[0] and "%%time" not in skipped[0]  # their Python ran
        d2l = [w for w in warnings if "`d2l` is not installed" in w]
        assert len(d2l) == 1 and re.search(r"work\.ipynb: cell 2, cell \d+$", d2l[0]), d2l
        raised = [w for w in warnings if w.startswith("cell raised")]
        assert len(raised) == 1 and re.fullmatch(
            r"cell raised: work\.ipynb, cell \d+, line 1: RuntimeError: .*", raised[0]
        )
        assert "mat1 and mat2" in raised[0]


def test_outputs_never_reach_the_worker(tmp_path):
    """The worker's copy holds only the code of the cells: no output, no Markdown, no .ipynb."""
    nb = v4.new_notebook()
    code = v4.new_code_cell("def mlp():\n    return None")
    code.outputs = [v4.new_output("display_data", data={"image/png": "QUJD" * 500_000, "text/plain": "SECRET-OUT"})]
    nb.cells = [v4.new_markdown_cell("PROSE-TEXT"), code]
    (tmp_path / "work.ipynb").write_text(nbformat.writes(nb))
    (tmp_path / "helper.py").write_text("X = 1\n")
    sources = Sources.read(tmp_path, ["mlp"])
    try:
        assert sources.root != tmp_path
        copied = sorted(p.name for p in sources.root.iterdir())
        assert copied == ["helper.py", f"work{SUFFIX}"]
        form = (sources.root / f"work{SUFFIX}").read_text()
        assert len(form) < 1000 and "SECRET-OUT" not in form and "PROSE-TEXT" not in form and "QUJD" not in form
        assert json.loads(form)["cells"] == [
            {"n": 1, "label": "cell 2", "first_line": 1, "source": "def mlp():\n    return None"}
        ]
    finally:
        sources.close()
    assert not sources.root.exists()
    # A directory of modules only is imported where it is, as before.
    plain = Sources.read(ROOT / "reference", ["mlp"])
    assert plain.root == ROOT / "reference"


# -- Markdown notes -----------------------------------------------------------------------------------

NOTES = """\
# My notes on chapter 5

Prose, and a shell block that is not run:

```bash
pip install d2l
```

```python
import torch
from torch import nn
from torch.nn import functional as F
```

The MLP, the book's way:

```python
{mlp}
```

```text
def block1():  # a text fence is not code
    raise SystemExit
```

~~~py
{nest_mlp}
~~~

- in a list:

  ```python
  {my_linear_indented}
  ```

```py
nest_mlp().undefined_attribute  # a demo that fails
```
"""


def _reference_def(module: str, *names: str) -> str:
    source = (ROOT / "reference" / f"{module}.py").read_text()
    tree = ast.parse(source)
    return "\n\n".join(ast.get_source_segment(source, n) for n in tree.body if getattr(n, "name", None) in names)


def notes_text() -> str:
    my_linear = _reference_def("custom_layers", "MyLinear", "my_linear")
    return NOTES.format(
        mlp=_reference_def("layers_and_blocks", "MLP", "mlp"),
        nest_mlp=_reference_def("layers_and_blocks", "NestMLP", "nest_mlp"),
        my_linear_indented=my_linear.replace("\n", "\n  "),
    )


@pytest.mark.slow
def test_markdown_notes_grade_their_three_exercises_and_nothing_else(grade, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text(notes_text())
    for submission in (tmp_path, notes):
        r = grade(submission)
        statuses = {n: h["status"] for n, h in r["hooks"].items()}
        assert {n for n, s in statuses.items() if s == "passed"} == {"mlp", "nest_mlp", "my_linear"}, r.messages()
        assert {s for n, s in statuses.items() if n not in ("mlp", "nest_mlp", "my_linear")} <= {
            "not_attempted",
            "skipped",
        }
        assert statuses["block1"] == "not_attempted"
        line = notes_text().splitlines().index("nest_mlp().undefined_attribute  # a demo that fails") + 1
        assert f"cell raised: notes.md, line {line}: AttributeError: " in "\n".join(r["warnings"])


def test_notes_read_only_python_fences_with_their_file_lines(tmp_path):
    text = "intro\n\n```{.python .input}\nx = 1\n```\n\n```bash\nls\n```\n\n```python3\ny = 2\n\nz = 3\n```\n"
    cells = notes_cells(text.encode(), tmp_path / "n.md")
    assert cells == [CodeCell("x = 1\n", None, 4), CodeCell("y = 2\n\nz = 3\n", None, 12)]


@pytest.mark.slow
def test_a_readme_and_other_documentation_are_not_code(grade, tmp_path):
    (tmp_path / "README.md").write_text("# How to\n\n```python\ndef mlp():\n    raise SystemExit\n```\n")
    (tmp_path / "CHANGELOG.md").write_text("```python\nimport no_such_module\n```\n")
    (tmp_path / "notes.md").write_text(notes_text())
    r = grade(tmp_path, only=["mlp"])
    assert r.status("mlp") == "passed"
    assert not any("no_such_module" in w or "README" in w for w in r["warnings"])
    sources = Sources.read(tmp_path, ["mlp"])
    sources.close()
    assert [f.file for f in sources.files] == ["notes.md"]
    # Given as the submission itself, a README counts.
    r = grade(tmp_path / "README.md", only=["mlp"])
    assert r.status("mlp") == "failed"


# -- the starter notebook ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_starter_notebook_is_not_attempted_then_full_marks_with_the_reference_pasted(grade, tmp_path):
    result = CliRunner().invoke(main, ["init", "--notebook", str(tmp_path / "starter")])
    assert result.exit_code == 0, result.output
    path = tmp_path / "starter" / "work.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    hooks = grade.grader.course.hooks
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == "%load_ext grader"
    headings = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert headings == [f"## {s.title}" for s in grade.grader.course.sections]
    for name, spec in hooks.items():  # per exercise: its task (Markdown), a stub, a %grade cell
        i = next(i for i, c in enumerate(nb.cells) if c.get("id") == f"code-{name}")
        assert nb.cells[i - 1].cell_type == "markdown" and spec.summary in nb.cells[i - 1].source
        assert nb.cells[i].source.startswith(f"def {name}(") and "raise NotImplementedError" in nb.cells[i].source
        assert nb.cells[i + 1].source == f"%grade {name}"

    r = grade(path)
    assert {h["status"] for n, h in r["hooks"].items() if h["checks"]} <= {"not_attempted", "skipped"}
    assert r.score == 0
    assert not any("IPython" in w for w in r["warnings"])  # the %grade cells are expected here

    # The reference's code pasted into the cells: each hook's def into its stub cell, the rest of
    # its module (imports, classes, helpers) into the section's first stub cell.
    for section in grade.grader.course.sections:
        module = section.id
        source = reference_code(module)
        tree = ast.parse(source)
        names = {h.name for h in section.hooks}
        rest = [ast.get_source_segment(source, n) for n in tree.body if getattr(n, "name", None) not in names]
        for k, spec in enumerate(section.hooks):
            cell = next(c for c in nb.cells if c.get("id") == f"code-{spec.name}")
            own = [ast.get_source_segment(source, n) for n in tree.body if getattr(n, "name", None) == spec.name]
            cell.source = "\n\n".join(([s for s in rest if s] if k == 0 else []) + own)
    nbformat.write(nb, path)
    r = grade(path)
    assert full_marks(r), {n: h["message"] for n, h in r["hooks"].items() if h["status"] not in ("passed", "skipped")}


# -- bad input ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_corrupt_notebook_gets_its_error_and_the_rest_is_graded(grade, tmp_path):
    imports = "from torch import nn\nfrom torch.nn import functional as F\n\n"
    (tmp_path / "good.py").write_text(imports + _reference_def("layers_and_blocks", "MLP", "mlp"))
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    (tmp_path / "old.ipynb").write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}))
    (tmp_path / "array.ipynb").write_text("[1, 2]")
    r = grade(tmp_path, only=["mlp", "nest_mlp"])
    assert r.status("mlp") == "passed"
    assert r.status("nest_mlp") == "not_attempted"
    assert "broken.ipynb could not be read" in r.hook("nest_mlp")["message"]
    w = "\n".join(r["warnings"])
    assert "`broken.ipynb` is not a notebook: not JSON (line 1, column 12); it was not graded" in w
    assert "`old.ipynb` is an nbformat 3 notebook; the grader reads nbformat 4" in w
    assert "`array.ipynb` is not a notebook" in w
    # Alone, it is the whole submission: every hook not attempted, the reason said.
    alone = grade(tmp_path / "broken.ipynb", only=["mlp"])
    assert alone.status("mlp") == "not_attempted" and "not JSON" in alone["warnings"][0]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\xff\xfe", "not UTF-8 text"),
        (b"{", "not JSON (line 1, column 2)"),
        (b"[" * 100_000 + b"]" * 100_000, "not a notebook"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 7}', "not a notebook"),
        (b'{"nbformat": "4"}', "not a notebook"),
        (
            b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, '
            b'"outputs": [], "source": {"a": 1}}]}',
            "cell 1's source is not text",
        ),
    ],
)
def test_what_is_not_a_notebook_is_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(Unreadable, match=re.escape(message)) as e:
        read_cells(path)
    assert "`x.ipynb`" in str(e.value)


def test_only_a_regular_file_of_bounded_size_is_read(tmp_path):
    secret = tmp_path / "elsewhere.ipynb"
    write_notebook(secret, ["def mlp():\n    return 'the solution'"])
    (tmp_path / "link.ipynb").symlink_to(secret)
    with pytest.raises(Unreadable, match="symbolic link"):
        read_cells(tmp_path / "link.ipynb")
    os.mkfifo(tmp_path / "pipe.ipynb")  # never waited on
    try:
        with pytest.raises(Unreadable, match="not a regular file"):
            read_cells(tmp_path / "pipe.ipynb")
    finally:  # pytest keeps tmp_path: a pipe left there blocks whatever reads /tmp later
        os.unlink(tmp_path / "pipe.ipynb")
    big = tmp_path / "big.ipynb"
    with big.open("wb") as f:
        f.truncate(MAX_NOTEBOOK + 1)
    with pytest.raises(Unreadable, match="too large to grade.*clear its outputs"):
        read_cells(big)
    # In a directory a linked notebook is not read (nor handed to the worker).
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "work.ipynb").symlink_to(secret)
    sources = Sources.read(sub, ["mlp"])
    sources.close()
    assert [(f.file, f.cells) for f in sources.files] == [("work.ipynb", None)]


def test_notebook_cells_are_labelled_as_the_notebook_shows_them(tmp_path):
    path = write_notebook(tmp_path / "w.ipynb", [("md", "# t"), "a = 1", ("md", "x"), "b = 2"])
    assert notebook_cells(path.read_bytes(), path) == [CodeCell("a = 1", "cell 2"), CodeCell("b = 2", "cell 4")]


# -- in the worker: cells, failures, locations ------------------------------------------------------------


@pytest.mark.slow
def test_a_cell_that_raises_costs_only_what_depends_on_it(grade, tmp_path):
    mlp = _reference_def("layers_and_blocks", "MLP", "mlp")
    write_notebook(
        tmp_path / "work.ipynb",
        [
            "import torch\nfrom torch import nn\nfrom torch.nn import functional as F",
            "broken = undefined_name\n\ndef nest_mlp():\n    return nn.Linear(20, 16)",  # raises before the def
            mlp,
            "def my_sequental(modules):\n    return nn.Sequential(*modules)",
            "def block1():\n    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(),\n        1 / 0)",
        ],
    )
    r = grade(tmp_path, only=["mlp", "nest_mlp", "my_sequential", "block1"])
    assert r.status("mlp") == "passed"
    h = r.hook("nest_mlp")
    assert h["status"] == "error"
    assert h["message"] == (
        "`nest_mlp` is defined in work.ipynb, cell 2, but that cell raised NameError: name 'undefined_name' "
        "is not defined (cell 2, line 1) before defining it"
    )
    assert "did you mean `my_sequential`? (found `my_sequental` in work.ipynb, cell 4)" in r["warnings"]
    # An exception in a hook says where, in the notebook's terms.
    assert all("(work.ipynb, cell 5, line 3)" in m for m in r.messages("block1").values()), r.messages("block1")


@pytest.mark.slow
def test_a_hook_in_a_notebook_and_a_module_is_reported_as_twice_defined(grade, tmp_path):
    (tmp_path / "a.py").write_text("from torch import nn\n\ndef mlp():\n    return nn.Linear(20, 10)\n")
    write_notebook(tmp_path / "a.ipynb", ["from torch import nn\n\ndef mlp():\n    return nn.Linear(20, 10)"])
    r = grade(tmp_path, only=["mlp"])
    assert r.hook("mlp")["status"] == "error"
    assert r.hook("mlp")["message"] == "implemented in `a.py` and `a.ipynb`; keep one"


def test_the_kernel_history_form_is_graded_like_a_notebook(grade):
    """``Sources.from_cells``: what ``%grade`` hands the grader (cells labelled ``In [N]``)."""
    cells = [
        CodeCell("%load_ext grader", "In [1]"),
        CodeCell("from torch import nn", "In [2]"),
        CodeCell("def mlp():\n    return nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))", "In [3]"),
        CodeCell("%grade mlp", "In [4]"),
        CodeCell("def nest_mlp():\n    raise ValueError('not yet')", "In [5]"),
    ]
    r = Graded(grade.grader.grade(Sources.from_cells("kernel", cells), seed=1, only=["mlp", "nest_mlp"]))
    assert r.status("mlp") == "failed"  # nn.Sequential's names are not the contract's
    assert all("(kernel, In [5], line 2)" in m for m in r.messages("nest_mlp").values())
    assert r["warnings"] == []


# -- IPython syntax ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell,code,skipped",
    [
        ("x = 1\ny = 2", "x = 1\ny = 2", []),
        ("%matplotlib inline\nimport torch", "pass\nimport torch", [(1, "%matplotlib inline")]),
        ("!pip install d2l \\\n  --quiet\nx = 1", "pass\n\nx = 1", [(1, "!pip install d2l \\")]),
        ("files = !ls\nnet?\n??net", "pass\npass\npass", [(1, "files = !ls"), (2, "net?"), (3, "??net")]),
        ("for i in range(2):\n    %time f(i)\n    !echo", "for i in range(2):\n    f(i)\n    pass", [(3, "!echo")]),
        ("%timeit -n 3 -r 1 f()", "f()", []),
        ('s = """\n!not a shell line\n"""\n%ls', 's = """\n!not a shell line\n"""\npass', [(4, "%ls")]),
        ("x = (1\n!= 2)", "x = (1\n!= 2)", []),
        ("%%time\ndef f():\n    pass", "\ndef f():\n    pass", []),
        ("\n%%capture out\nx = 1", "\n\nx = 1", []),
        ("%%bash\necho hi", None, [(1, "%%bash")]),
        ("%%writefile a.py\nx = 1", None, [(1, "%%writefile a.py")]),
        ("%%tab pytorch, mxnet\nimport torch", "\nimport torch", []),
        ("%%tab mxnet\nfrom mxnet import np", None, [(1, "%%tab mxnet")]),
        ("def f(:\n    pass\n%ls", "def f(:\n    pass\npass", [(3, "%ls")]),  # a real error stays
    ],
)
def test_ipython_syntax_is_never_run_and_line_numbers_stay(cell, code, skipped):
    assert python_source(cell) == (code, skipped)


@pytest.mark.slow
def test_cells_run_as_python_would_run_them(grade, tmp_path):
    """No future flag of the grader's reaches a cell (annotations stay evaluated), ``display`` is
    there as in Jupyter, and a cell's name space is the notebook's module."""
    write_notebook(
        tmp_path / "work.ipynb",
        [
            "from torch import nn\n\ndef mlp() -> nn.Module:\n    return Net()",
            "display(mlp)",
            "class Net(nn.Sequential):\n    pass\n\nassert not isinstance(mlp.__annotations__['return'], str)"
            "\nassert __name__ == Net.__module__ == 'work'",
        ],
    )
    r = grade(tmp_path, only=["mlp"])
    assert not any(w.startswith("cell raised") for w in r["warnings"]), r["warnings"]
