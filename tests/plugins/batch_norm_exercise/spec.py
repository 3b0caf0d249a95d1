"""The section: one exercise, batch normalization over the batch dimension."""

from __future__ import annotations

from torch import nn

from grader.kit import hookspec

SECTION = "batch_norm"
TITLE = "Extra: batch normalization"


@hookspec(firstresult=True)
def batch_norm(num_features: int, momentum: float) -> nn.Module:
    """Return a batch normalization module for inputs of shape ``(batch, num_features)``.

    Parameters ``weight`` (ones) and ``bias`` (zeros), buffers ``running_mean`` (zeros) and
    ``running_var`` (ones). In training mode it normalizes with the batch's mean and biased
    variance (eps 1e-5 inside the square root) and updates each running statistic as
    ``(1 - momentum) * running + momentum * batch`` (the unbiased variance for ``running_var``);
    in evaluation mode it normalizes with the running statistics and leaves them alone.
    """
