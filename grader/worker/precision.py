"""The float32 precision policy of every process that computes: the trusted side and each worker.

On CUDA the submission and the reference run on the same device and must run with the same
flags, or a TF32 matmul on one side shows up as a 1e-3 difference (see ``CUDA_TOLERANCES`` in
``grader/trusted/compare.py``). The policy is "no TF32": float32 matmuls and cuDNN convolutions
at full float32 precision. It is set once, before any CUDA work, in the trusted process
(``Grader``) and in the worker template (inherited by every forked worker).

One API only, the ``allow_tf32`` flags. The newer ``fp32_precision`` API (torch >= 2.9) must not
be mixed with them: after it is set, *reading* a legacy flag raises in torch 2.13 ("you have used
mix of the legacy and new APIs"), so any student code or library reading ``allow_tf32`` would
crash. After the legacy flags are set, reading either API still works (verified on 2.13), and the
legacy flags exist in every torch this project supports. Nothing here initializes CUDA, so the
template can still fork workers that use it.
"""

from __future__ import annotations

POLICY = {"cuda_matmul_tf32": False, "cudnn_tf32": False}


def apply() -> dict:
    """Set the policy in this process; returns it (recorded in the worker template's report)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = POLICY["cuda_matmul_tf32"]
    torch.backends.cudnn.allow_tf32 = POLICY["cudnn_tf32"]
    return dict(POLICY)
