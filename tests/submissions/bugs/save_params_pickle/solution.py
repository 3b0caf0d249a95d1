import torch


def save_params(net, path):
    torch.save(net.state_dict(), path)
