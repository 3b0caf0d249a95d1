"""Frames and values on the worker channel, read and written by both sides.

A frame is ``<u32 json length><u64 blob length><json><blob>``. The JSON is one object; every
tensor in it is a reference ``{"$tensor": key}`` into the blob, which is a safetensors file held
in memory. Nothing crossing the channel is ever pickled, so the trusted side rebuilds plain
tensors holding exactly the bytes that arrived, whatever object produced them.

Everything a peer sends is parsed defensively: ``recv`` refuses a frame over its caps from the
header alone (before reading the body), and raises ``ChannelGarbage`` for anything malformed
(UTF-8, JSON, nesting depth, number of values, non-finite numbers, not an object); ``decode``
raises nothing but ``ChannelGarbage`` either. Whatever arrives, the reader gets a JSON object or a
``ChannelError``.
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

    _HAS_TENSOR_SPEC = True
except ImportError:  # safetensors < 0.8
    _HAS_TENSOR_SPEC = False

HEADER = struct.Struct("<IQ")
MAX_JSON = 16 << 20
MAX_BLOB = 1 << 30
MAX_DEPTH = 48  # tagged values (``decode``)
MAX_JSON_DEPTH = 128  # a frame's JSON: lists and objects within each other
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
    max_size: int | None = None,
) -> tuple[dict, bytes]:
    """One frame: its JSON object and its blob. A frame with more than ``max_json`` bytes of
    JSON, ``max_blob`` of blob or ``max_size`` in all is refused from its header, before its
    body is read (``FrameTooLarge``); the stream is then out of step, so the reader must drop
    the peer. Raises only ``ChannelError`` (see ``parse``)."""
    n_json, n_blob = HEADER.unpack(_read_exact(sock, HEADER.size, deadline))
    limit = max_json + max_blob if max_size is None else min(max_size, max_json + max_blob)
    if n_json > max_json or n_blob > max_blob or n_json + n_blob > limit:
        raise FrameTooLarge(n_json + n_blob, limit)
    data = _read_exact(sock, n_json, deadline)
    blob = _read_exact(sock, n_blob, deadline) if n_blob else b""
    return parse(data), blob


class FrameTooLarge(ChannelGarbage):
    """A frame's header announced more bytes than the reader takes."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"a frame of {size} bytes, more than the {limit} bytes it could need")
        self.size, self.limit = size, limit


