"""Checks for 5.5 File I/O.

Paths are names in the worker's private scratch directory. A file a submission must write as
safetensors comes back as bytes and is parsed here with safetensors alone (never unpickled);
other files (a whole model, a checkpoint) only travel between workers. Every load runs in
another worker than the save it reads (the submission's second worker, or a fresh one), so
only the file can carry what was saved. Nets are the grader's own, built from the run's seed on
both sides; ``save_params`` and ``load_params`` run on each device cell with the net moved there
first, as a user would.

A check that needs another hook of the submission (the file ``save_params`` wrote, the modules
``mlp()`` and ``fixed_hidden_mlp()`` build, the other half of the checkpoint pair) says so when
that hook fails, and uses the grader's own file instead where one serves as well, so that one
bug costs points in one place. Nothing here is skipped for what a submission does: the maximum
is the same for every submission.
"""

from dataclasses import dataclass, field
from typing import NoReturn

import pytest
import torch

from grader.kit import (
    Arch,
    CheckFailed,
    FunctionalSGD,
    HookUnavailable,
    Scratch,
    SubmissionRaised,
    TensorOut,
    WorkerFailure,
    advise,
    arch,
    decode_value,
    derive_seed,
    exception_text,
    expect_is_module,
    fail,
    fail_raised,
    mismatch,
    seeded,
    short,
)

from ._blame import uses
from ._files import (
    SAVE_MODEL_HINT,
    expect_file_state,
    expect_loaded,
    expect_same_tensors,
    file_bytes,
    file_caps,
    load_request,
    parse_safetensors,
    prepare,
    save_model_bytes,
)

# -- save_tensors, load_tensors ----------------------------------------------------------------


def tensor_dict(seed: int) -> dict[str, torch.Tensor]:
    """Tensors of several dtypes and shapes, a 0-dim and an empty one among them."""
    g = torch.Generator().manual_seed(derive_seed(seed, "tensor-dict"))
    return {
        "weight": torch.randn(3, 4, generator=g),
        "float64": torch.randn(5, generator=g, dtype=torch.float64),
        "float16": torch.randn(2, 3, generator=g).half(),
        "bfloat16": torch.randn(4, generator=g).bfloat16(),
        "int64": torch.randint(-(2**40), 2**40, (6,), generator=g),
        "uint8": torch.randint(0, 256, (2, 2), generator=g, dtype=torch.uint8),
        "mask": torch.rand(7, generator=g) > 0.5,
        "scalar": torch.randn((), generator=g),
        "empty": torch.empty(0, 3),
    }


def saved_tensors(sub, seed: int) -> dict[str, torch.Tensor]:
    """What ``save_tensors`` wrote, parsed with safetensors (refused unread if it holds far more
    than the tensors given)."""
    given = tensor_dict(seed)
    caps = file_caps(given)
    body, tensors = sub.operation(
        "file_call",
        "save_tensors",
        args={"tensors": given, "path": Scratch("tensors.safetensors")},
        read="tensors.safetensors",
        max_file=caps.read_cap,
    )
    return parse_safetensors(file_bytes(body, tensors, "`save_tensors`"), "`save_tensors`", caps)


@pytest.mark.parametrize("hook", ["save_tensors"])
def test_safetensors_file(hook, sub, seed):
    """The file at `path` is valid safetensors holding exactly the names given."""
    saved = saved_tensors(sub, seed)
    want = tensor_dict(seed)
    missing = [k for k in want if k not in saved]
    extra = [k for k in saved if k not in want]
    if missing or extra:
        parts = ([f"lacks {short(missing)}"] if missing else []) + ([f"adds {short(extra)}"] if extra else [])
        fail("the file " + " and ".join(parts) + " compared with the dict given")


@pytest.mark.parametrize("hook", ["save_tensors"])
def test_contents(hook, sub, seed):
    """Read back from the file, every tensor keeps its dtype, shape and values (float16, bfloat16, int64, bool, 0-dim, empty)."""
    expect_same_tensors(saved_tensors(sub, seed), tensor_dict(seed), "the file")


@pytest.mark.parametrize("hook", ["load_tensors"])
def test_read_back(hook, sub, seed):
    """A safetensors file the grader wrote comes back with the same names, dtypes, shapes and values."""
    want = tensor_dict(seed)
    # In the second worker, where `save_tensors` never ran: only the file carries the tensors.
    body, tensors = sub.second().operation(
        "file_call",
        "load_tensors",
        args={"path": Scratch("given.safetensors")},
        data={"files": {"given.safetensors": safetensors_bytes(want)}},
    )
    got = decode_value(body.get("value"), tensors)
    expect_same_tensors(getattr(got, "value", got), want, "the dict `load_tensors` returned")


def safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    import safetensors.torch

    return safetensors.torch.save(tensors)


# -- save_params, load_params ------------------------------------------------------------------


def net(cache, seed: int, name: str):
    return cache(("d2l_ch5.file-net", seed, name), lambda: prepare(name, seed))


def saved_params(sub, prep, device: str) -> dict:
    """``save_params`` on the grader's net, moved to ``device`` first: the answer (the file
    comes back as bytes in it)."""
    name = f"params-{prep.name}.safetensors"
    try:
        return sub.operation(
            "file_call",
            "save_params",
            args={"net": prep.arch(), "path": Scratch(name)},
            ties={"net": prep.ties()},
            device=device,
            read=name,
            max_file=file_caps(prep.state).read_cap,
        )
    except SubmissionRaised as e:
        text = str(e)
        fail(text, SAVE_MODEL_HINT if "share memory" in text else None)


def expect_saved(sub, prep, device: str) -> None:
    body, tensors = saved_params(sub, prep, device)
    call = f"`save_params` (the net on {device})"
    expect_file_state(parse_safetensors(file_bytes(body, tensors, call), call, file_caps(prep.state)), prep, call)


@pytest.mark.parametrize("hook", ["save_params"])
def test_values(hook, device, sub, seed, cache):
    """The MLP's file is valid safetensors with every parameter under its `state_dict` name and value."""
    expect_saved(sub, net(cache, seed, "mlp"), device)


@pytest.mark.parametrize("hook", ["save_params"])
def test_tied(hook, device, sub, seed, cache):
    """Nets with tied weights (a shared layer; a Parameter used by two layers) are saved, one name per tie at least."""
    for name in ("shared", "tied"):
        expect_saved(sub, net(cache, seed, name), device)


@pytest.mark.parametrize("hook", ["save_params"])
def test_buffers(hook, device, sub, seed, cache):
    """A net with BatchNorm1d: its running statistics and batch counter are in the file too."""
    expect_saved(sub, net(cache, seed, "batchnorm"), device)


def expect_grader_file(sub, prep, device, seed, tolerance, ties: bool) -> None:
    name = f"grader-{prep.name}.safetensors"
    answer = load_request(sub, prep, save_model_bytes(prep.net), device, seed, name)
    expect_loaded(answer, prep, device, tolerance, "a file written by `safetensors.torch.save_model`", ties)


@pytest.mark.parametrize("hook", ["load_params"])
def test_grader_file(hook, device, sub, seed, cache, tolerance):
    """A grader-written file loaded into a fresh MLP and a fresh BatchNorm net: values, buffers, device and outputs as saved."""
    for name in ("mlp", "batchnorm"):
        expect_grader_file(sub, net(cache, seed, name), device, seed, tolerance, ties=False)


@pytest.mark.parametrize("hook", ["load_params"])
def test_ties_survive(hook, device, sub, seed, cache, tolerance):
    """Loaded into fresh tied nets (one name per tie in the file), the ties survive as one Parameter and outputs match."""
    for name in ("shared", "tied"):
        expect_grader_file(sub, net(cache, seed, name), device, seed, tolerance, ties=True)


def own_file(sub, prep, device: str) -> tuple[bytes | None, str]:
    """The file your ``save_params`` wrote for ``prep``'s net on ``device`` when it passes
    ``save_params``'s own checks (those requests are theirs, answered from the cache); else None
    and why, in a few words: a file those checks judged is not charged to ``load_params`` again."""
    if not sub.implements("save_params"):
        return None, "there is no `save_params`"
    call = f"`save_params` (the net on {device})"
    try:
        body, tensors = saved_params(sub, prep, device)
    except CheckFailed:
        return None, "your `save_params` raised an exception"
    except HookUnavailable:
        return None, "your `save_params` could not be called"
    except WorkerFailure:
        return None, "your `save_params` ended the worker"
    try:
        data = file_bytes(body, tensors, call)
        saved = parse_safetensors(data, call, file_caps(prep.state))
    except CheckFailed as e:
        if "pickle" in e.message:
            return None, "your `save_params` wrote a torch.save pickle, not safetensors"
        if "not valid safetensors" in e.message:
            return None, "your `save_params` wrote a file that is not safetensors"
        return None, "your `save_params` wrote no usable file"
    try:
        expect_file_state(saved, prep, call)
    except CheckFailed:
        return None, "the file your `save_params` wrote lacks or changes some values"
    return data, ""


