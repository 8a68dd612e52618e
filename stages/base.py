"""What the built-in elements share: running an engine, what every source kind takes, the
paths elements write into, and state kept per source and clip. The plugin API itself (Element, Sink, Source...) is vpipe.pipeline.api.element."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Generic, TypeVar

from pydantic import Field

from vpipe.engines import open_engine
from vpipe.pipeline.api.element import Context, Element, P, SourceParams
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.outputs import check_writable
from vpipe.pipeline.api.paths import resolve_path


class CaptureParams(SourceParams):
    """What every source kind takes."""

    max_side: int = Field(4096, ge=16, description="longest side (pixels) of the frames a source hands on; larger ones are downscaled on capture, so memory and model cost stay bounded whatever the input (a 10000x10000 photo would cost tens of GB in a detector). Every stage and sink then sees the smaller frame.")


#: sides of a model's `input_size`: at most the frames' default `max_side`.
MIN_INPUT, MAX_INPUT = 16, 4096


class ModelElement(Element[P]):
    """An element that runs an engine: opened at build time (so `vpipe validate` loads it),
    checked against the tasks the element runs, warmed up on its worker."""

    thread_safe = True  # ONNX Runtime sessions take concurrent runs

    def __init__(self, ctx: Context, params: P, input_size: str | None = None):
        """`input_size`: the network input "HxW" its params ask for, for models that take any size."""
        super().__init__(ctx, params)
        size = input_size
        if size and not all(MIN_INPUT <= int(side) <= MAX_INPUT for side in size.split("x")):
            # 99999x99999 would allocate tens of GB in the engine; 0x0 fails only at run time.
            raise VpipeError(f"params.input_size: each side must be {MIN_INPUT} to {MAX_INPUT} pixels, got {size}")
        if ctx.engine_path is None:  # the graph gives one to every element with engine_tasks
            raise VpipeError(f"{self.type_name!r} runs a model: give it an engine")
        self.engine_path: Path = ctx.engine_path
        self.engine = open_engine(self.engine_path, ctx.device, ctx.threads)  # an EngineError is a VpipeError
        task = self.engine.meta.task
        if task not in self.engine_tasks:
            what = f"a {task} model" if task else "a model without vpipe metadata"
            raise VpipeError(f"{self.engine_path.name} is {what}; {self.type_name!r} needs a "
                             f"{' or '.join(self.engine_tasks)} model (export one with `vpipe export`)")
        self.input_name = self.engine.inputs[0].name
        #: network input (H, W) for models that take any size; None: the frame's size.
        self.input_override: tuple[int, int] | None = None
        if size:
            height, width = (int(v) for v in size.split("x"))
            self.input_override = (height, width)

    def batch_error(self, size: int) -> str | None:
        if type(self).run_batch is Element.run_batch:
            return super().batch_error(size)
        dim = self.engine.inputs[0].shape[0]
        if isinstance(dim, int) and dim != size:
            return (f"{self.engine_path.name} takes batches of {dim}, not {size} "
                    "(export it with --dynamic-batch)")
        return None

    def open(self) -> None:
        self.engine.warmup()


def output_folder(ctx: Context, value: str, field_name: str) -> Path:
    """A folder an element writes into, resolved and checked now (so `validate` catches it);
    the error names the parameter."""
    folder = resolve_path(ctx.base_dir, value)
    try:
        check_writable(folder, folder=True)
    except VpipeError as exc:
        raise VpipeError(f"{field_name}: {exc}") from None
    return folder


S = TypeVar("S")


class PerSource(dict[str, S], Generic[S]):
    """Each source's state by source id, begun anew where its frames begin a new clip (`Frame.clip`:
    a stream reconnected, a batch went on to its next file): a clip's tracks, motion and pre-roll
    are not the next one's. Sources never share state (a merge interleaves their frames)."""

    def __init__(self, new: Callable[[], S]):
        super().__init__()
        self.new = new
        self.clips: dict[str, int] = {}

    def at(self, frame: Frame) -> tuple[S, S | None]:
        """The state of `frame`'s source, and the last clip's state where `frame` begins a new clip
        (to carry over or finish what it must); None otherwise."""
        state = self.get(frame.source_id)
        if state is not None and self.clips[frame.source_id] == frame.clip:
            return state, None
        self[frame.source_id] = self.new()
        self.clips[frame.source_id] = frame.clip
        return self[frame.source_id], state
