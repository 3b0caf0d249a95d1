"""``grader init``: a starter submission written from the exercise specs, as modules (one
``.py`` file per section) or as one notebook (``--notebook``)."""

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


NOTEBOOK = "work.ipynb"
NOTEBOOK_INTRO = """# {title}

Write each exercise's code in the cell below its statement, in place of the stub (a stub that still
raises `NotImplementedError` counts as "not attempted"). Run the next cell once; then `%grade HOOK`
grades one exercise here, and `grader run {notebook}` grades the whole notebook.
"""


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


def starter_notebook(course: Course, title: str = "Exercises", hooks: Iterable[str] | None = None) -> str:
    """One notebook (nbformat 4, as JSON text) of what ``starter_sections`` selects: the imports,
    then a heading per section and, per exercise, its task statement (Markdown), a stub cell and
    a ``%grade HOOK`` cell. Cell ids are fixed, so the same course gives the same file."""
    import nbformat
    from nbformat import v4

    def cell(kind: str, source: str, cell_id: str):
        c = v4.new_markdown_cell(source) if kind == "markdown" else v4.new_code_cell(source)
        c.id = cell_id
        return c

    selected = starter_sections(course, hooks)
    imports: list[str] = []
    for section, _ in selected:
        for line in section_imports(section).splitlines():
            if line.strip() and line not in imports:
                imports.append(line)
    cells = [
        cell("markdown", NOTEBOOK_INTRO.format(title=title, notebook=NOTEBOOK).strip(), "intro"),
        cell("code", "%load_ext grader", "load-grader"),
        cell("code", "\n".join(imports), "imports"),
    ]
    for section, specs in selected:
        cells.append(cell("markdown", f"## {section.title}", f"section-{section.id}"[:64]))
        for spec in specs:
            statement = inspect.cleandoc(spec.doc)
            cells.append(cell("markdown", f"### `{spec.name}`\n\n{statement}", f"task-{spec.name}"[:64]))
            cells.append(cell("code", f"{_signature(spec)}\n    raise NotImplementedError", f"code-{spec.name}"[:64]))
            cells.append(cell("code", f"%grade {spec.name}", f"grade-{spec.name}"[:64]))
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nbformat.writes(nb) + "\n"
