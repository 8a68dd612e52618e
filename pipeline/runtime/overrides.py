"""Command-line values applied to a config before its graph is built.

`vpipe run -i X -o Y --device D` (and batch, bench, serve, apply, verify, which build on it) name
what to change in a config; `apply_overrides` returns a new config with those changes made, and
the graph builder reads that config alone, knowing no option. What a YAML file cannot say goes in
`Config.settings`: which node's uri or path the command line gave (relative to the shell, its
errors naming the option), --overwrite, and how engine threads share the cores.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from vpipe.pipeline.api.element import Sink
from vpipe.pipeline.api.errors import ConfigError
from vpipe.pipeline.api.outputs import audit_path
from vpipe.pipeline.api.registry import ELEMENTS, SOURCES, load_elements
from vpipe.pipeline.api.secrets import expand_env
from vpipe.pipeline.runtime.config import Config, NodeSpec, PipelineSpec, RunSettings, SourceSpec
from vpipe.pipeline.runtime.graph import detect_kind, node_names, node_specs, sink_for_output, source_kind

#: a node's place in the YAML, e.g. ("sinks", 0).
Loc = tuple[str, int]


@dataclass(frozen=True)
class Overrides:
    """Command-line values that replace the config's (first source, first sink, device, ...)."""

    #: replaces the first source's uri (-i); its params carry over only to the same kind.
    input: str | None = None
    #: replaces the first sink's path (-o); a sink that declares this suffix (or a folder) takes
    #: its place where the config's is swappable.
    output: str | None = None
    #: the default device of model stages.
    device: str | None = None
    #: replaces the path of the first sink that writes the audit (batch mode writes one audit
    #: per file; see Sink.audit); by default with `output`, the audit follows it: OUT.jsonl
    #: beside OUT.mp4 or beside an image folder.
    audit: str | None = None
    #: False: an output that exists already is refused (`vpipe run` without --overwrite).
    overwrite: bool = True
    #: every file sink writes in this folder instead (`vpipe bench`: nowhere the user asked).
    output_dir: Path | None = None
    #: replaces `reconnect.max_attempts` of every network stream source (0: retry forever).
    reconnect_attempts: int | None = None
    #: the one-frame-at-a-time baseline: each engine gets every core (RunSettings.sequential).
    sequential: bool = False
    #: cores this run may use, shared by its engines (a Ray task's CPUs); default: the machine's.
    cores: int | None = None
    #: sinks added after the config's (`vpipe serve`: its live view).
    add_sinks: tuple[NodeSpec, ...] = ()


def apply_overrides(config: Config, overrides: Overrides) -> Config:
    """A new config with `overrides` applied; `config` itself is left as it was."""
    load_elements()
    spec = config.spec.model_copy(deep=True)
    spec.sinks += [sink.model_copy(deep=True) for sink in overrides.add_sinks]
    new = _with(config, spec, config.settings)
    specs = node_specs(spec)
    names = dict(zip((loc for loc, _, _ in specs), node_names(new, specs)))
    given = dict(config.settings.given)
    if overrides.device:
        spec.device = overrides.device
    if overrides.input is not None:
        spec.sources[0] = _input_source(new, spec.sources[0], overrides.input)
        given[("sources", 0)] = "--input"
    if overrides.reconnect_attempts is not None:
        _set_reconnect_attempts(new, given, overrides.reconnect_attempts or None)
    if overrides.output_dir is not None:
        _redirect_outputs(spec, names, overrides.output_dir)
    given |= _replace_outputs(spec, names, overrides)
    settings = RunSettings(given=given, overwrite=overrides.overwrite, sequential=overrides.sequential,
                           cores=overrides.cores)
    return _with(config, spec, settings)


def _with(config: Config, spec: PipelineSpec, settings: RunSettings) -> Config:
    """`config` (its file, its YAML lines for errors) with another spec and settings."""
    new = copy.copy(config)
    new.spec, new.settings = spec, settings
    return new


