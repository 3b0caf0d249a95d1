"""5.5 File I/O (reference)."""

import importlib
import json

import torch
from safetensors.torch import load_file, load_model, save_file, save_model


def save_tensors(tensors, path):
    save_file({k: v.contiguous() for k, v in tensors.items()}, path)


def load_tensors(path):
    return load_file(path)


def save_params(net, path):
    # save_model keeps one name per tied group (save_file would refuse shared storage).
    save_model(net, path)


def load_params(net, path):
    load_model(net, path)


def reuse_first_two_layers(old, new):
    old_linears = [m for m in old.modules() if isinstance(m, torch.nn.Linear)][:2]
    new_linears = [m for m in new.modules() if isinstance(m, torch.nn.Linear)][:2]
    with torch.no_grad():
        for src, dst in zip(old_linears, new_linears):
            dst.weight.copy_(src.weight)
            if dst.bias is not None and src.bias is not None:
                dst.bias.copy_(src.bias)
    return new


# Exercise 5.5.3: the file names the factory that builds the architecture (a registry of this
# submission's own hooks) and holds the state, buffers included, as safetensors.
_FACTORIES = {
    "MLP": ("layers_and_blocks", "mlp"),
    "FixedHiddenMLP": ("layers_and_blocks", "fixed_hidden_mlp"),
    "NestMLP": ("layers_and_blocks", "nest_mlp"),
}


def _factory_module(name):
    try:
        return importlib.import_module(name)
    except ImportError:  # imported as part of the `reference` package
        return importlib.import_module(f"{__package__}.{name}")


def save_model_file(net, path):
    kind = type(net).__name__
    if kind not in _FACTORIES:
        raise ValueError(f"cannot save a {kind}: not in the registry")
    metadata = {"architecture": json.dumps(_FACTORIES[kind])}
    save_model(net, path, metadata=metadata)


def load_model_file(path):
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        module_name, factory = json.loads(f.metadata()["architecture"])
    net = getattr(_factory_module(module_name), factory)()
    load_model(net, path)
    return net


def save_checkpoint(net, optimizer, epoch, path):
    torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path, net, optimizer):
    checkpoint = torch.load(path, weights_only=True)
    net.load_state_dict(checkpoint["net"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
