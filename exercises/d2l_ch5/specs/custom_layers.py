"""5.4 Custom layers."""

from __future__ import annotations

from torch import nn

from grader.kit import hookspec, known_as

SECTION = "custom_layers"
TITLE = "5.4 Custom layers"


@hookspec(firstresult=True)
@known_as("CenteredLayer")
def centered_layer() -> nn.Module:
    """Return a layer with no parameters whose ``forward(X) = X - X.mean()`` (the mean of all
    elements, not per row or per column).

    Graded: outputs on inputs of several shapes (1-D to 3-D), gradients, ``gradcheck`` in
    float64, no parameters.
    """


@hookspec(firstresult=True)
@known_as("MyLinear")
def my_linear(in_units: int, units: int) -> nn.Module:
    """Return a linear layer with ReLU built from your own Parameters.

    Parameters ``weight`` of shape ``(in_units, units)`` (note: not ``nn.Linear``'s layout) and
    ``bias`` of shape ``(units,)``; ``forward(X) = relu(X @ weight + bias)``. Gradients must
    reach ``weight`` and ``bias`` (the book's version, which uses ``.data``, fails this).

    Graded: outputs and gradients with transplanted values, ``gradcheck`` in float64, names and
    shapes.
    """


@hookspec(firstresult=True)
def tensor_reduction(in_features: int, out_features: int) -> nn.Module:
    """Exercise 5.4.1: a layer computing a tensor reduction.

    Parameter ``weight`` of shape ``(in_features, in_features, out_features)``, no bias.
    ``forward(X)`` maps ``(B, in_features)`` to ``(B, out_features)`` with
    ``y[b, k] = Σ_ij weight[i, j, k] · X[b, i] · X[b, j]``.

    Graded: outputs and gradients with transplanted values, ``gradcheck`` in float64, shapes.
    """


@hookspec(firstresult=True)
def fourier_half() -> nn.Module:
    """Exercise 5.4.2: a layer returning the leading half of the Fourier coefficients.

    No parameters. ``forward(X) = torch.fft.fft(X, dim=-1)[..., : X.shape[-1] // 2]``: complex,
    unnormalized, along the last dimension, for real input of any leading shape. Differentiable.
    (``torch.fft.rfft`` returns ``n // 2 + 1`` coefficients: cut it to ``n // 2``.)

    Graded: outputs for even and odd lengths and several leading shapes, gradients, ``gradcheck``
    in float64 (float64 input gives complex128 output), no parameters.
    """
