"""A node's element typed by the node's role. `Node.element` is an `Element | Source`; the graph
builds every source node around a Source and every other node around an Element, and these say
so to the type checker (and fail loudly, not with an AttributeError, if that ever breaks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpipe.pipeline.api.element import Element, Source

if TYPE_CHECKING:  # graph.py builds the nodes; the runtime modules that read them import this one
    from vpipe.pipeline.runtime.graph import Node


def source_of(node: Node) -> Source:
    """The element of a source node."""
    element = node.element
    assert isinstance(element, Source), f"{node.name} is a {node.role}, not a source"
    return element


def element_of(node: Node) -> Element:
    """The element of a stage or sink node."""
    element = node.element
    assert isinstance(element, Element), f"{node.name} is a source, not a stage or sink"
    return element
