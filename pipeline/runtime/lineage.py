"""What reaches each node of a built graph: whose pixels, whether an anonymizer covered them, and
what the stages before it found. No element can see this alone, so the graph refuses here what
would otherwise leak in silence:

* a join of inputs with different pixels (a join keeps one input's pixels and every input's
  audit, so the audit would claim covers the pixels lack), unless a metadata-only sink takes it;
* a sink that writes pictures with no anonymizer before it, unless it says `raw_output: true`;
* an element that would do nothing on what its upstream provides (`upstream_error`), checked
  for each source apart: a detector on one camera covers nothing of another merged after it;
* an anonymizer after a detector that skips frames (`every: N`) with no tracker between them to
  carry its boxes across the frames it skipped.

It also gathers warnings for graphs that anonymize: settings that make a stage ignore part of
what its detectors report, such as a tracker that no weak box may start (`upstream_warning`), and
looks at a part of the picture further apart than the tracker and look-ahead bridge
(`revisit_frames` against `bridges_frames`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vpipe.pipeline.api.element import Sink
from vpipe.pipeline.api.registry import ELEMENTS
from vpipe.pipeline.runtime.config import Config


@dataclass
class Reach:
    #: the nodes whose pixels arrive: sources, or the last stage that drew into them.
    pixels: frozenset[str]
    #: every path here went through an anonymizer.
    covered: bool
    #: by source: what the stages on its path provide (see Element.provides) -> the class names
    #: they give. Per source, since a merge interleaves frames that passed different stages.
    found: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    #: each detector before it -> the lowest score it reports (Element.score_floor).
    floors: dict[str, float] = field(default_factory=dict)
    #: detectors before it that skip frames, with no stage after them that carries boxes across.
    gaps: frozenset[str] = frozenset()
    #: detectors before it that look at a part of the picture only every so often -> (the most
    #: frames between two looks, 0 for no bound; the frames the stages after them bridge).
    waits: dict[str, tuple[int, int]] = field(default_factory=dict)


def check_lineage(config: Config, nodes: dict, order: list[str]) -> list[str]:
    """Refuses what would leak (ConfigError); returns the warnings for a graph that anonymizes."""
    reach: dict[str, Reach] = {}
    warnings: list[str] = []
    for name in order:
        node = nodes[name]
        if node.role == "source":
            reach[name] = Reach(frozenset([name]), covered=False, found={name: {}})
            continue
        inputs = [reach[i] for i in node.inputs]
        _refuse_mixed_pixels(config, node, name, inputs)
        here = _arriving(inputs)
        warning = _check_upstream(config, node, name, here)
        if warning:
            warnings.append(f"{name}: {warning}")
        warnings += [w for w in _unbridged(node.element, here) if w not in warnings]  # once per detector
        reach[name] = _leaving(node.element, name, here)
        _refuse_raw_pixels(config, node, name, reach[name])
    anonymizes = any(nodes[n].element.fail_closed for n in order if nodes[n].role != "source")
    return warnings if anonymizes else []


def _arriving(inputs: list[Reach]) -> Reach:
    """What reaches a node from its inputs. A join's inputs carry the same sources: what each
    branch found adds up."""
    found: dict[str, dict[str, set[str]]] = {}
    floors: dict[str, float] = {}
    waits: dict[str, tuple[int, int]] = {}
    for r in inputs:
        for source, kinds in r.found.items():
            for kind, classes in kinds.items():
                found.setdefault(source, {}).setdefault(kind, set()).update(classes)
            found.setdefault(source, {})
        floors.update(r.floors)
        for detector, (wait, bridged) in r.waits.items():  # a branch that bridges less decides
            if detector in waits:
                bridged = min(bridged, waits[detector][1])
            waits[detector] = (wait, bridged)
    return Reach(frozenset().union(*(r.pixels for r in inputs)), all(r.covered for r in inputs), found,
                 floors, frozenset().union(*(r.gaps for r in inputs)), waits)


def _leaving(element, name: str, here: Reach) -> Reach:
    """What leaves a node: `here` with what the element adds, covers or draws."""
    bridges = element.bridges_frames()
    if bridges:
        here.gaps = frozenset()
        here.waits = {d: (wait, bridged + bridges) for d, (wait, bridged) in here.waits.items()}
    if element.skips_frames():
        here.gaps = here.gaps | {name}
    wait = element.revisit_frames()
    if wait is not None:
        here.waits[name] = (wait, 0)
    floor = element.score_floor()
    if floor is not None:
        here.floors[name] = floor
    if element.changes_pixels:
        here.pixels = frozenset([name])
    # fail_closed marks an anonymizer: its output is covered whatever came in.
    here.covered = here.covered or element.fail_closed
    for kinds in here.found.values():
        for kind in element.provides:
            kinds.setdefault(kind, set()).update(element.class_names())
    return here


def _refuse_mixed_pixels(config: Config, node, name: str, inputs: list[Reach]) -> None:
    if node.fan_in == "join" and len({r.pixels for r in inputs}) > 1 and (
            node.role != "sink" or node.element.writes_pixels):
        origins = ", ".join(f"{i!r} from {'/'.join(sorted(r.pixels))}" for i, r in zip(node.inputs, inputs))
        raise config.error(node.loc + ("inputs",),
                           f"{name!r} joins inputs with different pixels ({origins}): a join keeps "
                           "one input's pixels, so link it after the last stage that changes them")


def _check_upstream(config: Config, node, name: str, here: Reach) -> str | None:
    """Refuses an element that would do nothing, or leave skipped frames uncovered, on what
    reaches it; returns its warning, if any."""
    element = node.element
    for source in sorted(here.found):
        refusal = element.upstream_error(here.found[source])
        if refusal:
            which = f"frames of {source!r}: " if len(here.found) > 1 else ""
            raise config.error(node.loc, f"{name}: {which}{refusal}")
    if element.fail_closed and here.gaps:
        raise config.error(node.loc, f"{name!r} would leave the frames {', '.join(sorted(here.gaps))} skips "
                           "(every: N) uncovered: add a track stage between them, which carries boxes "
                           "across those frames")
    return element.upstream_warning(here.floors)


def _unbridged(element, here: Reach) -> list[str]:
    """An anonymizer's warnings, each naming its detector, for detectors whose looks at a part of
    the picture are further apart than the stages between bridge: what only such a look finds
    goes uncovered between."""
    if not element.fail_closed:
        return []
    warnings = []
    for detector, (wait, bridged) in sorted(here.waits.items()):
        reach = f"track's max_age and the look-ahead's frames bridge {bridged}"
        if wait == 0:
            warnings.append(f"{detector}: tiles rotate with no `revisit` bound: on a large frame a tile "
                            f"waits more frames between looks than the {reach}; set tiles.revisit")
        elif wait - 1 > bridged:
            warnings.append(f"{detector}: looks at a part of the frame only once in {wait} frames, but the "
                            f"{reach}: an object only such a look finds shows between looks; set "
                            f"tiles.revisit (or every) to at most {bridged + 1}, or raise them")
    return warnings


def _refuse_raw_pixels(config: Config, node, name: str, here: Reach) -> None:
    element = node.element
    if node.raw_output and not element.writes_pixels:
        pictures = ", ".join(sorted(n for n, cls in ELEMENTS.items() if issubclass(cls, Sink) and cls.writes_pixels))
        raise config.error(node.loc + ("raw_output",), f"only sinks that write pictures ({pictures}) take raw_output")
    if element.writes_pixels and not here.covered and not node.raw_output:
        raise config.error(node.loc, f"{name!r} would write pixels no anonymize stage covered: add one "
                           "before it, or set raw_output: true to write them raw on purpose")
