"""A pipeline graph: described by a config, validated and built here, then run by the runner.

Building resolves links (a straight chain by default), rejects cycles and dangling links,
validates each element's parameters against its own `Params`, opens engines and probes sources,
so that every mistake is reported before a single frame is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vpipe.pipeline.api.element import Context, Element, Sink, Source, StreamInfo
from vpipe.pipeline.api.errors import ConfigError, VpipeError
from vpipe.pipeline.api.outputs import check_outputs
from vpipe.pipeline.api.paths import resolve_path
from vpipe.pipeline.api.registry import ELEMENTS, SOURCES, load_elements
from vpipe.pipeline.api.secrets import expand_env, scrub
from vpipe.pipeline.runtime.config import Config, NodeSpec, PipelineSpec, QueueSpec, SourceSpec, validation_error
from vpipe.pipeline.runtime.lineage import check_lineage
from vpipe.pipeline.runtime.nodes import element_of, source_of


@dataclass
class Node:
    name: str
    #: where it is in the YAML, e.g. ("stages", 1)
    loc: tuple[str | int, ...]
    element: Element | Source
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    queue: QueueSpec = field(default_factory=QueueSpec)
    on_error: str = "stop"
    workers: int = 1
    #: most frames handed to the element at once (1: frame by frame).
    batch: int = 1
    timeout: float | None = None
    #: "source", "stage" or "sink"
    role: str = "stage"
    #: how several inputs meet: "merge" (different sources interleave) or "join" (two branches
    #: of the same frames are zipped back together by sequence number).
    fan_in: str = "single"
    #: sources whose frames reach this node.
    upstream_sources: frozenset[str] = frozenset()
    #: a picture sink that may write pixels no anonymizer covered (pipeline/runtime/lineage.py).
    raw_output: bool = False
    closed: bool = False

    def close(self) -> None:
        """Close the element exactly once: the runner does as each element finishes (and reports
        what fails); the graph closes only what never ran (a build or run cut short)."""
        if not self.closed:
            self.closed = True
            self.element.close()


@dataclass
class Graph:
    config: Config
    nodes: dict[str, Node]
    #: names in an order where every node comes after its inputs.
    order: list[str]
    #: what `validate` and `run` say before running: settings that weaken anonymization.
    warnings: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == "source"]

    @property
    def sinks(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == "sink"]

    def source_elements(self) -> list[Source]:
        """The sources' elements (a source node holds a Source, every other node an Element)."""
        return [source_of(n) for n in self.sources]

    def elements(self) -> list[Element]:
        """The stages' and sinks' elements, in the order of the config."""
        return [element_of(n) for n in self.nodes.values() if n.role != "source"]

    def streams(self) -> dict[str, StreamInfo]:
        return {source.name: source.info for source in self.source_elements()}

    def close(self) -> None:
        """Close what the runner did not: elements of a graph that was built but not run to the
        end. Their errors are dropped: the run's own error, if any, is the one to report."""
        for node in self.nodes.values():
            try:
                node.close()
            except Exception:
                pass


#: (YAML location, spec, role) of every node: sources, then stages, then sinks.
NodeSpecs = list[tuple[tuple[str, int], Any, str]]


def build_graph(config: Config) -> Graph:
    """The graph a config describes, every element built and checked. Command-line values are
    applied to the config before (pipeline/runtime/overrides.py): this reads the config alone."""
    load_elements()
    specs = node_specs(config.spec)
    names = node_names(config, specs)
    links = _links(config, specs, names)
    order = _topological_order(config, names, links, specs)
    upstream = _upstream_sources(order, links, names, specs)
    engine_threads = _engine_threads(config, specs)
    nodes: dict[str, Node] = {}
    infos: dict[str, StreamInfo] = {}
    for (loc, node_spec, role), name in zip(specs, names):
        if role == "source":
            source = _build_source(config, loc, name, node_spec)
            infos[name] = source.info
            nodes[name] = Node(name, loc, source, [], queue=node_spec.queue or config.spec.queue, role=role,
                               upstream_sources=frozenset([name]))
            continue
        streams = {s: infos[s] for s in sorted(upstream[name])}
        element = _build_element(config, loc, name, node_spec, role, streams, engine_threads)
        _check_node(config, loc, node_spec, element)
        node = Node(name, loc, element, links[name], queue=node_spec.queue or config.spec.queue,
                    on_error=node_spec.on_error, role=role, workers=node_spec.workers, batch=node_spec.batch,
                    timeout=node_spec.timeout, upstream_sources=frozenset(upstream[name]),
                    raw_output=node_spec.raw_output)
        node.fan_in = _fan_in(config, loc, links[name], upstream)
        nodes[name] = node
    _link_outputs(config, nodes, order)
    warnings = check_lineage(config, nodes, order)
    check_outputs(config, nodes)
    return Graph(config, nodes, order, warnings)


