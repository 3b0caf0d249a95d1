"""``grader init``: a starter submission written from the exercise specs."""

from __future__ import annotations

import inspect
import textwrap

from .course import Course, HookSpec

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


def starter_files(course: Course) -> dict[str, str]:
    files = {}
    for section in course.sections:
        module = section.module
        imports = getattr(
            module, "STARTER_IMPORTS", "import torch\nfrom torch import nn\nfrom torch.nn import functional as F"
        )
        parts = [HEADER.format(title=section.title, imports=imports)]
        for spec in section.hooks:
            doc = textwrap.indent(spec.doc.strip(), "    ")
            parts.append(f'\n{_signature(spec)}\n    """\n{doc}\n    """\n    raise NotImplementedError\n')
        files[f"{section.id}.py"] = "\n".join(parts)
    return files
