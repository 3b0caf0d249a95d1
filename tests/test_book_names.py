"""The book's code as written: its own names for the hooks' implementations (a spec's
``known_as``), modules built at import, arguments by position, code for another framework."""

import importlib.util
import json
import re
import types
from pathlib import Path

import jsonschema
import pytest
import torch
from conftest import SUBMISSIONS
from torch import nn

from grader import schemas
from grader.plugins import PluginError, get_plugin_manager
from grader.reports import ReportOptions
from grader.testing import Graded
from grader.trusted.course import load_course
from grader.trusted.discovery import Discovery
from grader.trusted.sandbox import Launcher, Limits, choose_level
from grader.trusted.submission import SubmissionClient
from grader.trusted.view import SubmissionView
from grader.trusted.workers import WorkerTemplate
from grader.worker import loader

RENDER = {f.name: f for fs in get_plugin_manager().hook.grader_report_formats() for f in fs}

BOOK = SUBMISSIONS / "book"
# The hooks the book implements, under its own names or the hooks' (chapter code of both
# editions); every other hook is "not attempted" in both forms of a fixture.
BOOK_HOOKS = [
    "mlp",
    "my_sequential",
    "fixed_hidden_mlp",
    "nest_mlp",
    "chimera",
    "block1",
    "block2",
    "rgnet",
    "init_normal",
    "init_constant",
    "init_xavier",
    "init_42",
    "my_init",
    "lazy_mlp",
    "shared_mlp",
    "centered_layer",
    "my_linear",
    "try_gpu",
    "try_all_gpus",
]


def verdicts(graded) -> dict:
    return {
        name: (h["status"], h["score"], sorted((c["id"], c["status"]) for c in h["checks"]))
        for name, h in graded["hooks"].items()
        if name in BOOK_HOOKS
    }


def notes(graded) -> dict[str, list[str]]:
    return {name: h["notes"] for name, h in graded["hooks"].items() if h.get("notes")}


@pytest.fixture(scope="module")
def books(grader_instance) -> dict[str, Graded]:
    """Each edition's chapter code, as written and wrapped, graded with one seed."""
    return {
        name: Graded(grader_instance.grade(BOOK / name, seed=11, only=BOOK_HOOKS))
        for name in ("d2l_en", "d2l_en_wrapped", "d2l_zh", "d2l_zh_wrapped")
    }


@pytest.mark.parametrize("edition", ["d2l_en", "d2l_zh"])
def test_the_books_code_as_written_gets_the_verdicts_of_its_wrapped_version(books, edition):
    written, wrapped = books[edition], books[f"{edition}_wrapped"]
    assert verdicts(written) == verdicts(wrapped)
    # Not the same because nothing was graded: the book's classes and functions pass (its
    # `MyLinear` uses `.data`, which the spec fails in either form, and its `FixedHiddenMLP`
    # keeps `rand_weight` as a plain attribute, which the device-free structure check fails).
    for hook in ("mlp", "nest_mlp", "chimera", "centered_layer", "init_normal", "try_gpu"):
        assert written.status(hook) == "passed", (hook, written.messages(hook))
    assert written.status("my_linear") == "failed"
    assert written.failed("fixed_hidden_mlp") == {"fixed_hidden_mlp/structure"}
    said = notes(written)
    assert said["mlp"][0].startswith("graded class `MLP` as `mlp` (from `model_construction.py`")
    # read_write.py's `MLP` (its layer is `output`) is not graded: model_construction.py holds
    # the rest of the section.
    assert "not the `MLP` of `read_write.py`" in said["mlp"][0]
    assert "called as `MySequential(*modules)`" in said["my_sequential"][0]
    assert said["my_linear"] == ["graded class `MyLinear` as `my_linear` (from `custom_layer.py`)"]
    assert "module `chimera` built at import" in said["chimera"][0]
    assert notes(wrapped) == {}


def test_every_report_shows_the_notes(books):
    result = books["d2l_zh"].result
    note = "graded class `MLP` as `mlp`"
    data = json.loads(RENDER["json"].render(result, ReportOptions()))
    jsonschema.validate(data, schemas.load("json"))
    assert note in data["hooks"]["mlp"]["notes"][0]
    text = RENDER["text"].render(result, ReportOptions())
    assert "\nNotes:\n" in text and f"  mlp: {note}" in text
    assert "  init_normal: called `init_normal(m)` with the arguments in order (`m` ← `module`)" in text
    assert f"- `mlp`: {note}" in RENDER["markdown"].render(result, ReportOptions())
    gradescope = json.loads(RENDER["gradescope"].render(result, ReportOptions()))
    jsonschema.validate(gradescope, schemas.load("gradescope"))
    assert f"Note on `mlp`: {note}" in gradescope["output"]
    # A submission graded through functions of the hooks' names has none.
    assert "Notes:" not in RENDER["text"].render(books["d2l_zh_wrapped"].result, ReportOptions())


