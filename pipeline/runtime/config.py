"""The YAML graph description, validated in full before anything starts.

Every problem becomes one line: `FILE:LINE: YAML.PATH: what was expected`. Structure is checked
here with pydantic; each element's own `params` are checked against that element's `Params`
model when the graph is built (pipeline/runtime/graph.py), with the same error format.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vpipe.pipeline.api.errors import ConfigError
from vpipe.pipeline.api.paths import resolve_path
from vpipe.pipeline.runtime.yaml_loader import load_yaml

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class QueueSpec(Strict):
    size: int | None = Field(None, ge=1, le=10_000, description="frames waiting at most; default 8, and on a live edge that drops the oldest, just enough to keep the consumer busy (batch x workers + 1): a longer queue only adds latency.")
    overflow: Literal["auto", "block", "drop_oldest"] = Field("auto", description="`auto`: drop_oldest on the edge out of a live source, block everywhere else.")


class SourceSpec(Strict):
    """A capture element: video file, image folder, webcam index or RTSP/HTTP URL."""

    name: str = Field("source", pattern=NAME_PATTERN)
    uri: str = Field(description="a video file, a folder of images, a webcam index or a stream URL; ${VAR} comes from the environment (camera passwords stay out of configs).")
    kind: str = Field("auto", description="the source element (`vpipe elements`); auto: the one that takes this form of uri (file, folder, device, url)")
    queue: QueueSpec | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class NodeSpec(Strict):
    """A stage or a sink: its registered `type`, parameters, engine and links."""

    type: str = Field(description="the element (`vpipe elements` lists them).")
    name: str | None = Field(None, pattern=NAME_PATTERN)
    inputs: list[str] | None = Field(None, description="upstream element names; default: the element listed just before (sources for the first stage).")
    engine: str | None = Field(None, description="the model file (ONNX, or a TensorRT plan), relative to this config.")
    device: str | None = None
    workers: int = Field(1, ge=1, le=64, description="worker threads calling this stage at once (data parallel; output keeps input order).")
    batch: int = Field(1, ge=1, le=64, description="frames run through the engine at once, taken from whatever is waiting on the input (several cameras feeding one model, as DeepStream's stream muxer batches them); never waits to fill one.")
    threads: int | None = Field(None, ge=1, le=256, description="intra-op threads for this stage's engine; default: the cores shared evenly by model stages.")
    on_error: Literal["stop", "skip_frame", "mark"] = Field("stop", description="what one bad frame does: stop the run, drop the frame, or mark it and let it continue (a downstream anonymizer then covers the whole frame: fail-closed).")
    timeout: float | None = Field(None, gt=0, description="seconds one frame may take here; past it the element is taken as hung and the run stops (frames behind it are never written: a stuck detector cannot leak).")
    queue: QueueSpec | None = None
    raw_output: bool = Field(False, description="sinks that write pictures: write frames no anonymize stage covered, on purpose (decode-only, upscale, benchmarks); without it such a sink is refused.")
    params: dict[str, Any] = Field(default_factory=dict)


class ExecutorSpec(Strict):
    """How a folder of videos (`run -i DIR -o DIR`) is spread: here, one file after another, or on
    Ray, one task per file. Command-line flags (`--ray`, `--ray-cpus`, `--ray-retries`) win."""

    kind: Literal["local", "ray"] = Field("local", description="local: this machine, one file after another; ray: one Ray task per file (pip install 'vpipe[ray]').")
    address: str = Field("local", description="ray: `local` starts a Ray runtime on this machine; `auto` or `ray://HOST:PORT` joins a cluster.")
    cpus: int = Field(1, ge=1, le=256, description="ray: CPUs each file's task asks for (its engines' threads).")
    retries: int = Field(3, ge=0, le=100, description="ray: retries of a file whose worker died.")


class PipelineSpec(Strict):
    version: Literal[1] = 1
    device: str = Field("cpu", description="default device for model stages: cpu, cuda, cuda:N or tensorrt.")
    queue: QueueSpec = Field(default_factory=QueueSpec)
    sources: list[SourceSpec] = Field(min_length=1)
    stages: list[NodeSpec] = Field(default_factory=list)
    sinks: list[NodeSpec] = Field(min_length=1)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec, description="how a folder of videos is processed: here, or on Ray.")


class RunSettings(BaseModel):
    """What a run sets beyond its YAML: the command line's, applied by pipeline/runtime/overrides.py."""

    model_config = ConfigDict(frozen=True)

    #: where a node's uri or path came from the command line: its YAML location -> the option, which
    #: its errors name (instead of a line of the file); its relative paths are the shell's.
    given: dict[tuple[str | int, ...], str] = Field(default_factory=dict)
    #: False: an output that exists already is refused (`vpipe run` without --overwrite).
    overwrite: bool = True
    #: built for the one-frame-at-a-time baseline: one stage runs at a time, so each engine
    #: gets every core by default (the baseline's best, not a handicapped copy of the pipeline).
    sequential: bool = False
    #: cores this run may use, shared by its engines (a Ray task's CPUs); default: the machine's.
    cores: int | None = None


class Config:
    """A parsed config file: the validated spec plus where each value came from."""

    def __init__(self, spec: PipelineSpec, path: Path, root: yaml.Node | None,
                 settings: RunSettings | None = None):
        self.spec = spec
        self.path = path
        self._root = root
        self.settings = settings or RunSettings()

    @property
    def base_dir(self) -> Path:
        """Relative paths in a config are relative to the config file, like docker-compose."""
        return self.path.parent

    def resolve(self, value: str) -> Path:
        return resolve_path(self.base_dir, value)

    def error(self, loc: tuple[str | int, ...], message: str) -> ConfigError:
        """A one-line error pointing at `loc` (a path into the YAML document)."""
        line = _line_of(self._root, loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{where}: {format_loc(loc)}: {message}" if loc else f"{where}: {message}")


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    root, data = load_yaml(path, path.read_text(encoding="utf-8", errors="replace"))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with sources, stages and sinks at the top")
    config = Config(PipelineSpec.model_construct(sources=[], sinks=[]), path, root)  # for errors until validated
    try:
        config.spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(config, exc, ()) from None
    return config


def validation_error(config: Config, exc: ValidationError, prefix: tuple) -> ConfigError:
    """The first pydantic error as one line (with a count of the rest)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = prefix + tuple(first["loc"])
    message = _message(first)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return config.error(loc, message)


def format_loc(loc: tuple[str | int, ...]) -> str:
    """('stages', 2, 'params', 'threshold') -> 'stages[2].params.threshold'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    text = error["msg"]
    text = text[0].lower() + text[1:] if text else text
    if "input" in error and kind not in ("model_type", "dict_type", "list_type"):
        got = error["input"]
        shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        text += f", got {shown[:60]}"
    return text


def _line_of(node: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the deepest YAML node that `loc` reaches."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
