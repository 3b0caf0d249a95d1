"""Frames and values on the worker channel, read and written by both sides.

A frame is ``<u32 json length><u64 blob length><json><blob>``. The JSON is one object; every
tensor in it is a reference ``{"$tensor": key}`` into the blob, which is a safetensors file held
in memory. Nothing crossing the channel is ever pickled, so the trusted side rebuilds plain
tensors holding exactly the bytes that arrived, whatever object produced them.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import torch
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

try:
    from safetensors import TensorSpec as _TensorSpec
    from safetensors import serialize as _st_serialize
except ImportError:  # safetensors < 0.8
    _TensorSpec = None

HEADER = struct.Struct("<IQ")
MAX_JSON = 16 << 20
MAX_BLOB = 1 << 30
MAX_DEPTH = 48
MAX_ITEMS = 200_000


class ChannelError(Exception):
    """The peer broke the protocol: it closed, timed out or sent something malformed."""


class ChannelClosed(ChannelError):
    pass


class ChannelTimeout(ChannelError):
    pass


class ChannelGarbage(ChannelError):
    pass


def frame(obj: dict, blob_size: int = 0) -> bytes:
    """A frame's header and JSON, ready to send (``blob_size`` bytes of blob to follow)."""
    data = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    return HEADER.pack(len(data), blob_size) + data


def send(sock: socket.socket, obj: dict, blob: bytes = b"") -> None:
    sock.sendall(frame(obj, len(blob)))
    if blob:
        sock.sendall(blob)


def _read_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelTimeout("no answer in time")
            sock.settimeout(left)
        else:
            sock.settimeout(None)
        try:
            k = sock.recv_into(view[got:], min(n - got, 1 << 20))
        except TimeoutError:
            raise ChannelTimeout("no answer in time") from None
        except OSError as e:
            raise ChannelClosed(f"channel error: {e}") from None
        if k == 0:
            raise ChannelClosed("the other side closed the channel")
        got += k
    return bytes(buf)


