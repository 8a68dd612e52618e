"""A pipeline graph: described by a config, validated and built here, then run by the runner.

Building resolves links (a straight chain by default), rejects cycles and dangling links,
validates each element's parameters against its own `Params`, opens engines and probes sources,
so that every mistake is reported before a single frame is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vpipe.pipeline.api.element import Context, Element, Sink, Source, StreamInfo
from vpipe.pipeline.api.errors import ConfigError, VpipeError
from vpipe.pipeline.api.outputs import audit_path, check_outputs
from vpipe.pipeline.api.paths import resolve_path
from vpipe.pipeline.api.registry import ELEMENTS, SOURCES, load_elements
from vpipe.pipeline.api.secrets import expand_env, scrub
from vpipe.pipeline.runtime.config import Config, NodeSpec, QueueSpec, SourceSpec, validation_error
from vpipe.pipeline.runtime.lineage import check_lineage


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

    def streams(self) -> dict[str, StreamInfo]:
        return {n.name: n.element.info for n in self.sources}

    def close(self) -> None:
        """Close what the runner did not: elements of a graph that was built but not run to the
        end. Their errors are dropped: the run's own error, if any, is the one to report."""
        for node in self.nodes.values():
            try:
                node.close()
            except Exception:
                pass


@dataclass
class Overrides:
    """Command-line values that replace the config's (first source, first sink, device)."""

    input: str | None = None
    output: str | None = None
    device: str | None = None
    #: replaces the path of the first sink that writes the audit (batch mode writes one audit
    #: per file; see Sink.audit); by default
    #: with `output`, the audit follows it: OUT.jsonl beside OUT.mp4 or beside an image folder.
    audit: str | None = None
    #: False: an output that exists already is refused (`vpipe run` without --overwrite).
    overwrite: bool = True
    #: every file sink writes in this folder instead (`vpipe bench`: nowhere the user asked).
    output_dir: Path | None = None
    #: replaces `reconnect.max_attempts` of every network stream source (0: retry forever).
    reconnect_attempts: int | None = None
    #: built for the one-frame-at-a-time baseline: one stage runs at a time, so each engine
    #: gets every core by default (the baseline's best, not a handicapped copy of the pipeline).
    sequential: bool = False
    #: cores this run may use, shared by its engines (a Ray task's CPUs); default: the machine's.
    cores: int | None = None