def node_specs(spec: PipelineSpec) -> NodeSpecs:
    specs: NodeSpecs = [(("sources", i), s, "source") for i, s in enumerate(spec.sources)]
    specs += [(("stages", i), s, "stage") for i, s in enumerate(spec.stages)]
    specs += [(("sinks", i), s, "sink") for i, s in enumerate(spec.sinks)]
    return specs


def _engine_threads(config: Config, specs: NodeSpecs) -> int:
    """Engine threads default to an even share of the cores among all model-stage workers."""
    settings = config.settings
    model_workers = 1 if settings.sequential else sum(
        s.workers for _, s, role in specs if role != "source" and s.engine)
    return max(1, (settings.cores or os.cpu_count() or 1) // max(1, model_workers))


def _link_outputs(config: Config, nodes: dict[str, Node], order: list[str]) -> None:
    """Each node's outputs, from the others' inputs; a stage or source that feeds nothing is refused."""
    for name in order:
        for upstream_name in nodes[name].inputs:
            nodes[upstream_name].outputs.append(name)
    for node in nodes.values():
        if node.role != "sink" and not node.outputs:
            raise config.error(node.loc, f"{node.name!r} feeds nothing: link it to a stage or a sink")


def _check_node(config: Config, loc, s: NodeSpec, element: Element) -> None:
    """What the config asks of an element that it does not do: workers, batches, `mark`."""
    if s.workers > 1 and not element.thread_safe:
        raise config.error(loc + ("workers",), f"a {s.type!r} element runs on one worker only")
    refusal = element.batch_error(s.batch) if s.batch > 1 else None
    if refusal:
        raise config.error(loc + ("batch",), refusal)
    if element.fail_closed and s.on_error == "mark":
        raise config.error(loc + ("on_error",), "an anonymizer fails closed: use stop or skip_frame")


def node_names(config: Config, specs: NodeSpecs) -> list[str]:
    """Each node's name: as written, else its type (`source` for a source), numbered from 2 when taken."""
    names: list[str] = []
    seen: dict[str, tuple[str | int, ...]] = {}
    for loc, s, role in specs:
        name = s.name or (s.type if role != "source" else "source")
        if name in seen:
            if s.name:
                raise config.error(loc + ("name",), f"name {name!r} is already used by {_fmt(seen[name])}")
            i = 2
            while f"{name}{i}" in seen:
                i += 1
            name = f"{name}{i}"
        seen[name] = loc
        names.append(name)
    return names


def _fmt(loc) -> str:
    return f"{loc[0]}[{loc[1]}]"


def _links(config: Config, specs, names) -> dict[str, list[str]]:
    """Each node's inputs: as written, or the element listed just before it (a straight chain)."""
    sources = [n for (_, _, role), n in zip(specs, names) if role == "source"]
    stages = [n for (_, _, role), n in zip(specs, names) if role == "stage"]
    links: dict[str, list[str]] = {}
    for (loc, s, role), name in zip(specs, names):
        if role == "source":
            links[name] = []
            continue
        if s.inputs is not None:
            if not s.inputs:
                raise config.error(loc + ("inputs",), "needs at least one input")
            for j, ref in enumerate(s.inputs):
                if ref not in names:
                    raise config.error(loc + ("inputs", j), f"no source, stage or sink named {ref!r}")
                if ref == name:
                    raise config.error(loc + ("inputs", j), "an element cannot feed itself")
                ref_role = specs[names.index(ref)][2]
                if ref_role == "sink":
                    raise config.error(loc + ("inputs", j), f"{ref!r} is a sink: sinks have no outputs")
            links[name] = list(dict.fromkeys(s.inputs))
        elif role == "stage":
            i = stages.index(name)
            links[name] = sources if i == 0 else [stages[i - 1]]
        else:
            links[name] = [stages[-1]] if stages else sources
    return links


def _topological_order(config: Config, names, links, specs) -> list[str]:
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join(path[path.index(name):] + [name])
            loc = specs[names.index(name)][0]
            raise config.error(loc + ("inputs",), f"cycle in the graph: {cycle}")
        state[name] = "visiting"
        for upstream_name in links[name]:
            visit(upstream_name, path + [name])
        state[name] = "done"
        order.append(name)

    for name in names:
        visit(name, [])
    return order


def _upstream_sources(order, links, names, specs) -> dict[str, set[str]]:
    upstream: dict[str, set[str]] = {}
    for name in order:
        role = specs[names.index(name)][2]
        upstream[name] = {name} if role == "source" else set().union(*(upstream[u] for u in links[name]))
    return upstream


def _fan_in(config: Config, loc, inputs: list[str], upstream) -> str:
    if len(inputs) < 2:
        return "single"
    sets = [upstream[i] for i in inputs]
    if all(s == sets[0] for s in sets):
        return "join"
    if all(a.isdisjoint(b) for k, a in enumerate(sets) for b in sets[k + 1:]):
        return "merge"
    raise config.error(loc + ("inputs",),
                       "inputs must either carry the same sources (a join) or disjoint ones (a merge)")


def _params(config: Config, loc, cls, raw: dict) -> Any:
    try:
        return cls.Params.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(config, exc, loc + ("params",)) from None


def _build_source(config: Config, loc: tuple[str, int], name: str, s: SourceSpec) -> Source:
    given = config.settings.given.get(loc)  # "--input": the command line's uri, taken as it is
    # `uri: ${CAMERA_URL}` or `rtsp://viewer:${CAM_PASS}@10.0.0.7/stream1`.
    unset = lambda name: config.error(loc + ("uri",), f"environment variable {name} is not set")  # noqa: E731
    uri, shown = (s.uri, {}) if given else expand_env(s.uri, unset)
    cls = SOURCES[source_kind(config, loc, s.kind, uri)]
    params = _params(config, loc, cls, s.params)
    try:
        source = cls(name, uri, params, Path.cwd() if given else config.base_dir)
    except VpipeError as exc:
        message = scrub(str(exc), uri, shown)
        if given:
            raise ConfigError(f"{given}: {message}") from None
        raise config.error(loc + ("uri",), message) from None
    source.shown = shown
    return source


def source_kind(config: Config, loc: tuple[str, int], kind: str, uri: str) -> str:
    """`kind` if registered, or for `auto` the kind that takes this form of `uri`."""
    if kind != "auto" and kind not in SOURCES:
        raise config.error(loc + ("kind",), f"unknown source kind {kind!r} (known: auto, {', '.join(sorted(SOURCES))})")
    return kind if kind != "auto" else detect_kind(uri, config.base_dir)


def uri_form(uri: str, base_dir: Path | None) -> str:
    """What a source's uri names: a "url", a capture "device" (an index or /dev/video*), a
    "folder" or a "file"."""
    if "://" in uri:
        return "url"
    if uri.isdigit() or uri.startswith("/dev/video"):
        return "device"
    return "folder" if resolve_path(base_dir or Path(), uri).is_dir() else "file"


def detect_kind(uri: str, base_dir: Path | None) -> str:
    """The source kind for `kind: auto`: the first one that declares it takes this form of uri."""
    form = uri_form(uri, base_dir)
    kind = next((kind for kind, cls in SOURCES.items() if cls.takes == form), None)
    if kind is None:
        raise ConfigError(f"no source kind takes a {form} uri (kind: auto)")
    return kind


def sink_for_output(output: str) -> type[Sink]:
    """The sink that writes what `-o` names: the one that declares its suffix, else (a folder)
    the first swappable sink that writes a folder."""
    sinks = [cls for cls in ELEMENTS.values() if cls.role == "sink" and issubclass(cls, Sink)]
    suffix = Path(output).suffix.lower()
    found = next((cls for cls in sinks if suffix in cls.suffixes), None)
    found = found or next((cls for cls in sinks if cls.swappable and cls.writes_folder), None)
    if found is None:
        raise ConfigError(f"--output: no sink writes {output} (none declares {suffix or 'a folder'})")
    return found


def _build_element(config: Config, loc: tuple[str, int], name: str, s: NodeSpec, role: str,
                   streams: dict[str, StreamInfo], engine_threads: int) -> Element:
    cls = ELEMENTS.get(s.type)
    if cls is None or cls.role != role:
        known = sorted(k for k, c in ELEMENTS.items() if c.role == role)
        raise config.error(loc + ("type",), f"unknown {role} type {s.type!r} (known: {', '.join(known)})")
    # "--output" (or "--output (its audit)"): the path is the command line's, relative to the shell.
    given = config.settings.given.get(loc)
    params = _params(config, loc, cls, s.params)
    engine_path = None
    if cls.engine_tasks:
        if not s.engine:
            raise config.error(loc, f"a {s.type!r} stage needs an engine: a model file")
        engine_path = config.resolve(s.engine)
        if not engine_path.is_file():
            raise config.error(loc + ("engine",), f"engine file not found: {engine_path}")
    elif s.engine:
        raise config.error(loc + ("engine",), f"{s.type!r} runs no model")
    ctx = Context(
        name=name,
        base_dir=Path.cwd() if given else config.base_dir,
        engine_path=engine_path,
        device=s.device or config.spec.device,
        # Model stages share the cores; give each worker an even part rather than all of them.
        threads=s.threads or engine_threads,
        streams=streams,
        where=f"{config.path}: {_fmt(loc)}",
    )
    try:
        return cls(ctx, params)
    except VpipeError as exc:
        if given and str(exc).startswith("params.path: "):
            # The path came from -o (or follows it: the audit), not from the config's line.
            raise ConfigError(f"--output: {str(exc).removeprefix('params.path: ')}") from None
        raise config.error(loc, f"{name}: {exc}") from None
