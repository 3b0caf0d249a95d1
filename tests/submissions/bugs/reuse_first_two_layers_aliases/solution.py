from torch import nn


def reuse_first_two_layers(old, new):
    src = [m for m in old.modules() if isinstance(m, nn.Linear)][:2]
    dst = [m for m in new.modules() if isinstance(m, nn.Linear)][:2]
    for s, d in zip(src, dst):
        d.weight = s.weight
        d.bias = s.bias
    return new