def test_the_zh_editions_argument_names_are_taken_by_position(books):
    graded = books["d2l_zh"]
    assert graded.status("init_normal") == "passed"
    assert graded.status("my_init") == "passed"
    assert notes(graded)["init_normal"] == ["called `init_normal(m)` with the arguments in order (`m` ← `module`)"]
    # The book's `rgnet = nn.Sequential(...)`, already run once at import.
    assert graded.status("rgnet") == "passed"
    assert "a fresh copy for each check" in notes(graded)["rgnet"][0]


def write(tmp_path: Path, source: str) -> Path:
    (tmp_path / "solution.py").write_text(source)
    return tmp_path


def test_arguments_by_position_with_a_note_and_a_wrong_count_stays_an_error(grade, tmp_path):
    submission = write(
        tmp_path,
        """
from torch import nn


def init_normal(layer):
    if isinstance(layer, nn.Linear):
        nn.init.normal_(layer.weight, mean=0, std=0.01)
        nn.init.zeros_(layer.bias)


def init_constant(module, value):
    if isinstance(module, nn.Linear):
        nn.init.constant_(module.weight, value)
        nn.init.zeros_(module.bias)


def save_params(path, model):
    raise AssertionError("never called: its arguments are the spec's in another order")
""",
    )
    graded = grade(submission, only=["init_normal", "init_constant", "save_params"])
    assert graded.status("init_normal") == "passed"
    assert notes(graded)["init_normal"] == [
        "called `init_normal(layer)` with the arguments in order (`layer` ← `module`)"
    ]
    h = graded.hook("init_constant")
    assert h["status"] == "error"
    assert h["message"] == (
        "wrong number of arguments: found init_constant(module, value), expected init_constant(module)"
    )
    h = graded.hook("save_params")
    assert h["status"] == "error"
    assert (
        "arguments in another order: found save_params(path, model), expected save_params(net, path)" in (h["message"])
    )


def test_a_module_built_at_import_is_a_fresh_copy_for_each_request_in_the_worker(tmp_path):
    # The book's `rgnet = nn.Sequential(...)`, as a confined worker serves it: a request that
    # transplants zeros into it (as a check does) never reaches the next request's module.
    write(
        tmp_path, "import torch\nfrom torch import nn\n\ntorch.manual_seed(0)\nrgnet = nn.Sequential(nn.Linear(4, 1))\n"
    )
    hooks = {"rgnet": {"args": [], "section": "parameters", "known_as": []}}
    template = WorkerTemplate()
    client = SubmissionClient(tmp_path, hooks, Launcher(template, choose_level(), Limits()).spawn)
    x = [[torch.ones(2, 4)]]
    try:
        view = SubmissionView(client)
        zeros = {"0.weight": torch.zeros(1, 4), "0.bias": torch.zeros(1)}
        mutated = view.module("rgnet", state=zeros, inputs=x, grads=False)
        assert torch.equal(mutated.runs[0].y.value, torch.zeros(2, 1))
        again = view.module("rgnet", inputs=x, grads=False)
        torch.manual_seed(0)
        assert torch.equal(again.runs[0].y.value, nn.Linear(4, 1)(torch.ones(2, 4)).detach())
        assert client.workers_started == 1  # one worker served both: the copy did it
        assert client.load().notes("rgnet") == [
            "graded the module `rgnet` built at import (from `solution.py`, a fresh copy for each check)"
        ]
    finally:
        client.close()
        template.close()


def test_a_module_built_at_import_for_a_hook_with_arguments_is_an_error(grade, tmp_path):
    submission = write(tmp_path, "from torch import nn\n\nmy_linear = nn.Linear(3, 2)\n")
    h = grade(submission, only=["my_linear"]).hook("my_linear")
    assert h["status"] == "error"
    assert "`my_linear` is a module built at import, but `my_linear(in_units, units)` takes arguments" in h["message"]


def test_a_function_of_the_hooks_name_beats_the_books_class(grade, tmp_path):
    submission = write(
        tmp_path,
        """
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):  # the book's class, with a bug: no ReLU
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X):
        return self.out(self.hidden(X))


class Fixed(MLP):
    def forward(self, X):
        return self.out(F.relu(self.hidden(X)))


def mlp():
    return Fixed()
""",
    )
    graded = grade(submission, only=["mlp"])
    assert graded.status("mlp") == "passed", graded.messages()
    assert notes(graded) == {}
    assert not any("MLP" in w for w in graded["warnings"])


