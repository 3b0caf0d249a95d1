"""The author kit is the whole check-author API: the chapter and the examples import nothing of
the grader but ``grader.kit`` and ``grader.testing``; every name the kit exports exists and is
documented; ``case_fixture`` builds a case once per run and cell, seeded, as it says."""

from __future__ import annotations

import ast
import inspect
import re
import sys
import types
from pathlib import Path

import pytest
import torch
from conftest import ROOT

import grader.kit
from grader.kit import case_fixture

ALLOWED = ("grader.kit", "grader.testing")
# The chapter registers the reference that ships beside it (course content, not the harness).
ALLOWED_IN = {"exercises": ALLOWED + ("grader.reference",)}
PLUGIN_TREES = ("exercises", "examples")


def _package_depth(path: Path) -> int:
    """How many packages hold ``path`` (folders with an ``__init__.py`` above it, up to the
    first without): how far its relative imports may climb and stay in its own package."""
    depth, folder = 0, path.parent
    while (folder / "__init__.py").is_file():
        depth, folder = depth + 1, folder.parent
    return depth


def _allowed(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


def grader_imports(source: str, depth: int, allowed: tuple[str, ...] = ALLOWED) -> list[str]:
    """The imports in ``source`` that reach the grader beyond ``allowed``: absolute imports of
    ``grader`` or its modules (``from grader import x`` imports ``grader.x``), relative imports
    that climb out of the module's own package (``depth`` packages hold it), and
    ``importlib.import_module``/``__import__`` of a literal grader module name."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level > depth:
                    bad.append(
                        f"line {node.lineno}: `from {'.' * node.level}{node.module or ''} import ...` leaves its package"
                    )
                continue
            module = node.module or ""
            names = [f"{module}.{a.name}" for a in node.names] if module == "grader" else [module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if (name == "grader" or name.startswith("grader.")) and not _allowed(name, allowed):
                bad.append(f"line {node.lineno}: imports `{name}`")
    return bad


def plugin_modules() -> list[Path]:
    return sorted(p for tree in PLUGIN_TREES for p in (ROOT / tree).rglob("*.py") if "__pycache__" not in p.parts)


def test_there_are_plugin_modules_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in plugin_modules()}
    assert "exercises/d2l_ch5/checks/test_file_io.py" in names
    assert "examples/layernorm_plugin/src/grader_layernorm/checks/test_layer_norm.py" in names
    assert "examples/layernorm_plugin/tests/test_layer_norm_plugin.py" in names


def test_exercises_and_examples_import_only_the_kit_and_testing():
    found = {}
    for path in plugin_modules():
        rel = path.relative_to(ROOT)
        allowed = ALLOWED_IN.get(rel.parts[0], ALLOWED)
        bad = grader_imports(path.read_text(), _package_depth(path), allowed)
        if bad:
            found[rel.as_posix()] = bad
    assert not found, f"import only grader.kit and grader.testing: {found}"


@pytest.mark.parametrize(
    "source, depth, expected",
    [
        ("from grader.kit import fail\nfrom grader.testing import inventory\nimport grader.kit", 3, []),
        ("from ._cases import build_case\nfrom . import _stats\nfrom ...d2l_ch5 import specs", 3, []),
        ("from grader.trusted.discovery import exception_text", 3, ["grader.trusted.discovery"]),
        ("from grader import hookspec", 1, ["grader.hookspec"]),
        ("from grader import kit, plugins", 1, ["grader.plugins"]),
        ("import grader", 1, ["`grader`"]),
        ("import grader.worker.observe as observe", 1, ["grader.worker.observe"]),
        ("from .... import trusted", 3, ["leaves its package"]),
        ("import importlib\nimportlib.import_module('grader.trusted.submission')", 1, ["grader.trusted.submission"]),
        ("import reference\nfrom exercises.d2l_ch5 import specs", 1, []),  # not the grader's
    ],
)
def test_the_import_rule_finds_what_it_should(source, depth, expected):
    bad = grader_imports(source, depth)
    assert len(bad) == len(expected), bad
    for text, want in zip(bad, expected):
        assert want in text


# -- every exported name exists and is documented ----------------------------------------------------


def _documented_constants() -> set[str]:
    """Names in ``grader/kit.py`` assigned right below a ``#:`` comment (the documentation
    comment of a module attribute, as Sphinx's autodoc reads it)."""
    lines = inspect.getsource(grader.kit).splitlines()
    out = set()
    for i, line in enumerate(lines):
        m = re.match(r"(\w+)\s*(?::[^=]*)?=", line)
        if m and i and lines[i - 1].lstrip().startswith("#:"):
            out.add(m.group(1))
    return out


def test_every_kit_export_exists_and_has_a_docstring():
    constants = _documented_constants()
    missing = [name for name in grader.kit.__all__ if not hasattr(grader.kit, name)]
    assert not missing, f"grader.kit.__all__ names what the kit does not have: {missing}"
    undocumented = []
    for name in grader.kit.__all__:
        obj = getattr(grader.kit, name)
        if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj) or callable(obj):
            doc = (inspect.getdoc(obj) or "").strip()
            # A dataclass without a docstring gets its signature as __doc__: that documents nothing.
            if not doc or (inspect.isclass(obj) and doc.startswith(obj.__name__ + "(")):
                undocumented.append(name)
        elif name not in constants:
            undocumented.append(name)
    assert not undocumented, f"grader.kit exports without a docstring (or a `#:` comment): {undocumented}"
    assert len(set(grader.kit.__all__)) == len(grader.kit.__all__)


