"""Every hook is documented and exercised by a test; the author kit is documented.

The rules (also listed at the end of docs/plugin-authors.md):

Harness hooks (``grader/hookspecs.py``), each one:

1. has a docstring in the pytest style: a summary line, a ``:param <arg>:`` line for every
   argument, and a ``:return:`` line unless the hook is annotated ``-> None``;
2. has a heading in ``docs/plugin-authors.md`` with its signature, ``grader_x(arg, ...)``;
3. is exercised by a test: some ``tests/test_*.py`` has a function named ``test_hook_<hook>``
   (or ``test_hook_<hook>_<more>``) whose code names a fixture plugin that implements the hook:
   a file ``tests/plugins/<name>.py`` defining ``<hook>``, named as ``"<name>.py"``, or a
   package under ``examples/*/src/`` defining it, named by the package's name. Module-level
   constants the test uses count with their definitions. A ``test_hook_grader_*`` test that
   names no harness hook is an error (a renamed hook leaves no stale test behind).

Exercise hooks (the chapter's and the example plugin's), each one:

4. has a task statement: a docstring of at least 80 characters whose summary line has at
   least 20;
5. is the target of at least one check, and every check has a docstring (its description in
   reports). That every check also fails on some one-bug fixture is ``tests/test_checks.py``'s
   rule for the chapter and the example's own tests' rule for the example.

The kit:

6. every name in ``grader.kit.__all__`` appears in backticks in ``docs/plugin-authors.md``, and
   every public function and class defined in ``grader.kit`` has a docstring.

The README and the documents (``README.md``, ``CHANGELOG.md``, ``docs/``, ``benchmarks/README.md``
and the READMEs under ``examples/`` and ``tests/``):

7. the README is a doorway: at most 250 lines;
8. every relative link resolves: its file exists, and its ``#anchor`` names a heading there;
9. every Python example in the README, ``docs/`` and ``benchmarks/README.md`` parses, imports or
   defines every name it uses, and imports from ``grader`` only names that exist (from
   ``grader.kit``, only names of ``__all__``);
10. every ``grader ...`` command in them names an existing subcommand and only its options;
11. the README's example report is a shortened real run: its lines appear, in order, in the
    report of the command it shows; and its check example grades (the example plugin's correct
    submission passes it, a one-bug one fails it).
12. ``docs/architecture.md``'s module map names every module and package of ``grader/``, and
    nothing that does not exist: a row's first cell is a path, then names of its siblings.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import grader.kit
from grader import hookspecs
from grader.plugins import get_plugin_manager
from grader.trusted.course import load_course
from grader.trusted.inventory import collect_checks

TESTS = ROOT / "tests"
DOC = ROOT / "docs" / "plugin-authors.md"
EXAMPLE = ROOT / "examples" / "layernorm_plugin" / "src" / "grader_layernorm"


def harness_hooks() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in vars(hookspecs).items()
        if callable(fn) and getattr(fn, "grader_spec", None) is not None
    }


HOOKS = harness_hooks()


def test_there_are_harness_hooks_to_check():
    assert {
        "grader_exercises",
        "grader_reference",
        "grader_checks",
        "grader_tolerance",
        "grader_points",
        "grader_visibility",
        "grader_report_formats",
        "grader_result",
    } <= set(HOOKS)


# -- 1 and 2: harness hooks are documented -------------------------------------------------------


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_harness_hook_docstring_is_a_contract(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    lines = doc.splitlines()
    assert lines and lines[0].strip(), f"{hook} has no summary line"
    sig = HOOKS[hook]
    for arg in sig.parameters:
        assert re.search(rf"^:param {arg}:", doc, re.M), f"{hook}: no `:param {arg}:` line"
    documented = set(re.findall(r"^:param (\w+):", doc, re.M))
    assert documented <= set(sig.parameters), (
        f"{hook} documents arguments it does not take: {documented - set(sig.parameters)}"
    )
    if sig.return_annotation not in (None, "None"):
        assert re.search(r"^:return:", doc, re.M), f"{hook}: no `:return:` line"


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_harness_hook_has_a_heading_in_the_plugin_authors_guide(hook):
    signature = f"{hook}({', '.join(HOOKS[hook].parameters)})"
    headings = [line for line in DOC.read_text().splitlines() if line.startswith("#")]
    assert any(signature in h for h in headings), f"docs/plugin-authors.md has no heading with `{signature}`"


# -- 3: harness hooks are exercised by a test naming a plugin that implements them ---------------


def _defined_functions(path: Path) -> set[str]:
    return {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}


def implementers() -> dict[str, set[str]]:
    """hook -> the tokens a test uses to name a plugin implementing it."""
    out: dict[str, set[str]] = {}
    for path in sorted((TESTS / "plugins").glob("*.py")):
        for name in _defined_functions(path) & set(HOOKS):
            out.setdefault(name, set()).add(path.name)
    for package in sorted(p for p in (ROOT / "examples").glob("*/src/*") if (p / "__init__.py").is_file()):
        for path in package.rglob("*.py"):
            for name in _defined_functions(path) & set(HOOKS):
                out.setdefault(name, set()).add(package.name)
    return out


def hook_tests() -> dict[str, list[tuple[str, str]]]:
    """hook -> [(test id, the test's code with the module constants it uses)]."""
    out: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(TESTS.glob("test_*.py")):
        source = path.read_text()
        tree = ast.parse(source)
        constants = {}
        for node in tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = ast.get_source_segment(source, node) or ""
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_grader_")):
                continue
            rest = node.name.removeprefix("test_hook_")
            matches = [h for h in HOOKS if rest == h or rest.startswith(h + "_")]
            hook = max(matches, key=len) if matches else rest
            code = "\n".join(ast.get_source_segment(source, stmt) or "" for stmt in node.body)
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            code += "\n" + "\n".join(constants[n] for n in sorted(used & set(constants)))
            out.setdefault(hook, []).append((f"{path.name}::{node.name}", code))
    return out


IMPLEMENTERS = implementers()
HOOK_TESTS = hook_tests()


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_harness_hook_is_exercised_by_a_test_with_a_plugin_implementing_it(hook):
    tokens = IMPLEMENTERS.get(hook, set())
    assert tokens, f"no fixture plugin in tests/plugins/ (nor the example) implements {hook}"
    tests = HOOK_TESTS.get(hook, [])
    assert tests, f"no test named test_hook_{hook}[_...] in tests/"
    assert any(any(t in code for t in tokens) for _, code in tests), (
        f"none of {[tid for tid, _ in tests]} names a plugin implementing {hook} ({sorted(tokens)})"
    )


def test_every_hook_test_names_an_existing_hook():
    stale = {tid for hook, tests in HOOK_TESTS.items() if hook not in HOOKS for tid, _ in tests}
    assert not stale, f"test_hook_* tests for hooks that do not exist: {sorted(stale)}"


# -- 4 and 5: exercise hooks -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def courses(request):
    """The chapter alone, and the example plugin alone (entry points off: only its own hooks)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADER_DISABLE_PLUGINS", "1")
    try:
        out = {}
        for name, plugin in (("d2l_ch5", "grader.exercises.d2l_ch5"), ("layernorm", str(EXAMPLE))):
            course = load_course(get_plugin_manager([plugin]))
            metas, errors = collect_checks(course)
            assert not errors, errors
            out[name] = (course, metas)
        return out
    finally:
        mp.undo()


@pytest.mark.parametrize("which", ["d2l_ch5", "layernorm"])
def test_every_exercise_hook_has_a_task_statement(courses, which):
    course, _ = courses[which]
    assert course.hooks
    bad = {
        name: spec.doc for name, spec in course.hooks.items() if len(spec.doc) < 80 or len(spec.summary.strip()) < 20
    }
    assert not bad, f"exercise hooks without a task statement: {bad}"


@pytest.mark.parametrize("which", ["d2l_ch5", "layernorm"])
def test_every_exercise_hook_is_exercised_by_documented_checks(courses, which):
    course, metas = courses[which]
    without = set(course.hooks) - {m.hook for m in metas}
    assert not without, f"exercise hooks without a check: {sorted(without)}"
    undocumented = sorted({m.key for m in metas if not m.doc})
    assert not undocumented, f"checks without a docstring: {undocumented}"


# -- 6: the kit ------------------------------------------------------------------------------------


def test_every_public_kit_name_is_documented_in_the_guide():
    text = DOC.read_text()
    missing = [name for name in grader.kit.__all__ if not re.search(rf"`{re.escape(name)}[`(.]", text)]
    assert not missing, f"grader.kit names missing from docs/plugin-authors.md: {missing}"


def _documented(obj) -> bool:
    doc = (obj.__doc__ or "").strip()
    # A dataclass without a docstring gets its signature as __doc__: that documents nothing.
    return bool(doc) and not (inspect.isclass(obj) and doc.startswith(obj.__name__ + "("))


def test_kit_functions_and_classes_have_docstrings():
    missing = [
        name
        for name, obj in vars(grader.kit).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == "grader.kit"
        and not _documented(obj)
    ]
    assert not missing, f"grader.kit functions or classes without a docstring: {missing}"


# -- 7 to 11: the README and the documents ---------------------------------------------------------

README = ROOT / "README.md"
DOCUMENTS = sorted(
    {
        README,
        ROOT / "CHANGELOG.md",
        ROOT / "benchmarks" / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "examples").rglob("README.md"),
        *(ROOT / "tests").rglob("README.md"),
    }
)
# Where examples must be complete: the README, docs/ and the benchmarks' README. (The example
# plugin's README quotes excerpts of its files.)
EXAMPLES = [README, ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _fenced(path: Path, lang: str | None = None) -> list[tuple[int, str]]:
    """(line number, code) of each fenced block (of one language), indentation removed."""
    text = path.read_text()
    out = []
    for m in FENCE.finditer(text):
        if lang is None or m.group(2) == lang:
            code = "\n".join(line[len(m.group(1)) :] for line in m.group(3).splitlines())
            out.append((text[: m.start()].count("\n") + 1, code))
    return out


def _prose(path: Path) -> str:
    """The text outside fenced blocks and inline code."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", path.read_text()))


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_the_readme_is_a_doorway():
    lines = len(README.read_text().splitlines())
    assert lines <= 250, f"README.md has {lines} lines (at most 250: details belong in docs/)"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_rel)