def build_graph(config: Config, overrides: Overrides | None = None) -> Graph:
    load_elements()
    overrides = overrides or Overrides()
    spec = config.spec
    device = overrides.device or spec.device

    specs: list[tuple[tuple, Any, str]] = []  # (loc, spec, role)
    specs += [(("sources", i), s, "source") for i, s in enumerate(spec.sources)]
    specs += [(("stages", i), s, "stage") for i, s in enumerate(spec.stages)]
    specs += [(("sinks", i), s, "sink") for i, s in enumerate(spec.sinks)]

    names = _names(config, specs)
    links = _links(config, specs, names)
    order = _topological_order(config, names, links, specs)
    upstream = _upstream_sources(order, links, names, specs)
    # Engine threads default to an even share of the cores among all model-stage workers.
    model_workers = 1 if overrides.sequential else sum(
        s.workers for _, s, role in specs if role != "source" and s.engine)
    engine_threads = max(1, (overrides.cores or os.cpu_count() or 1) // max(1, model_workers))

    if overrides.output is not None and spec.sinks and spec.sinks[0].raw_output:
        # -o names what the user will share: never a sink that writes pixels no anonymizer covered.
        raw = names[len(spec.sources) + len(spec.stages)]
        raise ConfigError(f"--output: the first sink, {raw!r}, writes raw pixels (raw_output: true), and -o "
                          "names an anonymized output: list an anonymized sink first, or set this one's path in the config")
    overrides = _audit_follows_output(overrides)
    audit_sink = next((n for (_, sp, r), n in zip(specs, names) if r == "sink" and _writes_audit(sp.type)), None)
    nodes: dict[str, Node] = {}
    for (loc, node_spec, role), name in zip(specs, names):
        inputs = links[name]
        queue = node_spec.queue or spec.queue
        if role == "source":
            element = _build_source(config, loc, name, node_spec, overrides, first=loc[1] == 0)
            nodes[name] = Node(name, loc, element, [], queue=queue, role=role,
                               upstream_sources=frozenset([name]))
            continue
        streams = {s: nodes[s].element.info for s in sorted(upstream[name])}
        output = None
        if role == "sink" and loc[1] == 0:
            output = overrides.output
        elif role == "sink" and overrides.audit and name == audit_sink:
            output = overrides.audit
        element = _build_element(config, loc, name, node_spec, role, device, streams, engine_threads,
                                 output=output, output_dir=overrides.output_dir)
        _check_node(config, loc, node_spec, element)
        node = Node(name, loc, element, inputs, queue=queue, on_error=node_spec.on_error, role=role,
                    workers=node_spec.workers, batch=node_spec.batch, timeout=node_spec.timeout,
                    upstream_sources=frozenset(upstream[name]), raw_output=node_spec.raw_output)
        node.fan_in = _fan_in(config, loc, inputs, upstream)
        nodes[name] = node

    for name in order:
        for upstream_name in nodes[name].inputs:
            nodes[upstream_name].outputs.append(name)
    for node in nodes.values():
        if node.role != "sink" and not node.outputs:
            raise config.error(node.loc, f"{node.name!r} feeds nothing: link it to a stage or a sink")
    warnings = check_lineage(config, nodes, order)
    check_outputs(config, nodes, overrides, audit_sink)
    return Graph(config, nodes, order, warnings)


def _audit_follows_output(overrides: Overrides) -> Overrides:
    """With -o and no --audit, the audit goes beside the output (OUT.jsonl beside OUT.mp4),
    unless the output is the audit itself."""
    if not overrides.output or overrides.audit is not None:
        return overrides
    sink = sink_for_output(overrides.output)
    if sink.audit:
        return overrides
    return replace(overrides, audit=str(audit_path(Path(overrides.output), folder=sink.writes_folder)))


def _check_node(config: Config, loc, s: NodeSpec, element: Element) -> None:
    """What the config asks of an element that it does not do: workers, batches, `mark`."""
    if s.workers > 1 and not element.thread_safe:
        raise config.error(loc + ("workers",), f"a {s.type!r} element runs on one worker only")
    refusal = element.batch_error(s.batch) if s.batch > 1 else None
    if refusal:
        raise config.error(loc + ("batch",), refusal)
    if element.fail_closed and s.on_error == "mark":
        raise config.error(loc + ("on_error",), "an anonymizer fails closed: use stop or skip_frame")


def _names(config: Config, specs) -> list[str]:
    names, seen = [], {}
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
    order, state = [], {}

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


def _build_source(config: Config, loc, name: str, s: SourceSpec, overrides: Overrides, first: bool) -> Source:
    from_cli = first and overrides.input is not None
    # With --input the configured uri is only looked at for its kind: an unset variable is fine.
    # `uri: ${CAMERA_URL}` or `rtsp://viewer:${CAM_PASS}@10.0.0.7/stream1`.
    unset = None if from_cli else (lambda name: config.error(loc + ("uri",), f"environment variable {name} is not set"))
    uri, shown = expand_env(s.uri, unset)
    if s.kind != "auto" and s.kind not in SOURCES:
        raise config.error(loc + ("kind",), f"unknown source kind {s.kind!r} (known: auto, {', '.join(sorted(SOURCES))})")
    configured = s.kind if s.kind != "auto" else detect_kind(uri, config.base_dir)
    kind, raw = configured, s.params
    if from_cli:
        # --input replaces the first source; its params carry over only to the same kind.
        uri, shown = overrides.input, {}
        kind = detect_kind(uri, None)
        raw = s.params if kind == configured else {}
    cls = SOURCES[kind]
    if overrides.reconnect_attempts is not None:
        raw = cls.with_reconnect_attempts(raw, overrides.reconnect_attempts or None)
    params = _params(config, loc, cls, raw)
    base_dir = Path.cwd() if from_cli else config.base_dir
    try:
        source = cls(name, uri, params, base_dir)
    except VpipeError as exc:
        message = scrub(str(exc), uri, shown)
        if from_cli:
            raise ConfigError(f"--input: {message}") from None
        raise config.error(loc + ("uri",), message) from None
    source.shown = shown
    return source


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
    sinks = [cls for cls in ELEMENTS.values() if cls.role == "sink"]
    suffix = Path(output).suffix.lower()
    found = next((cls for cls in sinks if suffix in cls.suffixes), None)
    found = found or next((cls for cls in sinks if cls.swappable and cls.writes_folder), None)
    if found is None:
        raise ConfigError(f"--output: no sink writes {output} (none declares {suffix or 'a folder'})")
    return found


def _build_element(config: Config, loc, name: str, s: NodeSpec, role: str, device: str,
                   streams: dict[str, StreamInfo], engine_threads: int, output: str | None,
                   output_dir: Path | None = None) -> Element:
    cls = ELEMENTS.get(s.type)
    if cls is None or cls.role != role:
        known = sorted(k for k, c in ELEMENTS.items() if c.role == role)
        raise config.error(loc + ("type",), f"unknown {role} type {s.type!r} (known: {', '.join(known)})")
    raw = dict(s.params)
    base_dir = config.base_dir
    for key in cls.output_params if output_dir is not None else ():
        if raw.get(key) is not None:
            # `vpipe bench`: elements that write files still do their work, in a folder deleted afterwards.
            raw[key] = str(output_dir / name / Path(str(raw[key])).name)
    if output is not None:
        # --output replaces the first sink's path (relative to the shell); a folder makes a
        # video sink write images instead, so one config serves files and image folders alike.
        wanted = sink_for_output(output)
        if cls.swappable and wanted is not cls:
            cls, raw = wanted, {}
        if not cls.output_params:
            raise ConfigError(f"--output: the first sink, {name!r}, writes no file ({s.type!r} names no output_params)")
        raw[cls.output_params[0]] = output
        base_dir = Path.cwd()
    params = _params(config, loc, cls, raw)
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
        base_dir=base_dir,
        engine_path=engine_path,
        device=s.device or device,
        # Model stages share the cores; give each worker an even part rather than all of them.
        threads=s.threads or engine_threads,
        streams=streams,
        where=f"{config.path}: {_fmt(loc)}",
    )
    try:
        return cls(ctx, params)
    except VpipeError as exc:
        if output is not None and str(exc).startswith("params.path: "):
            # The path came from -o (or follows it: the audit), not from the config's line.
            raise ConfigError(f"--output: {str(exc).removeprefix('params.path: ')}") from None
        raise config.error(loc, f"{name}: {exc}") from None


def _writes_audit(type_name: str) -> bool:
    cls = ELEMENTS.get(type_name)
    return cls is not None and issubclass(cls, Sink) and cls.audit