def parse(data: bytes) -> dict:
    """A frame's JSON object, or ``ChannelGarbage`` for anything else: bytes that are not UTF-8
    or not JSON, NaN or infinite numbers (``1e999`` included), nesting deeper than
    ``MAX_JSON_DEPTH`` (checked without recursion, so no nesting can raise ``RecursionError``
    later, where the object is used), more than ``MAX_ITEMS`` values, or a top level that is
    not an object."""
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ChannelGarbage("malformed JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError, MemoryError) as e:
        raise ChannelGarbage(f"malformed JSON: {str(e)[:200]}") from None
    if not isinstance(obj, dict):
        raise ChannelGarbage("a frame must hold a JSON object")
    _check_shape(obj)
    return obj


def _check_shape(obj: dict) -> None:
    items = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ChannelGarbage(f"malformed JSON: nested more than {MAX_JSON_DEPTH} deep")
        children = value.values() if isinstance(value, dict) else value
        items += len(children)
        if items > MAX_ITEMS:
            raise ChannelGarbage(f"malformed JSON: more than {MAX_ITEMS} values")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


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
    if not _HAS_TENSOR_SPEC or not all(t.device.type == "cpu" and t.is_contiguous() for t in tensors.values()):
        return _st_save(tensors)
    specs = {
        k: _TensorSpec(
            dtype=str(t.dtype).removeprefix("torch."), shape=t.shape, data_ptr=t.data_ptr(), data_len=t.nbytes
        )
        for k, t in tensors.items()
    }
    return bytes(_st_serialize(specs))  # `tensors` holds the memory alive until this returns


class OverCap(ChannelGarbage):
    """Well-formed as far as it was read, but larger than the reader takes."""


MAX_BLOB_TENSORS = 10_000  # tensors in one frame's blob (a whole graded submission sends ~3,000)
HEADER_BYTES_PER_TENSOR = 512  # a safetensors header entry (name, dtype, shape, offsets), generously


def safetensors_header(data: bytes, max_tensors: int, max_bytes: int) -> dict[str, dict]:
    """The tensor entries of a safetensors file's header (name -> ``{"dtype", "shape",
    "data_offsets"}``), read with caps before anything else of the file: the format is an
    8-byte little-endian header length, that many bytes of JSON, then the data. Raises
    ``OverCap`` (saying why) for a header longer than ``max_tensors`` entries could need, more
    than ``max_tensors`` tensors or data of more than ``max_bytes`` bytes, and ``ChannelGarbage``
    for anything malformed; costs at most a parse of the capped header."""
    if len(data) < 8:
        raise ChannelGarbage("too short to be safetensors (no 8-byte header length)")
    n = int.from_bytes(data[:8], "little")
    cap = 1024 + HEADER_BYTES_PER_TENSOR * max_tensors
    if n > len(data) - 8:
        raise ChannelGarbage(f"its header length ({n} bytes) runs past the end of the file")
    if n > cap:
        raise OverCap(f"its header is {n} bytes long, more than {max_tensors} tensors could need")
    header = parse(bytes(data[8 : 8 + n]))
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    if len(entries) > max_tensors:
        raise OverCap(f"it names {len(entries)} tensors, more than the {max_tensors} expected at most")
    room = len(data) - 8 - n
    total = 0
    for name, entry in entries.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("dtype"), str)
            or not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            or not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= room
        ):
            raise ChannelGarbage(f"its header entry {name[:40]!r} is malformed")
        total += offsets[1] - offsets[0]
    if total > max_bytes:
        raise OverCap(f"its tensors hold {total} bytes, more than the {max_bytes} expected at most")
    return entries


def unpack_tensors(blob: bytes, max_tensors: int = MAX_BLOB_TENSORS) -> dict[str, torch.Tensor]:
    """The tensors of a frame's blob (plain CPU tensors), its header checked first
    (``safetensors_header``: at most ``max_tensors`` tensors); ``ChannelGarbage`` otherwise."""
    if not blob:
        return {}
    safetensors_header(blob, max_tensors, len(blob))
    try:
        out = _st_load(blob)
    except Exception as e:  # safetensors raises its own error types
        raise ChannelGarbage(f"blob is not valid safetensors: {str(e)[:200]}") from None
    for k, t in out.items():
        if type(t) is not torch.Tensor:
            raise ChannelGarbage(f"blob entry {k[:40]!r} is not a plain tensor")
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
            # torch's parameter.pyi leaves out this class (public: in parameter.py's __all__).
            and not isinstance(t, torch.nn.parameter.UninitializedTensorMixin)  # type: ignore[attr-defined]
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
        raise ChannelGarbage(f"untagged object {tag[:40]!r}")
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
                raise ChannelGarbage(f"unknown dtype {str(body)[:40]!r}")
            return SAFE_DTYPES[body]
        if tag == "$tensor":
            t = tensors.get(body) if isinstance(body, str) else None
            if t is None:
                raise ChannelGarbage(f"tensor {str(body)[:40]!r} missing from the blob")
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
            return Opaque(str(body)[:200], str(obj.get("repr", ""))[:200])
    except ChannelError:
        raise
    except Exception as e:  # whatever torch or Python make of malformed input
        raise ChannelGarbage(f"malformed {tag[:40]}: {type(e).__name__}: {str(e)[:200]}") from None
    if special is not None:
        return special(tag, obj)
    raise ChannelGarbage(f"unknown tag {tag[:40]!r}")
