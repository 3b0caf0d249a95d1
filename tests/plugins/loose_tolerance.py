"""Fixture plugin: a tolerance for one check of one hook and one dtype; every question is
recorded, so a test can see what the harness asked."""

import torch

CALLS: list[tuple] = []


def grader_tolerance(hook, check, dtype, device):
    CALLS.append((hook, check, dtype, device))
    if hook == "mlp" and check == "outputs" and dtype == torch.float32:
        return (0.0, 1e6)  # anything goes: a forward without its ReLU now passes `outputs`
    return None
