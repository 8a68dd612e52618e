"""The plugin API: what every element of the graph is (typed parameters, one uniform call, open
and close), what it declares to the graph builder, and what a source yields.

Elements live outside the framework (stages/, or an outside package) and import this module; the
framework never imports them. What the builder needs to know about an element, the element says
here as a class attribute or a hook, never through its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import ClassVar, Generic, Iterator, TypeVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.registry import ELEMENTS
from vpipe.pipeline.api.secrets import scrub


class Params(BaseModel):
    """Base of every element's parameters: unknown keys are errors, not silently ignored; nor
    are `.inf` and `.nan` (an fps of .inf failed only at run time)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


#: an element's own Params: `class Blur(Element[BlurParams])` makes `self.params` a BlurParams.
P = TypeVar("P", bound=Params)
#: the base class, by a name that the class attribute `Params` of elements does not hide.
AnyParams = Params


class SourceParams(Params):
    """Base of a source's parameters, for sources whose frames may be downscaled on capture."""

    max_side: int | None = Field(None, ge=16, description="longest side (pixels) of the frames a source hands on; larger ones are downscaled on capture.")


@dataclass
class StreamInfo:
    """What a source knows about its stream before the first frame."""

    source_id: str
    width: int | None = None
    height: int | None = None
    #: average frame rate; None when unknown (image folders without `fps`).
    fps: float | None = None
    time_base: Fraction | None = None
    live: bool = False
    #: number of frames when known (files), for progress bars.
    frames: int | None = None
    #: the source's path (files and folders), for sinks that mirror names or copy audio.
    path: Path | None = None
    #: packets the decoder rejected (image folders: unreadable files), skipped and counted.
    corrupt: int = 0
    #: frames a file declares but does not hold (a truncated file), known at its end.
    missing: int = 0
    #: display rotation the frames still need (degrees counter-clockwise); video sinks copy it.
    rotation: int = 0
    # Live streams only, updated by the source while it runs (read by the status line, metrics).
    #: times the stream came back after a loss (a new connection that delivered a frame).
    reconnects: int = 0
    #: interruptions seen: reconnections, pts jumps and pauses longer than the gap threshold.
    gaps: int = 0
    #: seconds of stream lost in those gaps, in total.
    gap_seconds: float = 0.0
    #: "connecting", "connected", "reconnecting" or "failed" ("" for files).
    state: str = ""
    #: the last connection error, one line, credentials redacted.
    last_error: str = ""


@dataclass
class Context:
    """Where an element sits: its name, its engine, and the streams that reach it."""

    name: str
    base_dir: Path
    engine_path: Path | None = None
    device: str = "cpu"
    threads: int | None = None
    streams: dict[str, StreamInfo] = field(default_factory=dict)
    #: the element's YAML path, e.g. "stages[1]", for errors at build time.
    where: str = ""


