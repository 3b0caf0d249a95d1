"""A check a plugin adds to the chapter's `mlp` hook: the network must not be affine."""

import pytest
import torch

from grader.kit import TensorOut, fail

pytestmark = pytest.mark.hook("mlp")


def test_not_affine(sub, make_rng):
    """The MLP is not an affine map: f(x + y) differs from f(x) + f(y) - f(0)."""
    g = make_rng("mlp", "affine")
    x, y = torch.randn(4, 20, generator=g), torch.randn(4, 20, generator=g)
    obs = sub.module("mlp", inputs=[[x], [y], [x + y], [torch.zeros(4, 20)]], grads=False)
    outs = [run.y.value for run in obs.runs if isinstance(run.y, TensorOut)]
    if len(outs) != 4:
        fail("the MLP did not return a tensor for every input")
    fx, fy, fxy, f0 = outs
    if torch.allclose(fxy, fx + fy - f0, rtol=1e-4, atol=1e-4):
        fail(
            "the MLP is an affine map of its input: f(x + y) = f(x) + f(y) - f(0)",
            "put a nonlinearity (ReLU) between the two linear layers",
        )
