"""Detection: run a detector engine on each frame and add its boxes to the frame.

By default the detector sees the whole frame once. `tiles` and `cascade` make it look again at
parts of the frame at their own resolution (stages/views.py): small, far objects that vanish when
the frame is squeezed into the network's input come back into range.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator, model_validator

from vpipe.pipeline.api.element import Params
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.pipeline.api.registry import register
from vpipe.stages.base import ModelElement
from vpipe.stages.decoders import DECODERS
from vpipe.stages.preprocess import input_size_for, to_tensor
from vpipe.stages.views import View, crops_around, in_rotation, merge, tile_grid, tiles_per_look, zoomed_out


class TileParams(Params):
    size: int = Field(512, ge=32, le=4096, description="tile side in frame pixels; for a model of fixed input size, its input side looks at the frame at its own resolution.")
    overlap: float = Field(0.25, ge=0.0, lt=0.9, description="share of a tile its neighbour also covers: an object up to overlap x size lies whole in some tile.")
    per_frame: int | None = Field(None, ge=1, le=1000, description="video: look at this many tiles per frame, in turn (the tracker coasts and the look-ahead back-fills between a tile's visits); null: every tile on every frame, unless `revisit` sets the rotation. Photos, which have no next frame, always get every tile.")
    revisit: int | None = Field(None, ge=1, le=1000, description="video: look at each tile at least once in this many frames; where `per_frame` tiles a look would take longer to come round (a larger frame has more tiles), a look takes more. Keep it within the tracker's reach (track.max_age + lookahead.frames) so an object only a tile finds stays covered between visits.")
    scale: float = Field(1.0, ge=0.25, le=4.0, description="models that take any input size (CenterFace): enlarge each tile by this before the network, so objects this much smaller are found.")


class CascadeParams(Params):
    classes: list[str] = Field(min_length=1, description="boxes of these classes, found by this stage's other passes, are looked at again (the plate model's own vehicle boxes).")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="least score of a box to look at again; default: the stage's threshold.")
    margin: float = Field(0.1, ge=0.0, le=2.0, description="the crop grows the box by this share of its size per side.")
    min_side: int = Field(128, ge=16, le=4096, description="crops are at least this many frame pixels a side (a far car's crop is then enlarged to the network input, and its plate with it).")
    max_crops: int = Field(4, ge=1, le=64, description="at most this many crops per frame, best scores first: the cost per frame stays bounded.")


class ZoomOutParams(Params):
    ratio: float = Field(1.5, gt=1.0, le=4.0, description="the canvas is this many times the frame's size, so the network sees the frame this much smaller than in the whole-frame look (the plate trainer zooms out up to 3x onto the same grey).")
    min_size: float = Field(0.15, ge=0.0, le=1.0, description="keep only boxes of this view at least this share of the frame's width: smaller objects the whole-frame look sees at a size it knows, and there the zoomed-out view adds false boxes. Width, not height: a plate is wider than tall, and tall boxes from this view were false (a signpost, 0.09 x 0.26 of the frame).")


class DetectParams(Params):
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    classes: list[str] | None = Field(None, description="keep only these class names (None keeps all).")
    nms_iou: float = Field(0.45, gt=0.0, le=1.0, description="IoU for the NMS the runtime runs (raw, centerface and yolo layouts).")
    input_size: str | None = Field(None, pattern=r"^\d+x\d+$", description="network input \"HxW\" for models that accept any size; default: the frame's size.")
    min_size: float = Field(0.0, ge=0.0, description="boxes smaller than this (pixels, shorter side) are ignored.")
    large_size: float = Field(1.0, gt=0.0, le=1.0, description="boxes wider or taller than this share of the frame are large, and need `large_threshold`.")
    large_threshold: float = Field(0.0, ge=0.0, le=1.0, description="the score a large box needs: a close-up plate scores high, a plate model half-seeing a big structure does not (0: no more than `threshold`).")
    full_frame: bool = Field(True, description="look at the whole frame at once (squeezed into the network input for models of fixed size).")
    full_frame_scale: float = Field(1.0, ge=0.1, le=4.0, description="models that take any input size (CenterFace): the whole-frame look sees the frame scaled by this; 0.5 costs a quarter and finds objects from twice the size up, leaving the smaller ones to `tiles`.")
    zoom_out: ZoomOutParams | None = Field(None, description="models of fixed input size (the plate model): also look at the whole frame shrunk onto a grey canvas, for close-ups that fill the frame. One more engine run a look.")
    every: int = Field(1, ge=1, le=30, description="video: run the detector on every N-th frame only (DeepStream's `interval` + 1); a `track` stage after it covers the frames between by coasting, and a `lookahead` interpolates them. Photos are always looked at. 1: every frame.")
    tiles: TileParams | None = Field(None, description="also look at overlapping tiles of the frame at their own resolution (small, far objects); see docs/plates.md for what each setting costs.")
    cascade: CascadeParams | None = Field(None, description="also look again, enlarged, around the boxes of some classes (vehicle -> plate).")

    @field_validator("classes")
    @classmethod
    def _not_empty(cls, v):
        if v is not None and not v:
            raise ValueError("an empty list would keep nothing; leave it out to keep all classes")
        return v

    @model_validator(mode="after")
    def _looks_somewhere(self) -> DetectParams:
        if not self.full_frame and self.tiles is None:
            raise ValueError("full_frame: false needs tiles (otherwise the detector looks nowhere)")
        if self.full_frame_scale != 1.0 and self.input_size:
            raise ValueError("full_frame_scale and input_size both set the whole-frame look's size: choose one")
        return self


#: classes whose objects are read as text: `vpipe verify` confirms one by a row of characters.
TEXT_CLASSES = ("licence_plate",)


@register("detect")
class Detect(ModelElement[DetectParams]):
    """Runs a detector engine; the output layout comes from the model's metadata."""

    Params = DetectParams
    engine_tasks = ("detect",)
    provides = ("detections",)

    def __init__(self, ctx, params):
        super().__init__(ctx, params, params.input_size)
        meta = self.engine.meta
        if meta.decoder not in DECODERS:
            raise VpipeError(f"{ctx.engine_path.name}: unknown output layout {meta.decoder!r}")
        self.decode = DECODERS[meta.decoder]
        names = meta.classes
        if params.classes:
            unknown = [c for c in params.classes if c not in names]
            if unknown:
                raise VpipeError(f"params.classes: {', '.join(unknown)} not among the model's classes "
                                 f"({', '.join(n for n in names if n != '__background__')})")
            self.keep_ids = np.array([names.index(c) for c in params.classes])
        else:
            self.keep_ids = None
        if params.cascade:
            unknown = [c for c in params.cascade.classes if c not in names]
            if unknown:
                raise VpipeError(f"params.cascade.classes: {', '.join(unknown)} not among the model's classes")
            self.cascade_ids = np.array([names.index(c) for c in params.cascade.classes])
        if params.tiles and params.tiles.scale != 1.0 and meta.input_size:
            raise VpipeError(f"params.tiles.scale: {ctx.engine_path.name} takes a fixed "
                             f"{meta.input_size[0]}x{meta.input_size[1]} input, so every tile is resized to it; "
                             "choose the tile size instead")
        if params.full_frame_scale != 1.0 and meta.input_size:
            raise VpipeError(f"params.full_frame_scale: {ctx.engine_path.name} takes a fixed "
                             f"{meta.input_size[0]}x{meta.input_size[1]} input, so the whole frame is resized to it")
        if params.zoom_out and not meta.input_size:
            raise VpipeError(f"params.zoom_out: {ctx.engine_path.name} takes any input size, so a "
                             "zoomed-out frame is only a larger input; shrink its look with full_frame_scale")
        #: looks at more than the whole frame once, or at it scaled (views.py).
        self.looks_again = bool(params.tiles or params.cascade or params.zoom_out or not params.full_frame
                                or params.full_frame_scale != 1.0)
        self._grids: dict[tuple[int, int], list[View]] = {}

    def class_names(self) -> tuple[str, ...]:
        return tuple(self.params.classes or (n for n in self.engine.meta.classes if n != "__background__"))

    def score_floor(self) -> float:
        return self.params.threshold

    def text_classes(self) -> tuple[str, ...]:
        return tuple(name for name in self.class_names() if name in TEXT_CLASSES)

    def rechecking(self, floor: float) -> DetectParams:
        return self.params.model_copy(update={"threshold": floor, "min_size": 0.0, "every": 1})

    def skips_frames(self) -> bool:
        return self.params.every > 1

    def revisit_frames(self) -> int | None:
        tiles = self.params.tiles
        if tiles and (tiles.per_frame or tiles.revisit):
            # per_frame alone: 0, a larger frame's tiles take longer to come round
            return max(tiles.revisit, self.params.every) if tiles.revisit else 0
        return self.params.every if self.params.every > 1 else None

    def looks_at(self, frame: Frame) -> bool:
        """Video frames between every N-th are passed on untouched; photos (no timestamp) are
        always looked at, having no neighbours to carry boxes from."""
        return frame.pts is None or frame.index % self.params.every == 0

    def __call__(self, frame: Frame) -> Frame:
        if not self.looks_at(frame):
            return frame
        if self.looks_again:
            return self._add(frame, *self._look(frame))
        tensor, fit = self._prepare(frame)
        return self._finish(frame, self.engine.run({self.input_name: tensor}), fit)

    def views(self, frame: Frame) -> list[View]:
        """The whole frame, zoomed out, and the tiles this frame looks at (the cascade's crops come
        after)."""
        p, (h, w) = self.params, frame.image.shape[:2]
        whole = View(0, 0, w, h)
        views = [View(0, 0, w, h, p.full_frame_scale)] if p.full_frame else []
        if p.zoom_out:
            views.append(zoomed_out(w, h, p.zoom_out.ratio, p.zoom_out.min_size))
        if p.tiles:
            grid = self._grids.get((w, h))
            if grid is None:
                grid = self._grids[(w, h)] = tile_grid(w, h, p.tiles.size, p.tiles.overlap, p.tiles.scale)
            if not (p.full_frame and grid == [whole]):  # one tile that is the whole frame: seen already
                # Counted in looks, so that `every` does not make the rotation skip tiles.
                looks = frame.index // p.every
                per_look = tiles_per_look(len(grid), p.tiles.per_frame, p.tiles.revisit, p.every)
                views += in_rotation(grid, looks, per_look if frame.pts is not None else None)  # photos: all
        return views

    def _look(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes of every view of the frame, in frame pixels, merged into one per object."""
        p = self.params
        floor = min(p.threshold, p.cascade.threshold if p.cascade and p.cascade.threshold is not None else 1.0)
        h, w = frame.image.shape[:2]
        found = [self._run_view(frame.image, view, floor, whole=p.full_frame and i == 0)
                 for i, view in enumerate(self.views(frame))]
        boxes, scores, ids = (np.concatenate(column) for column in zip(*found))
        if p.cascade:
            least = p.threshold if p.cascade.threshold is None else p.cascade.threshold
            around = np.flatnonzero(np.isin(ids, self.cascade_ids) & (scores >= least))
            around = around[np.argsort(-scores[around], kind="stable")][:p.cascade.max_crops]
            crops = crops_around(boxes[around], w, h, p.cascade.margin, p.cascade.min_side)
            found += [self._run_view(frame.image, view, floor) for view in crops]
            boxes, scores, ids = (np.concatenate(column) for column in zip(*found))
        keep = scores >= p.threshold
        return merge(boxes[keep], scores[keep], ids[keep], p.nms_iou)

    def _run_view(self, image: np.ndarray, view: View, threshold: float, whole: bool = False):
        """One engine run on one view: its boxes in frame pixels."""
        meta = self.engine.meta
        crop = view.crop(image)
        ch, cw = crop.shape[:2]
        size = input_size_for(meta, (round(ch * view.scale), round(cw * view.scale)),
                              self.input_override if whole else None)
        tensor, fit = to_tensor(crop, meta, size)
        outputs = self.engine.run({self.input_name: tensor})
        boxes, scores, ids = self.decode(outputs, threshold, self.params.nms_iou, len(meta.classes))
        boxes = fit.boxes_to_frame(boxes, cw, ch)
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] + view.x0).clip(0, image.shape[1])
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] + view.y0).clip(0, image.shape[0])
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        keep = (bw > 0) & (bh > 0)  # not all on a zoom-out's grey
        if view.min_share:  # by width: a plate that fills the frame fills it across
            keep &= bw >= view.min_share * image.shape[1]
        return boxes[keep], scores[keep].astype(np.float32), ids[keep].astype(np.int64)

    def batch_error(self, size: int) -> str | None:
        if self.looks_again:
            return None  # run_batch takes them one frame at a time
        if self.engine.meta.decoder == "torchvision":
            return (f"{self.engine_path.name} has per-image outputs (torchvision layout); "
                    "export it with --nms none or --nms onnx to run batches")
        return super().batch_error(size)

    def run_batch(self, frames: list[Frame]) -> list[Frame]:
        """One engine run per input shape (cameras of one resolution share a run)."""
        if self.looks_again:  # views differ per frame (rotation, cascade): one frame at a time
            return [self(frame) for frame in frames]
        looked = [frame for frame in frames if self.looks_at(frame)]
        prepared = [self._prepare(frame) for frame in looked]
        groups: dict[tuple, list[int]] = {}
        for i, (tensor, _) in enumerate(prepared):
            groups.setdefault(tensor.shape, []).append(i)
        for members in groups.values():
            stacked = np.concatenate([prepared[i][0] for i in members])
            outputs = self.engine.run({self.input_name: stacked})
            for k, i in enumerate(members):
                self._finish(looked[i], {name: v[k:k + 1] for name, v in outputs.items()}, prepared[i][1])
        return frames

    def _prepare(self, frame: Frame):
        size = input_size_for(self.engine.meta, frame.image.shape[:2], self.input_override)
        return to_tensor(frame.image, self.engine.meta, size)

    def _finish(self, frame: Frame, outputs: dict[str, np.ndarray], fit) -> Frame:
        """Decode one image's outputs (batch dimension 1) into the frame's detections."""
        h, w = frame.image.shape[:2]
        boxes, scores, class_ids = self.decode(outputs, self.params.threshold, self.params.nms_iou,
                                               len(self.engine.meta.classes))
        return self._add(frame, fit.boxes_to_frame(boxes, w, h), scores, class_ids)

    def _add(self, frame: Frame, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray) -> Frame:
        """Keep the classes and sizes asked for; add them to the frame's detections."""
        meta = self.engine.meta
        keep = np.ones(len(boxes), bool)
        if self.keep_ids is not None:
            keep &= np.isin(class_ids, self.keep_ids)
        if self.params.min_size:
            keep &= np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= self.params.min_size
        if self.params.large_threshold > self.params.threshold:
            h, w = frame.image.shape[:2]
            large = ((boxes[:, 2] - boxes[:, 0]) > self.params.large_size * w) | ((boxes[:, 3] - boxes[:, 1]) > self.params.large_size * h)
            keep &= ~large | (scores >= self.params.large_threshold)
        boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
        names = tuple(meta.classes[i] if 0 <= i < len(meta.classes) else str(i) for i in class_ids)
        found = Detections(boxes, scores, class_ids, names).with_data(source=self.name)
        frame.detections = frame.detections + found
        return frame
