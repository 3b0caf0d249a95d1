"""Goodness of fit for random initializers: the Kolmogorov–Smirnov distance with a threshold
from the Dvoretzky–Kiefer–Wolfowitz inequality.

DKW (with Massart's constant): for n i.i.d. samples with *any* distribution function F,
P(sup_x |F_n(x) − F(x)| > ε) ≤ 2·exp(−2nε²). So ε = sqrt(ln(2/α) / (2n)) bounds the chance that a
correct initializer fails by α, for every n and also for distributions with atoms (my_init's
mass 1/2 at 0), where the bound is conservative. Several tests in one check share α
(Bonferroni), so a check's false-failure rate stays at most α.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

ALPHA = 1e-6  # false-failure rate of one check


def dkw_epsilon(n: int, alpha: float = ALPHA) -> float:
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


@dataclass
class Fit:
    distance: float  # sup |F_n − F|
    at: float  # where the largest gap is
    threshold: float
    n: int

    @property
    def ok(self) -> bool:
        return self.distance <= self.threshold


def ks_fit(
    samples: torch.Tensor,
    cdf: Callable[[torch.Tensor], torch.Tensor],
    cdf_left: Callable[[torch.Tensor], torch.Tensor] | None = None,
    alpha: float = ALPHA,
) -> Fit:
    """KS distance of ``samples`` from the distribution ``cdf`` (F(x) = P(X ≤ x)); ``cdf_left``
    (F(x−) = P(X < x)) is needed where F has atoms. Evaluated at both sides of every sample, so
    ties and atoms are handled exactly."""
    x = samples.detach().flatten().to(torch.float64).sort().values
    n = x.numel()
    if n == 0:
        return Fit(math.inf, math.nan, dkw_epsilon(1, alpha), 0)
    if not bool(torch.isfinite(x).all()):
        return Fit(math.inf, math.nan, dkw_epsilon(n, alpha), n)
    f = cdf(x)
    f_left = cdf_left(x) if cdf_left is not None else f
    i = torch.arange(1, n + 1, dtype=torch.float64)
    above = i / n - f  # F_n(x_i) − F(x_i): the last of tied samples counts
    below = f_left - (i - 1) / n  # F(x_i−) − F_n(x_i−)
    gaps = torch.maximum(above, below)
    k = int(gaps.argmax())
    return Fit(float(gaps[k]), float(x[k]), dkw_epsilon(n, alpha), n)


def normal_cdf(std: float, mean: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: torch.special.ndtr((x - mean) / std)


def uniform_cdf(low: float, high: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: ((x - low) / (high - low)).clamp(0.0, 1.0)


def my_init_cdf(left: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """U(−10, −5) w.p. 1/4, 0 w.p. 1/2, U(5, 10) w.p. 1/4; ``left`` gives F(x−) (the atom at 0
    excluded)."""

    def cdf(x: torch.Tensor) -> torch.Tensor:
        atom = (x > 0) if left else (x >= 0)
        return 0.25 * ((x + 10) / 5).clamp(0, 1) + 0.5 * atom.to(x.dtype) + 0.25 * ((x - 5) / 5).clamp(0, 1)

    return cdf
