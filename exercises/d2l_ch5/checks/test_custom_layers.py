"""Checks for 5.4 Custom layers.

Each layer is compared with the reference on inputs drawn from the run's seed (several batch
sizes; for the parameter-free layers also 1-D and 3-D inputs, and odd and even lengths), with the
reference's parameters transplanted by name. The backward is also checked on its own with
``torch.autograd.gradcheck`` in float64: finite differences computed here, the forward and its
vector-Jacobian products in the worker.
"""

import pytest

from grader.kit import case_fixture

from ._custom_cases import BUILDERS, HOOKS, check_gradcheck, check_gradients, check_outputs, check_structure


@case_fixture
def case(ref, hook, seed, device):
    """The reference side of ``hook`` on this check's device (CPU for device-free checks)."""
    return BUILDERS[hook](ref, seed, device)


@pytest.mark.parametrize("hook", HOOKS)
def test_outputs(hook, device, case, sub, tolerance):
    """Outputs equal the reference's (same parameters) for several input shapes."""
    check_outputs(case, sub, tolerance)


@pytest.mark.parametrize("hook", HOOKS)
def test_gradients(hook, device, case, sub, tolerance):
    """Input and parameter gradients equal the reference's after a seeded backward."""
    check_gradients(case, sub, tolerance)


@pytest.mark.parametrize("hook", HOOKS)
def test_gradcheck(hook, case, sub):
    """`torch.autograd.gradcheck` passes in float64, with respect to the input and every parameter."""
    check_gradcheck(case, sub)


@pytest.mark.parametrize("hook", HOOKS)
def test_structure(hook, case, sub):
    """Parameter names, shapes and count (none for `centered_layer` and `fourier_half`)."""
    check_structure(case, sub)
