"""Checks for 5.6 GPUs.

The truth is what the worker sees: ``try_gpu`` and ``try_all_gpus`` are graded against the CUDA
device count in the submission's own process. Tensors cross the boundary on the CPU and are
moved to the cell's device in the worker. A check that needs CUDA is skipped ("no CUDA device")
where there is none, never passed; ``two_gpu_matmul`` needs two (``needs_cuda(2)``: skipped
for every submission alike where there are fewer, so the maximum depends on the machine alone).

Timings are judged against the call's own duration (a time cannot exceed it) and, on CUDA,
against the grader's own synchronized measurement in the same process: an unsynchronized timer
measures only the kernel launch. ``frobenius_log``'s per-step vs on-device timing is reported,
not graded: its CUDA cell is skipped with the measured ratio as the reason (a passed check
carries no message), so it never earns or costs a point.
"""

import math

import pytest
import torch

from grader.kit import Scratch, decode_value, derive_seed, fail, fail_raised, mismatch

# -- try_gpu, try_all_gpus ---------------------------------------------------------------------

# In range and just past the end for every device count up to 8, and far out of range.
INDICES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16]


def _device_text(d: object) -> str:
    return str(d) if isinstance(d, torch.device) else f"a {type(d).__name__}"


def _is(d: object, kind: str, index: int = 0) -> bool:
    if not isinstance(d, torch.device) or d.type != kind:
        return False
    return kind == "cpu" or (d.index or 0) == index


def gpu_calls(sub, hook: str, calls: list[dict]) -> tuple[int, list]:
    body, tensors = sub.operation("gpu_calls", hook, calls=calls)
    count = body.get("count")
    if not isinstance(count, int):
        fail("the worker did not report its CUDA device count")
    results = []
    for r in body.get("results") or []:
        if "error" in r:
            fail_raised(hook, f"`{hook}`", r["error"])
        results.append(decode_value(r.get("value"), tensors))
    return count, results


@pytest.mark.parametrize("hook", ["try_gpu"])
def test_devices(hook, sub):
    """For every `i` (in range and out of range): `cuda:i` when that GPU exists here, else `cpu`."""
    count, results = gpu_calls(sub, hook, [{"hook": hook, "args": {"i": i}} for i in INDICES])
    for i, got in zip(INDICES, results):
        want = ("cuda", i) if i < count else ("cpu", 0)
        if not isinstance(got, torch.device):
            fail(f"`try_gpu({i})` returned {_device_text(got)}, expected a torch.device")
        if not _is(got, *want):
            fail(
                f"`try_gpu({i})` returned {got}, but this machine has {count} CUDA device(s), so it should "
                f"return {f'cuda:{i}' if i < count else 'cpu'}",
                "GPU i exists when `i < torch.cuda.device_count()`",
            )


@pytest.mark.parametrize("hook", ["try_all_gpus"])
def test_all_devices(hook, sub):
    """Every CUDA device in order (`cuda:0` …), or `[cpu]` when there is none."""
    count, (got,) = gpu_calls(sub, hook, [{"hook": hook, "args": {}}])
    if not isinstance(got, (list, tuple)) or not all(isinstance(d, torch.device) for d in got):
        fail(f"`try_all_gpus()` returned {_device_text(got)}, expected a list of torch.device")
    if count == 0:
        if len(got) != 1 or not _is(got[0], "cpu"):
            fail(
                f"with no CUDA device `try_all_gpus()` returned {[str(d) for d in got]}, expected [cpu]",
                "return `[torch.device('cpu')]` when there is no GPU (the book's version returns [], "
                "so `try_all_gpus()[0]` fails on a CPU-only machine)",
            )
        return
    if len(got) != count or not all(_is(d, "cuda", i) for i, d in enumerate(got)):
        fail(f"`try_all_gpus()` returned {[str(d) for d in got]}, but this machine has {count} CUDA device(s)")


# -- load_params_to (exercise 5.6.2) -----------------------------------------------------------


