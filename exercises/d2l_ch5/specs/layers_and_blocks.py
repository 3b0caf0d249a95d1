"""5.1 Layers and blocks: modules, custom forward passes, containers."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from grader.kit import hookspec, known_as

SECTION = "layers_and_blocks"
TITLE = "5.1 Layers and blocks"
STARTER_IMPORTS = (
    "from typing import Callable\n\nimport torch\nfrom torch import nn\nfrom torch.nn import functional as F"
)


@hookspec(firstresult=True)
@known_as("MLP")
def mlp() -> nn.Module:
    """Return a 20 → 256 → 10 multilayer perceptron.

    Submodules: ``hidden = nn.Linear(20, 256)`` and ``out = nn.Linear(256, 10)``;
    ``forward(X) = out(relu(hidden(X)))`` for ``X`` of shape ``(B, 20)``. 7,946 parameters.

    Graded: outputs and gradients with the reference's parameters transplanted by name
    (``hidden.weight``, ``hidden.bias``, ``out.weight``, ``out.bias``) on inputs of several batch
    sizes, on CPU and every CUDA device; parameter names, shapes and count. (One forward runs
    first, so the 1.0 book's ``nn.LazyLinear`` layers are fine.)
    """


@hookspec(firstresult=True)
@known_as("MySequential", unpack="modules")
def my_sequential(modules: list[nn.Module]) -> nn.Module:
    """Return a module that chains ``modules`` (a list) in order, like ``nn.Sequential``.

    Register each as a submodule named ``"0"``, ``"1"``, … (so its parameters are ``0.weight``,
    ``0.bias``, …). The same module object may appear at several positions: it is then applied
    at each of them, and its parameters are counted once.

    Graded: outputs and gradients on chains the grader builds, with and without a repeated
    module (whose gradient is then the sum over its positions); names and parameter count; the
    repeated module's parameters are one Parameter object at both positions. (Iterating over
    ``self.children()`` skips a repeated module; iterate over the registered modules in order.)
    """


@hookspec(firstresult=True)
@known_as("FixedHiddenMLP")
def fixed_hidden_mlp() -> nn.Module:
    """Return the book's ``FixedHiddenMLP``.

    ``linear = nn.Linear(20, 20)`` and ``rand_weight``, a constant 20 × 20 tensor (uniform on
    [0, 1)) that is not a Parameter, does not require grad and moves with the module
    (``.to(device)``): a buffer. ``forward(X)``: ``X = linear(X)``;
    ``X = relu(X @ rand_weight + 1)``; ``X = linear(X)`` (the same layer again);
    ``while X.abs().sum() > 1: X /= 2``; return ``X.sum()`` (a 0-dim tensor). 420 parameters.

    Graded: outputs and gradients with ``linear.*`` and ``rand_weight`` transplanted, on CPU and
    every CUDA device; parameters (``rand_weight`` is not one) and count; ``rand_weight`` is a
    buffer (not a plain attribute, not a Parameter).
    """


@hookspec(firstresult=True)
@known_as("NestMLP")
def nest_mlp() -> nn.Module:
    """Return the book's ``NestMLP``.

    ``net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())`` and
    ``linear = nn.Linear(32, 16)``; ``forward(X) = linear(net(X))`` (no ReLU at the end).
    3,952 parameters.

    Graded: outputs, gradients, parameter names (``net.0.weight`` …), shapes and count.
    """


@hookspec(firstresult=True)
def chimera() -> nn.Module:
    """Return ``nn.Sequential(<nest_mlp>, nn.Linear(16, 20), <fixed_hidden_mlp>)``.

    Build the first and last parts as your ``nest_mlp()`` and ``fixed_hidden_mlp()`` do.
    The output is a 0-dim tensor. 4,712 parameters.

    Graded: outputs and gradients (``2.rand_weight`` transplanted too), names, shapes, count.
    """


@hookspec(firstresult=True)
def list_sequential(modules: list[nn.Module]) -> nn.Module:
    """Exercise 5.1.1: the same chain as ``my_sequential``, but keep the modules in a plain
    Python list attribute (not an ``nn.ModuleList``).

    Its forward must still be right; its ``parameters()`` and ``state_dict()`` then show the
    problem: they are empty. (Do not name the attribute ``modules``: that hides
    ``nn.Module.modules()``.)

    Graded (on CPU: a plain list does not follow the module to a GPU): outputs equal the
    chain's; ``parameters()`` and ``state_dict()`` are empty.
    """


@hookspec(firstresult=True)
def list_storage_problems() -> set[str]:
    """Exercise 5.1.1: which problems does a plain list cause?

    Return a set drawn from this vocabulary: ``parameters_not_registered``,
    ``state_dict_empty``, ``optimizer_empty``, ``device_not_propagated``,
    ``train_eval_not_propagated``, ``repr_empty``.

    Graded: every claimed problem must really occur for your own ``list_sequential``, built on
    modules the grader passes (it looks at what torch registered in the result: its parameters,
    its ``state_dict``, an optimizer on those parameters, whether ``.double()`` and ``.eval()``
    reach the modules, and ``repr``); and ``parameters_not_registered`` and ``state_dict_empty``
    must be claimed. Unknown words fail.
    """


@hookspec(firstresult=True)
def parallel(net1: nn.Module, net2: nn.Module) -> nn.Module:
    """Exercise 5.1.2: a parallel module.

    ``forward(X) = torch.cat((net1(X), net2(X)), dim=-1)``, ``net1``'s part first. Register both
    nets as submodules, so the parameter count is the sum of theirs.

    Graded: outputs and gradients on nets the grader builds (gradients must reach both
    branches: use the very modules you are given); both registered; parameter count. Your
    submodule names are your choice.
    """


@hookspec(firstresult=True)
def replicate(make_block: Callable[[], nn.Module], n: int) -> nn.Module:
    """Exercise 5.1.3: call the zero-argument factory ``make_block`` exactly ``n`` times and chain
    the ``n`` fresh instances in series, in the order they were made.

    The instances are independent: no module or parameter storage is shared, so the parameter
    count is ``n`` times one block's. (``[block] * n`` repeats one instance: that is the bug.)

    Graded (with a factory the grader provides): number of calls; outputs and gradients;
    every instance registered, in the order made; independence (n × one block's parameters, no
    shared Parameter or memory). Your submodule names are your choice.
    """
