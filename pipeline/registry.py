"""Elements register by name, so a new stage is one module with one decorator."""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")

#: type name -> class, for stages and sinks (`type:` in the config).
ELEMENTS: dict[str, type] = {}
#: kind name -> class, for sources (`kind:` in the config).
SOURCES: dict[str, type] = {}


def register(name: str) -> Callable[[T], T]:
    def add(cls: T) -> T:
        if name in ELEMENTS:
            raise RuntimeError(f"element type {name!r} registered twice")
        ELEMENTS[name] = cls
        cls.type_name = name  # type: ignore[attr-defined]
        return cls

    return add


def register_source(kind: str) -> Callable[[T], T]:
    def add(cls: T) -> T:
        SOURCES[kind] = cls
        cls.kind = kind  # type: ignore[attr-defined]
        return cls

    return add


def load_elements() -> None:
    """Import the built-in elements (their modules register themselves)."""
    import vpipe.stages  # noqa: F401
