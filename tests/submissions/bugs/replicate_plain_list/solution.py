from torch import nn


class Blocks(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = blocks

    def forward(self, X):
        for block in self.blocks:
            X = block(X)
        return X


def replicate(make_block, n):
    return Blocks([make_block() for _ in range(n)])
