"""Commands that live outside the runtime (the exporters, trainers and evaluators of vpipe.tools,
or another package's), found through the entry-point group `vpipe.commands`:

    [project.entry-points."vpipe.commands"]
    export = "vpipe.tools.cli:export"    # a function with typer annotations: one command
    eval = "vpipe.tools.evaluate.scores:app"    # a typer app: a group of subcommands

Each is imported only when it runs or `vpipe --help` lists it, so `vpipe run` never imports them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:  # click's classes as typer types them: newer typer vendors click as typer._click
    from typer._click import Command, Context

from vpipe.pipeline.api.errors import VpipeError

GROUP = "vpipe.commands"


class LazyGroup(TyperGroup):
    """The `vpipe` group: its own commands, then those of the entry points, loaded when asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        own = super().list_commands(ctx)
        return own + [name for name in _points() if name not in own]

    def get_command(self, ctx: Context, name: str) -> Command | None:
        command = super().get_command(ctx, name)
        point = _points().get(name)
        if command is None and point is not None:
            command = _load(name, point)
            self.add_command(command, name)  # once: help and the run share it
        return command


@cache
def _points() -> dict[str, EntryPoint]:
    """The commands' entry points, read once a process (a scan of every distribution's metadata)."""
    return {point.name: point for point in entry_points(group=GROUP)}


def _load(name: str, point: EntryPoint) -> Command:
    try:
        target = point.load()
    except ImportError as exc:  # its extra is not installed: say so when it is run
        return _unavailable(name, f"vpipe {name} cannot be imported ({point.value}): {exc}")
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    if isinstance(target, (TyperCommand, TyperGroup)):  # built by its package, with its own settings
        return target
    return _command(name, target)


def _unavailable(name: str, why: str) -> Command:
    def fail() -> None:
        raise VpipeError(why)

    return _command(name, fail, help=f"(unavailable: {why})")


def _command(name: str, function, help: str | None = None) -> Command:
    """One function as a command. Through typer, not click: newer typer vendors its own click,
    and the runtime's dependencies do not include click itself."""
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    holder.command(name, help=help)(function)
    return typer.main.get_command(holder)
