from safetensors.torch import load_file


def load_params_to(path, device):
    return load_file(path)
