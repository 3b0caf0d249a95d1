"""Files a submission wrote, read in the trusted process: safetensors only, never unpickled,
refused from their header when they hold more than the exercise could need, parsed once.

A safetensors file is an 8-byte little-endian header length, that many bytes of JSON (each
tensor's dtype, shape and data offsets), then the data. A file naming a million empty tensors
is valid and costs tens of seconds and gigabytes to load, so the header is read first, with caps
(``wire.safetensors_header``), and the file is loaded only if it fits them. A file two checks
read (the same bytes) is parsed once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch
from safetensors.torch import load as _st_load

from ..worker.wire import ChannelGarbage, OverCap, safetensors_header

_PARSED: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
KEEP = 8  # files kept parsed (the last ones read; each within its caps)


class UnreadableFile(ValueError):
    """A file that is not read: ``refused`` when it holds more than the caps allow (said from its
    header), else not valid safetensors. ``str()`` says why, as a clause ("it names ...")."""

    def __init__(self, reason: str, refused: bool):
        super().__init__(reason)
        self.reason, self.refused = reason, refused


def read_safetensors(data: bytes, *, max_tensors: int, max_bytes: int) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file a submission wrote (plain CPU tensors), or
    ``UnreadableFile``: refused from the header alone when it names more than ``max_tensors``
    tensors or holds more than ``max_bytes`` bytes of data (say what the exercise could need,
    with room for a few mistakes worth a message), or not valid safetensors. The same bytes are
    parsed once (the last ``KEEP`` files read are kept); each call returns its own dict."""
    try:
        safetensors_header(data, max_tensors, max_bytes)  # bounded, and before hashing the whole
    except ChannelGarbage as e:
        raise UnreadableFile(str(e), isinstance(e, OverCap)) from None
    key = hashlib.sha256(data).hexdigest()
    hit = _PARSED.get(key)
    if hit is not None:
        _PARSED.move_to_end(key)
        return dict(hit)
    try:
        tensors = _st_load(data)
    except Exception as e:  # safetensors raises its own error types
        raise UnreadableFile(f"it is not valid safetensors ({type(e).__name__}: {str(e)[:200]})", False) from None
    _PARSED[key] = tensors
    while len(_PARSED) > KEEP:
        _PARSED.popitem(last=False)
    return dict(tensors)