def recv(
    sock: socket.socket,
    deadline: float | None = None,
    max_json: int = MAX_JSON,
    max_blob: int = MAX_BLOB,
) -> tuple[dict, bytes]:
    n_json, n_blob = HEADER.unpack(_read_exact(sock, HEADER.size, deadline))
    if n_json > max_json or n_blob > max_blob:
        raise ChannelGarbage(f"frame too large ({n_json} + {n_blob} bytes)")
    data = _read_exact(sock, n_json, deadline)
    blob = _read_exact(sock, n_blob, deadline) if n_blob else b""
    try:
        obj = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise ChannelGarbage(f"malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ChannelGarbage("a frame must hold a JSON object")
    return obj, blob


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


# -- tensors ----------------------------------------------------------------------------------


def plain(t: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous CPU copy that is a plain ``torch.Tensor`` (subclass behaviour off)."""
    with torch._C.DisableTorchFunctionSubclass():
        out = t.detach().to("cpu", copy=True)
        if out.is_complex():
            out = torch.view_as_real(out)
        return out.contiguous()


def pack_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    """The safetensors file of ``tensors`` (each a fresh contiguous CPU copy: ``plain``).

    Written by ``safetensors.serialize`` straight from each tensor's memory. That is what
    ``safetensors.torch.save`` does after checks that copies cannot fail (sparse, shared,
    non-contiguous) and a detour through numpy for every tensor: a submission's requests and
    answers carry ~3,000 tensors, and that detour was the channel's main cost (benchmarks). The
    output is byte for byte the same; older safetensors (no ``TensorSpec``) take ``save``."""
    if not tensors:
        return b""
    if _TensorSpec is None or not all(t.device.type == "cpu" and t.is_contiguous() for t in tensors.values()):
        return _st_save(tensors)
    specs = {
        k: _TensorSpec(
            dtype=str(t.dtype).removeprefix("torch."), shape=t.shape, data_ptr=t.data_ptr(), data_len=t.nbytes
        )
        for k, t in tensors.items()
    }
    return bytes(_st_serialize(specs))  # `tensors` holds the memory alive until this returns


def unpack_tensors(blob: bytes) -> dict[str, torch.Tensor]:
    if not blob:
        return {}
    try:
        out = _st_load(blob)
    except Exception as e:  # safetensors raises its own error types
        raise ChannelGarbage(f"blob is not valid safetensors: {e}") from None
    for k, t in out.items():
        if type(t) is not torch.Tensor:
            raise ChannelGarbage(f"blob entry {k!r} is not a plain tensor")
    return out


SAFE_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.float64,
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
        torch.complex64,
        torch.complex128,
    )
}


class Encoder:
    """Turns Python values into tagged JSON, collecting tensors for the blob.

    ``fallback(value, encoder)`` handles types this module does not know (the worker uses it
    for modules); it returns JSON or ``None`` to fall back to an opaque description.
    """

    def __init__(self, prefix: str = "t", fallback: Callable[[Any, Encoder], Any] | None = None):
        self.tensors: dict[str, torch.Tensor] = {}
        self.prefix = prefix
        self.fallback = fallback
        self._items = 0

    def tensor(self, t: torch.Tensor, key: str | None = None) -> dict:
        key = key or f"{self.prefix}{len(self.tensors)}"
        meta = {
            "$tensor": key,
            "device": str(t.device),
            "requires_grad": bool(t.requires_grad),
            "grad_fn": t.grad_fn is not None,
            "type": type(t).__name__,
        }
        if t.is_complex():
            meta["complex"] = True
        self.tensors[key] = plain(t)
        return meta

    def blob(self) -> bytes:
        return pack_tensors(self.tensors)

    def encode(self, value: Any, depth: int = 0) -> Any:
        self._items += 1
        if depth > MAX_DEPTH or self._items > MAX_ITEMS:
            raise ValueError("value is too deep or too large to send")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$float": repr(float(value))}
        if isinstance(value, torch.Size):
            return {"$size": [int(x) for x in value]}
        if isinstance(value, (list, tuple, set, frozenset)) and not isinstance(value, torch.Tensor):
            items = [self.encode(v, depth + 1) for v in value]
            if isinstance(value, (set, frozenset)):
                return {"$set": sorted(items, key=lambda j: json.dumps(j, sort_keys=True))}
            return {"$tuple" if isinstance(value, tuple) else "$list": items}
        if isinstance(value, dict):
            return {"$dict": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        if isinstance(value, torch.device):
            return {"$device": str(value)}
        if isinstance(value, torch.dtype):
            return {"$dtype": str(value).removeprefix("torch.")}
        if isinstance(value, torch.Tensor) and _is_dense(value):
            return self.tensor(value)
        if isinstance(value, (bytes, bytearray)):
            key = f"{self.prefix}{len(self.tensors)}"
            self.tensors[key] = torch.frombuffer(bytearray(value), dtype=torch.uint8).clone()
            return {"$bytes": key}
        if self.fallback is not None:
            out = self.fallback(value, self)
            if out is not None:
                return out
        return {"$object": type(value).__name__, "repr": _safe_repr(value)}


def _is_dense(t: torch.Tensor) -> bool:
    try:
        return (
            t.layout == torch.strided
            and not t.is_quantized
            and t.device.type != "meta"
            and str(t.dtype).removeprefix("torch.") in SAFE_DTYPES
            and not isinstance(t, torch.nn.parameter.UninitializedTensorMixin)
        )
    except Exception:
        return False


def _safe_repr(value: Any, limit: int = 200) -> str:
    try:
        r = repr(value)
    except Exception as e:
        r = f"<repr failed: {type(e).__name__}>"
    return r if len(r) <= limit else r[: limit - 1] + "…"


class Opaque:
    """A value the channel could only describe (its type name and a short repr)."""

    def __init__(self, typename: str, text: str):
        self.typename, self.text = typename, text

    def __repr__(self) -> str:
        return f"<{self.typename}: {self.text}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and (self.typename, self.text) == (other.typename, other.text)

    def __hash__(self) -> int:
        return hash((self.typename, self.text))


def decode(
    obj: Any, tensors: dict[str, torch.Tensor], special: Callable[[str, dict], Any] | None = None, depth: int = 0
) -> Any:
    """Rebuild a value from tagged JSON. Unknown tags go to ``special(tag, obj)``; malformed
    input raises ``ChannelGarbage``. Tensors come back as plain CPU tensors (complex restored)."""
    if depth > MAX_DEPTH:
        raise ChannelGarbage("value nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):  # untagged lists only appear inside tags
        raise ChannelGarbage("untagged list")
    if not isinstance(obj, dict) or len(obj) == 0:
        raise ChannelGarbage("malformed value")
    tag = next(iter(obj))
    if not tag.startswith("$"):
        raise ChannelGarbage(f"untagged object {tag!r}")
    body = obj[tag]

    def items(b: Any) -> list:
        if not isinstance(b, list):
            raise ChannelGarbage(f"{tag} needs a list")
        return [decode(v, tensors, special, depth + 1) for v in b]

    try:
        if tag == "$float":
            if body not in ("nan", "inf", "-inf"):
                raise ChannelGarbage("bad float")
            return float(body)
        if tag == "$list":
            return items(body)
        if tag == "$tuple":
            return tuple(items(body))
        if tag == "$set":
            return set(items(body))
        if tag == "$size":
            return torch.Size(int(x) for x in items(body))
        if tag == "$dict":
            if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
                raise ChannelGarbage("bad dict")
            return {decode(k, tensors, special, depth + 1): decode(v, tensors, special, depth + 1) for k, v in body}
        if tag == "$device":
            return torch.device(str(body))
        if tag == "$dtype":
            if body not in SAFE_DTYPES:
                raise ChannelGarbage(f"unknown dtype {body!r}")
            return SAFE_DTYPES[body]
        if tag == "$tensor":
            t = tensors.get(body) if isinstance(body, str) else None
            if t is None:
                raise ChannelGarbage(f"tensor {body!r} missing from the blob")
            if obj.get("complex"):
                if t.ndim == 0 or t.shape[-1] != 2:
                    raise ChannelGarbage("complex tensor without a real/imaginary axis")
                t = torch.view_as_complex(t)
            return t
        if tag == "$bytes":
            t = tensors.get(body) if isinstance(body, str) else None
            if t is None or t.dtype != torch.uint8 or t.ndim != 1:
                raise ChannelGarbage("bytes missing from the blob")
            return t.numpy().tobytes()
        if tag == "$object":
            return Opaque(str(body), str(obj.get("repr", "")))
    except ChannelGarbage:
        raise
    except (TypeError, ValueError, RuntimeError) as e:
        raise ChannelGarbage(f"malformed {tag}: {e}") from None
    if special is not None:
        return special(tag, obj)
    raise ChannelGarbage(f"unknown tag {tag!r}")
