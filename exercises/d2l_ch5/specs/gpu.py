"""5.6 GPUs. Checks that need CUDA are reported "skipped: no CUDA device" where there is none,
never passed."""

from __future__ import annotations

import torch

from grader import hookspec

SECTION = "gpu"
TITLE = "5.6 GPUs"


@hookspec(firstresult=True)
def try_gpu(i: int) -> torch.device:
    """Return ``torch.device(f"cuda:{i}")`` if that GPU exists, else ``torch.device("cpu")``.

    Graded against the real device count, for several ``i``.
    """


@hookspec(firstresult=True)
def try_all_gpus() -> list[torch.device]:
    """Return all CUDA devices (``cuda:0`` …), or ``[torch.device("cpu")]`` when there is none
    (the book's 1.0 version returns ``[]``: that is the bug).
    """


@hookspec(firstresult=True)
def load_params_to(path: str, device: torch.device) -> dict[str, torch.Tensor]:
    """Exercise 5.6.2: read a safetensors file with every tensor placed directly on ``device``.

    Graded: keys, values and the device of every tensor, for the CPU and each CUDA device.
    """


@hookspec(firstresult=True)
def time_matmul(n: int, device: torch.device) -> float:
    """Exercise 5.6.1: seconds for one ``n × n`` float32 matrix multiplication on ``device``,
    measured correctly: warm up first, and on CUDA synchronize before both timestamps.

    Graded: a positive float; on CUDA, not far below the grader's own synchronized
    measurement (an unsynchronized timer measures only the kernel launch).
    """


@hookspec(firstresult=True)
def frobenius_log(a: torch.Tensor, b: torch.Tensor, on_device: bool) -> torch.Tensor:
    """Exercise 5.6.3: ``a`` and ``b`` are ``(num, n, n)`` on one device; return a CPU tensor of
    the Frobenius norms of ``a[i] @ b[i]``. With ``on_device=False`` bring each norm to the host
    as it is computed; with ``True`` keep them on the device and move them once.

    Graded: values and device of the result in both modes; on CUDA the per-step vs on-device
    timing ratio is reported.
    """


@hookspec(firstresult=True)
def two_gpu_matmul(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Exercise 5.6.4: seconds for two matmuls (``a @ b`` on two GPUs at once), and for the same
    two in sequence on one GPU.

    Graded only with two or more GPUs; otherwise reported as not gradable here.
    """
