"""5.6 GPUs. Checks that need CUDA are reported "skipped: no CUDA device" where there is none,
never passed."""

from __future__ import annotations

import torch

from grader.kit import hookspec

SECTION = "gpu"
TITLE = "5.6 GPUs"


@hookspec(firstresult=True)
def try_gpu(i: int) -> torch.device:
    """Return ``torch.device(f"cuda:{i}")`` if that GPU exists, else ``torch.device("cpu")``.

    Graded against the device count your own process sees, for several ``i`` in and out of
    range.
    """


@hookspec(firstresult=True)
def try_all_gpus() -> list[torch.device]:
    """Return all CUDA devices (``cuda:0`` …), or ``[torch.device("cpu")]`` when there is none
    (the book's 1.0 version returns ``[]``: that is the bug).
    """


@hookspec(firstresult=True)
def load_params_to(path: str, device: torch.device) -> dict[str, torch.Tensor]:
    """Exercise 5.6.2: read a safetensors file with every tensor placed directly on ``device``
    (a ``torch.device``).

    Graded: keys, dtypes, values and the device of every tensor, for the CPU and each CUDA
    device; on a GPU the file was saved from that GPU, and is loaded onto it and onto the CPU.
    """


@hookspec(firstresult=True)
def time_matmul(n: int, device: torch.device) -> float:
    """Exercise 5.6.1: seconds for one ``n × n`` float32 matrix multiplication on ``device``,
    measured correctly: warm up first, and on CUDA synchronize before both timestamps.

    Graded: a positive float, no longer than the call itself took; on CUDA, in a fresh
    process, not far below the grader's own synchronized measurement (an unsynchronized timer
    measures only the kernel launch) and not far above a warmed-up one.
    """


@hookspec(firstresult=True)
def frobenius_log(a: torch.Tensor, b: torch.Tensor, on_device: bool) -> torch.Tensor:
    """Exercise 5.6.3: ``a`` and ``b`` are ``(num, n, n)`` on one device; return a CPU tensor of
    the Frobenius norms of ``a[i] @ b[i]``. With ``on_device=False`` bring each norm to the host
    as it is computed; with ``True`` keep them on the device and move them once.

    Graded: in both modes a CPU tensor of shape ``(num,)`` whose values are within a relative
    1e-5 of the norms computed in float64, for inputs on the CPU and on each CUDA device. On CUDA
    the per-step vs on-device timing ratio is reported, not graded.
    """


@hookspec(firstresult=True)
def two_gpu_matmul(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Exercise 5.6.4: ``a`` and ``b`` are ``(n, n)`` float32 tensors on the CPU. Copy both to
    ``cuda:0`` and to ``cuda:1`` (the copies are not timed), then return ``(both, one)``:
    seconds for ``a @ b`` on the two GPUs at once (both launched before either device is
    synchronized), and seconds for the same two matmuls in sequence on ``cuda:0``.

    Graded only with two or more GPUs (otherwise reported as not gradable here): two positive
    floats, no longer than the call, not far below a synchronized measurement, and ``both``
    shorter than ``one``.
    """
