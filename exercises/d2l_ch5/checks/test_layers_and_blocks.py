"""Checks for 5.1 Layers and blocks."""

import pytest
import torch

from grader.kit import derive_seed, device_of, expect_gradients, expect_outputs, expect_structure, module_case

MODULE_HOOKS = ["mlp", "nest_mlp", "fixed_hidden_mlp", "chimera"]


@pytest.fixture
def case(request, hook, ref, seed, cache):
    """The reference side: its parameters, inputs of three batch sizes, its outputs and grads."""
    device = device_of(request)

    def build():
        s = derive_seed(seed, "case", hook)
        g = torch.Generator().manual_seed(s)
        sizes = [1, int(torch.randint(2, 17, (1,), generator=g)), int(torch.randint(17, 65, (1,), generator=g))]
        inputs = [[torch.randn(b, 20, generator=g)] for b in sizes]
        return module_case(hook, getattr(ref, hook), inputs, seed=s, device=device)

    return cache(("case", hook, device), build)


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_outputs(hook, device, case, sub, tolerance):
    """Outputs equal the reference's, its parameters transplanted by name, for three batch sizes."""
    expect_outputs(case.observe(sub), case, tolerance)


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_gradients(hook, device, case, sub, tolerance):
    """Input and parameter gradients equal the reference's after a seeded backward."""
    expect_gradients(case.observe(sub), case, tolerance)


@pytest.mark.parametrize("hook", MODULE_HOOKS)
def test_structure(hook, case, sub):
    """Parameter names, shapes and count; submodules registered; nothing lazy."""
    expect_structure(case.observe(sub), case)
