from safetensors.torch import save_file


def save_tensors(tensors, path):
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, path)
