"""Typer's coercion of option values, without pydantic for the plain types the commands use.

Theory of operation: typer 0.29 coerces every parameter's value that is not a bool (``--help``'s
None too) through a pydantic ``TypeAdapter`` it builds when the command first runs
(``typer._coercion.build_runtime_param``),
and importing pydantic (with pydantic_core, asyncio, ssl, logging) plus building the adapters
costs about 0.17 s of CPU at every run of every command that takes options. ``install`` gives
each parameter of a plain type (bool, str, int, float, ``pathlib.Path``, an Enum or Literal choice,
a ``parser=``, a list of these; Optional is already unwrapped by typer) a ``PlainRuntimeParam``
in typer's own slot for it (``_runtime_param``, which ``get_runtime_param`` fills lazily).

A plain coercion only takes the values whose result is certain: a str typer would keep as it
is, an int or decimal written in ASCII digits within the option's min/max, a path, a choice
that matches, what a parser returns. Every other value (every value typer refuses among
them) goes to typer's own coercion, so errors, messages and odd inputs are typer's by
construction; only they import pydantic. Anything else (files, tuples, datetimes, bool
values that are not bools) keeps typer's path untouched. These are typer's private names: a
typer without them keeps its own coercion (``commands.root.plain_coercion``), and
``tests/test_cli_coercion.py`` then fails on pydantic being imported. It sits beside ``cli.py``,
not in ``commands/``: typer machinery, no command, and the tests import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import typer._coercion
from typer import _click as click
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param
from typer._param_types import (
    choice_coercion_annotation,
    coerce_cli_choice,
    coerce_cli_path,
    lenient_issubclass,
    routes_to_path,
)
from typer.core import _TyperParameter
from typer.models import ParameterInfo

UNSURE: Any = object()  # a plain coercion's "ask typer"

# (value, param, ctx) -> the coerced value, or UNSURE
Plain = Callable[[Any, Any, Any], Any]

_INT = re.compile(r"-?[1-9][0-9]{0,17}|0", re.ASCII)
_DECIMAL = re.compile(r"-?(?:[1-9][0-9]{0,14}|0)(?:\.[0-9]{1,15})?", re.ASCII)


@dataclass(frozen=True)
class PlainRuntimeParam(typer._coercion.RuntimeParam):
    """Typer's ``RuntimeParam`` that tries ``plain`` first and hands typer what it cannot
    settle (typer's adapter is built then, as typer would have built it)."""

    plain: Plain

    def _coerce_value(self, value: Any, param: Any, ctx: click.Context) -> Any:
        done = self.plain(value, param, ctx)
        if done is not UNSURE:
            return done
        typers = build_runtime_param(param.type_descriptor)
        return typers._coerce_value(value, param=param, ctx=ctx)


def install(command: click.Command) -> None:
    """Give every plain parameter of ``command`` (and of its subcommands) a plain coercion,
    ``--help`` too: click makes that option on first use and keeps it (``_help_option``),
    from the context's ``help_option_names``, which ipamx-spy leaves at click's default."""
    helper = command.get_help_option(click.Context(command, **command.context_settings))
    for param in [*command.params, *([helper] if helper is not None else [])]:
        if isinstance(param, _TyperParameter) and getattr(param, "_runtime_param", 0) is None:
            descriptor = param.type_descriptor
            plain = plain_coercion(descriptor.annotation, descriptor.parameter_info)
            if plain is not None and descriptor.file_annotation is None:
                param._runtime_param = PlainRuntimeParam(
                    parameter_info=descriptor.parameter_info,
                    annotation=descriptor.annotation, plain=plain)
    for sub in getattr(command, "commands", {}).values():
        install(sub)


def uninstall(command: click.Command) -> None:
    """Put typer's own coercion back, built again at the next run (the tests compare)."""
    helper = getattr(command, "_help_option", None)
    for param in [*command.params, *([helper] if helper is not None else [])]:
        if isinstance(param, _TyperParameter):
            param._runtime_param = None
    for sub in getattr(command, "commands", {}).values():
        uninstall(sub)


def plain_coercion(annotation: Any, info: ParameterInfo) -> Plain | None:
    """The plain coercion of a parameter annotation, or None where typer's path stays."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        leaf = _leaf(item, info)
        return None if leaf is None else _listed(leaf)
    return _leaf(annotation, info)


def _leaf(annotation: Any, info: ParameterInfo) -> Plain | None:
    """In the order of typer's ``_adapters.build_leaf_adapter``."""
    if info.parser is not None:
        return _parsed(info.parser)
    choice = choice_coercion_annotation(annotation, info)
    if choice is not None:
        return _chosen(choice[0], choice[1])
    if get_origin(annotation) is not None:
        return None
    if annotation is int or annotation is float:
        return _number(annotation, info)
    if annotation is bool:
        return _flag
    if annotation is str:
        return _text
    if routes_to_path(annotation, info):
        path_type: Any = info.path_type
        if path_type is None and lenient_issubclass(annotation, Path):
            path_type = annotation
        return _path(path_type, info) if lenient_issubclass(path_type, Path) else None
    return None


def _listed(leaf: Plain) -> Plain:
    def coerce(value: Any, param: Any, ctx: Any) -> Any:
        items = value if isinstance(value, (list, tuple)) else [value]
        done = [leaf(item, param, ctx) for item in items]
        return UNSURE if any(item is UNSURE for item in done) else done
    return coerce


def _parsed(parser: Callable[[Any], Any]) -> Plain:
    def coerce(value: Any, param: Any, ctx: Any) -> Any:
        try:
            return parser(value)
        except (ValueError, AssertionError):  # pydantic words these: typer's path
            return UNSURE
    return coerce


def _chosen(choices: tuple[Any, ...], case_sensitive: bool) -> Plain:
    def coerce(value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, (str, Enum)):
            return UNSURE
        try:
            return coerce_cli_choice(value, choices=choices, case_sensitive=case_sensitive,
                                     ctx=ctx)
        except ValueError:
            return UNSURE
    return coerce


def _number(kind: type[Any], info: ParameterInfo) -> Plain:
    low, high = info.min, info.max
    pattern = _INT if kind is int else _DECIMAL
    takes = (int,) if kind is int else (int, float)

    def coerce(value: Any, param: Any, ctx: Any) -> Any:
        if type(value) in takes:
            number = kind(value)
        elif type(value) is str and pattern.fullmatch(value):
            number = kind(value)
        else:
            return UNSURE
        if (low is not None and not number >= low) or (high is not None and not number <= high):
            return UNSURE  # typer's words for it, or its clamp
        return number
    return coerce


def _flag(value: Any, param: Any, ctx: Any) -> Any:
    return value if type(value) is bool else UNSURE


def _text(value: Any, param: Any, ctx: Any) -> Any:
    return value if type(value) is str and _encodable(value) else UNSURE


def _path(path_type: type[Path], info: ParameterInfo) -> Plain:
    def coerce(value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, path_type):
            given: Path = value
        elif type(value) is str and value and "\0" not in value and _encodable(value):
            given = path_type(value)
        else:
            return UNSURE
        try:
            return coerce_cli_path(given, info, path_type=path_type, param=param, ctx=ctx)
        except BadParameter:  # worded from the text as given: typer's path
            return UNSURE
    return coerce


def _encodable(text: str) -> bool:
    """pydantic refuses a str it cannot encode as UTF-8 (a surrogate escape from argv)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