@pytest.mark.parametrize("hook", ["load_params"])
def test_own_file(hook, device, sub, seed, cache, tolerance):
    """What your own `save_params` wrote loads back with your `load_params` (every net, ties included); a net whose file fails `save_params`'s checks is loaded from the grader's file."""
    instead: dict[str, list[str]] = {}
    for name in ("mlp", "batchnorm", "shared", "tied"):
        prep = net(cache, seed, name)
        data, why = own_file(sub, prep, device)
        if data is None:
            instead.setdefault(why, []).append(name)
            expect_grader_file(sub, prep, device, seed, tolerance, ties=True)
            continue
        answer = load_request(sub, prep, data, device, seed, f"own-{name}.safetensors")
        expect_loaded(answer, prep, device, tolerance, "the file your `save_params` wrote", ties=True)
    for why, names in instead.items():
        nets = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        advise(
            f"`load_params` was graded on the grader's file for the {nets} net{'s' if len(names) > 1 else ''}: "
            f"{why} (its own checks say what is wrong)"
        )


# -- reuse_first_two_layers (exercise 5.5.2) ---------------------------------------------------

# The first two Linear layers (in module order) sit inside a nested block; a Linear of the same
# shape follows, so copying too much (or the first two top-level children) changes visible values.
REUSE = arch.seq(
    arch.seq(arch.linear(20, 32), arch.relu(), arch.linear(32, 32), arch.relu()),
    arch.linear(32, 32),
    arch.relu(),
    arch.linear(32, 10),
)
COPY_HINT = (
    "copy values in place under `torch.no_grad()`: `new_layer.weight.copy_(old_layer.weight)` (same for the bias)"
)


def reuse_case(cache, seed: int) -> dict:
    def build():
        states = {}
        for which in ("old", "new"):
            with seeded(derive_seed(seed, "reuse", which)):
                m = arch.build(REUSE)
            states[which] = {k: v.detach().clone() for k, v in m.state_dict().items()}
        linears = [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear)][:2]
        return {**states, "linears": linears}

    return cache(("d2l_ch5.reuse", seed), build)


def reuse_answer(sub, case):
    body, tensors = sub.operation(
        "reuse_layers",
        "reuse_first_two_layers",
        args={"old": Arch(REUSE, case["old"]), "new": Arch(REUSE, case["new"])},
    )
    return body, tensors


@pytest.mark.parametrize("hook", ["reuse_first_two_layers"])
def test_copied(hook, sub, seed, cache):
    """`new` is returned, its first two Linear layers (module order) hold `old`'s values, the rest is unchanged."""
    case = reuse_case(cache, seed)
    body, tensors = reuse_answer(sub, case)
    if not body.get("returned_new"):
        fail(
            f"`reuse_first_two_layers(old, new)` returned a {body.get('returned_type')}, not `new` itself",
            "change `new` in place and return it",
        )
    values = decode_value(body["new"], tensors).values
    copied = {f"{layer}.{p}" for layer in case["linears"] for p in ("weight", "bias")}
    for name in case["new"]:
        if name in copied:
            if mismatch(values.get(name), case["old"][name], 0.0, 0.0):
                fail(
                    f"`{name}` of `new` does not hold `old`'s values: the first two nn.Linear layers, in module "
                    f"order (nested ones included), are `{case['linears'][0]}` and `{case['linears'][1]}`",
                    "walk `old.modules()` and `new.modules()` in order and keep the first two `nn.Linear` of each",
                )
        elif mismatch(values.get(name), case["new"][name], 0.0, 0.0):
            fail(f"`{name}` of `new` changed: only its first two nn.Linear layers may take `old`'s values")


