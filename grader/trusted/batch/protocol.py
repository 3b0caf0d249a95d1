"""The protocol between the coordinator and a grading process: JSON lines, one message a line.
A kernel's ``%grade`` (``grader.kernel.session``) speaks it too, as a coordinator of one.

Coordinator → grading process, on the process's stdin:

1. the run's ``Settings`` (``Settings.to_json``), resolved: the process grades with them as they
   are (the seed included: the batch's one seed, drawn by the coordinator when none was given);
2. one job a line: ``{"i": index, "name": unique name, "path": absolute directory, "given": the
   path as given}`` (and ``"note"``: what collecting it did, for the result's ``notes``), the
   next one sent when the last one is done. A kernel's job carries cells instead of a path:
   ``{"i": index, "file": its name in reports, "cells": [{"source": code as typed, "label":
   "In [3]"}, ...], "hooks": [...] (empty: every hook the cells define), "seed": s or null}``
   (``kernel``: how it is read);
3. end of file: no more jobs, the process finishes (a kernel that ended closes it too).

Grading process → coordinator, on a dedicated pipe (its file descriptor is the process's one
argument; stdout and stderr go to a log whose tail explains a crash):

- ``{"event": "ready", "seed": s, "deadline": seconds}``: the grader is set up (its reference
  cache is for seed ``s``); ``deadline``: how long one submission may take;
- ``{"event": "fatal", "message": m, "usage": bool}``: the settings cannot work (an unknown
  format, a plugin that fails to load): the batch stops;
- ``{"event": "done", "i": i, "status": ..., "detail": ..., "score": ..., "max_score": ...}``:
  job ``i`` is graded and its result file written. A process without a ``results_dir`` (a
  kernel's) writes no file: its "done" carries ``"result"`` (the JSON result) or ``"error"``
  (why the job could not be graded: an unknown hook, nothing defined; ``"i"`` is null for a job
  that could not be read).
"""

from __future__ import annotations

import json

READY, FATAL, DONE = "ready", "fatal", "done"


def encode(message: dict) -> bytes:
    """One message as one line."""
    return (json.dumps(message) + "\n").encode()


def job(index: int, name: str, path: str, given: str, note: str = "") -> dict:
    """The message asking a grading process to grade one submission."""
    return {"i": index, "name": name, "path": path, "given": given, **({"note": note} if note else {})}


class LineReader:
    """Messages from a byte stream read in chunks of any size: complete lines only, each a JSON
    object; anything else is dropped."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, chunk: bytes) -> list[dict]:
        """The messages completed by ``chunk``."""
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        out = []
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                out.append(message)
        return out
