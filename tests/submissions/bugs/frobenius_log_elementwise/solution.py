import torch


def frobenius_log(a, b, on_device):
    if on_device:
        return torch.stack([torch.linalg.matrix_norm(a[i] * b[i]) for i in range(a.shape[0])]).cpu()
    return torch.tensor([torch.linalg.matrix_norm(a[i] * b[i]).item() for i in range(a.shape[0])])
