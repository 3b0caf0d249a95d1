import torch


def save_tensors(tensors, path):
    torch.save(tensors, path)
