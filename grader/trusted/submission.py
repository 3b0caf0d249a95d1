"""The trusted side's handle on one submission: its worker, its discovery, its requests.

Every failure of the worker becomes a ``WorkerFailure`` for the request that was running; the
worker is then killed and a fresh one is forked for the next request, so later checks go on.

The channel is a protocol, and the worker's side of it is the submission's word. Each request
carries a fresh random ``id`` and the most bytes its answer may take (``limit``); an answer that
does not parse, names another request, is larger than that (refused from its header), or is
followed by a frame nobody asked for is a worker failure ("the worker sent a malformed
answer"): the worker is killed and the next request gets a fresh one. A frame waiting before a
request is sent was sent unasked: that worker is replaced before the request goes out. At import
time the worker's reports must follow their order (``import`` m, ``imported`` m, ..., ``ready``);
a module during whose import anything else arrives is blamed and skipped.

Answers are cached (identical requests, identical outcome) under a byte cap (``CACHE_BYTES``);
failures, small, are always kept.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import select
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import sanitize
from ..worker.wire import (
    ChannelClosed,
    ChannelError,
    ChannelGarbage,
    ChannelTimeout,
    FrameTooLarge,
    recv,
    send,
    unpack_tensors,
)
from .discovery import Discovery, error_facts
from .settings import Timeouts
from .sources import Sources, imported_syntax_errors
from .workers import Worker, WorkerFailure

# What an answer may take: the floor, plus this many times its request's size (the largest answer
# of a graded chapter is ~170 KB, 13 times its request). A file read back counts on top.
ANSWER_FLOOR = 16 << 20
ANSWER_FACTOR = 8
MAX_FILE_READ = 16 << 20  # bytes of a file the worker reads back, unless a request says otherwise
CACHE_BYTES = 64 << 20  # answers kept for identical requests (a whole graded chapter is ~2 MB)
MALFORMED = "the worker sent a malformed answer"


class HookUnavailable(Exception):
    """The hook cannot be called: status 'not_attempted' or 'error', with the reason."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class SubmissionRaised(Exception):
    """The submission's code raised; ``error`` is the worker's description of the exception."""

    def __init__(self, hook: str, error: dict):
        from .discovery import exception_text

        self.hook, self.error = hook, error
        super().__init__(f"`{hook}` raised {exception_text(error)}")


class BadAnswer(WorkerFailure):
    """An answer the trusted side cannot use: malformed, too large, or not what was asked."""

    def __init__(self, message: str, output: str = ""):
        super().__init__("garbage", message, output)


@dataclass
class Answer:
    body: dict
    tensors: dict

    def size(self) -> int:
        """Roughly the bytes it holds (its tensors'; the JSON is small beside them)."""
        return 1024 + sum(t.untyped_storage().nbytes() for t in self.tensors.values())


def answer_limit(op: dict, blob: bytes) -> int:
    """The most bytes (JSON and blob) an answer to ``op`` may take: ``ANSWER_FLOOR`` (or the
    file it reads back, ``max_file``, plus 1 MiB) and ``ANSWER_FACTOR`` times the request."""
    size = len(json.dumps(op, separators=(",", ":"))) + len(blob)
    max_file = op.get("max_file", MAX_FILE_READ)
    return ANSWER_FACTOR * size + max(ANSWER_FLOOR, int(max_file) + (1 << 20))


