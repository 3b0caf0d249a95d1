"""The course content installs under the grader's namespace: ``reference/`` as
``grader.reference`` and ``exercises/`` as ``grader.exercises`` (setup.py), with no top-level
``reference`` or ``exercises`` package to collide with another distribution's. The folders stay
where they are (``grader run reference/`` grades them as a submission), hidden from workers."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from conftest import ROOT

import grader.exercises
import grader.exercises.d2l_ch5
import grader.reference
import grader.reference.layers_and_blocks

PACKAGE_TREES = ("grader", "reference", "exercises")
BARE = ("reference", "exercises")


def test_the_course_content_imports_under_the_grader_namespace_from_its_folders():
    # In this (editable) install the packages map to the folders of the source tree.
    assert Path(grader.reference.__file__).resolve() == ROOT / "reference" / "__init__.py"
    assert Path(grader.exercises.__file__).resolve() == ROOT / "exercises" / "__init__.py"
    assert callable(grader.reference.layers_and_blocks.mlp)
    assert grader.exercises.d2l_ch5.grader_reference() == grader.reference.modules()


def test_the_chapter_entry_point_names_the_namespaced_package():
    (ep,) = [e for e in entry_points(group="grader") if e.name == "d2l_ch5"]
    assert ep.value == "grader.exercises.d2l_ch5"
    assert ep.load() is grader.exercises.d2l_ch5


def test_no_bare_reference_or_exercises_package_is_installed(tmp_path):
    """Outside the source tree (which is not on sys.path there), neither bare name imports."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import importlib.util as u; print([u.find_spec(n) is None for n in ('reference', 'exercises')])"
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert p.stdout.strip() == "[True, True]", p.stdout + p.stderr


def test_the_course_content_folders_are_hidden_from_workers(tmp_path):
    """As the ``grader`` command computes them: from elsewhere, the source tree not on sys.path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import json; from grader.trusted.sandbox import grader_paths; print(json.dumps(grader_paths()))"
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    hidden = json.loads(p.stdout)
    for folder in list(grader.reference.__path__) + list(grader.exercises.__path__):
        real = os.path.realpath(folder)
        assert any(real == h or real.startswith(h.rstrip("/") + "/") for h in hidden), (real, hidden)


def test_every_folder_of_python_files_is_a_package():
    """setup.py installs packages (folders with an ``__init__.py``) and nothing else."""
    loose = [
        d.relative_to(ROOT).as_posix()
        for tree in PACKAGE_TREES
        for d in [ROOT / tree, *(ROOT / tree).rglob("*")]
        if d.is_dir() and "__pycache__" not in d.parts and any(d.glob("*.py")) and not (d / "__init__.py").is_file()
    ]
    assert not loose, f"folders of .py files setup.py would not install: {loose}"


def _bare_imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        out += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in BARE]
    return out


def test_nothing_imports_the_bare_names():
    files = [
        p for tree in ("grader", "exercises", "examples", "benchmarks", "tools") for p in (ROOT / tree).rglob("*.py")
    ]
    # Fixture submissions are student code (one of them tries the bare names on purpose).
    files += [p for p in (ROOT / "tests").rglob("*.py") if "submissions" not in p.relative_to(ROOT).parts]
    found = [line for p in files if "__pycache__" not in p.parts for line in _bare_imports(p)]
    assert not found, found


def _setuptools_can_build() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 71  # builds wheels without `wheel`


@pytest.mark.slow
@pytest.mark.skipif(not _setuptools_can_build(), reason="needs setuptools>=71 to build the wheel offline")
def test_the_wheel_holds_the_course_content_under_the_grader_namespace(tmp_path):
    """A regular (non-editable) build: the course content sits inside ``grader/`` in the wheel,
    nothing installs at the top level but ``grader``, and the entry point names the namespace."""
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "tests", "examples")
    shutil.copytree(ROOT, source, ignore=ignore)
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    (wheel,) = (tmp_path / "dist").glob("grader-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (ep_file,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry = z.read(ep_file).decode()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"grader"}, tops
    for tree in ("reference", "exercises"):
        expected = {
            f"grader/{f.relative_to(ROOT).as_posix()}"
            for f in (ROOT / tree).rglob("*.py")
            if "__pycache__" not in f.parts
        }
        assert expected <= names, sorted(expected - names)
    assert "grader/schemas/grader-result.schema.json" in names
    assert "d2l_ch5 = grader.exercises.d2l_ch5" in entry