@pytest.mark.parametrize("hook", ["reuse_first_two_layers"])
def test_not_aliased(hook, sub, seed, cache):
    """The values are copies: no parameter of `new` shares memory with `old`, and changing `old` afterwards leaves `new` alone."""
    case = reuse_case(cache, seed)
    body, tensors = reuse_answer(sub, case)
    shared = decode_value(body.get("shared"), tensors)
    if shared:
        fail(
            f"{short(shared)} of `new` share memory with `old`'s parameters: `new` aliases `old` instead of holding copies",
            COPY_HINT,
        )
    before = decode_value(body["new"], tensors).values
    later = decode_value(body.get("later"), tensors)
    for name, value in later.items():
        if name in before and mismatch(value, before[name], 0.0, 0.0):
            fail(
                f"changing `old` after the call changed `{name}` of `new`: it is a view of `old`, not a copy", COPY_HINT
            )


# -- save_model_file, load_model_file (exercise 5.5.3) -----------------------------------------

SOURCES = ["mlp", "fixed_hidden_mlp"]
MODEL_HINT = (
    "save everything the forward uses, buffers such as `rand_weight` included (a plain tensor "
    "attribute is not in `state_dict()`), and rebuild the same computation: `torch.jit.script` or "
    "a config plus weights do; `torch.jit.trace` freezes `fixed_hidden_mlp`'s while loop"
)