def waiting(sock: socket.socket) -> str | None:
    """What waits to be read on a worker's channel when nothing was asked: ``"data"`` (a frame
    nobody asked for), ``"closed"`` (the worker is gone) or None. Never blocks."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        if not poller.poll(0):
            return None
        return "data" if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) else "closed"
    except (BlockingIOError, InterruptedError):
        return None
    except (OSError, ValueError):
        return "closed"


class AnswerCache:
    """Outcomes of requests by key: answers under a byte cap (least recently used first out),
    failures always (they are small, and a hook that hangs must cost its time limit once)."""

    def __init__(self, cap: int = CACHE_BYTES):
        self.cap, self.bytes = cap, 0
        self.answers: OrderedDict[str, tuple[Answer, int]] = OrderedDict()
        self.failures: dict[str, BaseException] = {}

    def get(self, key: str) -> Answer | BaseException | None:
        if key in self.failures:
            return self.failures[key]
        hit = self.answers.get(key)
        if hit is None:
            return None
        self.answers.move_to_end(key)
        return hit[0]

    def put(self, key: str, outcome: Answer | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self.failures[key] = outcome
            return
        size = outcome.size()
        if size > self.cap // 4:
            return  # kept only while its check holds it
        if key in self.answers:
            self.bytes -= self.answers.pop(key)[1]
        self.answers[key] = (outcome, size)
        self.bytes += size
        while self.bytes > self.cap:
            _, (_, dropped) = self.answers.popitem(last=False)
            self.bytes -= dropped


def hook_and_book_names(hooks: dict[str, Any]) -> list[str]:
    """The hooks' names and the course text's names for them (``known_as``): what makes a
    Markdown file in a submission directory count as code."""
    names = list(hooks)
    for spec in hooks.values():
        if isinstance(spec, dict):
            names += [str(k["name"]) for k in spec.get("known_as") or [] if isinstance(k, dict) and k.get("name")]
    return names


class SubmissionClient:
    """A submission's workers and requests. ``sources``: the submission as read
    (``Sources.read``), its workers importing ``sources.root``; without it, ``path`` is read
    here (and the copy made for the workers is removed on ``close``)."""

    def __init__(
        self,
        path: Path,
        hooks: dict[str, Any],
        spawn: Callable[[Path, dict[str, Any], list[str]], Worker],
        timeouts: Timeouts | None = None,
        sources: Sources | None = None,
    ):
        self._own_sources = sources is None
        self.sources = sources if sources is not None else Sources.read(path, hook_and_book_names(hooks))
        self.path = self.sources.root.resolve()
        self.hooks = hooks
        self._spawn = spawn
        self.timeouts = timeouts or Timeouts()
        self.worker: Worker | None = None
        self._started_worker: Worker | None = None  # forked by ``start``, report not yet read
        # Requests go to the main worker, or while ``lane`` is set to that lane's own worker (the
        # second worker: the checks marked ``optimizer`` and ``SubmissionView.second``).
        self.lane: str | None = None
        self._lanes: dict[str, Worker] = {}
        self.discovery: Discovery | None = None
        self.skip: list[str] = []
        self.failed_imports: dict[str, str] = {}
        # What a worker found changed in its own probe code (``grader.worker.seal``), for the
        # instructor: ``{"during": ..., "what": [...]}`` each.
        self.tampering: list[dict] = []
        self._cache = AnswerCache()
        self.started = time.monotonic()
        self.workers_started = 0
        # A batch's gradebook row says what happened from these (``timeouts``: requests past
        # their limit; ``budget_spent``: the submission's whole time budget ran out).
        # ``retired``: workers replaced because a hook left them without memory headroom.
        self.stats = {
            "requests": 0,
            "cached": 0,
            "worker_failures": 0,
            "timeouts": 0,
            "budget_spent": False,
            "retired": 0,
            "malformed": 0,
        }

    # -- workers ----------------------------------------------------------------------------

    def _fork(self) -> Worker:
        self.workers_started += 1
        return self._spawn(self.path, self.hooks, list(self.skip))

    def _new_worker(self) -> Worker:
        """Fork a worker and read its import report; a module that hangs or kills the worker
        while importing, or during whose import the channel carries anything but the worker's
        own reports in their order, is skipped (and blamed) and the import starts over without it."""
        while True:
            w, self._started_worker = self._started_worker, None
            if w is None:
                w = self._fork()
            current = last = None  # the module being imported; the last one that started
            cell: str | None = None  # the notebook cell running, when ``current`` is a notebook
            deadline = time.monotonic() + self.timeouts.import_module
            try:
                while True:
                    msg, blob = recv(w.chan, deadline=deadline, max_blob=0)
                    event, module = msg.get("event"), msg.get("module")
                    if event == "import" and current is None and isinstance(module, str):
                        # Each module (a notebook: all its cells) has the import time limit.
                        current = last = module
                        cell = None
                        deadline = time.monotonic() + self.timeouts.import_module
                    elif event == "cell" and current is not None:
                        label = msg.get("cell")
                        cell = sanitize.name(label, 40) if isinstance(label, str) else None
                    elif event == "imported" and current is not None and module == current:
                        current, cell = None, None
                        deadline = time.monotonic() + self.timeouts.import_module
                    elif event == "hoarded" and current is not None and module == current:
                        raise _Hoarded(current)
                    elif event == "tampered" and current is not None and module == current:
                        self._tampered(f"importing `{current}`", msg.get("what"))
                        raise _Tampered(current)
                    elif event == "ready" and current is None:
                        if waiting(w.chan) == "data":
                            raise ChannelGarbage("a frame after the ready report")
                        if self.discovery is None:
                            self.discovery = Discovery.build(
                                list(self.hooks),
                                msg,
                                self.failed_imports,
                                self.sources.static,
                                self.sources,
                                specs=self.hooks,
                            )
                            self.discovery.syntax_errors += imported_syntax_errors(
                                self.path, self.discovery.modules, self.sources.syntax_errors
                            )
                            nothing = self.sources.nothing_found()
                            if nothing:
                                self.discovery.warnings.insert(0, nothing)
                            self.discovery.warnings += [
                                n for n in self.sources.notes if n not in self.discovery.warnings
                            ]
                        return w
                    else:
                        raise ChannelGarbage(f"an unexpected {sanitize.name(event, 40)!r} report")
            except ChannelError as e:
                output = w.output.text()
                w.kill()
                self.stats["timeouts"] += isinstance(e, ChannelTimeout)
                # Forged frames are the work of the module that ran last, even after its import
                # (a thread it started).
                culprit = current if current is not None or not isinstance(e, ChannelGarbage) else last
                if culprit is None or culprit in self.skip:
                    # Nothing to blame: give up on this submission's worker entirely.
                    raise WorkerFailure(
                        "crashed", f"the worker failed while loading the submission: {e}", output
                    ) from None
                if isinstance(e, ChannelTimeout) and cell is not None:
                    how = f"did not finish running its cells within {self.timeouts.import_module:g} s"
                elif isinstance(e, ChannelTimeout):
                    how = f"did not finish importing within {self.timeouts.import_module:g} s"
                elif isinstance(e, _Hoarded):
                    how = "kept nearly all of the worker's memory limit once imported, leaving too little for any check"
                elif isinstance(e, _Tampered):
                    how = "changed the grader's own code in the worker while importing, so nothing the worker reports could be believed"
                elif isinstance(e, ChannelGarbage):
                    self.stats["malformed"] += 1
                    how = f"{MALFORMED} while it was imported ({e}); the worker's channel is the grader's alone"
                elif cell is not None:
                    how = "ended the worker while running its cells (it exited, crashed or was killed)"
                else:
                    how = "ended the worker while importing (it exited, crashed or was killed)"
                if cell is not None and culprit == current:
                    how += f" ({cell} was running)"
                self.failed_imports[culprit] = how
                self.skip.append(culprit)

    def start(self) -> None:
        """Fork the first worker now and return: it confines itself and imports the submission
        while this process starts pytest and collects the checks; ``load`` reads its report.
        A failure to fork is left for ``load`` to meet (and report) again."""
        if self.discovery is not None or self._started_worker is not None:
            return
        try:
            self._started_worker = self._fork()
        except Exception:
            self.workers_started -= 1

    def load(self) -> Discovery:
        if self.discovery is None:
            self.worker = self._new_worker()
        assert self.discovery is not None
        return self.discovery

    def lane_worker(self, name: str) -> Worker:
        """Lane ``name``'s worker: forked on first use, and again after it dies."""
        w = self._lanes.get(name)
        if w is None or w.dead:
            self.load()
            w = self._lanes[name] = self._new_worker()
        return w

    def _worker(self) -> Worker:
        if self.lane is not None:
            return self.lane_worker(self.lane)
        if self.worker is None or self.worker.dead:
            self.worker = self._new_worker()
        return self.worker

    def fresh_worker(self) -> Worker:
        """A brand-new worker (nothing of the current one's state), for one-off requests."""
        self.load()
        return self._new_worker()

    def close(self) -> None:
        for w in (self.worker, self._started_worker, *self._lanes.values()):
            if w is not None:
                w.close()
        self.worker = self._started_worker = None
        self._lanes.clear()
        if self._own_sources:
            self.sources.close()

    # -- requests ---------------------------------------------------------------------------

    def availability(self, hook: str) -> None:
        """Raise HookUnavailable unless ``hook`` can be called."""
        status = self.load().status(hook)
        if status is not None:
            raise HookUnavailable(*status)

    def request(
        self,
        op: dict,
        blob: bytes = b"",
        *,
        timeout: float | None = None,
        worker: Worker | None = None,
        cache: bool = True,
    ) -> Answer:
        """Send one request; return the answer or raise (``WorkerFailure``, ``HookUnavailable``,
        ``SubmissionRaised``). Identical requests get the identical outcome from a cache, failures
        included, so a hook that hangs costs its time limit once, not once per check."""
        key = None
        if cache and worker is None:
            key = hashlib.sha256(json.dumps(op, sort_keys=True).encode() + blob).hexdigest()
            outcome = self._cache.get(key)
            if outcome is not None:
                self.stats["cached"] += 1
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
        try:
            outcome = self._request(op, blob, timeout, worker)
        except (WorkerFailure, HookUnavailable, SubmissionRaised) as e:
            if key is not None:
                self._cache.put(key, e)
            raise
        if key is not None:
            self._cache.put(key, outcome)
        return outcome

    def _request(self, op: dict, blob: bytes, timeout: float | None, worker: Worker | None) -> Answer:
        if "hook" in op:
            self.availability(op["hook"])
        left = self.timeouts.submission - (time.monotonic() - self.started)
        if left <= 0:
            self.stats["budget_spent"] = True
            raise WorkerFailure("timeout", f"the submission's time budget ({self.timeouts.submission:g} s) is spent")
        limit = min(timeout or self.timeouts.check, left)
        what = _what(op)
        w = worker or self._worker()
        state = waiting(w.chan)
        if state is not None:
            # It sent something nobody asked for (or ended) since its last answer: not this
            # request's doing, so it goes to a fresh worker (a view's own worker cannot be replaced).
            self.stats["worker_failures"] += 1
            self.stats["malformed"] += state == "data"
            w.kill()
            if worker is not None:
                if state == "closed":
                    raise WorkerFailure("crashed", f"the worker had ended before {what} was asked")
                raise BadAnswer(f"{MALFORMED} before {what} was asked (a frame nobody asked for)")
            w = self._worker()
        self.stats["requests"] += 1
        rid = secrets.randbits(62)
        size_limit = answer_limit(op, blob)
        try:
            send(w.chan, {**op, "id": rid, "limit": size_limit, "max_file": op.get("max_file", MAX_FILE_READ)}, blob)
            body, tensors_blob = recv(w.chan, deadline=time.monotonic() + limit, max_size=size_limit)
            if body.get("id") != rid:
                raise ChannelGarbage("it answers another request")
            if waiting(w.chan) == "data":
                raise ChannelGarbage("a second frame followed it")
            tensors = unpack_tensors(tensors_blob)
        except (ChannelError, OSError) as e:
            self.stats["worker_failures"] += 1
            output = w.output.text()
            w.kill()
            if isinstance(e, ChannelTimeout):
                self.stats["timeouts"] += 1
                self.stats["budget_spent"] |= limit >= left
                raise WorkerFailure("timeout", f"timed out after {limit:g} s while running {what}", output) from None
            if isinstance(e, (ChannelClosed, OSError)):
                raise WorkerFailure(
                    "crashed",
                    f"the worker ended while running {what} (the code exited, crashed or was killed, e.g. for memory)",
                    output,
                ) from None
            self.stats["malformed"] += 1
            if isinstance(e, FrameTooLarge):
                raise BadAnswer(
                    f"{MALFORMED} while running {what}: {e.size} bytes, more than this request could need "
                    f"({e.limit} at most)",
                    output,
                ) from None
            raise BadAnswer(f"{MALFORMED} while running {what} ({e})", output) from None
        if body.get("retire") is True:  # out of memory headroom (``serve.has_headroom``)
            self.stats["retired"] += 1
            w.kill()  # after its answer: the next request gets a fresh worker
        if body.get("ok") is True:
            return Answer(body, tensors)
        kind = body.get("kind")
        hook = sanitize.name(op.get("hook", "?"))
        err = error_facts(body.get("error")) or {}
        if kind == "missing":
            raise HookUnavailable("not_attempted", f"not attempted: no module defines `{hook}`")
        if kind == "not_implemented":
            raise HookUnavailable("not_attempted", f"not attempted: `{hook}` raises NotImplementedError")
        if kind == "raised":
            raise SubmissionRaised(hook, err)
        if kind == "unsendable":
            message = sanitize.text(body.get("message"), 500)
            raise BadAnswer(f"`{hook}` returned something that cannot be sent back: {message}")
        if kind == "too_large":
            size, most = body.get("size"), body.get("limit")
            raise BadAnswer(
                f"the observations of {what} take {size if isinstance(size, int) else '?'} bytes, more than "
                f"this check could need ({most if isinstance(most, int) else size_limit} at most): a hook "
                "returned far larger tensors than asked for"
            )
        if kind == "bad_request":
            raise RuntimeError(f"grader bug: the worker rejected a request: {sanitize.text(body.get('message'), 500)}")
        if kind == "tampered":
            w.kill()  # it ends itself; the next request gets a fresh worker
            self._tampered(what, body.get("what"))
            raise WorkerFailure(
                "tampered",
                f"the grader's own code in the worker was changed while running {what}, so its answer was not used",
            )
        w.kill()
        self.stats["malformed"] += 1
        raise BadAnswer(f"{MALFORMED} while running {what} (an answer of unknown kind)")

    def _tampered(self, during: str, what: object) -> None:
        """Record what a worker found changed in its probe code (names of the grader's own
        functions and attributes, as the worker gave them: for the instructor's report)."""
        names = [str(x)[:200] for x in what[:8]] if isinstance(what, list) else []
        self.tampering.append({"during": during, "what": names})


class _Hoarded(ChannelError):
    """The worker's report: the module it just imported kept (nearly) all of its memory limit."""


class _Tampered(ChannelError):
    """The worker's report: the module it just imported changed the worker's probe code."""


def _what(op: dict) -> str:
    hook = op.get("hook")
    if hook:
        return f"`{sanitize.name(hook)}`"
    return f"a `{sanitize.name(op.get('op'))}` request"