class Element(Generic[P]):
    """A stage or a sink. Subclasses set `Params` and implement `__call__`; subclassing
    `Element[TheirParams]` types `self.params` (plain `Element` leaves it untyped).

    Built (and engines loaded) when the graph is built, so `vpipe validate` catches a bad model
    before any frame is read; `open` runs on the element's own worker just before the first frame.
    """

    Params: ClassVar[type[AnyParams]] = AnyParams
    #: "stage" passes frames on; "sink" ends a branch.
    role: ClassVar[str] = "stage"
    #: model tasks this element runs; non-empty means it needs an `engine`.
    engine_tasks: ClassVar[tuple[str, ...]] = ()
    #: anonymizers: a failure may never let a frame through (on_error `mark` is refused).
    fail_closed: ClassVar[bool] = False
    #: `__call__` may run on several threads at once (`workers: N`); sinks never are.
    thread_safe: ClassVar[bool] = False
    #: draws into the pixels (anonymize, upscale, annotate): downstream, the frame's pixels are its.
    changes_pixels: ClassVar[bool] = False
    #: a sink that writes or sends pictures: refused unless an anonymizer covered them first.
    #: Not a ClassVar: an element whose params decide sets it per instance (events' snapshots).
    writes_pixels: bool = False
    #: what it adds to frames for the stages after it: "detections", "tracks" or "masks".
    provides: ClassVar[tuple[str, ...]] = ()
    #: what it needs from the stages before it (as `provides`): without it, it would do nothing.
    requires: ClassVar[tuple[str, ...]] = ()
    type_name: ClassVar[str] = ""
    #: parameters that name what it writes (`vpipe bench` points them into a scratch folder;
    #: `-o` replaces the first one of the first sink).
    output_params: ClassVar[tuple[str, ...]] = ()
    #: its output is a folder of files (images, snapshots), not one file.
    writes_folder: ClassVar[bool] = False
    #: shown by `vpipe elements` (test doubles say False).
    listed: ClassVar[bool] = True
    #: the element type whose covers, listed in an audit, it renders again without detecting
    #: (`vpipe apply` puts it in place of a run's stages, with those stages' params).
    replays: ClassVar[str] = ""

    def __init__(self, ctx: Context, params: P):
        self.ctx = ctx
        self.name = ctx.name
        self.params: P = params

    def outputs(self) -> list[Path]:
        """The files (or the folder) it writes: checked before the run, so that none is an
        input and none is replaced without --overwrite."""
        return []

    def open(self) -> None:
        """Called once on the worker before the first frame (warm-up, files to create)."""

    def __call__(self, frame: Frame) -> Frame | None:
        """Process one frame; return it (changed or not) to pass it on, or None to drop it."""
        raise NotImplementedError

    def batch_error(self, size: int) -> str | None:
        """Why this element cannot take `size` frames at once (`batch` in the config); None if it can."""
        return f"a {self.type_name!r} element takes one frame at a time"

    def class_names(self) -> tuple[str, ...]:
        """Classes of the boxes or masks it adds (what `provides` names), for checks downstream."""
        return ()

    def upstream_error(self, upstream: dict[str, set[str]]) -> str | None:
        """Why it would do nothing on what the stages before it provide (kind -> class names,
        as `provides`); None if it works. Checked at build time: a silent no-op is a leak.
        By default: every kind it `requires` is there."""
        for kind in self.requires:
            if kind not in upstream:
                makers = ", ".join(sorted(n for n, cls in ELEMENTS.items() if kind in cls.provides))
                return f"it needs {kind} from a stage upstream ({makers or 'none is known'}), and there is none"
        return None

    def score_floor(self) -> float | None:
        """The lowest score of the boxes it adds (a detector's threshold), or None: lets stages
        downstream say at build time when they would ignore some of them."""
        return None

    def text_classes(self) -> tuple[str, ...]:
        """Those of its `class_names()` whose objects are read as text (licence plates): `vpipe
        verify` confirms a box of one by a row of characters, not by its score alone."""
        return ()

    def rechecking(self, floor: float) -> P | None:
        """Its params made to report every box down to score `floor`, whatever its size, for
        `vpipe verify` to look again at an output; None: it has no such setting."""
        return None

    def skips_frames(self) -> bool:
        """It adds its boxes to some video frames only (a detector run every N-th frame): an
        anonymizer after it needs a stage between them that bridges frames (`bridges_frames`)."""
        return False

    def revisit_frames(self) -> int | None:
        """A detector that looks at some part of the picture only every so often (every N-th
        frame, tiles in rotation): the most frames between two looks at one part, 0 when no bound
        holds at every frame size. None: it looks at all of every frame."""
        return None

    def bridges_frames(self) -> int:
        """Frames without a detection over which it still covers an object (a tracker's coasting,
        a look-ahead's back-fill): the stages after a detector add up to what it may miss."""
        return 0

    def upstream_warning(self, floors: dict[str, float]) -> str | None:
        """A warning, not a refusal, about what the stages before it report: `floors` maps each
        detector upstream to the lowest score it reports (score_floor). Printed by `validate`
        and `run` when the graph anonymizes. None: nothing to say."""
        return None

    def run_batch(self, frames: list[Frame]) -> list[Frame]:
        """Process several frames at once (elements whose `batch_error` allows it)."""
        raise NotImplementedError

    def flush(self) -> list[Frame]:
        """At the end of the stream: frames still held back (a look-ahead buffer), in order."""
        return []

    def close(self) -> None:
        """Called once at the end of the stream, also after errors: finalize what was written."""


@dataclass
class Delivery:
    """What a network sink got to its server: shown in the run's summary and metrics."""

    sent: int = 0
    #: frames dropped while it was disconnected.
    dropped: int = 0
    connections: int = 0