def _input_source(config: Config, source: SourceSpec, uri: str) -> SourceSpec:
    """The first source, reading `uri` (relative to the shell); its params carry over only to a
    source of the same kind. The configured uri is only looked at for its kind: an unset
    variable in it is fine."""
    configured = source_kind(config, ("sources", 0), source.kind, expand_env(source.uri)[0])
    kind = detect_kind(uri, None)
    return source.model_copy(update={"uri": uri, "kind": kind, "params": source.params if kind == configured else {}})


def _set_reconnect_attempts(config: Config, given: dict, attempts: int | None) -> None:
    """Each source's params with --reconnect-attempts applied, as its class declares (network
    streams: `reconnect.max_attempts`; files and folders never reconnect)."""
    for i, source in enumerate(config.spec.sources):
        loc = ("sources", i)
        uri = source.uri if loc in given else expand_env(source.uri)[0]
        try:
            kind = source_kind(config, loc, source.kind, uri)
        except ConfigError:
            continue  # an unknown kind: the graph reports it, in its turn
        source.params = SOURCES[kind].with_reconnect_attempts(source.params, attempts)


def _redirect_outputs(spec: PipelineSpec, names: dict[Loc, str], folder: Path) -> None:
    """Every file an element writes goes to `folder`/NAME/ instead (`vpipe bench`, `serve`:
    elements that write files still do their work, in a folder deleted afterwards)."""
    for loc, node, role in node_specs(spec):
        cls = ELEMENTS.get(node.type) if role != "source" else None
        for key in cls.output_params if cls is not None else ():
            if node.params.get(key) is not None:
                node.params[key] = str(folder / names[loc] / Path(str(node.params[key])).name)


def _replace_outputs(spec: PipelineSpec, names: dict[Loc, str], overrides: Overrides) -> dict[tuple[str | int, ...], str]:
    """-o into the first sink, and the audit (given, or beside -o) into the first sink that writes
    one; what the command line set, by location -> its option."""
    given: dict[tuple[str | int, ...], str] = {}
    output, audit = overrides.output, overrides.audit
    if output is not None and spec.sinks[0].raw_output:
        # -o names what the user will share: never a sink that writes pixels no anonymizer covered.
        raise ConfigError(f"--output: the first sink, {names[('sinks', 0)]!r}, writes raw pixels (raw_output: true), and -o "
                          "names an anonymized output: list an anonymized sink first, or set this one's path in the config")
    if output and audit is None and not sink_for_output(output).audit:
        # OUT.jsonl beside OUT.mp4, unless the output is the audit itself.
        audit = str(audit_path(Path(output), folder=sink_for_output(output).writes_folder))
    audit_index = next((i for i, sink in enumerate(spec.sinks) if _writes_audit(sink.type)), None)
    if output is not None:
        spec.sinks[0] = _with_path(spec.sinks[0], names[("sinks", 0)], output)
        given[("sinks", 0)] = "--output"
    if audit and audit_index is not None and audit_index > 0:
        loc = ("sinks", audit_index)
        spec.sinks[audit_index] = _with_path(spec.sinks[audit_index], names[loc], audit)
        given[loc] = "--output (its audit)"
    return given


def _with_path(sink: NodeSpec, name: str, path: str) -> NodeSpec:
    """`sink` writing `path`; a folder makes a video sink write images instead (a swappable sink
    gives way to the one that declares the path's suffix), so one config serves files and image
    folders alike."""
    cls = ELEMENTS.get(sink.type)
    if cls is None or cls.role != "sink":
        return sink  # the graph reports an unknown type, in its turn
    wanted, params = sink_for_output(path), dict(sink.params)
    if issubclass(cls, Sink) and cls.swappable and wanted is not cls:
        # The node keeps its name: stats, the audit and links name it.
        cls, params, sink = wanted, {}, sink.model_copy(update={"name": name})
    if not cls.output_params:
        raise ConfigError(f"--output: the first sink, {name!r}, writes no file ({sink.type!r} names no output_params)")
    return sink.model_copy(update={"type": cls.type_name, "params": {**params, cls.output_params[0]: path}})


def _writes_audit(type_name: str) -> bool:
    cls = ELEMENTS.get(type_name)
    return cls is not None and issubclass(cls, Sink) and cls.audit