def test_relative_links_resolve(doc):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(doc)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (path.suffix != ".md" or anchor not in _anchors(path)):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{_rel(doc)}: broken links: {broken}"


def _python_examples():
    return [
        pytest.param(doc, line, code, id=f"{_rel(doc)}:{line}")
        for doc in EXAMPLES
        for line, code in _fenced(doc, "python")
    ]


@pytest.mark.parametrize("doc, line, code", _python_examples())
def test_python_examples_import_what_they_use(doc, line, code):
    tree = ast.parse(code, f"{_rel(doc)}:{line}")
    bound, used, missing = set(dir(builtins)), set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "grader":
                module = importlib.import_module(node.module)
                public = getattr(module, "__all__", None) if node.module == "grader.kit" else None
                for alias in node.names:
                    if not hasattr(module, alias.name) or (public is not None and alias.name not in public):
                        missing.append(f"{node.module}.{alias.name}")
    assert not used - bound, (
        f"{_rel(doc)}:{line}: the example uses names it neither imports nor defines: {sorted(used - bound)}"
    )
    assert not missing, f"{_rel(doc)}:{line}: imports names grader does not export: {missing}"


def _commands(doc: Path) -> list[str]:
    """Every ``grader SUBCOMMAND ...`` in a document: lines of fenced blocks (``$ `` prompts and
    backslash continuations allowed) and inline code."""
    out = []
    for _, code in _fenced(doc):
        for line in code.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("grader "):
                out.append(line)
    out += re.findall(r"`(grader [^`\n]+)`", FENCE.sub("", doc.read_text()))
    return [c for c in out if re.match(r"grader [a-z]", c)]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_rel)
