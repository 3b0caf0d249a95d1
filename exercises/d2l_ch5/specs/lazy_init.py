"""5.3 Deferred (lazy) initialization."""

from __future__ import annotations

from torch import nn

from grader.kit import hookspec

SECTION = "lazy_init"
TITLE = "5.3 Deferred initialization"


@hookspec(firstresult=True)
def lazy_mlp() -> nn.Module:
    """Return ``nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))``.

    No parameter is initialized before the first forward; after a forward on ``(B, d)`` input
    the weights have shapes ``(256, d)`` and ``(10, 256)``, for any ``d``.

    Graded: really lazy before the forward, nothing lazy after; shapes for a ``d`` chosen at run
    time; outputs and gradients with the reference's parameters transplanted.
    """


@hookspec(firstresult=True)
def partially_lazy_net() -> nn.Module:
    """Exercise 5.3.1: return ``nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.LazyLinear(10))``.

    The first layer is initialized at construction, the last only at the first forward.

    Graded: which layers are initialized right after construction; after a forward, nothing
    lazy, parameter names, shapes and count; outputs and gradients with the reference's
    parameters transplanted.
    """


@hookspec(firstresult=True)
def mismatched_net() -> nn.Module:
    """Exercise 5.3.2: return ``nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(128, 10))``.

    Construction succeeds; a forward on ``(B, 20)`` input raises ``RuntimeError`` (the shapes
    cannot be multiplied).

    Graded: it is built; its layers have those shapes; the forward raises ``RuntimeError``.
    """


@hookspec(firstresult=True)
def varying_input_net(in_dims: list[int], hidden: int, out: int) -> nn.Module:
    """Exercise 5.3.3: inputs of varying width.

    One adapter ``nn.Linear(d, hidden)`` per ``d`` in ``in_dims`` and one body, shared by all of
    them, mapping ``hidden`` features to ``out``. ``forward(X)`` picks the adapter by
    ``X.shape[-1]`` and returns ``(B, out)``; a width not in ``in_dims`` raises ``ValueError``.

    Graded: output shapes for every width; ``ValueError`` for an unknown width; a backward
    gives gradients to the matching adapter and the body only; the body is the same for every
    width; parameter count ``Σ_d (d·hidden + hidden)`` plus the body's. Module names are yours:
    an adapter is recognized by its weight's shape ``(hidden, d)``.
    """
