import torch


def fixed_hidden_mlp():
    return torch.nn.Linear(2, 2)


oops = undefined_name  # NameError at import: this module's hooks are errors