@pytest.mark.parametrize(
    ("tab", "framework", "translation"),
    [
        ("mxnet", "MXNet", "`nn.Block` → `nn.Module`, `nn.Dense(units)` → `nn.LazyLinear(units)`"),
        ("tensorflow", "TensorFlow", "`tf.keras.layers.Dense(units)` → `nn.LazyLinear(units)`"),
        # Its first import is the book's `from d2l import jax as d2l`: the source says JAX.
        ("jax", "JAX", "`flax.linen.Module` → `nn.Module`"),
    ],
)
def test_another_frameworks_code_is_told_how_to_translate_it(grade, tab, framework, translation):
    graded = grade(BOOK / f"d2l_en_{tab}", only=["mlp", "my_sequential"])
    for hook in ("mlp", "my_sequential"):
        h = graded.hook(hook)
        assert h["status"] == "error"
        assert h["message"].startswith("`model_construction.py` failed to import: ModuleNotFoundError")
        assert f"this course grades PyTorch code, not {framework}" in h["message"]
        assert translation in h["message"]
    assert any(f"not {framework}" in w and translation in w for w in graded["warnings"])
    # `MLP` is the book's name for `mlp`: never "did you mean `mlp`? (found `MLP`)".
    assert not any("did you mean" in w for w in graded["warnings"])


# -- in the worker: finding the hooks (no confinement needed to read them) --------------------

SPECS = {
    "mlp": {"args": [], "section": "layers", "known_as": [{"name": "MLP", "unpack": None}]},
    "nest_mlp": {"args": [], "section": "layers", "known_as": [{"name": "NestMLP", "unpack": None}]},
    "my_sequential": {
        "args": ["modules"],
        "section": "layers",
        "known_as": [{"name": "MySequential", "unpack": "modules"}],
    },
    "rgnet": {"args": [], "section": "params", "known_as": []},
}


