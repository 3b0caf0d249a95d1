"""The trusted side's handle on one submission: its worker, its discovery, its requests.

Every failure of the worker becomes a ``WorkerFailure`` for the request that was running; the
worker is then killed and a fresh one is forked for the next request, so later checks go on.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..worker.wire import ChannelClosed, ChannelError, ChannelTimeout, recv, send, unpack_tensors
from .discovery import Discovery
from .settings import Timeouts
from .sources import Sources, imported_syntax_errors
from .workers import Worker, WorkerFailure


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
    def __init__(self, message: str):
        super().__init__("garbage", message)


@dataclass
class Answer:
    body: dict
    tensors: dict


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
        self._cache: dict[str, Answer] = {}
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
        }

    # -- workers ----------------------------------------------------------------------------

    def _fork(self) -> Worker:
        self.workers_started += 1
        return self._spawn(self.path, self.hooks, list(self.skip))

    def _new_worker(self) -> Worker:
        """Fork a worker and read its import report; a module that hangs or kills the worker
        while importing is skipped (and blamed) and the import starts over without it."""
        while True:
            w, self._started_worker = self._started_worker, None
            if w is None:
                w = self._fork()
            current = None
            cell: str | None = None  # the notebook cell running, when ``current`` is a notebook
            deadline = time.monotonic() + self.timeouts.import_module
            try:
                while True:
                    msg, _ = recv(w.chan, deadline=deadline)
                    event = msg.get("event")
                    if event == "import":
                        # Each module (a notebook: all its cells) has the import time limit.
                        current, cell = str(msg.get("module")), None
                        deadline = time.monotonic() + self.timeouts.import_module
                    elif event == "cell" and current is not None:
                        cell = str(msg.get("cell"))[:40] if msg.get("cell") is not None else None
                    elif event == "imported":
                        current, cell = None, None
                        deadline = time.monotonic() + self.timeouts.import_module
                    elif event == "hoarded" and current is not None and msg.get("module") == current:
                        raise _Hoarded(current)
                    elif event == "tampered" and current is not None and msg.get("module") == current:
                        self._tampered(f"importing `{current}`", msg.get("what"))
                        raise _Tampered(current)
                    elif event == "ready":
                        if self.discovery is None:
                            static = self.sources.static
                            syntax_errors = self.sources.syntax_errors
                            self.discovery = Discovery.build(
                                list(self.hooks),
                                msg,
                                self.failed_imports,
                                static,
                                self.sources,
                                specs=self.hooks,
                                frameworks=self.sources.frameworks,
                                syntax_errors=syntax_errors,
                            )
                            self.discovery.syntax_errors += imported_syntax_errors(
                                self.path, self.discovery.modules, syntax_errors
                            )
                            nothing = self.sources.nothing_found()
                            if nothing:
                                self.discovery.warnings.insert(0, nothing)
                            self.discovery.warnings += [
                                n for n in self.sources.notes if n not in self.discovery.warnings
                            ]
                        return w
                    else:
                        raise ChannelError(f"unexpected event {event!r}")
            except ChannelError as e:
                output = w.output.text()
                w.kill()
                self.stats["timeouts"] += isinstance(e, ChannelTimeout)
                if current is None or current in self.skip:
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
                elif cell is not None:
                    how = "ended the worker while running its cells (it exited, crashed or was killed)"
                else:
                    how = "ended the worker while importing (it exited, crashed or was killed)"
                if cell is not None:
                    how += f" ({cell} was running)"
                self.failed_imports[current] = how
                self.skip.append(current)

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
            if key in self._cache:
                self.stats["cached"] += 1
                outcome = self._cache[key]
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
        try:
            outcome = self._request(op, blob, timeout, worker)
        except (WorkerFailure, HookUnavailable, SubmissionRaised) as e:
            if key is not None:
                self._cache[key] = e
            raise
        if key is not None:
            self._cache[key] = outcome
        return outcome

    def _request(self, op: dict, blob: bytes, timeout: float | None, worker: Worker | None) -> Answer:
        if "hook" in op:
            self.availability(op["hook"])
        left = self.timeouts.submission - (time.monotonic() - self.started)
        if left <= 0:
            self.stats["budget_spent"] = True
            raise WorkerFailure("timeout", f"the submission's time budget ({self.timeouts.submission:g} s) is spent")
        limit = min(timeout or self.timeouts.check, left)
        w = worker or self._worker()
        self.stats["requests"] += 1
        what = _what(op)
        try:
            send(w.chan, op, blob)
            body, tensors_blob = recv(w.chan, deadline=time.monotonic() + limit)
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
            raise WorkerFailure("garbage", f"the worker answered garbage while running {what}: {e}", output) from None
        if body.get("retire") is True:  # out of memory headroom (``serve.has_headroom``)
            self.stats["retired"] += 1
            w.kill()  # after its answer: the next request gets a fresh worker
        if body.get("ok") is True:
            return Answer(body, tensors)
        kind = body.get("kind")
        hook = str(op.get("hook", "?"))
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        if kind == "missing":
            raise HookUnavailable("not_attempted", f"not attempted: no module defines `{hook}`")
        if kind == "not_implemented":
            raise HookUnavailable("not_attempted", f"not attempted: `{hook}` raises NotImplementedError")
        if kind == "raised":
            raise SubmissionRaised(hook, err)
        if kind == "unsendable":
            raise BadAnswer(f"`{hook}` returned something that cannot be sent back: {body.get('message')}")
        if kind == "bad_request":
            raise RuntimeError(f"grader bug: the worker rejected a request: {body.get('message')}")
        if kind == "tampered":
            w.kill()  # it ends itself; the next request gets a fresh worker
            self._tampered(what, body.get("what"))
            raise WorkerFailure(
                "tampered",
                f"the grader's own code in the worker was changed while running {what}, so its answer was not used",
            )
        w.kill()
        raise BadAnswer(f"the worker answered garbage while running {what}")

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
        return f"`{hook}`"
    return f"a `{op.get('op')}` request"