def params_file(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(derive_seed(seed, "params-to"))
    return {
        "0.weight": torch.randn(8, 4, generator=g),
        "0.bias": torch.randn(8, generator=g),
        "1.running_mean": torch.randn(8, generator=g).half(),
        "1.num_batches_tracked": torch.tensor(17),
        "mask": torch.rand(5, generator=g) > 0.5,
    }


@pytest.mark.parametrize("hook", ["load_params_to"])
def test_placement(hook, device, sub, seed):
    """A safetensors file saved from this device loads with every tensor on the requested device (and on a GPU cell, also onto the CPU), values equal."""
    want = params_file(seed)
    targets = [device] if device == "cpu" else [device, "cpu"]
    body, tensors = sub.operation(
        "placed_calls",
        hook,
        device=device,
        data={
            "file": ["params.safetensors", want],
            "calls": [{"path": Scratch("params.safetensors"), "device": torch.device(t)} for t in targets],
        },
    )
    for target, r in zip(targets, body.get("results") or []):
        call = f"`load_params_to(path, torch.device('{target}'))`"
        if "error" in r:
            fail_raised(hook, call, r["error"])
        got = decode_value(r.get("value"), tensors)
        if not isinstance(got, dict):
            fail(f"{call} returned a {type(got).__name__}, expected a dict of tensors")
        missing = [k for k in want if k not in got]
        extra = [str(k) for k in got if k not in want]
        if missing or extra:
            fail(f"{call} returned other names than the file holds: missing {missing}, unexpected {extra}")
        for key, place in (r.get("devices") or {}).items():
            if place != target and not (target == "cuda:0" and place == "cuda"):
                fail(
                    f"{call} put `{key}` on {place}",
                    "let safetensors place the tensors: `load_file(path, device=str(device))` (or `safe_open(path, 'pt', device=...)`)",
                )
        for key, value in want.items():
            problem = mismatch(got[key], value, 0.0, 0.0, what=f"`{key}` as {call} returned it")
            if problem:
                fail(problem)


# -- time_matmul (exercise 5.6.1) --------------------------------------------------------------

SIZE = {"cpu": 192, "cuda": 4096}  # on CUDA large enough that one matmul dwarfs a launch
SYNC_HINT = "CUDA kernels run asynchronously: call `torch.cuda.synchronize(device)` before both timestamps"
WARMUP_HINT = "run the matmul once before timing it (the first call pays for kernel loading and cuBLAS set-up)"


@pytest.mark.parametrize("hook", ["time_matmul"])
def test_timing(hook, device, sub):
    """A positive float of seconds, no longer than the call itself; on CUDA close to a synchronized, warmed-up measurement."""
    cuda = device.startswith("cuda")
    n = SIZE["cuda" if cuda else "cpu"]
    view = sub.fresh() if cuda else sub  # on CUDA a fresh process, so a missing warm-up shows
    try:
        body, tensors = view.operation("time_matmul_probe", hook, n=n, device=device, measure=cuda)
    finally:
        if view is not sub:
            view.close()
    value = decode_value(body.get("value"), tensors)
    call = f"`time_matmul({n}, torch.device('{device}'))`"
    if isinstance(value, bool) or not isinstance(value, float):
        fail(
            f"{call} returned {'a tensor' if hasattr(value, 'value') else 'a ' + type(value).__name__}, expected seconds as a Python float"
        )
    if not math.isfinite(value) or value <= 0:
        fail(f"{call} returned {value}, expected a positive number of seconds")
    wall = float(body["wall"])
    if value > wall * 1.05 + 1e-4:
        fail(
            f"{call} returned {value:.3g}, but the whole call took {wall:.3g} s: report seconds (not milliseconds), measured inside the call"
        )
    if cuda:
        own = float(body["own"])
        if value < 0.25 * own:
            fail(
                f"{call} returned {value:.3g} s, but a synchronized measurement of the same matmul here takes {own:.3g} s",
                SYNC_HINT,
            )
        if value > 20 * own + 0.05:
            fail(
                f"{call} returned {value:.3g} s, but a warmed-up measurement of the same matmul here takes {own:.3g} s",
                WARMUP_HINT,
            )


# -- frobenius_log (exercise 5.6.3) ------------------------------------------------------------

FROBENIUS = {"cpu": (40, 24), "cuda": (1000, 100)}  # (num, n); the book's sizes on a GPU
MODES = [True, False, True]  # the first call warms up; the timing compares the next two
NORM_RTOL, NORM_ATOL = 1e-5, 1e-6  # float32 products and sums against float64 truth


def frobenius_answer(sub, seed: int, device: str):
    num, n = FROBENIUS["cuda" if device.startswith("cuda") else "cpu"]
    g = torch.Generator().manual_seed(derive_seed(seed, "frobenius"))
    a, b = torch.randn(num, n, n, generator=g), torch.randn(num, n, n, generator=g)
    body, tensors = sub.operation(
        "placed_calls",
        "frobenius_log",
        device=device,
        data={"calls": [{"a": a, "b": b, "on_device": m} for m in MODES]},
    )
    want = torch.linalg.matrix_norm(a.double() @ b.double())
    return body, tensors, want


def expect_norms(r: dict, tensors: dict, want: torch.Tensor, on_device: bool) -> None:
    call = f"`frobenius_log(a, b, on_device={on_device})`"
    if "error" in r:
        fail_raised("frobenius_log", call, r["error"])
    got = decode_value(r.get("value"), tensors)
    if not hasattr(got, "value"):
        fail(f"{call} returned a {type(got).__name__}, expected a tensor of norms")
    if got.device != "cpu":
        fail(
            f"{call} returned a tensor on {got.device}, expected the CPU",
            "move the log to the host once at the end: `.cpu()`",
        )
    if got.value.shape != want.shape:
        fail(f"{call} returned shape {tuple(got.value.shape)}, expected ({want.shape[0]},): one norm per product")
    if not got.value.is_floating_point():
        fail(f"{call} returned dtype {got.value.dtype}, expected floating point norms")
    problem = mismatch(got.value.double(), want, NORM_RTOL, NORM_ATOL, what=f"the norms {call} returned")
    if problem:
        fail(problem, "the Frobenius norm of `a[i] @ b[i]` is `torch.linalg.matrix_norm(a[i] @ b[i])`")


@pytest.mark.parametrize("hook", ["frobenius_log"])
def test_norms(hook, device, sub, seed):
    """In both modes, a CPU tensor with the Frobenius norm of each product `a[i] @ b[i]` (inputs on this device)."""
    body, tensors, want = frobenius_answer(sub, seed, device)
    for r, mode in zip(body.get("results") or [], MODES):
        expect_norms(r, tensors, want, mode)


@pytest.mark.points(0)  # informational: never part of a score, even where a hook's total is shared out
@pytest.mark.parametrize("hook", ["frobenius_log"])
def test_timing_ratio(hook, device, sub, seed):
    """On CUDA, reports the per-step vs on-device time (informational: skipped with the ratio, never scored)."""
    if device == "cpu":
        pytest.skip("the timing comparison is reported on CUDA devices only")
    body, tensors, want = frobenius_answer(sub, seed, device)
    results = body.get("results") or []
    for r, mode in zip(results, MODES):
        expect_norms(r, tensors, want, mode)  # timings of a wrong answer mean nothing
    per_step, on_device = float(results[1]["seconds"]), float(results[2]["seconds"])
    pytest.skip(
        f"informational, not graded: per-step {per_step:.3g} s, on-device {on_device:.3g} s "
        f"(keeping the log on the device is {per_step / max(on_device, 1e-9):.2g}× as fast here)"
    )


# -- two_gpu_matmul (exercise 5.6.4) -----------------------------------------------------------

TWO_GPU_SIZE = 4096


@pytest.mark.needs_cuda(2)  # skipped before the submission is looked at: the maximum is the machine's
@pytest.mark.parametrize("hook", ["two_gpu_matmul"])
def test_timings(hook, sub, seed):
    """Two positive times, each close to a synchronized measurement here, the two-GPU one shorter than the sequential one."""
    body, tensors = sub.operation("two_gpu_probe", hook, n=TWO_GPU_SIZE, seed=derive_seed(seed, "two-gpu"))
    value = decode_value(body.get("value"), tensors)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(t, float) and not isinstance(t, bool) for t in value)
    ):
        fail(f"`two_gpu_matmul(a, b)` returned {value!r:.80}, expected a pair of floats (seconds)")
    both, one = value
    if not all(math.isfinite(t) and t > 0 for t in value):
        fail(f"`two_gpu_matmul(a, b)` returned ({both}, {one}), expected positive numbers of seconds")
    wall = float(body["wall"])
    if both + one > wall * 1.05 + 1e-4:
        fail(
            f"the two times add up to {both + one:.3g} s, but the whole call took {wall:.3g} s: report seconds, measured inside the call"
        )
    for label, got, own in (("on two GPUs", both, body["own_both"]), ("in sequence on one GPU", one, body["own_one"])):
        if got < 0.25 * float(own):
            fail(
                f"the time {label} is {got:.3g} s, but a synchronized measurement here takes {float(own):.3g} s",
                SYNC_HINT + " (each device you used)",
            )
    if both >= one:
        fail(
            f"two matmuls on two GPUs took {both:.3g} s, no less than in sequence on one ({one:.3g} s)",
            "launch both matmuls before synchronizing either device, so the two GPUs work at the same time",
        )
