"""Options several commands share, and turning their text into library objects.

``--filter`` (``ipamx_spy.filters``) and ``--ignore-rule`` (``ipamx_spy.switches``) mean the same
in every command that has them; a value that cannot be used ends the command with exit code 2
and a message pointing at the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from ipamx_spy.console import err
from ipamx_spy.switches import RuleSwitchError, RuleSwitches

if TYPE_CHECKING:  # imported when used: the filter language's parser (pyparsing) is a
    # third of a reader's start-up, and most runs give no --filter (or --fault)
    from ipamx_spy.faults import FaultPlan
    from ipamx_spy.filters import Filter

FILTER_HELP = ("Only exchanges matching this filter, e.g. '~e RequestPool & ~err' "
               "(repeatable: all must match; the language: docs/filters.md).")
IGNORE_RULE_HELP = ("Switch a validation rule off, e.g. IPX403, or a family, e.g. IPX4 "
                    "(repeatable; `ipamx-spy check --codes` lists them).")
FAULT_HELP = ("Make an endpoint misbehave: ENDPOINT:ACTION with delay=2s, status=500, "
              "err=TEXT, empty, hang, drop, times=N, e.g. 'IpamDriver.RequestAddress:delay=2s' "
              "(repeatable; see the README).")
FILTER = typer.Option([], "--filter", metavar="FILTER", help=FILTER_HELP)
IGNORE_RULE = typer.Option([], "--ignore-rule", metavar="CODE", help=IGNORE_RULE_HELP)


def usage_error(message: str, detail: str = "") -> typer.Exit:
    """Print a usage problem on stderr and return the exit (code 2) to raise."""
    err.print(Text(f"ipamx-spy: {message}", style="red"), soft_wrap=True)
    if detail:
        err.print(Text(detail), soft_wrap=True)
    return typer.Exit(2)


def filter_from(texts: Sequence[str]) -> Filter | None:
    """The filter of ``--filter`` values (None for none); exit 2 with the column at fault."""
    if not texts:
        return None
    from ipamx_spy.filters import FilterError, parse_all

    try:
        return parse_all(list(texts))
    except FilterError as exc:
        raise usage_error(f"--filter {exc.text!r}, column {exc.column}: {exc.reason}",
                          exc.pointer()) from None


def faults_from(texts: Sequence[str]) -> FaultPlan | None:
    """The fault plan of ``--fault`` values; exit 2 for a bad one."""
    from ipamx_spy.faults import FaultError, FaultPlan

    try:
        return FaultPlan.parse(texts)
    except FaultError as exc:
        raise usage_error(str(exc)) from None


def switches_from(texts: Sequence[str]) -> RuleSwitches:
    """The rule switches of ``--ignore-rule`` values; exit 2 for an unknown code."""
    try:
        return RuleSwitches.parse(texts)
    except RuleSwitchError as exc:
        raise usage_error(str(exc)) from None