class Sink(Element[P]):
    role = "sink"
    output_params = ("path",)
    #: suffixes of the one file it writes: `-o FILE` goes to the sink that declares FILE's suffix.
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: writes the per-frame audit: `--audit` names its file, and with `-o` it follows the output.
    audit: ClassVar[bool] = False
    #: `-o` may swap it for the sink of the output's form (a video sink becomes an images sink
    #: for `-o folder/`), so one config serves files and folders alike; the swapped-in sink is
    #: the one that declares the suffix or, for a folder, the first such sink that writes one.
    swappable: ClassVar[bool] = False

    def destination(self) -> str:
        """Where it writes, fit to print in the run's summary (credentials redacted); "" for
        nowhere. By default its first output."""
        outputs = self.outputs()
        return str(outputs[0]) if outputs else ""

    def delivery(self) -> Delivery | None:
        """What a network sink has delivered so far; None for a sink that writes locally."""
        return None


class LiveView(Sink[P]):
    """A sink that shows the pictures live on a local web page. `vpipe serve` adds the first one
    registered to a graph, with the params `port`, `host`, `linger`, `user` and `password`; with
    `linger` its page stays up after `close()`, until `shutdown()`."""

    def shutdown(self) -> None:
        """Stop serving the page (after a lingering `close()`)."""


@dataclass
class Captured:
    """What a source yields; the runner turns it into a Frame."""

    image: np.ndarray
    pts: float | None
    name: str = ""
    #: Frame.clip: a new value where the frames stop following each other in time.
    clip: int = 0
    #: entries for the frame's audit (jsonl), e.g. {"capture": {"reconnects": 2, "gap_s": 3.1}}
    #: on the first frame after a gap; None on ordinary frames.
    audit: dict | None = None


class Source(Generic[P]):
    """A capture element. `info` is known after construction (files are probed then);
    `Source[TheirParams]` types `self.params`, as for Element."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type[AnyParams]] = AnyParams
    #: the form of uri `kind: auto` gives it: "file", "folder", "device" or "url" (graph.uri_form).
    takes: ClassVar[str] = ""
    #: shown by `vpipe elements` (test doubles say False).
    listed: ClassVar[bool] = True

    def __init__(self, name: str, uri: str, params: P, base_dir: Path):
        self.name = name
        self.uri = uri
        self.params: P = params
        self.base_dir = base_dir
        self.info = StreamInfo(source_id=name)
        #: values of `${VAR}`s in the uri -> "${VAR}": messages show the name (set by the graph).
        self.shown: dict[str, str] = {}
        #: frames handed to the graph so far (a file that gave none is an error, not an empty output).
        self.delivered = 0

    def scrub(self, text: str) -> str:
        """`text` fit to print: credentials in the uri redacted, `${VAR}` values by name."""
        return scrub(text, self.uri, self.shown)

    def frames(self) -> Iterator[Captured]:
        raise NotImplementedError

    def capture(self) -> Iterator[Captured]:
        """`frames()`, each at most `max_side` on its longer side (params derived from
        SourceParams): what the runner reads."""
        limit = self.params.max_side if isinstance(self.params, SourceParams) else None
        for captured in self.frames():
            height, width = captured.image.shape[:2]
            if limit and max(height, width) > limit:
                scale = limit / max(height, width)
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                captured.image = cv2.resize(captured.image, size, interpolation=cv2.INTER_AREA)
                self.info.width, self.info.height = size
            self.delivered += 1
            yield captured

    def warnings(self) -> list[str]:
        """One line per problem with the input seen so far (corrupt, truncated), for summaries."""
        return []

    def empty_error(self) -> str | None:
        """Why a file or folder that ended without giving a single frame failed, or None."""
        if self.delivered or self.info.live:
            return None
        why = "; ".join(w.split(": ", 1)[-1] for w in self.warnings())
        return self.scrub(f"{self.uri}: no frame could be read" + (f" ({why})" if why else ""))

    @classmethod
    def with_reconnect_attempts(cls, raw: dict, attempts: int | None) -> dict:
        """`raw` params with `--reconnect-attempts` applied (None: retry forever); sources that
        never reconnect (files, folders) leave them as they are."""
        return raw

    def stop(self) -> None:
        """Ask a blocking read to return soon (called from another thread on SIGINT)."""

    def close(self) -> None:
        pass


