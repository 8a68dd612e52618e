"""What the framework knows of an element, the element declares in the plugin API (docs/elements.md):
no attribute read on the chance that an element has it, no element or class known by its name.
Each contract is shown here with an outside element that keeps it but is no built-in."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from pydantic import Field

from conftest import ROOT, SAMPLE, write_config
from vpipe.pipeline import Detections, Element, Frame, Params, Sink, Source, register
from vpipe.pipeline.api.registry import ELEMENTS, SOURCES, load_elements

#: getattr/hasattr in pipeline/ on what is not an element: third-party objects (PyYAML's and
#: click's exceptions, typing's annotations).
FOREIGN = {("pipeline/runtime/yaml_loader.py", "problem_mark"), ("pipeline/runtime/yaml_loader.py", "problem"),
           ("pipeline/apps/cli.py", "__name__"), ("pipeline/apps/cli.py", "show"),
           ("pipeline/apps/cli.py", "exit_code")}


def _framework():
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        yield str(path.relative_to(ROOT)), ast.parse(path.read_text())


def duck_typed(files) -> list[str]:
    """One line per getattr/hasattr call not in FOREIGN."""
    found = []
    for where, tree in files:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
                name = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else "?"
                if (where, name) not in FOREIGN:
                    found.append(f"{where}:{node.lineno}: {node.func.id}(..., {name!r})")
    return found


def by_name(files, names: set[str]) -> list[str]:
    """One line per comparison with, or `type=` of, one of `names` (element types, source kinds,
    object classes), and per `.startswith("test_")`."""
    found = []
    for where, tree in files:
        for node in ast.walk(tree):
            constants = []
            if isinstance(node, ast.Compare):  # not `"track" in record`: a key of a record, not a type
                constants = [n for n in (node.left, *node.comparators) if isinstance(n, ast.Constant)
                             and not (n is node.left and isinstance(node.ops[0], (ast.In, ast.NotIn)))]
            elif isinstance(node, ast.Call):
                constants = [k.value for k in node.keywords if k.arg == "type" and isinstance(k.value, ast.Constant)]
                if isinstance(node.func, ast.Attribute) and node.func.attr == "startswith":
                    constants += [a for a in node.args if isinstance(a, ast.Constant) and a.value == "test_"]
            found += [f"{where}:{node.lineno}: {c.value!r}" for c in constants
                      if c.value in names or c.value == "test_"]
    return found


def _names() -> set[str]:
    load_elements()
    return {n for n in (*ELEMENTS, *SOURCES) if not n.startswith(("test_", "contract_"))} | {"face", "licence_plate"}


def test_the_framework_reads_no_element_attribute_it_does_not_declare():
    assert duck_typed(_framework()) == []


def test_the_framework_knows_no_element_or_class_by_name():
    assert by_name(_framework(), _names()) == []


def test_the_checks_find_what_they_look_for():
    planted = [("pipeline/apps/x.py", ast.parse(
        "a = getattr(source, 'path', None)\nhasattr(e, 'connections')\ngetattr(exc, 'problem')\n"
        "if name == 'licence_plate': pass\nNodeSpec(type='web')\nn.startswith('test_')\nx = 'web'\n"))]
    assert duck_typed(planted) == ["pipeline/apps/x.py:1: getattr(..., 'path')",
                                   "pipeline/apps/x.py:2: hasattr(..., 'connections')",
                                   "pipeline/apps/x.py:3: getattr(..., 'problem')"]
    assert by_name(planted, {"web", "licence_plate"}) == [
        "pipeline/apps/x.py:4: 'licence_plate'", "pipeline/apps/x.py:5: 'web'", "pipeline/apps/x.py:6: 'test_'"]


# Outside elements that keep each contract, and nothing else a built-in happens to have.

class NamedFileParams(Params):
    file: str = Field(description="where it writes")


@register("contract_file_sink")
class NamedFileSink(Sink):
    """Writes to `file`, not `path`; reports a delivery as a network sink does."""

    Params = NamedFileParams
    output_params = ("file",)
    suffixes = (".ctr",)
    listed = False

    def outputs(self) -> list[Path]:
        return [Path(self.params.file)]

    def __call__(self, frame: Frame) -> Frame:
        return frame

    def delivery(self):
        from vpipe.pipeline.api.element import Delivery

        return Delivery(sent=5, dropped=2, connections=3)


class Sensitive(Params):
    min_score: float = 0.5


class RecheckedDetector(Element):
    """A detector whose threshold is not called `threshold`, reading a licence plate as `plate`."""

    Params = Sensitive
    provides = ("detections",)
    listed = False

    def score_floor(self) -> float:
        return self.params.min_score

    def rechecking(self, floor: float) -> Params:
        return self.params.model_copy(update={"min_score": floor})

    def text_classes(self) -> tuple[str, ...]:
        return ("plate",)

    def __call__(self, frame: Frame) -> Frame:
        self.seen.append(self.params.min_score)
        found = Detections(np.array([[4.0, 4.0, 20.0, 12.0]], np.float32), np.array([0.3], np.float32),
                           np.array([1]), ("plate",)).with_data(source=self.name)
        frame.detections = frame.detections + found
        return frame


class FileSource(Source):
    """A source whose file is `self.file`: it tells the framework through `info.path`."""

    def __init__(self, file: Path):
        super().__init__("source", str(file), Params(), file.parent)
        self.file = file
        self.info.path = file


def _graph(tmp_path, sinks: str, stages: str = "[]", **overrides):
    from vpipe.pipeline.runtime.config import load_config
    from vpipe.pipeline.runtime.graph import build_graph
    from vpipe.pipeline.runtime.overrides import Overrides, apply_overrides

    config = write_config(tmp_path, f"sources: [{{uri: {SAMPLE}}}]\nstages: {stages}\nsinks: {sinks}\n")
    return build_graph(apply_overrides(load_config(config), Overrides(**overrides)))


def test_minus_o_fills_the_parameter_the_sink_names_in_output_params(tmp_path):
    graph = _graph(tmp_path, f"[{{type: contract_file_sink, params: {{file: {tmp_path}/a.ctr}}}}]",
                   output=str(tmp_path / "b.ctr"))
    try:
        assert graph.sinks[0].element.params.file == str(tmp_path / "b.ctr")
    finally:
        graph.close()


def test_the_summary_shows_what_a_sink_declares_it_delivered(tmp_path):
    from vpipe.pipeline.apps.progress import sink_line

    graph = _graph(tmp_path, f"[{{type: contract_file_sink, params: {{file: {tmp_path}/a.ctr}}}}]")
    try:
        line = sink_line("contract_file_sink", 7, graph.sinks[0].element)
    finally:
        graph.close()
    assert line == (f"contract_file_sink: 7 frames -> {tmp_path}/a.ctr "
                    "(5 sent, 2 dropped while disconnected, 3 connections)")


def test_metrics_count_the_drops_a_sink_declares(tmp_path):
    from vpipe.pipeline.apps.metrics import offline_drops

    graph = _graph(tmp_path, f"[{{type: contract_file_sink, params: {{file: {tmp_path}/a.ctr}}}}]")
    try:
        assert offline_drops(graph) == {"contract_file_sink": 2}
    finally:
        graph.close()


def test_verify_takes_the_original_from_the_sources_info(tmp_path):
    import elements  # noqa: F401  (registers test_box)
    from vpipe.pipeline.apps.cli import verify_targets

    graph = _graph(tmp_path, f"[{{type: video, params: {{path: {tmp_path}/anon.mp4}}}}, "
                             f"{{type: jsonl, params: {{path: {tmp_path}/anon.jsonl}}}}]",
                   stages="[{type: test_box}, {type: anonymize}]")
    try:
        graph.sources[0].element.close()
        graph.sources[0].element = FileSource(tmp_path / "in.mp4")
        assert verify_targets(graph)[0] == tmp_path / "in.mp4"
    finally:
        graph.close()


def test_a_source_downscales_to_the_max_side_its_params_declare():
    from vpipe.pipeline import Captured, SourceParams

    class Big(Source):
        def frames(self):
            yield Captured(np.zeros((100, 400, 3), np.uint8), 0.0)

    limited = Big("s", "x", SourceParams(max_side=200), Path("."))
    assert [c.image.shape for c in limited.capture()] == [(50, 200, 3)]
    free = Big("s", "x", Params(), Path("."))  # no max_side: any size
    assert [c.image.shape for c in free.capture()] == [(100, 400, 3)]


def test_verify_rechecks_through_the_declared_hooks():
    """A lower floor through `rechecking`, the run's threshold from `score_floor`, and text
    confirmed for what `text_classes` names."""
    from vpipe.pipeline.api.element import Context
    from vpipe.pipeline.verify.check import SENSITIVITY, Detectors

    element = RecheckedDetector(Context("finder", Path(".")), Sensitive(min_score=0.5))
    element.seen = []
    detectors = Detectors([element], tiles=1)
    found = detectors(np.zeros((32, 32, 3), np.uint8))
    assert element.seen == [0.5 * SENSITIVITY]
    assert [(f[2], f[4]) for f in found] == [("plate", 0.5)]
    assert detectors.text_classes == {"plate"}


def test_what_reads_as_text_is_confirmed_by_text_the_rest_by_the_run_threshold():
    from vpipe.pipeline.verify.confirm import confirmed

    blank = np.zeros((60, 200, 3), np.uint8)
    assert confirmed(blank, [10, 10, 190, 50], 0.7, 0.5, reads_as_text=True) == "scores 0.70"
    assert confirmed(blank, [10, 10, 190, 50], 0.4, 0.3, reads_as_text=True) is None  # no text there
    assert confirmed(blank, [10, 10, 190, 50], 0.4, 0.3, reads_as_text=False) == "at the run's threshold 0.30"


def test_the_detect_stage_declares_its_plate_class_as_text():
    from vpipe.pipeline.runtime.config import load_config
    from vpipe.pipeline.runtime.graph import build_graph

    graph = build_graph(load_config(ROOT / "configs" / "roadview.yaml"))
    try:
        declared = {n.name: n.element.text_classes() for n in graph.nodes.values() if n.role == "stage"}
    finally:
        graph.close()
    assert ("licence_plate",) in declared.values()
    assert all(classes in ((), ("licence_plate",)) for classes in declared.values())


def test_serve_adds_the_sink_that_declares_itself_a_live_view():
    from vpipe.pipeline.api.element import LiveView
    from vpipe.pipeline.apps.cli import live_view_type

    assert issubclass(ELEMENTS[live_view_type()], LiveView)


def test_elements_lists_what_is_listed(monkeypatch, capsys):
    from test_config_errors import run_cli

    import elements  # noqa: F401  (registers the test_* elements, which are not listed)

    @register("contract_shown")
    class Shown(Element):
        """Shown in the reference."""

    try:
        code, out, _ = run_cli(monkeypatch, capsys, "elements")
    finally:
        del ELEMENTS["contract_shown"]
    assert code in (0, None)
    assert "stage contract_shown: Shown in the reference." in out
    assert "contract_file_sink" not in out and "test_box" not in out


def test_each_built_in_types_its_params_as_it_declares_them():
    """`class Detect(ModelElement[DetectParams])` with `Params = DetectParams`: the type a checker
    sees for `self.params` is the model the graph builds them with."""
    import typing

    load_elements()
    for name, cls in {**ELEMENTS, **SOURCES}.items():
        if not cls.__module__.startswith("vpipe.stages") or cls.Params is Params:
            continue
        typed = [a for base in getattr(cls, "__orig_bases__", ()) for a in typing.get_args(base)]
        assert typed == [cls.Params], f"{name}: {cls.__name__} subclasses {cls.__orig_bases__}, Params is {cls.Params}"


def test_the_built_in_network_sink_keeps_its_summary_line():
    """rtsp's line as before the contract (tests/test_live.py reads it from a real run)."""
    from vpipe.pipeline.apps.progress import sink_line

    load_elements()
    rtsp = ELEMENTS["rtsp"].__new__(ELEMENTS["rtsp"])
    rtsp.safe_url, rtsp.sent, rtsp.dropped, rtsp.connections = "rtsp://u:***@cam/in", 9, 4, 2
    assert sink_line("rtsp", 13, rtsp) == "rtsp: 13 frames -> rtsp://u:***@cam/in (9 sent, 4 dropped while disconnected, 2 connections)"
