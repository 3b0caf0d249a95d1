"""The net the initializer checks hand to ``net.apply(init)``, and what each init must do to it.

Large Linear layers of different fan-in and fan-out (so the statistical tests have power and a
fan mix-up shows), plus LayerNorm and BatchNorm1d modules whose parameters and buffers hold
non-default values: an init that reaches beyond ``nn.Linear`` changes them visibly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from grader.kit import Arch, BadAnswer, ModuleSummary, arch, derive_seed, fail, seeded

from . import _stats

TANH = {"type": "Tanh"}
# About 40k Linear weights: the smallest KS threshold (DKW, α = 1e-6 over four layers) is then
# ≈ 0.03 against a distance of 0.057 between Xavier's normal and uniform forms, so every wrong
# distribution is caught with a wide margin, at a tenth of the cost of larger layers.
NET = arch.seq(
    arch.linear(64, 128),
    {"type": "LayerNorm", "n": 128},
    arch.relu(),
    arch.seq(arch.linear(128, 160), {"type": "BatchNorm1d", "n": 160}, TANH),
    arch.linear(160, 64),
    arch.relu(),
    arch.linear(64, 10),
)

TYPE_HINT = (
    "gate the init on `type(module) is nn.Linear` (or `isinstance(module, nn.Linear)`); `net.apply` visits every module"
)
IN_PLACE_HINT = "initialize in place (`nn.init.*_` or an in-place op under `torch.no_grad()`), never by assigning a new nn.Parameter"


@dataclass
class Layout:
    """The net's values before the init and the role of each name."""

    state: dict[str, torch.Tensor]
    linear_weights: dict[str, tuple[int, int]]  # name -> (fan_in, fan_out)
    linear_biases: list[str]
    others: dict[str, str]  # name of every other parameter or buffer -> its module's type


def layout(seed: int) -> Layout:
    with seeded(derive_seed(seed, "init-net")):
        net = arch.build(NET)
        g = torch.Generator().manual_seed(derive_seed(seed, "init-net-values"))
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, (nn.LayerNorm, nn.BatchNorm1d)):
                    m.weight.copy_(1 + 0.5 * torch.randn(m.weight.shape, generator=g))
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g))
                if isinstance(m, nn.BatchNorm1d):
                    m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                    m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                    m.num_batches_tracked.fill_(7)
    weights, biases, others = {}, [], {}
    for prefix, m in net.named_modules():
        dot = f"{prefix}." if prefix else ""
        if type(m) is nn.Linear:
            weights[f"{dot}weight"] = (m.in_features, m.out_features)
            biases.append(f"{dot}bias")
        else:
            for name, _ in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
                others[f"{dot}{name}"] = type(m).__name__
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return Layout(state, weights, biases, others)


@dataclass
class Applied:
    """What the worker reported after ``net.apply(hook)``."""

    summary: ModuleSummary
    kept: dict[str, bool]

    def value(self, name: str) -> torch.Tensor:
        v = self.summary.values.get(name)
        if v is None:
            fail(f"`{name}` is gone from the net after `net.apply(...)`")
        return v


def apply_init(sub: Any, hook: str, seed: int, cache: Callable) -> tuple[Applied, Layout]:
    lay = cache(("d2l_ch5.init-layout", seed), lambda: layout(seed))
    body, tensors = sub.operation(
        "net_apply", hook, args={"net": Arch(NET, lay.state)}, seed=derive_seed(seed, "init", hook)
    )
    kept = body.get("kept")
    if not isinstance(kept, dict) or not isinstance(body.get("summary"), dict):
        raise BadAnswer("malformed answer to net_apply")
    return Applied(ModuleSummary(body["summary"], tensors), {str(k): bool(v) for k, v in kept.items()}), lay


# -- what each init does to a Linear weight ------------------------------------------------------


def _stats_text(w: torch.Tensor) -> str:
    w = w.to(torch.float64)
    return f"its mean is {float(w.mean()):.3g}, its std {float(w.std()):.3g}"


def _fit_failure(name: str, fit: _stats.Fit, target: str, extra: str) -> str:
    return (
        f"`{name}` does not look like {target}: the Kolmogorov–Smirnov distance is {fit.distance:.3g} "
        f"(largest gap at {fit.at:.3g}), above the threshold {fit.threshold:.3g}; {extra}"
    )


def check_normal(name: str, w: torch.Tensor, fan: tuple[int, int], alpha: float) -> None:
    fit = _stats.ks_fit(w, _stats.normal_cdf(0.01), alpha=alpha)
    if not fit.ok:
        fail(
            _fit_failure(name, fit, "N(0, 0.01²)", _stats_text(w)),
            "`nn.init.normal_(w, mean=0, std=0.01)`: std is 0.01, the variance 0.01²",
        )


def check_xavier(name: str, w: torch.Tensor, fan: tuple[int, int], alpha: float) -> None:
    bound = math.sqrt(6.0 / (fan[0] + fan[1]))
    u = w.to(torch.float64) / bound
    fit = _stats.ks_fit(u, _stats.uniform_cdf(-1.0, 1.0), alpha=alpha)
    if fit.ok:
        return
    hint = None
    if _stats.ks_fit(u, _stats.normal_cdf(1 / math.sqrt(3)), alpha=alpha).ok:
        hint = "these look like Xavier *normal* values (same variance); the contract asks for `nn.init.xavier_uniform_`"
    extra = f"divided by sqrt(6 / (fan_in + fan_out)) their largest magnitude is {float(u.abs().max()):.3g} (1 for Xavier uniform)"
    fail(_fit_failure(name, fit, "Xavier uniform U(±sqrt(6 / (fan_in + fan_out)))", extra), hint)


def check_my_init(name: str, w: torch.Tensor, fan: tuple[int, int], alpha: float) -> None:
    fit = _stats.ks_fit(w, _stats.my_init_cdf(), _stats.my_init_cdf(left=True), alpha=alpha)
    if fit.ok:
        return
    w = w.to(torch.float64)
    extra = (
        f"{float((w == 0).double().mean()):.3f} of it is 0, {float(((w >= 5) & (w <= 10)).double().mean()):.3f} "
        f"in [5, 10] and {float(((w <= -5) & (w >= -10)).double().mean()):.3f} in [−10, −5] (targets 1/2, 1/4, 1/4)"
    )
    fail(
        _fit_failure(name, fit, "the mixture U(5, 10) · 1/4 + 0 · 1/2 + U(−10, −5) · 1/4", extra),
        "draw U(−10, 10), then zero the values with |w| < 5",
    )


def constant(c: float) -> Callable[[str, torch.Tensor, tuple[int, int], float], None]:
    def check(name: str, w: torch.Tensor, fan: tuple[int, int], alpha: float) -> None:
        bad = int((w != c).sum())
        if bad:
            fail(f"`{name}`: {bad} of {w.numel()} elements are not {c:g}")

    return check


WEIGHTS = {
    "init_normal": check_normal,
    "init_constant": constant(1.0),
    "init_xavier": check_xavier,
    "init_42": constant(42.0),
    "my_init": check_my_init,
}
ZERO_BIAS = {"init_normal", "init_constant"}  # the others leave the bias untouched
