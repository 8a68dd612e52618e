"""`vpipe apply ORIGINAL AUDIT -o OUT`: render an audit's covers (and a reviewer's edits) onto the
original, with no detector (docs/review.md).

The run's own config gives everything but the detectors: its source's capture parameters (so
frames and indices match the audit's), each anonymize stage's effect and shape, and its picture
sink's encoding (audio, timestamps, metadata policy). The graph is that config's source, one
`covers` stage in place of its stages, its first picture sink and a jsonl audit beside the
output, run by the ordinary runner: the output is written, checked and published as any run's.
"""

from __future__ import annotations

from pathlib import Path

from vpipe.pipeline.api.edits import read_edits
from vpipe.pipeline.api.element import Sink
from vpipe.pipeline.api.errors import ConfigError
from vpipe.pipeline.api.registry import ELEMENTS, load_elements
from vpipe.pipeline.runtime.config import NodeSpec, load_config
from vpipe.pipeline.runtime.graph import Graph, build_graph
from vpipe.pipeline.runtime.overrides import Overrides, apply_overrides

#: the audit entry of the reviewer's covers (stages/covers.py).
REVIEW = "review"


def build_apply(original: Path, audit: Path, output: str, config_path: Path, device: str | None = None,
                overwrite: bool = False) -> tuple[Graph, int]:
    """The apply graph, and how many frames of the original it needs to read."""
    records = read_edits(audit)  # first: a bad line is one line naming the audit, not the config
    config = load_config(config_path)
    spec = config.spec
    stages = spec.stages
    names = _stage_names(stages)
    # Every type below is found by what it declares (docs/elements.md), none by its name.
    load_elements()
    renderer = _first_type(lambda cls: bool(cls.replays), "renders an audit's covers (declares `replays`)")
    replayed = ELEMENTS[renderer].replays
    anonymizers = {name: s.params for name, s in zip(names, stages) if s.type == replayed}
    for record in records:
        unknown = [n for n in record.get("audit", {}) if n != REVIEW and n not in anonymizers]
        if unknown:
            raise ConfigError(f"{audit}:{record['line']}: {unknown[0]!r} is not an {replayed} stage of {config_path} "
                              f"({', '.join(anonymizers) or 'none'}): give the run's config with --config")
    if not anonymizers:
        raise ConfigError(f"{config_path}: no {replayed} stage to take the effects from")
    # Its picture sink (video or images: those `-o` swaps for each other) keeps the run's encoding;
    # the others (views, messages) are the run's business.
    picture = next((s for s in spec.sinks if _picture_sink(ELEMENTS.get(s.type))), None) or NodeSpec(
        type=_first_type(_picture_sink, "writes pictures to files (`swappable`)"), params={"path": output})
    audit_sink = _first_type(lambda cls: issubclass(cls, Sink) and cls.audit, "writes the audit")
    # Its path here only makes the spec valid: the -o override puts the audit beside the output
    # (OUT.jsonl beside OUT.mp4, FOLDER.jsonl beside a folder; runtime/overrides.py).
    spec.stages = [NodeSpec(type=renderer, name="apply", params={"audit": str(audit.resolve()), "anonymizers": anonymizers})]
    spec.sinks = [picture.model_copy(update={"inputs": None, "name": None}),
                  NodeSpec(type=audit_sink, name="audit", params={"path": str(Path(output).with_suffix(".jsonl"))})]
    graph = build_graph(apply_overrides(config, Overrides(input=str(original), output=output, device=device,
                                                          overwrite=overwrite)))
    return graph, max(r["index"] for r in records) + 1


def _picture_sink(cls) -> bool:
    return cls is not None and issubclass(cls, Sink) and cls.swappable


def _first_type(wanted, what: str) -> str:
    """The first registered element type that `wanted(cls)` holds for."""
    found = next((name for name, cls in ELEMENTS.items() if wanted(cls)), None)
    if found is None:
        raise ConfigError(f"vpipe apply: no registered element {what}")
    return found


def _stage_names(stages: list[NodeSpec]) -> list[str]:
    """The names the graph gives the stages (as pipeline/runtime/graph.py does): the audit's keys."""
    names: list[str] = []
    for s in stages:
        name = s.name or s.type
        if name in names:
            i = 2
            while f"{name}{i}" in names:
                i += 1
            name = f"{name}{i}"
        names.append(name)
    return names
