"""Layers point one way, read from the source (every import statement, top-level or in a function).

- Nothing imports ``grader.cli`` but the console script (``[project.scripts]`` in pyproject.toml):
  the command line is the top layer, built on ``grader.trusted`` and ``grader.reports``.
- No module imports another module's private (``_name``) names; dunder names (``__version__``)
  are public. A private submodule (``checks/_cases.py``) serves its own package: the modules of
  that package may import it, others may not.
- ``grader.worker`` imports nothing of ``grader`` outside itself: under namespace confinement it
  is the only part of the grader a worker can see (``grader/worker/__init__.py``).
- Nothing imports ``grader.kernel`` (the ``%grade`` extension, which runs in a student's kernel)
  but ``grader`` itself (``load_ipython_extension``): importing the rest never imports IPython.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("grader", "exercises", "examples", "benchmarks")


def module_name(root: Path, path: Path) -> tuple[str, bool]:
    """The dotted name of a source file under ``root``, and whether it is a package (``__init__``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imports(root: Path, path: Path):
    """Every import in a file as ``(line, module, name)``: ``name`` is None for ``import module``;
    relative imports are resolved against the file's package."""
    me, is_package = module_name(root, path)
    package = me if is_package else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                yield node.lineno, module, alias.name


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def offences(root: Path, path: Path) -> list[str]:
    """What ``path`` (a source file under ``root``) imports against the rules above."""
    me, is_package = module_name(root, path)
    my_package = me if is_package else me.rpartition(".")[0]

    def is_module(dotted: str) -> bool:
        p = root.joinpath(*dotted.split("."))
        return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()

    found = []
    for line, module, name in imports(root, path):
        where = f"{path.relative_to(root)}:{line}"
        # The most specific thing imported: `from grader import cli` is grader.cli.
        target = f"{module}.{name}" if name is not None and name != "*" and is_module(f"{module}.{name}") else module
        if not within(me, "grader.cli") and (within(module, "grader.cli") or within(target, "grader.cli")):
            found.append(f"{where}: imports {target} (only the console script enters grader.cli)")
        if name is not None and is_private(name) and not (target != module and within(my_package, module)):
            found.append(f"{where}: imports the private name {name} from {module}")
        parts = module.split(".")
        for i, part in enumerate(parts):
            if is_private(part) and not within(my_package, ".".join(parts[:i])):
                found.append(f"{where}: imports from {module}, private to {'.'.join(parts[:i])}")
                break
        if within(me, "grader.worker") and within(target, "grader") and not within(target, "grader.worker"):
            found.append(f"{where}: the worker imports {target}")
        if within(target, "grader.kernel") and me != "grader" and not within(me, "grader.kernel"):
            found.append(f"{where}: imports {target} (only grader.load_ipython_extension enters grader.kernel)")
    return found


def scan(root: Path, tops=SCANNED) -> list[str]:
    files = sorted(p for top in tops for p in (root / top).rglob("*.py") if "__pycache__" not in p.parts)
    return [o for path in files for o in offences(root, path)]


def test_layers_point_one_way():
    found = scan(ROOT)
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_the_console_script_is_the_way_into_the_command_line():
    from grader.trusted.assignment import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"grader": "grader.cli:console_main"}


def test_the_scan_finds_each_kind_of_offence(tmp_path):
    """Each rule catches its offence however the import is written, and lets the allowed forms be."""
    files = {
        "grader/__init__.py": "__version__ = '1'\n\ndef load_ipython_extension(ip):\n    from .kernel.magic import load\n",
        "grader/kernel/__init__.py": "",
        "grader/kernel/magic.py": "from .session import Session\nfrom ..reports import cell_output\n",
        "grader/kernel/session.py": "",
        "grader/cli/__init__.py": "from ..trusted.x import public\nfrom .run import _private_in_cli\n",
        "grader/cli/run.py": "_private_in_cli = 1\n",
        "grader/worker/__init__.py": "",
        "grader/worker/ok.py": "from . import wire\nfrom .wire import send\nimport grader.worker.wire\n",
        "grader/worker/wire.py": "def send(): pass\n",
        "grader/worker/bad.py": "from .. import hookimpl\n\ndef f():\n    from ..trusted import x\n",
        "grader/trusted/__init__.py": "",
        "grader/trusted/x.py": (
            "from .. import __version__\n"
            "from ._helpers import public\n"
            "from . import _helpers\n"
            "def f():\n"
            "    from ..cli import main\n"
            "    import grader.cli.run\n"
            "    from grader import cli\n"
            "    from .y import _hidden\n"
        ),
        "grader/trusted/y.py": "from grader.trusted.x import _g\n_hidden = 1\n",
        "grader/trusted/_helpers.py": "public = 1\n",
        "grader/reports/__init__.py": "from ..trusted._helpers import public\nfrom ..trusted import _helpers\n",
        "grader/reports/cell_output.py": "from ..kernel.magic import load\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = scan(tmp_path, ("grader",))
    assert sorted(found) == [
        "grader/cli/__init__.py:2: imports the private name _private_in_cli from grader.cli.run",
        "grader/reports/__init__.py:1: imports from grader.trusted._helpers, private to grader.trusted",
        "grader/reports/__init__.py:2: imports the private name _helpers from grader.trusted",
        "grader/reports/cell_output.py:1: imports grader.kernel.magic (only grader.load_ipython_extension enters grader.kernel)",
        "grader/trusted/x.py:5: imports grader.cli (only the console script enters grader.cli)",
        "grader/trusted/x.py:6: imports grader.cli.run (only the console script enters grader.cli)",
        "grader/trusted/x.py:7: imports grader.cli (only the console script enters grader.cli)",
        "grader/trusted/x.py:8: imports the private name _hidden from grader.trusted.y",
        "grader/trusted/y.py:1: imports the private name _g from grader.trusted.x",
        "grader/worker/bad.py:1: the worker imports grader",
        "grader/worker/bad.py:4: the worker imports grader.trusted.x",
    ]
