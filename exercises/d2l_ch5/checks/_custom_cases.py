"""Cases and check bodies for 5.4 Custom layers: the inputs the grader draws, what the reference
computes from them, and known mistakes whose outputs (or shapes) earn a hint.

Everything here runs in the trusted process and depends only on the run's seed; one worker
request per hook and device answers the outputs, gradients and structure checks (the request
cache answers identical requests once), and ``gradcheck`` keeps one module in the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from grader.kit import (
    ModuleCase,
    ModuleObservation,
    TensorOut,
    derive_seed,
    expect_gradients,
    expect_module,
    expect_outputs,
    expect_structure,
    fail,
    gradcheck,
    hinted,
    mismatch,
    module_case,
)

from ._cases import expect_transplanted

HOOKS = ["centered_layer", "my_linear", "tensor_reduction", "fourier_half"]

GLOBAL_MEAN_HINT = "subtract the mean of all elements, `X.mean()`, not a per-row or per-column mean"
MY_LINEAR_LAYOUT_HINT = (
    "the contract's `weight` is (in_units, units), used as `X @ weight`; nn.Linear's layout is (out, in)"
)
REDUCTION_LAYOUT_HINT = (
    "the contract's `weight` is indexed weight[i, j, k]: shape (in_features, in_features, out_features)"
)
RFFT_HINT = "torch.fft.rfft returns n // 2 + 1 coefficients: keep only the first n // 2"
ODD_HINT = "for odd n the contract keeps n // 2 coefficients (rounded down), e.g. 4 of 9"
FULL_HINT = "keep only the leading half: `[..., : X.shape[-1] // 2]`"
COMPLEX_HINT = "return the complex coefficients themselves (not `.real`, `.abs()` or `torch.view_as_real`)"
NORM_HINTS = {
    "ortho": 'the contract is unnormalized (norm="backward", the default); this matches norm="ortho" (scaled by 1/√n)',
    "forward": 'the contract is unnormalized (norm="backward", the default); this matches norm="forward" (scaled by 1/n)',
}


@dataclass
class Custom:
    """A reference case plus known mistakes: (their outputs per input, hint)."""

    case: ModuleCase
    known: list[tuple[list[torch.Tensor], str]] = field(default_factory=list)
    layouts: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)  # name -> (wrong shape, hint)
    check_inputs: list[torch.Tensor] = field(default_factory=list)  # float64, for gradcheck

    def hint(self, obs: ModuleObservation) -> str | None:
        """The hint for a known mistake this observation shows, if any."""
        t = obs.transplant or {}
        for s in t.get("shapes", []) if not t.get("done") else []:
            wrong = self.layouts.get(str(s.get("name")))
            if wrong and tuple(s.get("found", [])) == wrong[0]:
                return wrong[1]
        if self.case.hook == "fourier_half":
            shape_hint = _fourier_shape_hint(obs, self.case)
            if shape_hint:
                # Too many coefficients, and maybe also scaled: name both mistakes at once.
                norm = _leading_norm_hint(obs, self.case, self.known)
                return f"{shape_hint}; also, {norm}" if norm else shape_hint
        for outputs, hint in self.known:
            if _reproduces(obs, outputs, self.case.outputs):
                return hint
        return None


def _reproduces(obs: ModuleObservation, variant: list[torch.Tensor], reference: list[Any]) -> bool:
    """Every output that arrived equals the variant's, and the variant differs from the
    reference somewhere among them (so the hint is about a real difference)."""
    seen = differs = False
    for run, v, r in zip(obs.runs, variant, reference):
        if not isinstance(run.y, TensorOut):
            continue
        if mismatch(run.y.value, v) is not None:
            return False
        seen = True
        differs = differs or mismatch(v, r) is not None
    return seen and differs


def _leading_norm_hint(obs: ModuleObservation, case: ModuleCase, known: list) -> str | None:
    """The hint of the normalization (``norm="ortho"``, ``"forward"``) whose leading ``n // 2``
    coefficients every output that arrived reproduces, whatever else it keeps."""
    for variant, hint in known:
        if hint not in NORM_HINTS.values():
            continue
        seen = False
        for i, run in enumerate(obs.runs):
            if not isinstance(run.y, TensorOut) or not run.y.value.is_complex() or run.y.value.ndim == 0:
                continue
            half = int(case.inputs[i][0].shape[-1]) // 2
            if run.y.value.shape[-1] < half or mismatch(run.y.value[..., :half], variant[i]) is not None:
                break
            seen = True
        else:
            if seen:
                return hint
    return None


def _fourier_shape_hint(obs: ModuleObservation, case: ModuleCase) -> str | None:
    for i, run in enumerate(obs.runs):
        if not isinstance(run.y, TensorOut):
            continue
        y, n = run.y.value, int(case.inputs[i][0].shape[-1])
        if not y.is_complex():
            return COMPLEX_HINT
        m = int(y.shape[-1]) if y.ndim else -1
        if m == n // 2:
            continue
        if m == n:
            return FULL_HINT
        if n % 2 == 0 and m == n // 2 + 1:
            return RFFT_HINT
        if n % 2 == 1 and m == n // 2 + 1:
            return ODD_HINT + "; " + RFFT_HINT
    return None


# -- inputs ------------------------------------------------------------------------------------


def _ints(g: torch.Generator, lo: int, hi: int, n: int = 1) -> list[int]:
    return [int(v) for v in torch.randint(lo, hi + 1, (n,), generator=g)]


def _offset_rows(g: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """Values whose rows and columns have clearly different means (so a per-row or per-column
    mean gives a different answer from the global one)."""
    x = torch.randn(shape, generator=g)
    if len(shape) > 1:
        x = x + 2 * torch.randn(shape[:-1] + (1,), generator=g) + torch.randn(shape[-1:], generator=g)
    return x + 3 * torch.randn((), generator=g)


def centered_case(ref: Any, seed: int, device: str) -> Custom:
    s = derive_seed(seed, "case", "centered_layer")
    g = torch.Generator().manual_seed(s)
    d, d2, b, b2, n = *_ints(g, 3, 12, 2), *_ints(g, 2, 16, 2), *_ints(g, 5, 20)
    shapes = [(1, d), (b, d), (b2, d2), (*_ints(g, 2, 4, 2), d), (n,)]
    inputs = [[_offset_rows(g, sh)] for sh in shapes]
    case = module_case("centered_layer", ref.centered_layer, inputs, seed=s, device=device)
    rows = [x - x.mean(dim=-1, keepdim=True) for (x,) in inputs]
    cols = [x - x.mean(dim=0, keepdim=True) for (x,) in inputs]
    return Custom(
        case,
        known=[(rows, GLOBAL_MEAN_HINT), (cols, GLOBAL_MEAN_HINT)],
        check_inputs=[_offset_rows(g, (3, 5)).double()],
    )


def _batches(g: torch.Generator, features: int) -> list[list[torch.Tensor]]:
    sizes = [1, *_ints(g, 2, 16), *_ints(g, 17, 48)]
    return [[torch.randn(b, features, generator=g)] for b in sizes]


def my_linear_case(ref: Any, seed: int, device: str) -> Custom:
    s = derive_seed(seed, "case", "my_linear")
    g = torch.Generator().manual_seed(s)
    in_units = _ints(g, 4, 12)[0]
    units = _ints(g, 2, in_units - 1)[0]  # different from in_units, so the layouts differ
    args = {"in_units": in_units, "units": units}
    case = module_case(
        "my_linear", lambda: ref.my_linear(**args), _batches(g, in_units), seed=s, device=device, args=args
    )
    return Custom(
        case,
        layouts={"weight": ((units, in_units), MY_LINEAR_LAYOUT_HINT)},
        check_inputs=[torch.randn(3, in_units, generator=g, dtype=torch.float64)],
    )


def tensor_reduction_case(ref: Any, seed: int, device: str) -> Custom:
    s = derive_seed(seed, "case", "tensor_reduction")
    g = torch.Generator().manual_seed(s)
    in_f = _ints(g, 3, 8)[0]
    out_f = [k for k in range(2, 9) if k != in_f][_ints(g, 0, 5)[0]]  # != in_f: layouts differ
    args = {"in_features": in_f, "out_features": out_f}
    case = module_case(
        "tensor_reduction", lambda: ref.tensor_reduction(**args), _batches(g, in_f), seed=s, device=device, args=args
    )
    return Custom(
        case,
        layouts={"weight": ((out_f, in_f, in_f), REDUCTION_LAYOUT_HINT)},
        check_inputs=[torch.randn(3, in_f, generator=g, dtype=torch.float64)],
    )


def fourier_case(ref: Any, seed: int, device: str) -> Custom:
    s = derive_seed(seed, "case", "fourier_half")
    g = torch.Generator().manual_seed(s)
    even, even2 = (2 * k for k in _ints(g, 3, 8, 2))
    odd, odd2 = (2 * k + 1 for k in _ints(g, 2, 7, 2))
    b, b2 = _ints(g, 2, 16, 2)
    # Even lengths first: a wrong count at an even n and one only at odd n are different mistakes.
    shapes = [(1, even), (b, even), (*_ints(g, 2, 4, 2), even2), (b2, odd), (odd2,)]
    inputs = [[torch.randn(sh, generator=g)] for sh in shapes]
    case = module_case("fourier_half", ref.fourier_half, inputs, seed=s, device=device)
    known = []
    for norm, hint in NORM_HINTS.items():
        known.append(([torch.fft.fft(x, dim=-1, norm=norm)[..., : x.shape[-1] // 2] for (x,) in inputs], hint))
    return Custom(case, known=known, check_inputs=[torch.randn(2, 7, generator=g, dtype=torch.float64)])


BUILDERS: dict[str, Callable[[Any, int, str], Custom]] = {
    "centered_layer": centered_case,
    "my_linear": my_linear_case,
    "tensor_reduction": tensor_reduction_case,
    "fourier_half": fourier_case,
}


# -- check bodies ------------------------------------------------------------------------------


def check_outputs(c: Custom, sub: Any, tolerance: Callable) -> None:
    obs = c.case.observe(sub)
    hint = c.hint(obs)
    with hinted(hint):
        expect_transplanted(obs, c.case.hook)
        expect_outputs(obs, c.case, tolerance, hint)


def check_gradients(c: Custom, sub: Any, tolerance: Callable) -> None:
    obs = c.case.observe(sub)
    hint = c.hint(obs)
    with hinted(hint):
        expect_transplanted(obs, c.case.hook)
        expect_gradients(obs, c.case, tolerance, hint)


def check_structure(c: Custom, sub: Any) -> None:
    obs = c.case.observe(sub)
    with hinted(c.hint(obs)):
        expect_structure(obs, c.case)


def check_gradcheck(c: Custom, sub: Any) -> None:
    """gradcheck in float64 on the submission's module, kept in the worker, with the
    reference's parameter values (so a failure is about the backward, not the init)."""
    case = c.case
    obs = sub.module(case.hook, args=case.args, state=case.state, keep=True)
    with hinted(c.hint(obs)):
        expect_module(obs, case)
    if obs.handle is None:
        fail("the module could not be kept for gradcheck")
    params = {name: case.state[name] for name in case.shapes}
    gradcheck(sub, case.hook, obs.handle, c.check_inputs, params)


__all__ = ["BUILDERS", "HOOKS", "Custom", "check_gradcheck", "check_gradients", "check_outputs", "check_structure"]