def model_inputs(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(derive_seed(seed, "model-file-inputs"))
    # Several scales: fixed_hidden_mlp halves a different number of times for each.
    return [torch.randn(1, 20, generator=g), torch.randn(7, 20, generator=g), 300 * torch.randn(16, 20, generator=g)]


class NotGradable(Exception):
    """No module of the submission to save: ``absent`` when its hook is missing or a stub."""

    def __init__(self, message: str, absent: bool = False):
        super().__init__(message)
        self.absent = absent


def is_stub(sub, hook: str, **args) -> bool:
    """Whether the submission's ``hook`` is a stub (raises NotImplementedError) when called with
    ``args``: then a check of it that cannot run for want of another hook is "not attempted"."""
    try:
        sub.call(hook, **args)
    except HookUnavailable as e:
        return e.status == "not_attempted"
    except (SubmissionRaised, WorkerFailure):
        return False
    return False


def not_attempted(hook: str) -> NoReturn:
    raise HookUnavailable("not_attempted", f"not attempted: `{hook}` raises NotImplementedError")


def without(sub, hook: str, what: str) -> str:
    """The message of a check that needs the submission's other ``hook``, which it lacks (or
    cannot even call)."""
    status = sub.discovery.status(hook.removesuffix("()"))
    if status is not None and status[0] == "error":
        return uses(hook, status[1])
    return f"not gradable without `{hook}` ({what})"


def _kills_worker(sub, source: str, inputs: list[torch.Tensor]) -> str | None:
    """Why the module your ``source`` builds ends the worker on its own (its build and forward,
    without ``save_model_file``), or None."""
    try:
        sub.module(source, inputs=[[x] for x in inputs], grads=False)
    except WorkerFailure as e:
        return e.message
    except (HookUnavailable, SubmissionRaised):
        pass
    return None


def saved_model(sub, source: str, seed: int):
    """Build with your ``source`` hook, run it, save it with ``save_model_file``: the answer
    (the original outputs and the file's bytes). ``NotGradable`` when ``source`` is missing or
    broken (then there is no module of yours to save), blaming ``source``."""
    if not sub.implements(source):
        status = sub.discovery.status(source)
        raise NotGradable(
            without(sub, f"{source}()", "the module saved and reloaded is the one it builds"),
            absent=status is not None and status[0] == "not_attempted",
        )
    inputs = model_inputs(seed)
    try:
        body, tensors = sub.operation(
            "model_file_save",
            "save_model_file",
            build=source,
            path=f"model-{source}",
            seed=derive_seed(seed, "model-file", source),
            data={"inputs": inputs},
        )
    except WorkerFailure:
        # Whose code ended the worker: the module's own build and forward, tried alone (a cached
        # request: once per submission), or else save_model_file's.
        why = _kills_worker(sub, source, inputs)
        if why:
            raise NotGradable(uses(f"{source}()", why)) from None
        raise
    if body.get("failed"):
        f = body["failed"]
        if (f.get("error") or {}).get("type") == "NotImplementedError" and f.get("step") == f"{source}()":
            raise NotGradable(
                f"not gradable without `{source}()` (a stub that raises NotImplementedError): "
                "the module saved and reloaded is the one it builds",
                absent=True,
            )
        why = (
            f"it returned a {f['returned']}" if "returned" in f else f"{f['step']} raised {exception_text(f['error'])}"
        )
        raise NotGradable(uses(f"{source}()", why))
    return body, tensors


@pytest.mark.parametrize("hook", ["save_model_file"])
def test_file_written(hook, sub, seed):
    """Saving the modules of your `mlp()` and `fixed_hidden_mlp()` writes one non-empty file at `path` (graded on those of the two that work)."""
    reasons = []
    for source in SOURCES:
        try:
            body, tensors = saved_model(sub, source, seed)
        except NotGradable as e:
            reasons.append(e)
            continue
        file_bytes(body, tensors, f"`save_model_file` (the module of `{source}()`)")
    if len(reasons) == len(SOURCES):
        probe = {"net": Arch(arch.seq(arch.linear(2, 2))), "path": Scratch("stub-probe")}
        if all(e.absent for e in reasons) and is_stub(sub, "save_model_file", **probe):
            not_attempted("save_model_file")
        fail("; ".join(map(str, reasons)))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("hook", ["load_model_file"])
def test_round_trip(hook, source, sub, seed, tolerance):
    """Saved by `save_model_file`, the module rebuilt by `load_model_file` in another process (where your `save_model_file` never ran) computes the original's outputs."""
    if not sub.implements("save_model_file"):
        fail(without(sub, "save_model_file", "it writes the file this check loads"))
    try:
        body, tensors = saved_model(sub, source, seed)
    except NotGradable as e:
        if e.absent and is_stub(sub, "load_model_file", path=Scratch("no-model-file")):
            not_attempted("load_model_file")
        fail(str(e))
    except HookUnavailable as e:  # save_model_file is a stub
        if is_stub(sub, "load_model_file", path=Scratch("no-model-file")):
            not_attempted("load_model_file")
        fail(f"not gradable without `save_model_file` ({e.message}): it writes the file this check loads")
    except SubmissionRaised as e:
        fail(uses("save_model_file", str(e)))
    data = file_bytes(body, tensors, f"`save_model_file` (the module of `{source}()`)")
    original = [getattr(o, "value", o) for o in (decode_value(x, tensors) for x in body.get("outputs") or [])]
    inputs = model_inputs(seed)
    for want in original:
        if not isinstance(want, torch.Tensor):
            fail(uses(f"{source}()", f"its forward returned a {type(want).__name__}, not a tensor"))
    # The submission's second worker: none of the main worker's requests (the save) ran there,
    # so only the file can carry the module. One file name per source: a module loaded by the
    # other cell may still map its file.
    other = sub.second()
    other.write_file(f"model-{source}", data)
    obs = other.module(
        "load_model_file", args={"path": Scratch(f"model-{source}")}, inputs=[[x] for x in inputs], grads=False
    )
    expect_is_module(obs, "`load_model_file(path)`")
    if obs.device_error:
        fail(f"the reloaded module could not be used: {exception_text(obs.device_error)}")
    for x, run, want in zip(inputs, obs.runs, original):
        shape = tuple(x.shape)
        if run.error:
            fail(
                f"the module `load_model_file` rebuilt raised {exception_text(run.error)} for input of shape {shape}",
                MODEL_HINT,
            )
        got = run.y.value if isinstance(run.y, TensorOut) else run.y
        rtol, atol = tolerance(want.dtype, "cpu")
        problem = mismatch(
            got,
            want,
            rtol,
            atol,
            what=f"the reloaded module's output for input of shape {shape} (against the saved module's)",
        )
        if problem:
            fail(problem, MODEL_HINT)
    if len(obs.runs) != len(inputs):
        fail("the reloaded module was not run on every input")


# -- save_checkpoint, load_checkpoint (exercise 5.5.1) -----------------------------------------

CHECKPOINT_NET = arch.seq(arch.linear(5, 16), {"type": "Tanh"}, arch.linear(16, 3))
RESUME = {"lr": 0.05, "momentum": 0.9, "k": 3, "m": 4}
RESUME_HINT = (
    "a checkpoint that resumes training holds the optimizer's state too (its momentum buffers): "
    "save `optimizer.state_dict()` with the net's and restore both with `load_state_dict`"
)


def resume_case(cache, seed: int) -> dict:
    """The data, the starting values, and uninterrupted training (after k, and after k + m steps)."""

    def build():
        s = derive_seed(seed, "checkpoint")
        g = torch.Generator().manual_seed(s)
        with seeded(s):
            model = arch.build(CHECKPOINT_NET)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        X, y = torch.randn(32, 5, generator=g), torch.randn(32, 3, generator=g)
        epoch = int(torch.randint(3, 100, (1,), generator=g))
        optimizer = arch.resume_sgd(model, RESUME, FunctionalSGD)
        arch.train_mse(model, optimizer, X, y, RESUME["k"])
        after_k = {n: p.detach().clone() for n, p in model.named_parameters()}
        momentum = {n: optimizer.state[p]["momentum_buffer"].clone() for n, p in model.named_parameters()}
        arch.train_mse(model, optimizer, X, y, RESUME["m"])
        final = {n: p.detach().clone() for n, p in model.named_parameters()}
        return {
            "seed": s,
            "state": state,
            "X": X,
            "y": y,
            "epoch": epoch,
            "after_k": after_k,
            "momentum": momentum,
            "final": final,
        }

    return cache(("d2l_ch5.resume", seed), build)


@dataclass
class Resume:
    """The checkpoint round trip: the load stage's answer, or the ``stage`` whose step did not
    complete (``save_checkpoint``, ``load_checkpoint`` or ``training after load_checkpoint``)
    with the worker's description of the exception (``error``) or a ``message``."""

    body: dict = field(default_factory=dict)
    tensors: dict = field(default_factory=dict)
    stage: str | None = None
    error: dict | None = None
    message: str = ""
    load_stub: bool = False  # save_checkpoint is a stub, and so is load_checkpoint

    def why(self) -> str:
        return f"{self.stage} raised {exception_text(self.error)}" if self.error else self.message


@pytest.fixture(scope="session")
def resumes() -> dict:
    """The round trip of the submission being graded, made once for its three checks (every
    fixture is set up afresh for each submission)."""
    return {}


def resume(sub, case: dict) -> Resume:
    """k steps and ``save_checkpoint`` in this check's worker; then, in a fresh worker where none
    of that ran, the file alone, ``load_checkpoint`` into a fresh net and optimizer, m steps."""
    fields = {"spec": CHECKPOINT_NET, "path": "checkpoint", **RESUME}
    try:
        body, tensors = sub.operation(
            "checkpoint_save",
            "save_checkpoint",
            epoch=case["epoch"],
            data={"state": case["state"], "X": case["X"], "y": case["y"]},
            **fields,
        )
    except (WorkerFailure, HookUnavailable) as e:
        return Resume(stage="save_checkpoint", message=e.message)
    if body.get("failed"):
        error = body["failed"]["error"]
        # A stub: is load_checkpoint one too? (Then its checks are "not attempted", not failed.)
        stub = error.get("type") == "NotImplementedError" and _is_stub(sub, case, fields)
        return Resume(stage="save_checkpoint", error=error, load_stub=stub)
    try:
        data = file_bytes(body, tensors, "`save_checkpoint`")
    except CheckFailed as e:
        return Resume(stage="save_checkpoint", message=e.message)
    other = sub.fresh()
    try:
        body, tensors = other.operation(
            "checkpoint_load",
            "load_checkpoint",
            seed=case["seed"] + 1,
            data={"files": {"checkpoint": data}, "X": case["X"], "y": case["y"]},
            **fields,
        )
    except (WorkerFailure, HookUnavailable) as e:
        return Resume(stage="load_checkpoint", message=e.message)
    finally:
        other.close()
    f = body.get("failed")
    return Resume(body, tensors, stage=f["step"] if f else None, error=f["error"] if f else None)


def _is_stub(sub, case: dict, fields: dict) -> bool:
    """Whether ``load_checkpoint`` raises NotImplementedError, called on a path with no file."""
    try:
        body, _ = sub.operation(
            "checkpoint_load", "load_checkpoint", seed=0, data={"X": case["X"], "y": case["y"]}, **fields
        )
    except (WorkerFailure, HookUnavailable) as e:
        return isinstance(e, HookUnavailable) and e.status == "not_attempted"
    f = body.get("failed") or {}
    return f.get("step") == "load_checkpoint" and f.get("error", {}).get("type") == "NotImplementedError"


def resumed(sub, case: dict, resumes: dict, partner: str) -> Resume:
    if not sub.implements(partner):
        fail(without(sub, partner, "the checkpoint is written by `save_checkpoint` and read by `load_checkpoint`"))
    if case["seed"] not in resumes:
        resumes[case["seed"]] = resume(sub, case)
    return resumes[case["seed"]]


def expect_stages(r: Resume, own: str, stages: tuple[str, ...]) -> None:
    """Fail when one of ``stages`` did not complete: as this check's own failure when its step
    is the hook's own (a stub's NotImplementedError: "not attempted"), else saying which of the
    submission's other hooks to fix first."""
    if r.stage is None or r.stage not in stages:
        return
    if r.stage == own:
        if r.error:
            fail_raised(own, f"`{own}`", r.error)
        fail(r.message)
    partner = "load_checkpoint" if r.stage != "save_checkpoint" else "save_checkpoint"
    if (r.error or {}).get("type") == "NotImplementedError" and r.stage == partner:
        if r.load_stub:  # both are stubs: this one is not attempted either
            raise SubmissionRaised(own, r.error or {})
        fail(
            f"not gradable without `{partner}` (a stub that raises NotImplementedError): the checkpoint is "
            "written by `save_checkpoint` and read by `load_checkpoint`"
        )
    if r.stage == "save_checkpoint":
        fail(uses("save_checkpoint", r.why()))
    fail(r.why())  # load_checkpoint, or training after it: a checkpoint missing something shows there


@pytest.mark.optimizer
@pytest.mark.parametrize("hook", ["save_checkpoint"])
def test_resume(hook, sub, seed, cache, tolerance, resumes):
    """k steps of SGD with momentum, checkpoint, restore into a fresh net and optimizer in another process (only the file travels), m steps: equals k + m uninterrupted steps."""
    case = resume_case(cache, seed)
    r = resumed(sub, case, resumes, "load_checkpoint")
    expect_stages(r, "save_checkpoint", ("save_checkpoint", "load_checkpoint", "training after load_checkpoint"))
    final = decode_value(r.body.get("final"), r.tensors)
    for name, want in case["final"].items():
        rtol, atol = tolerance(want.dtype, "cpu")
        problem = mismatch(
            final.get(name) if isinstance(final, dict) else None,
            want,
            rtol,
            atol,
            what=f"after resuming from the checkpoint, parameter `{name}` (against uninterrupted training)",
        )
        if problem:
            fail(problem, RESUME_HINT)


@pytest.mark.optimizer
@pytest.mark.parametrize("hook", ["load_checkpoint"])
def test_restores(hook, sub, seed, cache, tolerance, resumes):
    """Right after `load_checkpoint` (in another process than the save: only the file travels), the fresh net holds the checkpointed values and the fresh optimizer its momentum buffers."""
    case = resume_case(cache, seed)
    r = resumed(sub, case, resumes, "save_checkpoint")
    expect_stages(r, "load_checkpoint", ("save_checkpoint", "load_checkpoint"))
    restored = decode_value(r.body.get("restored"), r.tensors)
    momentum = decode_value(r.body.get("momentum"), r.tensors)
    for name, want in case["after_k"].items():
        rtol, atol = tolerance(want.dtype, "cpu")
        problem = mismatch(
            restored.get(name), want, rtol, atol, what=f"parameter `{name}` of the fresh net after `load_checkpoint`"
        )
        if problem:
            fail(problem, "restore the net in place: `net.load_state_dict(checkpoint[...])`")
    for name, want in case["momentum"].items():
        got = momentum.get(name)
        if got is None:
            fail(f"after `load_checkpoint` the fresh optimizer has no momentum buffer for `{name}`", RESUME_HINT)
        rtol, atol = tolerance(want.dtype, "cpu")
        problem = mismatch(
            got, want, rtol, atol, what=f"the optimizer's momentum buffer for `{name}` after `load_checkpoint`"
        )
        if problem:
            fail(problem, RESUME_HINT)


@pytest.mark.optimizer
@pytest.mark.parametrize("hook", ["load_checkpoint"])
def test_epoch(hook, sub, seed, cache, resumes):
    """Returns the epoch given to `save_checkpoint`, as an int."""
    case = resume_case(cache, seed)
    r = resumed(sub, case, resumes, "save_checkpoint")
    expect_stages(r, "load_checkpoint", ("save_checkpoint", "load_checkpoint"))
    epoch = decode_value(r.body.get("epoch"), r.tensors)
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        fail(
            f"`load_checkpoint` returned a {type(epoch).__name__}, expected the epoch (an int) given to `save_checkpoint`"
        )
    if epoch != case["epoch"]:
        fail(f"`load_checkpoint` returned {epoch}, not the epoch given to `save_checkpoint`")
