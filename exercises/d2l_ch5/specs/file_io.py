"""5.5 File I/O. Paths are chosen by the grader inside a private scratch directory. Files that
must be safetensors are read back by the grader itself, which never unpickles anything a
submission wrote."""

from __future__ import annotations

import torch
from torch import nn

from grader.kit import hookspec

SECTION = "file_io"
TITLE = "5.5 File I/O"


@hookspec(firstresult=True)
def save_tensors(tensors: dict[str, torch.Tensor], path: str) -> None:
    """Write the ``dict[str, Tensor]`` ``tensors`` to ``path`` (exactly that path, one file) as
    a safetensors file.

    Graded: the file is valid safetensors with the same keys, dtypes, shapes and values
    (float16, bfloat16, int64, bool, a 0-dim and an empty tensor among them).
    """


@hookspec(firstresult=True)
def load_tensors(path: str) -> dict[str, torch.Tensor]:
    """Read a safetensors file back into a ``dict[str, Tensor]``: same keys, dtypes, shapes and
    values.

    Graded on a file the grader wrote.
    """


@hookspec(firstresult=True)
def save_params(net: nn.Module, path: str) -> None:
    """Write ``net``'s parameters and persistent buffers to ``path`` as safetensors. Must work
    with tied parameters (``safetensors.torch.save_file`` refuses tensors sharing memory;
    ``safetensors.torch.save_model`` handles them).

    Graded with nets the grader builds (an MLP, the shared-layer net, two layers sharing one
    weight, a net with BatchNorm buffers), on the CPU and moved to each CUDA device present: the
    file holds every parameter and persistent buffer under its ``state_dict`` name (one name per
    tie is enough) with its value.
    """


@hookspec(firstresult=True)
def load_params(net: nn.Module, path: str) -> None:
    """Load such a file into a freshly built ``net`` of the same architecture, in place: its
    outputs then equal the saved net's, and ties survive. Files the grader writes use
    ``safetensors.torch.save_model``'s layout (one name per tie).

    Graded on files written by the grader and by your own ``save_params``, with the fresh net on
    the CPU and on each CUDA device present (it must stay there): values, outputs, and ties (a
    tied pair must still be one Parameter object).
    """


@hookspec(firstresult=True)
def reuse_first_two_layers(old: nn.Module, new: nn.Module) -> nn.Module:
    """Exercise 5.5.2: copy (never alias) the parameters of the first two ``nn.Linear`` layers of
    ``old``, in module order, into the first two ``nn.Linear`` layers of ``new``; leave the
    rest of ``new`` unchanged; return ``new``.

    Graded: copied values, untouched rest, no shared storage (changing ``old`` later must not
    change ``new``), the returned object is ``new``.
    """


@hookspec(firstresult=True)
def save_model_file(net: nn.Module, path: str) -> None:
    """Exercise 5.5.3: save architecture and parameters together in one file at ``path``.

    A registry of your own architectures plus safetensors, TorchScript, or a config plus
    weights are all fine, as long as ``load_model_file`` can rebuild the module from the file
    alone, in another process. Graded with the modules your own ``mlp()`` and
    ``fixed_hidden_mlp()`` build, each run once before it is saved (so lazy layers have shapes).
    """


@hookspec(firstresult=True)
def load_model_file(path: str) -> nn.Module:
    """Rebuild the module saved by ``save_model_file`` from that file alone, in another process
    (where ``save_model_file`` never ran): its outputs equal the original's.

    Graded with the modules built by your own ``mlp()`` and ``fixed_hidden_mlp()`` (its
    ``rand_weight`` must survive); not gradable without those two hooks.
    """


@hookspec(firstresult=True)
def save_checkpoint(net: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, path: str) -> None:
    """Exercise 5.5.1: save what is needed to resume training: the net's state, the optimizer's
    state (momentum buffers included) and ``epoch``.
    """


@hookspec(firstresult=True)
def load_checkpoint(path: str, net: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore ``net`` and ``optimizer`` (the grader's fresh ``torch.optim.SGD`` with momentum)
    in place from such a checkpoint and return ``epoch`` (an int).

    Graded by resume equivalence: k steps, checkpoint, restore into a fresh net and optimizer,
    m more steps, equals k + m uninterrupted steps (SGD with momentum, so the optimizer's state
    matters).
    """
