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
"""

from __future__ import annotations

import ast
import inspect
import re
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
