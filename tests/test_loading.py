"""Submission loading: every error kind is reported per hook, and the rest is still graded."""

import jsonschema

from grader import schemas
from grader.reports import ReportOptions
from grader.reports.text import render
from grader.trusted.sources import MAX_CODE, Sources

HOOKS = ["mlp", "nest_mlp", "fixed_hidden_mlp", "chimera", "block1", "my_sequential", "lazy_mlp"]


def test_each_loading_problem_is_reported_on_its_hook(grade, submissions):
    r = grade(submissions / "loading" / "mixed", only=HOOKS)
    # Correct hooks in the same submission are graded normally, one from a sub-package
    # and renamed with grader.hookimpl(specname=...).
    assert r.status("nest_mlp") == "passed"
    assert r.status("mlp") == "passed"

    h = r.hook("fixed_hidden_mlp")
    assert h["status"] == "error"
    assert "broken.py" in h["message"] and "NameError" in h["message"] and "line 8" in h["message"]

    h = r.hook("chimera")
    assert h["status"] == "error"
    assert (
        "wrong number of arguments" in h["message"]
        and "chimera(depth)" in h["message"]
        and "expected chimera()" in h["message"]
    )

    h = r.hook("block1")
    assert h["status"] == "error"
    assert "dup_a.py" in h["message"] and "dup_b.py" in h["message"]

    assert r.status("my_sequential") == "not_attempted"
    assert "did you mean `my_sequential`" in r.hook("my_sequential")["message"]
    assert any("did you mean `my_sequential`? (found `my_sequental` in good.py)" in w for w in r["warnings"])

    h = r.hook("lazy_mlp")
    assert h["status"] == "not_attempted"
    assert "NotImplementedError" in h["message"]


def test_private_names_are_never_hooks(grade, submissions):
    r = grade(submissions / "loading" / "mixed", only=["block1"])
    assert "_block1" not in str(r["warnings"])


def test_hooks_not_defined_anywhere_are_not_attempted(grade, submissions):
    r = grade(submissions / "loading" / "mixed", only=["replicate"])
    h = r.hook("replicate")
    assert h["status"] == "not_attempted"
    assert h["score"] == 0


def test_a_submission_whose_files_are_one_folder_down_is_told_so(grade, submissions, tmp_path):
    nothing = "no Python module, notebook or notes at the top level"
    r = grade(submissions / "loading" / "nested", only=["mlp"])
    assert r.status("mlp") == "not_attempted"
    assert nothing in r["warnings"][0]
    assert "one folder down, in `hw/`" in r["warnings"][0]
    assert (
        grade(submissions / "loading" / "nested" / "hw", only=["mlp"]).status("mlp") == "passed"
    )  # the folder, graded
    # An empty submission is told only the first half; one with modules, nothing of it.
    empty = tmp_path / "empty"
    empty.mkdir()
    told = grade(empty, only=["mlp"])["warnings"][0]
    assert nothing in told and "folder down" not in told
    assert not any(nothing in w for w in grade(submissions / "loading" / "mixed", only=["mlp"])["warnings"])
    # A notebook one folder down is found too.
    (tmp_path / "zipped" / "hw").mkdir(parents=True)
    (tmp_path / "zipped" / "hw" / "work.ipynb").write_text("{}")
    assert "one folder down, in `hw/`" in grade(tmp_path / "zipped", only=["mlp"])["warnings"][0]


def test_a_syntax_error_is_shown_atop_the_report_and_its_hooks_are_errors(grade, submissions):
    """As Python and pytest show one: the file, the line, the offending line and a caret. The
    hooks defined in the file (read from its text, which does not parse) are errors, not "not
    attempted", and draw no "did you mean"; so are those of a module importing a file that does
    not parse; a correct module beside them is graded as usual."""
    r = grade(submissions / "loading" / "syntax", only=["mlp", "nest_mlp", "block1", "block2"])
    jsonschema.validate(r.result, schemas.load("json"))
    for hook in ("mlp", "nest_mlp"):
        assert r.status(hook) == "error", r.hook(hook)
        assert "`layers.py` failed to import: SyntaxError: expected ':' (layers.py, line 16)" == r.hook(hook)["message"]
    assert r.status("block1") == "error" and "lib/shapes.py, line 1" in r.hook("block1")["message"]
    assert r.status("block2") == "passed"
    assert not any("did you mean" in w for w in r["warnings"]), r["warnings"]
    errors = {e["file"]: e for e in r["syntax_errors"]}
    assert errors["layers.py"] == {
        "type": "SyntaxError",
        "message": "expected ':'",
        "file": "layers.py",
        "line": 16,
        "column": 10,
        "code": "def mlp()",
        "caret": "         ^",
    }
    assert errors["lib/shapes.py"]["message"] == "'(' was never closed"
    top = render(r.result, ReportOptions()).split("\n\n")[0].splitlines()
    assert top[2:7] == [
        "error: layers.py does not parse: no hook in it, or in a module importing it, can be graded",
        '  File "layers.py", line 16',
        "    def mlp()",
        "             ^",
        "SyntaxError: expected ':'",
    ]
    assert '  File "lib/shapes.py", line 1' in top


def test_reading_files_that_do_not_parse(tmp_path):
    """The tolerant reading finds top-level definitions only; a long offending line is cut
    around its caret; an indentation error keeps its own type."""
    (tmp_path / "a.py").write_text(
        "import torch\n\ndef mlp(:\n    def inner(): pass\nclass Net(nn.Module):\n    pass\nasync  def later ():\n"
    )
    (tmp_path / "b.py").write_text("x = [" + "1, " * 400 + "2 3]\n")
    (tmp_path / "c.py").write_text("def f():\nreturn 1\n")
    sources = Sources.read(tmp_path)
    assert sources.static["a"] == ["mlp", "Net", "later"]
    errors = {e["file"]: e for e in sources.syntax_errors}
    assert set(errors) == {"a.py", "b.py", "c.py"}
    long = errors["b.py"]
    assert len(long["code"]) <= MAX_CODE and long["code"][long["caret"].index("^")] == "2"
    assert errors["c.py"]["type"] == "IndentationError" and errors["c.py"]["line"] == 2
