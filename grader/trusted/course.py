"""The loaded course: sections and their hooks, the reference, and the check files.

Built from the harness plugins' ``grader_exercises``, ``grader_reference`` and ``grader_checks``.
The reference lives on its own plugin manager that knows only exercise hookspecs, so a helper
function in some check plugin can never be mistaken for an implementation.

A spec may also name the course text's own implementation of its hook (``@known_as("MLP")``):
a submission that holds the text's code as written, without a function of the hook's name, is
graded through it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from .. import PROJECT
from ..plugins import PluginError

KNOWN_AS = f"{PROJECT}_known_as"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class KnownAs:
    """A name the course text gives an implementation of a hook: a class (called with the hook's
    arguments, the last one unpacked with ``*`` when ``unpack`` names it), a function, or a
    module built at import (graded only for a hook without arguments, a fresh copy each use)."""

    name: str
    unpack: str | None = None


def known_as(*names: str, unpack: str | None = None) -> Callable[[F], F]:
    """Declare, on an exercise hookspec, the names the course text gives the hook's
    implementation (``@known_as("MLP")``, ``@known_as("MySequential", unpack="modules")`` for
    ``MySequential(*modules)``). A submission without a function of the hook's name is graded
    through a module-level class, function or ``nn.Module`` of one of these names, and its report
    says so. ``unpack`` must be the hook's last argument. Stacks; the first declared name wins
    where a module holds several."""
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise PluginError(f"known_as: {name!r} is not a public identifier")
    if unpack is not None and not (isinstance(unpack, str) and unpack.isidentifier()):
        raise PluginError(f"known_as: unpack={unpack!r} is not an argument name")

    def mark(fn: F) -> F:
        declared = list(getattr(fn, KNOWN_AS, []))
        # Decorators apply bottom-up: the one written first (topmost) goes first.
        setattr(fn, KNOWN_AS, [KnownAs(n, unpack) for n in names] + declared)
        return fn

    return mark


@dataclass
class HookSpec:
    name: str
    section: str
    argnames: list[str]
    doc: str
    signature: str
    function: Any
    known_as: list[KnownAs] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (self.doc.strip().splitlines() or [""])[0]


@dataclass
class Section:
    id: str
    title: str
    module: ModuleType
    hooks: list[HookSpec] = field(default_factory=list)


class ExercisePluginManager(pluggy.PluginManager):
    """Exercise hooks are found by name, marked or not (the reference and submissions alike)."""

    def parse_hookimpl_opts(self, plugin: Any, name: str):
        if name.startswith("_") or not hasattr(self.hook, name):
            return None
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None:
            return opts
        try:
            value = getattr(plugin, name)
        except Exception:
            return None
        return {} if callable(value) else None


class Reference:
    """Calls the reference implementation: ``ref.mlp()``, ``ref.my_linear(in_units=3, units=2)``."""

    def __init__(self, pm: ExercisePluginManager, hooks: dict[str, HookSpec]):
        self._pm, self._hooks = pm, hooks

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self._hooks:
            raise AttributeError(name)
        caller = getattr(self._pm.hook, name)
        if not caller.get_hookimpls():
            raise AttributeError(f"no reference implementation of `{name}`")
        spec = self._hooks[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            kwargs.update(zip(spec.argnames, args))
            return caller(**kwargs)

        return call

    def implements(self, name: str) -> bool:
        return name in self._hooks and bool(getattr(self._pm.hook, name).get_hookimpls())


@dataclass
class Course:
    sections: list[Section]
    hooks: dict[str, HookSpec]
    reference: Reference
    check_files: list[Path]

    def worker_hooks(self) -> dict[str, dict[str, Any]]:
        """What a worker needs to find each hook's implementation (JSON): its arguments in
        order, its section, and the course text's names for it (``known_as``)."""
        return {
            name: {
                "args": list(spec.argnames),
                "section": spec.section,
                "known_as": [{"name": k.name, "unpack": k.unpack} for k in spec.known_as],
            }
            for name, spec in self.hooks.items()
        }

    def section_of(self, hook: str) -> str:
        return self.hooks[hook].section


def _spec_functions(module: ModuleType) -> list[Any]:
    out = []
    for value in vars(module).values():
        if callable(value) and getattr(value, f"{PROJECT}_spec", None) is not None:
            out.append(value)
    # Source order, so tables and starters follow the book.
    return sorted(out, key=lambda f: inspect.getsourcelines(f)[1] if inspect.isfunction(f) else 0)