def test_grader_commands_in_the_documents_exist(doc):
    import click

    from grader.cli import main

    wrong = []
    for command in _commands(doc):
        words = shlex.split(re.split(r"\s(?:\|\|?|&&|;)\s", command)[0], comments=True)
        cmd, path = main, ["grader"]
        for word in words[1:]:
            if isinstance(cmd, click.Group) and not word.startswith("-"):
                if word not in cmd.commands:
                    wrong.append(f"`{command}`: {' '.join(path)} has no subcommand {word!r}")
                    break
                cmd, path = cmd.commands[word], [*path, word]
            elif word.startswith("-") and word != "-":
                options = {"--help", "-h"} | {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
                if word.split("=")[0] not in options:
                    wrong.append(f"`{command}`: {' '.join(path)} has no option {word}")
    assert not wrong, f"{_rel(doc)}: {wrong}"


GRADER = [sys.executable, "-c", "from grader.cli import main; main()"]


@pytest.mark.slow
def test_the_readmes_example_report_is_a_shortened_real_run():
    """Every line of the README's example report (``…`` marks a cut) appears, in order, in the
    report of the command it shows."""
    shown = next(code for _, code in _fenced(README, "") if code.startswith("$ grader run examples/submission"))
    command, *lines = shown.splitlines()
    p = subprocess.run(
        [*GRADER, *shlex.split(command.removeprefix("$ grader "))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert p.returncode == 1, p.stderr
    real = iter(line.rstrip() for line in p.stdout.splitlines())
    for line in (line.rstrip() for line in lines):
        if line != "…":
            assert any(r == line for r in real), f"not in the real report (in this order): {line!r}\n{p.stdout}"


@pytest.mark.slow
def test_the_readmes_check_example_grades(tmp_path, grade_with, monkeypatch):
    """The README's check module, on the example plugin's exercise: its correct submission passes
    both checks; one whose statistics are detached fails only the gradients."""
    check = next(code for _, code in _fenced(README, "python") if "def test_outputs" in code)
    (tmp_path / "readme_checks.py").write_text(check)
    plugin = tmp_path / "readme_check_plugin.py"
    plugin.write_text(
        "from pathlib import Path\n"
        "from grader_layernorm import spec\n"
        "from grader_layernorm.reference import layer_norm\n\n\n"
        "def grader_exercises():\n    return [spec]\n\n\n"
        "def grader_reference():\n    return [layer_norm]\n\n\n"
        "def grader_checks():\n    return [str(Path(__file__).with_name('readme_checks.py'))]\n"
    )
    monkeypatch.syspath_prepend(str(EXAMPLE.parent))
    monkeypatch.setenv("GRADER_DISABLE_PLUGINS", "1")
    grade = grade_with(plugin)
    submissions = EXAMPLE.parent.parent / "submissions"
    good = grade(submissions / "correct", seed=3)
    assert good.passed("layer_norm") == {"layer_norm/outputs", "layer_norm/gradients"}, good.messages()
    assert good.all_passed("layer_norm")
    bad = grade(submissions / "bugs" / "detached_statistics", seed=3)
    assert bad.failed("layer_norm") == {"layer_norm/gradients"}, bad.messages()


WALKTHROUGH = ROOT / "docs" / "walkthrough.md"


@pytest.mark.slow
def test_the_walkthrough_runs_as_written(tmp_path):
    """Every ``bash`` block of docs/walkthrough.md, in order, in an empty folder (``set -e``):
    from the example plugin and an assignment file to a Gradescope zip and a Classroom template
    repository. Then what it made is what the page says."""
    import zipfile

    script = "\n".join(code for _, code in _fenced(WALKTHROUGH, "bash"))
    assert "grader gradescope build" in script and "grader classroom workflow" in script
    p = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={
            **os.environ,
            "GRADER_REPO": str(ROOT),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "NO_COLOR": "1",
        },
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Score: 10/10 (100.0%)" in p.stdout  # the references of both sources, full marks
    assert p.stdout.count("Score: 0/10 (0.0%)") == 2  # the starter, and the template's stubs
    assert sorted(f.name for f in (tmp_path / "starter").iterdir()) == ["layer_norm.py", "layers_and_blocks.py"]
    with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
        names = set(z.namelist())
    assert {"setup.sh", "run_autograder", "assignment.toml", "grader_layernorm/checks/test_layer_norm.py"} <= names
    template = tmp_path / "template"
    assert (template / "grading" / "grader_layernorm" / "spec.py").is_file()
    assert {f.name for f in template.glob("*.py")} == {"layer_norm.py", "layers_and_blocks.py"}
    workflow = (template / ".github" / "workflows" / "classroom.yml").read_text()
    assert "grader run . --assignment grading/assignment.toml" in workflow


BATCH_NORM = ROOT / "tests" / "plugins" / "batch_norm_exercise"
BATCH_NORM_SUBMISSIONS = ROOT / "tests" / "submissions" / "batch_norm"


@pytest.mark.slow
def test_the_guides_running_statistics_example_grades(tmp_path, grade_with, monkeypatch):
    """The plugin guide's train/eval check module, on a batch normalization exercise: a correct
    submission passes every check; three one-bug submissions each fail only the check of their
    bug (training outputs, running statistics, evaluation mode), and every check is failed by one."""
    from grader.testing import one_bug_fixtures, one_bug_problems

    check = next(code for _, code in _fenced(DOC, "python") if "def test_running_statistics" in code)
    (tmp_path / "guide_batch_norm_checks.py").write_text(check)
    plugin = tmp_path / "guide_batch_norm_plugin.py"
    plugin.write_text(
        "from pathlib import Path\n"
        "from batch_norm_exercise import reference, spec\n\n\n"
        "def grader_exercises():\n    return [spec]\n\n\n"
        "def grader_reference():\n    return [reference]\n\n\n"
        "def grader_checks():\n    return [str(Path(__file__).with_name('guide_batch_norm_checks.py'))]\n"
    )
    monkeypatch.syspath_prepend(str(BATCH_NORM.parent))
    monkeypatch.setenv("GRADER_DISABLE_PLUGINS", "1")
    grade = grade_with(plugin)
    good = grade(BATCH_NORM_SUBMISSIONS / "correct", seed=5)
    assert good.passed("batch_norm") == {
        "batch_norm/training_outputs",
        "batch_norm/running_statistics",
        "batch_norm/evaluation",
    }, good.messages()
    assert good.score == good.max_score == 3
    bugs = one_bug_fixtures(BATCH_NORM_SUBMISSIONS / "bugs")
    for bug in bugs:
        assert one_bug_problems(grade(bug.path, only=bug.only, seed=5), bug) == []
    assert set().union(*(b.fails for b in bugs)) == good.passed("batch_norm")


def _module_map() -> set[str]:
    """The paths the module map of docs/architecture.md names (rule 12)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    for line in section.splitlines():
        if not line.replace("**", "").startswith("| `grader"):
            continue
        tokens = [t.rstrip("/").removesuffix("/__init__.py") for t in re.findall(r"`([^`]+)`", line.split("|")[1])]
        named.add(tokens[0])
        parent = tokens[0].rsplit("/", 1)[0]
        named.update(f"{parent}/{t}" for t in tokens[1:])
    return named


def test_the_module_map_names_every_module():
    named = _module_map()
    actual = set()
    for path in (ROOT / "grader").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        actual.add(rel.removesuffix("/__init__.py") if rel.endswith("/__init__.py") else rel)
    actual.add("grader/schemas")
    missing = sorted(p for p in actual - named if not p.endswith("/__main__.py"))
    assert not missing, f"docs/architecture.md's module map lacks {missing}"
    stale = sorted(p for p in named - actual if not (ROOT / p).exists())
    assert not stale, f"docs/architecture.md's module map names what does not exist: {stale}"