def test_the_kit_exports_what_plugins_need():
    assert {"hookspec", "hookimpl", "case_fixture", "exception_text", "BadAnswer", "describe_module"} <= set(
        grader.kit.__all__
    )
    from grader import hookimpl, hookspec

    assert grader.kit.hookspec is hookspec and grader.kit.hookimpl is hookimpl


def test_describe_module_describes_like_the_worker():
    net = torch.nn.Sequential(torch.nn.LazyLinear(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    summary = grader.kit.describe_module(net)
    assert {p["name"]: p["lazy"] for p in summary.params} == {
        "0.weight": True,
        "0.bias": True,
        "2.weight": False,
        "2.bias": False,
    }
    assert summary.lazy


def test_hinted_adds_a_hint_only_where_there_is_none():
    with pytest.raises(grader.kit.CheckFailed) as e, grader.kit.hinted("the hint"):
        grader.kit.fail("no hint of its own")
    assert e.value.hint == "the hint"
    with pytest.raises(grader.kit.CheckFailed) as e, grader.kit.hinted("the hint"):
        grader.kit.fail("a message", "its own")
    assert e.value.hint == "its own"


# -- case_fixture ------------------------------------------------------------------------------


CHECKS = '''
import pytest
import torch

from grader.kit import case_fixture

BUILT = []
SEEN = []


@case_fixture
def case(ref, hook, seed, device):
    """The case of one hook and cell."""
    BUILT.append(("case", hook, device))
    return {"ref": ref, "hook": hook, "seed": seed, "device": device, "draw": torch.rand(()).item()}


@case_fixture
def shared(seed):
    BUILT.append(("shared", seed))
    return object()


@pytest.mark.parametrize("device", ["cpu", "cuda:0"])
@pytest.mark.parametrize("hook", ["a", "b"])
def test_one(hook, device, case, shared):
    SEEN.append({"check": "one", "cell": device, "case": case, "shared": shared})


@pytest.mark.parametrize("hook", ["a", "b"])
def test_two(hook, case, shared):
    SEEN.append({"check": "two", "cell": None, "case": case, "shared": shared})


@pytest.mark.hook("m")
def test_marked(case):
    SEEN.append({"check": "marked", "cell": None, "case": case, "shared": None})
'''


def _fixtures(seed: int, store: dict) -> types.ModuleType:
    """A plugin with what the grader's pytest plugin provides: ``ref``, ``seed``, and a
    ``cache`` kept in ``store``."""
    plugin = types.ModuleType("fake_grading_plugin")

    def pytest_configure(config):
        config.addinivalue_line("markers", "hook(name): the check's hook")

    @pytest.fixture(scope="session")
    def ref():
        return "the reference"

    @pytest.fixture(scope="session", name="seed")
    def seed_fixture():
        return seed

    @pytest.fixture(scope="session")
    def cache():
        def get(key, fn):
            if key not in store:
                store[key] = fn()
            return store[key]

        return get

    plugin.pytest_configure, plugin.ref, plugin.seed, plugin.cache = pytest_configure, ref, seed_fixture, cache
    return plugin


def _run_checks(folder: Path, seed: int = 5) -> tuple[types.ModuleType, dict]:
    """Run the check module ``CHECKS`` (saved in ``folder``) with pytest; its module and cache."""
    folder.mkdir()
    path = folder / "checks_with_cases.py"
    path.write_text(CHECKS)
    (folder / "pytest.ini").write_text("[pytest]\n")
    store: dict = {}
    args = ["-q", "-p", "no:cacheprovider", "--import-mode=importlib", "-c", str(folder / "pytest.ini"), str(path)]
    assert pytest.main(args, plugins=[_fixtures(seed, store)]) == 0
    name, module = next((n, m) for n, m in list(sys.modules.items()) if getattr(m, "__file__", None) == str(path))
    del sys.modules[name]  # the next run imports its own copy under the same name
    return module, store


def test_case_fixture_builds_once_per_hook_and_cell_seeded(tmp_path):
    state = torch.random.get_rng_state()
    module, store = _run_checks(tmp_path / "first")
    assert torch.equal(torch.random.get_rng_state(), state), "a build leaves the global generator as it was"
    # One case per hook and cell: test_two and test_marked (no device) get the CPU cell's.
    cells = [("a", "cpu"), ("a", "cuda:0"), ("b", "cpu"), ("b", "cuda:0"), ("m", "cpu")]
    assert sorted(module.BUILT) == sorted([("case", h, d) for h, d in cells] + [("shared", 5)])
    assert len(store) == 6
    cases = {(s["case"]["hook"], s["case"]["device"]): s["case"] for s in module.SEEN}
    assert sorted(cases) == sorted(cells)
    for seen in module.SEEN:
        case = seen["case"]
        assert case is cases[(case["hook"], seen["cell"] or "cpu")]
        assert case["ref"] == "the reference" and case["seed"] == 5
    assert {s["case"]["hook"] for s in module.SEEN if s["check"] == "marked"} == {"m"}
    assert len({id(s["shared"]) for s in module.SEEN if s["shared"] is not None}) == 1
    assert module.case.__doc__ == "The case of one hook and cell."
    # Seeded: the same draws in another run at the same seed, different ones in different cells.
    again, _ = _run_checks(tmp_path / "again")
    draws = {k: c["draw"] for k, c in cases.items()}
    assert draws == {(s["case"]["hook"], s["case"]["device"]): s["case"]["draw"] for s in again.SEEN}
    assert len(set(draws.values())) == len(draws)


def test_case_fixture_refuses_a_build_taking_other_arguments():
    with pytest.raises(TypeError, match="takes sub; a case's build takes only ref, hook, seed, device"):

        @case_fixture
        def case(ref, sub):
            return None
