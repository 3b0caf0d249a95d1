"""The worker channel as a protocol, read defensively (issue 17): nothing a worker sends can raise
in the trusted process but the channel's and the view's own errors (``recv``, ``decode`` and the
answer decoders fuzzed with hypothesis); an answer that does not parse, names another request,
is larger than its request could need, or comes with a frame nobody asked for fails its request
and the next request gets a fresh worker; import reports out of order blame the module."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grader.trusted.settings import Timeouts
from grader.trusted.submission import MALFORMED, BadAnswer, SubmissionClient
from grader.trusted.view import ModuleSummary, SubmissionView, decode_value
from grader.trusted.workers import OutputTail, Worker
from grader.worker import wire
from grader.worker.wire import ChannelError, ChannelGarbage, FrameTooLarge, decode, frame, parse, recv

# -- recv and parse: whatever bytes arrive ---------------------------------------------------------


def raw(data: bytes, blob: bytes = b"", n_json: int | None = None, n_blob: int | None = None) -> bytes:
    n_json = len(data) if n_json is None else n_json
    n_blob = len(blob) if n_blob is None else n_blob
    return struct.pack("<IQ", n_json, n_blob) + data + blob


def deliver(data: bytes, **caps) -> tuple[dict, bytes]:
    """``recv`` of ``data``, sent and then closed by the peer."""
    a, b = socket.socketpair()
    with a, b:
        b.sendall(data)
        b.shutdown(socket.SHUT_WR)
        return recv(a, deadline=time.monotonic() + 5, **caps)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
hostile_json = st.one_of(
    json_values.map(lambda v: json.dumps({"v": v}).encode()),
    st.integers(1, 3000).map(lambda n: b'{"v": ' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 3000).map(lambda n: b'{"v": ' + b'{"a": ' * n + b"1" + b"}" * n + b"}"),
    st.sampled_from(
        [
            b'{"v": 1e999}',
            b'{"v": NaN}',
            b'{"v": -Infinity}',
            b'{"v": ' + b"9" * 5000 + b"}",
            b"[1, 2]",
            b'"text"',
            b"\xff\xfe{\x00}\x00",
            '{"v": "é"}'.encode("utf-16"),
            b'{"v": "\\ud800"}',
            b'{"v": 1',
            b"",
        ]
    ),
    st.binary(max_size=300),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_json, st.binary(max_size=64), st.sampled_from(["exact", "short_json", "long_blob", "huge"]))
def test_recv_returns_an_object_or_raises_a_channel_error(data, blob, header):
    n_json = {"short_json": len(data) + 7}.get(header)
    n_blob = {"long_blob": len(blob) + 9, "huge": 1 << 40}.get(header)
    try:
        obj, got = deliver(raw(data, blob, n_json, n_blob))
    except ChannelError:
        return
    assert isinstance(obj, dict) and got == blob
    json.dumps(obj)  # usable: no depth or value that breaks the trusted side later


def test_a_frame_nesting_100000_lists_is_garbage_not_a_recursion_error():
    nested = b'{"id": 1, "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ChannelGarbage, match="nested"):
        deliver(raw(nested))
    medium = b'{"v": ' + b"[" * 500 + b"]" * 500 + b"}"  # parses, but deeper than any answer
    with pytest.raises(ChannelGarbage, match="nested more than"):
        parse(medium)


def test_a_frame_larger_than_its_caps_is_refused_from_its_header():
    # The body never arrives: refused before reading it.
    with pytest.raises(FrameTooLarge) as e:
        deliver(struct.pack("<IQ", 10, 64 << 20) + b"x" * 10, max_size=1 << 20)
    assert e.value.size == (64 << 20) + 10 and e.value.limit == 1 << 20


TAGS = ["$list", "$tuple", "$set", "$dict", "$size", "$float", "$device", "$dtype", "$tensor", "$bytes"]
TAGS += ["$object", "$module", "$x", "repr", "complex"]
leaves = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6)
leaves |= st.sampled_from(["t0", "b", "c", "nan", "inf", "float32", "cpu", "meta", "x\n\x1b[31m"])
tagged = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.builds(lambda tag, body: {tag: body}, st.sampled_from(TAGS), inner)
        | st.dictionaries(st.sampled_from(TAGS) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=15,
)
TENSORS = {"t0": torch.ones(2, 2), "b": torch.arange(3, dtype=torch.uint8), "c": torch.zeros(3, 2)}


@settings(max_examples=400, deadline=None)
@given(tagged)
@example({"$size": [{"$float": "inf"}]})  # OverflowError, once
def test_decode_raises_nothing_but_channel_garbage(obj):
    try:
        decode(obj, TENSORS)
    except ChannelGarbage:
        pass


# -- the answer decoders -----------------------------------------------------------------------------

KEYS = TAGS + ["is_module", "type", "params", "buffers", "modules", "tensor_attrs", "hidden_modules"]
KEYS += ["state_dict_keys", "errors", "lazy", "num_params", "name", "id", "shape", "storage", "value", "calls"]
KEYS += ["order", "done", "missing", "shapes", "found", "error", "message", "where", "file", "line", "device"]
answers = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=15,
)
bodies = st.dictionaries(
    st.sampled_from(
        ["value", "inspect", "factories", "handle", "not_module", "before", "after", "transplant", "warmup_error"]
        + ["device_error", "stray", "runs", "y", "grads", "exists", "too_large", "data", "ok"]
    ),
    answers,
    max_size=5,
).map(lambda b: {**b, "ok": True})


class ScriptedClient:
    """Answers every request with the next body (as a real client would return it)."""

    def __init__(self, body: dict):
        self.body = body

    def request(self, op, blob=b"", **kwargs):
        from grader.trusted.submission import Answer

        return Answer(self.body, dict(TENSORS))

    def availability(self, hook):
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies, answers)
def test_the_answer_decoders_raise_nothing_but_bad_answer(body, obj):
    view = SubmissionView(ScriptedClient(body))  # type: ignore[arg-type]
    for ask in (
        lambda: view.call("mlp", inspect=("net",), net=None),
        lambda: view.module("mlp", inputs=[[torch.ones(1, 2)]]),
        lambda: view.apply(1, [torch.ones(1)], None, None, "mlp"),
        lambda: view.read_file("f"),
        lambda: decode_value(obj, TENSORS),
        lambda: ModuleSummary(obj, TENSORS),
    ):
        try:
            ask()
        except BadAnswer:
            pass


def test_what_an_answer_states_is_checked_for_type_and_number():
    good = {"name": "0.weight", "id": 0, "shape": [2, 3], "lazy": False, "storage": 0}
    s = ModuleSummary({"is_module": True, "params": [good, {**good, "name": "x\n\nScore: 1"}]}, {})
    assert s.params[1]["name"] == "x\\n\\nScore: 1"
    assert s.tie_groups() == [["0.weight", "x\\n\\nScore: 1"]]
    for bad in ({"id": [1]}, {"id": -1}, {"shape": [1.5]}, {"shape": list(range(100))}, {"lazy": "no"}, {"name": 3}):
        with pytest.raises(BadAnswer):
            ModuleSummary({"params": [{**good, **bad}]}, {})
    with pytest.raises(BadAnswer):  # a forged factory report asking a check to loop 10**18 times
        SubmissionView(ScriptedClient({"ok": True, "factories": [{"calls": 10**18}]})).call("mlp")  # type: ignore[arg-type]


# -- the client: a scripted worker on the other end of a socket ------------------------------------


class Template:
    def kill(self, pid: int) -> None:
        pass


READY = {"event": "ready", "modules": {}, "hooks": {"mlp": {"module": "solution"}}, "functions": {}}


def ok(req: dict) -> bytes:
    return frame({"id": req["id"], "ok": True, "value": 7})


BEHAVIOURS = {
    "nested": lambda req: raw(b'{"id": %d, "v": ' % req["id"] + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "wrong_id": lambda req: frame({"id": req["id"] + 1, "ok": True, "value": 1}),
    "no_id": lambda req: frame({"ok": True, "value": 1}),
    "second_frame": lambda req: ok(req) + frame({"id": req["id"], "ok": True, "value": 1}),
    "huge": lambda req: struct.pack("<IQ", 2, 1 << 34) + b"{}",
    "not_utf8": lambda req: raw(b'{"id": "\xff"}'),
    "bad_blob": lambda req: raw(json.dumps({"id": req["id"], "ok": True}).encode(), b"\x10" + b"\x00" * 7 + b"{}"),
    "unknown_kind": lambda req: frame({"id": req["id"], "ok": False, "kind": "??"}),
}


def scripted(events: list[bytes], answers: list, spawned: list) -> Worker:
    """A worker that sends ``events``, then answers each request with the next of ``answers``
    (a function of the request giving the bytes to send, or those and bytes to send 0.2 s
    later), then stays silent."""
    a, b = socket.socketpair()
    r, w = os.pipe()
    os.close(w)

    def run():
        with b:
            b.sendall(b"".join(events))
            for answer in answers:
                try:
                    req, _ = recv(b)
                except ChannelError:
                    return
                out = answer(req)
                b.sendall(out[0] if isinstance(out, tuple) else out)
                if isinstance(out, tuple):
                    time.sleep(0.2)
                    b.sendall(out[1])
            time.sleep(5)

    threading.Thread(target=run, daemon=True).start()
    worker = Worker(Template(), len(spawned), a, OutputTail(r))  # type: ignore[arg-type]
    spawned.append(worker)
    return worker


def client(tmp_path, workers: list[tuple[list[bytes], list]]) -> tuple[SubmissionClient, list]:
    spawned: list = []
    plans = iter(workers)

    def spawn(path, hooks, skip):
        events, answers = next(plans)
        return scripted(events, answers, spawned)

    c = SubmissionClient(tmp_path, {"mlp": [], "other": []}, spawn, Timeouts(check=5, import_module=5, submission=60))
    return c, spawned


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
def test_a_malformed_answer_fails_its_request_and_the_next_gets_a_fresh_worker(tmp_path, behaviour):
    c, spawned = client(tmp_path, [([frame(READY)], [BEHAVIOURS[behaviour]]), ([frame(READY)], [ok])])
    with pytest.raises(BadAnswer, match=MALFORMED):
        c.request({"op": "call", "hook": "mlp"}, cache=False)
    assert spawned[0].dead
    assert c.request({"op": "call", "hook": "mlp"}, cache=False).body["value"] == 7
    assert len(spawned) == 2 and c.stats["malformed"] == 1


def test_a_frame_nobody_asked_for_replaces_the_worker_before_the_next_request(tmp_path):
    def then_unasked(req):  # the answer; a moment later (a thread of the submission) a frame unasked
        return ok(req), frame({"event": "unasked", "ok": True})

    c, spawned = client(tmp_path, [([frame(READY)], [then_unasked]), ([frame(READY)], [ok])])
    assert c.request({"op": "call", "hook": "mlp"}, cache=False).body["value"] == 7
    time.sleep(0.5)
    assert c.request({"op": "call", "hook": "mlp"}, cache=False).body["value"] == 7  # not this one's fault
    assert spawned[0].dead and len(spawned) == 2 and c.stats["worker_failures"] == 1


def test_import_reports_out_of_order_blame_the_module_being_imported(tmp_path):
    forged_ready = frame({"event": "ready", "modules": {}, "hooks": {"mlp": {"module": "evil"}}, "functions": {}})
    c, spawned = client(
        tmp_path,
        [
            ([frame({"event": "import", "module": "a_evil"}), forged_ready], []),
            (
                [frame({"event": "import", "module": "b"}), frame({"event": "imported", "module": "b", "ok": True})]
                + [frame({**READY, "modules": {"b": {"file": "b.py", "error": None}}})],
                [ok],
            ),
        ],
    )
    d = c.load()
    assert c.skip == ["a_evil"] and spawned[0].dead and len(spawned) == 2
    assert "malformed answer while it was imported" in c.failed_imports["a_evil"]
    assert d.modules["a_evil"]["error"]["type"] == "ImportFailure"


def test_garbage_at_import_blames_the_module_and_the_rest_is_graded(tmp_path):
    nested = raw(b'{"v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    c, spawned = client(
        tmp_path,
        [
            ([frame({"event": "import", "module": "a"}), nested], []),
            ([frame(READY)], [ok]),
        ],
    )
    c.load()
    assert c.skip == ["a"] and c.request({"op": "call", "hook": "mlp"}).body["value"] == 7


def test_the_ready_report_is_checked_for_type(tmp_path):
    hostile = {
        "event": "ready",
        "modules": {"m": {"file": ["x"], "error": "boom\x1b[31m", "warning": 3}, "n": "oops"},
        "hooks": {"mlp": {"module": {"a": 1}, "error": "x\nScore: 999"}, "nope": 1},
        "functions": {"m": ["ok", 3, None, "x" * 10_000], "n": "oops"},
    }
    c, _ = client(tmp_path, [([frame(hostile)], [])])
    d = c.load()
    assert d.status("mlp") == ("error", "x\\nScore: 999")
    assert d.modules["m"]["error"]["message"] == "boom\\x1b[31m"
    assert d.functions["m"] == ["ok", "x" * 99 + "…"]
    assert wire.MAX_JSON_DEPTH < 1000