def _reference_mismatch(e: pluggy.PluginValidationError, module: ModuleType, hooks: dict[str, HookSpec]) -> str:
    """Which reference module, which hook, and the arguments the hook expects."""
    where = getattr(module, "__file__", None) or module.__name__
    found = re.search(r"for hook '(\w+)'", str(e))
    spec = hooks.get(found.group(1)) if found else None
    reason = str(e).strip().splitlines()[-1]
    if spec is None:
        return f"reference module {module.__name__} ({where}): {reason}"
    try:
        given = f"{spec.name}{inspect.signature(getattr(module, spec.name))}"
    except (TypeError, ValueError, AttributeError):
        given = spec.name
    return f"reference module {module.__name__} ({where}): `{given}` does not fit the exercise hook; expected `{spec.signature}` ({reason})"


def _check_known_as(hooks: dict[str, HookSpec]) -> None:
    """Each name the course text gives an implementation belongs to one hook and is no hook's
    own name; ``unpack`` is the hook's last argument."""
    owner: dict[str, str] = {}
    for spec in hooks.values():
        for k in spec.known_as:
            if k.name in hooks and k.name != spec.name:
                raise PluginError(f"hook `{spec.name}` is known as `{k.name}`, which is another hook's name")
            if k.name in owner and owner[k.name] != spec.name:
                raise PluginError(
                    f"`{k.name}` is declared as the implementation of `{owner[k.name]}` and `{spec.name}`"
                )
            owner[k.name] = spec.name
            if k.unpack is not None and (not spec.argnames or spec.argnames[-1] != k.unpack):
                raise PluginError(
                    f"hook `{spec.signature}` is known as `{k.name}(*{k.unpack})`: `{k.unpack}` is not its last argument"
                )


def load_course(pm: pluggy.PluginManager) -> Course:
    sections: list[Section] = []
    hooks: dict[str, HookSpec] = {}
    epm = ExercisePluginManager(PROJECT)
    # pluggy answers last-registered first; sections follow registration order instead
    # (entry points by name, then the assignment's and --plugin ones), so a section added with
    # --plugin comes after the installed course's.
    for modules in reversed(pm.hook.grader_exercises()):
        for module in modules or []:
            sid = getattr(module, "SECTION", None)
            if not sid:
                raise PluginError(f"exercise module {module.__name__} has no SECTION")
            section = Section(sid, getattr(module, "TITLE", sid), module)
            for fn in _spec_functions(module):
                name = fn.__name__
                if name in hooks:
                    raise PluginError(f"hook `{name}` is declared twice ({hooks[name].section} and {sid})")
                sig = inspect.signature(fn)
                if any(p.default is not p.empty for p in sig.parameters.values()):
                    raise PluginError(
                        f"hookspec `{name}` has default argument values; pluggy 1.6 and 1.7 disagree on them"
                    )
                spec = HookSpec(
                    name=name,
                    section=sid,
                    argnames=list(sig.parameters),
                    doc=inspect.getdoc(fn) or "",
                    signature=f"{name}{sig}",
                    function=fn,
                    known_as=list(getattr(fn, KNOWN_AS, [])),
                )
                hooks[name] = spec
                section.hooks.append(spec)
            sections.append(section)
            epm.add_hookspecs(module)
    _check_known_as(hooks)
    for modules in reversed(pm.hook.grader_reference()):
        for module in modules or []:
            try:
                epm.register(module, name=f"reference:{module.__name__}")
            except pluggy.PluginValidationError as e:
                raise PluginError(_reference_mismatch(e, module, hooks)) from e
            except ValueError:
                pass  # already registered
    check_files: list[Path] = []
    for items in reversed(pm.hook.grader_checks()):
        for item in items or []:
            file = getattr(item, "__file__", None) if isinstance(item, ModuleType) else item
            if file is None:  # a namespace package, or a module made in memory
                raise PluginError(f"check module {item.__name__} has no file")
            path = Path(file).resolve()
            if not path.is_file():
                raise PluginError(f"check module not found: {path}")
            if path not in check_files:
                check_files.append(path)
    return Course(sections, hooks, Reference(epm, hooks), check_files)
