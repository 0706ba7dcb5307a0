"""Option values without pydantic: plain strings, lists of them, choices and integers.

Typer turns every option value given on the command line into its Python
type through a pydantic ``TypeAdapter``, so ``muxi chat hi`` imports pydantic
and builds an adapter per option (~50 ms, a third of a warm one-shot turn
through the local host). :func:`install` gives the parameters whose type is
simple a coercion that does what those adapters do for the ordinary case
(a ``str`` stays itself, a choice is matched by typer's own choice function,
``-12`` becomes an int, within the option's ``min``/``max`` if it has them) and hands anything else (a bad value, a constraint,
a custom parser) to typer's own adapter, so errors read exactly as before.

It sets the parameter's lazily built coercion (``_runtime_param``), which
typer leaves ``None`` until first use; when typer changes that, :func:`install`
does nothing and values go through pydantic again (slower, same results).
tests/cli/test_fastparams.py checks both the results and that chat imports no pydantic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, get_args, get_origin

try:  # typer's private coercion layer; see the module docstring
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_choice
except ImportError:  # pragma: no cover - a typer without it: keep typer's own path
    RuntimeParam = None  # type: ignore[assignment,misc]

_INT = re.compile(r"[+-]?[0-9]+")


def _simple(annotation: Any, info: Any) -> str | None:
    """Which fast coercion fits ``annotation`` with ``info``'s options, if any."""
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None) is not None:
        return None
    if annotation is str:
        return "str"
    if annotation is bool:
        return "bool"
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return "list"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "choice"
    if annotation is int and not getattr(info, "clamp", False):
        return "int"  # a bound is checked in _fast; a value out of it goes to typer
    return None


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class FastParam(RuntimeParam):
        """Coerces ordinary values itself; the rest goes to typer's pydantic adapter."""

        kind: str = "str"
        descriptor: Any = None
        _slow: list[Any] = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            fast = self._fast(value, ctx)
            if fast is not _MISS:
                return fast
            if not self._slow:
                self._slow.append(build_runtime_param(self.descriptor))
            return self._slow[0]._coerce_value(value, param=param, ctx=ctx)

        def _within(self, number: int) -> bool:
            low = getattr(self.parameter_info, "min", None)
            high = getattr(self.parameter_info, "max", None)
            return (low is None or number >= low) and (high is None or number <= high)

        def _fast(self, value: Any, ctx: Any) -> Any:
            if self.kind == "str":
                return value if isinstance(value, str) else _MISS
            if self.kind == "bool":  # flags give bools; a typed "yes" goes to typer
                return value if isinstance(value, bool) else _MISS
            if self.kind == "list":
                items = [value] if isinstance(value, str) else value
                if isinstance(items, list | tuple) and all(isinstance(v, str) for v in items):
                    return list(items)
                return _MISS
            if self.kind == "int":
                number = int(value) if isinstance(value, str) and _INT.fullmatch(value) else None
                if number is None or not self._within(number):
                    return _MISS  # typer's adapter reports it, in its own words
                return number
            if self.kind == "choice" and isinstance(value, str | Enum):
                try:
                    return coerce_cli_choice(
                        value,
                        choices=list(self.annotation),
                        case_sensitive=self.parameter_info.case_sensitive,
                        ctx=ctx,
                    )
                except ValueError:
                    return _MISS
            return _MISS


_MISS = object()


def _install_param(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", 0) is not None:
        return
    if descriptor.file_annotation is not None:
        return
    kind = _simple(descriptor.annotation, descriptor.parameter_info)
    if kind is not None:
        param._runtime_param = FastParam(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            kind=kind,
            descriptor=descriptor,
        )


def install(command: Any) -> None:
    """Give ``command``'s simple parameters (and its sub-commands') the fast coercion."""
    if RuntimeParam is None:  # pragma: no cover - see the import above
        return
    for param in getattr(command, "params", ()):
        _install_param(param)
    # --help is made on first use, from the context's option names: catch it then.
    make_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help(ctx)
        if option is not None:
            _install_param(option)
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        install(sub)
