"""``grader init``: a starter submission written from the exercise specs."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterable

from .course import Course, HookSpec, Section

HEADER = '''"""{title}

Implement each function below; the grader finds them by name. Delete nothing you have not
implemented: a function that raises NotImplementedError counts as "not attempted".
Run `grader run .` in this directory to see how you are doing.
"""

{imports}
'''


def _signature(spec: HookSpec) -> str:
    sig = inspect.signature(spec.function)
    params = ", ".join(
        f"{p.name}: {_annotation(p.annotation)}" if p.annotation is not p.empty else p.name
        for p in sig.parameters.values()
    )
    ret = f" -> {_annotation(sig.return_annotation)}" if sig.return_annotation is not sig.empty else ""
    return f"def {spec.name}({params}){ret}:"


def _annotation(a: object) -> str:
    # Spec modules use `from __future__ import annotations`, so these are already source text.
    return a if isinstance(a, str) else getattr(a, "__name__", str(a))


def starter_sections(course: Course, hooks: Iterable[str] | None = None) -> list[tuple[Section, list[HookSpec]]]:
    """What a starter holds: each section with the hooks to stub, in course order. ``hooks``:
    only these (an assignment's selection), and only the sections holding one of them; ``None``:
    every hook of every loaded section. Every starter format (``.py`` files, a notebook) writes
    what this selects."""
    chosen = None if hooks is None else set(hooks)
    out = []
    for section in course.sections:
        specs = [spec for spec in section.hooks if chosen is None or spec.name in chosen]
        if specs:
            out.append((section, specs))
    return out


def section_imports(section: Section) -> str:
    """The imports a section's starter begins with (its module's ``STARTER_IMPORTS``, else
    torch, ``nn`` and ``F``)."""
    return getattr(
        section.module, "STARTER_IMPORTS", "import torch\nfrom torch import nn\nfrom torch.nn import functional as F"
    )


def stub(spec: HookSpec) -> str:
    """One exercise's stub: its signature, the task statement as its docstring, and a body
    raising ``NotImplementedError`` (so it counts as "not attempted" until written)."""
    doc = textwrap.indent(spec.doc.strip(), "    ")
    return f'{_signature(spec)}\n    """\n{doc}\n    """\n    raise NotImplementedError\n'


def starter_files(course: Course, hooks: Iterable[str] | None = None) -> dict[str, str]:
    """File name -> text of a starter submission: one ``<section>.py`` per section that
    ``starter_sections`` selects, with a stub per selected hook."""
    files = {}
    for section, specs in starter_sections(course, hooks):
        parts = [HEADER.format(title=section.title, imports=section_imports(section))]
        parts += [f"\n{stub(spec)}" for spec in specs]
        files[f"{section.id}.py"] = "\n".join(parts)
    return files
