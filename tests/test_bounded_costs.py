"""What a submission can make the trusted process spend is bounded (issue 17): "did you mean"
compares a capped number of names, once a submission; a student-written safetensors file is
refused from its header when it holds more than the exercise could need, and parsed once; cached
answers stay under a byte cap. Counted, not timed (timings belong to the benchmarks)."""

from __future__ import annotations

import difflib

import pytest
import torch
from safetensors.torch import save

from grader.trusted import discovery, student_files
from grader.trusted.discovery import MAX_CANDIDATES, MAX_NEAR_MISSES, Discovery
from grader.trusted.student_files import UnreadableFile, read_safetensors
from grader.trusted.submission import Answer, AnswerCache, answer_limit

HOOKS = ["mlp", "my_sequential", "save_tensors", "load_tensors", "save_params", "block1", "rgnet", "try_gpu"]


def test_did_you_mean_compares_a_capped_number_of_names_once(monkeypatch):
    calls = []
    real = difflib.get_close_matches
    monkeypatch.setattr(difflib, "get_close_matches", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    names = [f"{HOOKS[i % len(HOOKS)]}{i}" for i in range(40_000)]
    modules = {f"m{j}": names[j * 400 : (j + 1) * 400] for j in range(100)}  # 40,000 names in 100 modules
    ready = {"modules": {m: {"file": f"{m}.py"} for m in modules}, "hooks": {}, "functions": modules}
    d = Discovery.build(HOOKS + ["nest_mlp"], ready, {}, modules)
    assert len(calls) == MAX_CANDIDATES
    made = len(calls)
    for _ in range(50):  # every check of every unattempted hook asks
        for hook in HOOKS:
            d.status(hook)
    assert len(calls) == made
    near = [w for w in d.warnings if w.startswith("did you mean")]
    assert len(near) == MAX_NEAR_MISSES and d.warnings[-1].startswith("… and")
    assert "did you mean `mlp`?" in d.status("mlp")[1]


def _header_only(n: int) -> bytes:
    entries = b",".join(b'"e%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % i for i in range(n))
    header = b"{" + entries + b"}"
    return len(header).to_bytes(8, "little") + header


def test_a_safetensors_file_is_refused_from_its_header(monkeypatch):
    loads = []
    monkeypatch.setattr(student_files, "_st_load", lambda data: loads.append(1))
    parsed = []
    real_parse = student_files.safetensors_header.__globals__["parse"]
    monkeypatch.setitem(
        student_files.safetensors_header.__globals__, "parse", lambda d: parsed.append(1) or real_parse(d)
    )
    with pytest.raises(UnreadableFile, match="header is .* bytes long, more than 16 tensors") as e:
        read_safetensors(_header_only(1_000_000), max_tensors=16, max_bytes=1 << 20)
    assert e.value.refused and parsed == []  # refused from the 8-byte length alone
    with pytest.raises(UnreadableFile, match="names 20 tensors, more than the 16"):
        read_safetensors(_header_only(20), max_tensors=16, max_bytes=1 << 20)
    big = save({"w": torch.zeros(1000)})
    with pytest.raises(UnreadableFile, match="hold 4000 bytes, more than the 1000"):
        read_safetensors(big, max_tensors=16, max_bytes=1000)
    assert loads == []  # nothing was loaded
    for bad in (b"", b"\x80\x04pickle", (10).to_bytes(8, "little") + b"[1, 2, 3] ", _header_only(1)[:-3]):
        with pytest.raises(UnreadableFile) as e:
            read_safetensors(bad, max_tensors=16, max_bytes=1 << 20)
        assert not e.value.refused


def test_a_safetensors_file_is_parsed_once(monkeypatch):
    loads = []
    real = student_files._st_load
    monkeypatch.setattr(student_files, "_st_load", lambda data: loads.append(1) or real(data))
    data = save({"w": torch.arange(6.0), "b": torch.ones(2)})
    first = read_safetensors(data, max_tensors=4, max_bytes=1 << 10)
    first.pop("w")  # each caller gets its own dict
    second = read_safetensors(data, max_tensors=4, max_bytes=1 << 10)
    assert loads == [1] and set(second) == {"w", "b"} and torch.equal(second["w"], torch.arange(6.0))


def test_cached_answers_stay_under_a_byte_cap():
    cache = AnswerCache(cap=4 << 20)
    for i in range(20):
        cache.put(f"k{i}", Answer({}, {"t": torch.zeros(1 << 17)}))  # 0.5 MiB each
    assert cache.bytes <= 4 << 20 and "k19" in cache.answers and "k0" not in cache.answers
    cache.put("big", Answer({}, {"t": torch.zeros(1 << 20)}))  # a quarter of the cap or more: not kept
    assert "big" not in cache.answers
    for i in range(100):
        cache.put(f"f{i}", RuntimeError("failed"))  # failures are always kept (and small)
    assert cache.get("f0") is not None and cache.get("k19") is not None


def test_an_answer_may_take_the_floor_plus_a_multiple_of_its_request():
    small = answer_limit({"op": "call", "hook": "mlp"}, b"")
    assert answer_limit({"op": "call", "hook": "mlp"}, b"x" * 1000) == small + 8000
    assert answer_limit({"op": "call", "hook": "mlp", "max_file": 64 << 20}, b"") > 64 << 20


def test_the_module_map_of_names_is_bounded():
    # A static listing of a huge module keeps at most MAX_NAMES names per module.
    d = Discovery.build(["mlp"], {"modules": {}, "hooks": {}, "functions": {}}, {}, {"a": ["f"] * 10_000})
    assert len(d.static["a"]) == discovery.MAX_NAMES
