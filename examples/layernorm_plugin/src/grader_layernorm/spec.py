"""Extra exercise: layer normalization as a module (a section contributed by a plugin)."""

from __future__ import annotations

from torch import nn

from grader.kit import hookspec

SECTION = "layer_norm"
TITLE = "Extra: layer normalization"
HOOK = "layer_norm"


@hookspec(firstresult=True)
def layer_norm(features: int, eps: float) -> nn.Module:
    """Return a layer normalization module built from tensor operations (not ``nn.LayerNorm``
    or ``F.layer_norm``).

    Parameters: ``weight`` of shape ``(features,)``, initialized to ones, and ``bias`` of shape
    ``(features,)``, initialized to zeros; nothing else. ``forward(X)`` takes ``X`` of shape
    ``(..., features)`` and normalizes each vector along the last dimension:
    ``(X - mean) / sqrt(var + eps) * weight + bias``, where ``var`` is the biased variance
    (divide by ``features``, not ``features - 1``) and ``eps`` stays inside the square root.

    Graded: outputs and gradients with transplanted values for inputs of rank 2 and 3,
    parameter names, shapes and count, the initial values, and rows that are nearly constant
    (where ``eps`` matters).
    """