def module(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    for key, value in attrs.items():
        if isinstance(value, type):
            value.__module__ = name
        setattr(m, key, value)
    return m


def classes(*names: str) -> dict[str, type]:
    return {n: type(n, (nn.Module,), {"forward": lambda self, x: x}) for n in names}


def test_the_books_name_in_several_modules_is_taken_from_the_one_holding_its_section(tmp_path):
    modules = {"a": module("a", **classes("MLP")), "b": module("b", **classes("MLP", "NestMLP"))}
    impls, report = loader.find_hooks(modules, SPECS, str(tmp_path))
    assert impls["mlp"] is modules["b"].MLP
    assert report["hooks"]["mlp"]["module"] == "b" and report["hooks"]["mlp"]["also"] == ["a"]
    # A tie is for the student to settle.
    modules = {"a": module("a", **classes("MLP")), "b": module("b", **classes("MLP"))}
    impls, report = loader.find_hooks(modules, SPECS, str(tmp_path))
    assert "mlp" not in impls
    assert (
        report["hooks"]["mlp"]["error"]
        == "`MLP` is defined in `a.py` and `b.py`: define `mlp()` to say which one to grade"
    )


def test_a_class_taking_star_args_gets_the_list_unpacked(tmp_path):
    class MySequential(nn.Sequential):
        def __init__(self, *args):
            super().__init__(*args)

    impls, report = loader.find_hooks({"a": module("a", MySequential=MySequential)}, SPECS, str(tmp_path))
    layers = [nn.Linear(2, 3), nn.ReLU()]
    built = impls["my_sequential"](modules=layers)
    assert isinstance(built, MySequential) and list(built) == layers
    assert report["hooks"]["my_sequential"]["call"] == "unpack"


def test_each_use_of_a_module_built_at_import_gets_its_own_copy(tmp_path):
    rgnet = nn.Sequential(nn.Linear(4, 1))
    impls, report = loader.find_hooks({"a": module("a", rgnet=rgnet)}, SPECS, str(tmp_path))
    first = impls["rgnet"]()
    with torch.no_grad():
        first[0].weight.fill_(7.0)  # what a check's transplant does
    second = impls["rgnet"]()
    assert first is not rgnet and second is not rgnet and second is not first
    assert torch.equal(second[0].weight, rgnet[0].weight) and not torch.equal(second[0].weight, first[0].weight)
    assert report["hooks"]["rgnet"]["kind"] == "module" and report["hooks"]["rgnet"]["call"] == "copy"


@pytest.mark.parametrize(
    ("source", "call", "problem"),
    [
        ("def f(module): pass", "keywords", None),
        ("def f(m): pass", "positional", None),
        ("def f(m, scale=1.0): pass", "positional", None),
        ("def f(*args): pass", "positional", None),
        ("def f(**kwargs): pass", "keywords", None),
        ("def f(m, n): pass", "", "wrong number of arguments: found f(m, n), expected f(module)"),
        ("def f(): pass", "", "wrong number of arguments: found f(), expected f(module)"),
    ],
)
def test_calling_convention(source, call, problem):
    namespace: dict = {}
    exec(source, namespace)
    assert loader.calling_convention("f", namespace["f"], ["module"]) == (call, problem)


def test_positional_calls_keep_the_specs_order():
    def save(path, model):  # the spec's `net, path`: `path` would receive the net
        pass

    call, problem = loader.calling_convention("save_params", save, ["net", "path"])
    assert call == "" and problem.startswith("arguments in another order")
    bound = loader.Bound(lambda a, b: (a, b), ["net", "path"], unpack=False)
    # By name, or in order as `net.apply` calls an init function.
    assert bound(path="p", net="n") == ("n", "p") == bound("n", "p")


def test_notes_keep_only_plain_names_from_the_worker():
    # The worker runs student code, so its report may be forged: only identifiers reach a note.
    forged = {
        "hooks": {
            "mlp": {"module": "a", "name": "MLP", "kind": "class", "call": "keywords", "also": 7},
            "my_sequential": {"module": "a", "name": "x; rm -rf", "kind": "class", "call": "unpack"},
            "init_normal": {"module": "a", "name": "init_normal", "call": "positional", "params": ["m", "`x`", 3]},
            "block1": {"module": ["a"], "name": "block1", "call": "positional", "params": "m" * 10_000},
        }
    }
    specs = {**SPECS, "init_normal": {"args": ["module"]}, "block1": {"args": []}}
    d = Discovery.build(list(specs), forged, {}, {}, specs=specs)
    assert d.notes("mlp") == ["graded class `MLP` as `mlp` (from `a.py`)"]
    assert d.notes("my_sequential") == []
    assert d.notes("init_normal") == ["called `init_normal(m)` with the arguments in order (`m` ← `module`)"]
    assert d.notes("block1") == ["called `block1()` with the arguments in order"]


# -- in the trusted process: declaring the course text's names --------------------------------


def section(tmp_path: Path, source: str) -> types.ModuleType:
    """A section module read from a file (specs are ordered by their source lines)."""
    path = tmp_path / "book_names_section.py"
    path.write_text("from torch import nn\nfrom grader.kit import hookspec, known_as\nSECTION = 'extra'\n" + source)
    spec = importlib.util.spec_from_file_location("book_names_section", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def course_with(extra: types.ModuleType):
    plugin = types.ModuleType("book_names_plugin")
    plugin.grader_exercises = lambda: [extra]  # type: ignore[attr-defined]
    return load_course(get_plugin_manager([plugin]))


def test_the_chapters_specs_declare_the_books_names():
    course = load_course(get_plugin_manager())
    declared = {h: [(k.name, k.unpack) for k in s.known_as] for h, s in course.hooks.items() if s.known_as}
    assert declared == {
        "mlp": [("MLP", None)],
        "my_sequential": [("MySequential", "modules")],
        "fixed_hidden_mlp": [("FixedHiddenMLP", None)],
        "nest_mlp": [("NestMLP", None)],
        "centered_layer": [("CenteredLayer", None)],
        "my_linear": [("MyLinear", None)],
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "@hookspec(firstresult=True)\n@known_as('MLP')\ndef big_mlp() -> nn.Module:\n    '''x'''\n",
            "`MLP` is declared as the implementation of `mlp` and `big_mlp`",
        ),
        (
            "@hookspec(firstresult=True)\n@known_as('mlp')\ndef big_mlp() -> nn.Module:\n    '''x'''\n",
            "hook `big_mlp` is known as `mlp`, which is another hook's name",
        ),
        (
            "@hookspec(firstresult=True)\n@known_as('Stack', unpack='layers')\n"
            "def stack(layers: list, depth: int) -> nn.Module:\n    '''x'''\n",
            "`layers` is not its last argument",
        ),
    ],
)
def test_a_course_text_name_that_cannot_be_placed_is_refused(tmp_path, source, message):
    with pytest.raises(PluginError, match=re.escape(message)):
        course_with(section(tmp_path, source))


def test_known_as_takes_only_public_identifiers(tmp_path):
    with pytest.raises(PluginError, match="not a public identifier"):
        section(tmp_path, '@known_as(\'_MLP\')\ndef f() -> nn.Module:\n    """x"""\n')
