"""Elements register by name, so a new stage is one module with one decorator.

Modules that hold elements are found through the entry-point group `vpipe.elements`: the
built-ins (`vpipe.stages`) the same way as an outside package's, which declares in its
pyproject.toml

    [project.entry-points."vpipe.elements"]
    my_stages = "my_package.stages"

Importing such a module registers its elements; a name that is taken already is refused.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:  # element.py imports this module
    from vpipe.pipeline.api.element import Element, Source

T = TypeVar("T", bound=type)
E = TypeVar("E", bound="type[Element]")
S = TypeVar("S", bound="type[Source]")

#: type name -> class, for stages and sinks (`type:` in the config).
ELEMENTS: dict[str, type[Element]] = {}
#: kind name -> class, for sources (`kind:` in the config).
SOURCES: dict[str, type[Source]] = {}


def _registrar(table: dict[str, Any], what: str, attribute: str, name: str) -> Callable[[T], T]:
    """A class decorator that files the class under `name` in `table` and tells it its name."""
    def add(cls: T) -> T:
        if name in table and table[name] is not cls:
            raise RuntimeError(f"{what} {name!r} is taken by {table[name].__module__}")
        table[name] = cls
        setattr(cls, attribute, name)
        return cls

    return add


def register(name: str) -> Callable[[E], E]:
    return _registrar(ELEMENTS, "element type", "type_name", name)


def register_source(kind: str) -> Callable[[S], S]:
    return _registrar(SOURCES, "source kind", "kind", kind)


GROUP = "vpipe.elements"
#: the built-ins' entry point: a plugin like any other, named by string so that the framework
#: never imports its elements (they import it).
BUILTINS = "vpipe.stages"


@cache
def load_elements() -> None:
    """Import every module of the `vpipe.elements` entry points (each registers its elements),
    once a process: reading the entry points scans every installed distribution's metadata (a few
    ms each time, and config loading, overrides and the graph builder each ask). A failure is
    not remembered: the next call tries again."""
    from importlib import import_module
    from importlib.metadata import entry_points

    from vpipe.pipeline.api.errors import ConfigError

    points = entry_points(group=GROUP)
    if BUILTINS not in {point.value for point in points}:
        import_module(BUILTINS)  # vpipe run from a checkout that was never installed
    for point in points:
        try:
            point.load()
        except RuntimeError as exc:  # register(): a name taken already
            raise ConfigError(f"plugin {point.name} ({point.value}): {exc}") from None
        except ImportError as exc:
            raise ConfigError(f"plugin {point.name} ({point.value}) cannot be imported: {exc}") from None
