"""5.2 Parameter management: access, initialization, tying."""

from __future__ import annotations

import torch
from torch import nn

from grader.kit import hookspec

SECTION = "parameters"
TITLE = "5.2 Parameter management"


@hookspec(firstresult=True)
def param_shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    """Exercise 5.2.1: every parameter of ``net``, by its ``named_parameters()`` name, mapped to
    its shape as a tuple of ints (``p.shape``, a ``torch.Size``, is one; so is ``tuple(p.shape)``).
    Tied parameters appear once (under their first name); buffers (such as ``rand_weight``) are
    not parameters.

    Graded on a nested MLP, a FixedHiddenMLP-like net (with a buffer), ``rgnet`` and the
    shared-layer net, all built by the grader.
    """


@hookspec(firstresult=True)
def block1() -> nn.Module:
    """Return ``nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())``.
    76 parameters.

    Graded: outputs, gradients, names, shapes, count.
    """


@hookspec(firstresult=True)
def block2() -> nn.Module:
    """Return an ``nn.Sequential`` of four ``block1()``s added with ``add_module`` under the names
    ``"block 0"`` … ``"block 3"`` (with the space). 304 parameters.

    Graded: outputs, gradients, names (``block 0.0.weight`` …), shapes, count.
    """


@hookspec(firstresult=True)
def rgnet() -> nn.Module:
    """Return ``nn.Sequential(block2(), nn.Linear(4, 1))``. 309 parameters; names like
    ``0.block 2.0.weight``.

    Graded: outputs, gradients, names, shapes, count.
    """


@hookspec(firstresult=True)
def init_normal(module: nn.Module) -> None:
    """Used as ``net.apply(init_normal)``. On ``nn.Linear`` modules only: weight ~ N(0, 0.01²),
    bias = 0, in place. Leave every other module untouched. Parameters must stay the same leaf
    Parameters (requiring grad).

    Graded through ``net.apply`` on a net with large Linear layers next to LayerNorm and
    BatchNorm1d modules: a Kolmogorov–Smirnov test of each Linear weight (a correct init fails
    with probability below 1e-6), exact zeros for the bias, non-Linear modules untouched, the
    same Parameter objects kept.
    """


@hookspec(firstresult=True)
def init_constant(module: nn.Module) -> None:
    """On ``nn.Linear`` only: weight = 1, bias = 0, in place; other modules untouched.

    Graded exactly, through ``net.apply`` as for ``init_normal``.
    """


@hookspec(firstresult=True)
def init_xavier(module: nn.Module) -> None:
    """On ``nn.Linear`` only: weight ~ Xavier *uniform*, U(±sqrt(6 / (fan_in + fan_out))); the
    bias is left untouched; other modules untouched.

    Graded with a Kolmogorov–Smirnov test (Xavier normal, with the same variance, fails it) and
    exact checks of what must not change.
    """


@hookspec(firstresult=True)
def init_42(module: nn.Module) -> None:
    """On ``nn.Linear`` only: weight = 42; the bias is left untouched; other modules untouched.

    Graded exactly, through ``net.apply`` as for ``init_normal``.
    """


@hookspec(firstresult=True)
def my_init(module: nn.Module) -> None:
    """On ``nn.Linear`` only, each weight element independently: U(5, 10) with probability 1/4,
    0 with probability 1/2, U(−10, −5) with probability 1/4. The bias is left untouched.

    Graded with a Kolmogorov–Smirnov test against that mixture (false-failure rate below 1e-6)
    and exact checks of what must not change.
    """


@hookspec(firstresult=True)
def shared_mlp() -> nn.Module:
    """Return ``nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(),
    nn.Linear(8, 1))`` where ``shared = nn.Linear(8, 8)`` is one object at positions 2 and 4.
    121 parameters (193 if the two were separate layers).

    Graded: outputs; gradients (the shared layer's gradient is the sum over its two uses);
    names and count; tying: one Parameter object, not two Parameters on one storage, not two
    copies.
    """


@hookspec(firstresult=True)
def train_shared_mlp(net: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> list[float]:
    """Exercise 5.2.2: train ``net`` in place for ``steps`` full-batch steps of
    ``torch.optim.SGD(net.parameters(), lr=lr)`` on ``nn.MSELoss()(net(X), y)`` and return the
    loss *before* each step (``steps`` floats).

    Graded on a shared-layer net the grader builds: the losses (a list of Python floats) and
    the final parameters equal the reference's (each shared parameter is stepped once per step),
    and the ties still hold.
    """


@hookspec(firstresult=True)
def tied_untied_param_counts() -> tuple[int, int]:
    """Exercise 5.2.3: the parameter counts of the ``shared_mlp`` architecture with the layer
    shared, and with two independent layers, as a tuple of two ints.

    Graded exactly: ``(121, 193)``.
    """
