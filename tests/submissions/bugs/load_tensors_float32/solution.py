from safetensors.torch import load_file


def load_tensors(path):
    return {k: v.float() for k, v in load_file(path).items()}
