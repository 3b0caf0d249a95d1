"""Tensor comparison for verdicts, with messages that say what differed and where.

The verdict is ``torch.testing.assert_close``'s (strict type, shape, dtype; the
``|actual - expected| <= atol + rtol * |expected|`` rule; per-dtype default tolerances). The
message is ours, because assert_close's can print an expected scalar: ours gives counts,
greatest errors and their index, never an expected value.

For the common case, two dense tensors of one plain type, dtype and shape, the verdict is
computed as assert_close computes it there (``torch.isclose(...).all()``,
``_compare_regular_values_close`` in torch/testing/_comparison.py) without calling it: its first
call imports torch.distributed.tensor and sympy (~0.5 s, for a DTensor check), and each call costs
four times the comparison (a run makes ~600). tests/test_compare.py checks the two verdicts agree.
"""

from __future__ import annotations

import math

import torch

# assert_close's defaults (torch/testing/_comparison.py), used when no plugin overrides them.
DEFAULT_TOLERANCES = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
    torch.complex64: (1.3e-6, 1e-5),
    torch.complex128: (1e-7, 1e-7),
}


def default_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """``torch.testing.assert_close``'s default ``(rtol, atol)`` for ``dtype`` (``(0, 0)``, exact,
    for the dtypes it compares exactly)."""
    return DEFAULT_TOLERANCES.get(dtype, (0.0, 0.0))


# On CUDA the submission and the reference run on the same device with the same flags (TF32
# off in both processes: ``grader/worker/precision.py``), but kernels may still sum in another
# order (``F.linear`` vs ``X @ W.T + b``, batched vs per-slice products). Other dtypes keep
# assert_close's defaults, which already allow for a different summation order.
CUDA_TOLERANCES = {
    torch.float32: (1e-5, 1e-5),
    torch.complex64: (1e-5, 1e-5),
}


def device_tolerance(dtype: torch.dtype, device: str) -> tuple[float, float]:
    if device.startswith("cuda") and dtype in CUDA_TOLERANCES:
        return CUDA_TOLERANCES[dtype]
    return default_tolerance(dtype)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _index(flat: int, shape: torch.Size) -> str:
    idx = []
    for dim in reversed(shape):
        idx.append(flat % dim)
        flat //= dim
    return str(tuple(reversed(idx)))


def _dense(t: torch.Tensor) -> bool:
    return type(t) is torch.Tensor and t.layout == torch.strided and not t.is_quantized


def close(a: torch.Tensor, e: torch.Tensor, rtol: float, atol: float) -> bool:
    """assert_close's verdict (``equal_nan=False``, no subclasses) on two CPU tensors of one shape
    and dtype."""
    # 1-byte floats are compared bitwise by assert_close (and refuse tolerances): not here.
    if _dense(a) and _dense(e) and not (a.dtype.is_floating_point and a.dtype.itemsize == 1):
        # Equal values are close (torch.equal is false wherever a NaN is): 30x cheaper to ask first.
        return torch.equal(a, e) or bool(torch.isclose(a, e, rtol=rtol, atol=atol, equal_nan=False).all())
    try:
        torch.testing.assert_close(a, e, rtol=rtol, atol=atol, allow_subclasses=False, equal_nan=False)
        return True
    except AssertionError:
        return False


def mismatch(
    actual: object,
    expected: torch.Tensor,
    rtol: float | None = None,
    atol: float | None = None,
    what: str = "the output",
) -> str | None:
    """None when ``actual`` matches ``expected``; otherwise a message for the student."""
    if not isinstance(actual, torch.Tensor):
        return f"{what} should be a tensor, got {type(actual).__name__}"
    if actual.shape != expected.shape:
        return f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    if actual.dtype != expected.dtype:
        return f"{what} has dtype {str(actual.dtype).removeprefix('torch.')}, expected {str(expected.dtype).removeprefix('torch.')}"
    if rtol is None or atol is None:
        rtol, atol = default_tolerance(expected.dtype)
    a = actual.detach().cpu()
    e = expected.detach().cpu()
    if close(a, e, rtol, atol):
        return None
    if a.numel() == 0:
        return f"{what} differs"
    # Complex values are compared as |actual - expected| per element, like assert_close.
    a64 = a.to(torch.complex128 if a.is_complex() or e.is_complex() else torch.float64)
    e64 = e.to(a64.dtype)
    finite_a = torch.isfinite(a64)
    if not bool(finite_a.all()) and bool(torch.isfinite(e64).all()):
        n_nonfinite = int((~finite_a).sum())
        first = _index(int((~finite_a).flatten().nonzero()[0]), a64.shape)
        return f"{what} has {n_nonfinite} non-finite value(s) (NaN or inf), the first at index {first}"
    diff = (a64 - e64).abs()
    diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
    scale = e64.abs()
    bad = diff > atol + rtol * scale
    n_bad = int(bad.sum())
    shape = a64.shape
    worst = int(diff.flatten().argmax())
    text = (
        f"{what} differs in {n_bad} of {a64.numel()} elements: "
        f"greatest absolute difference {_fmt(float(diff.flatten()[worst]))} at index {_index(worst, shape)}"
    )
    # A relative difference means nothing where the expected value is 0: rank only the others.
    rel_ok = bad & (scale > 0)
    if bool(rel_ok.any()):
        rel = torch.where(rel_ok, diff / torch.where(rel_ok, scale, torch.ones_like(scale)), torch.zeros_like(diff))
        worst_rel = int(rel.flatten().argmax())
        text += f", greatest relative difference {_fmt(float(rel.flatten()[worst_rel]))} at index {_index(worst_rel, shape)}"
    return text + f" (allowed: {_fmt(atol)} + {_fmt(rtol)}·|expected|)"


def same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same shape, dtype and values, bit for bit (on any devices)."""
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a.cpu(), b.cpu()))
