"""Train the super-resolution nets on licence-clean photos only (scikit-image's bundled set, CC BY photos).

The recipes of the shipped models (models/manifest.json), 4-36 min each on one CPU thread:

    vpipe train sr srcnn --scale 3 --iters 20000 --threads 1 --out models/weights/srcnn_x3_bundled.pt
    vpipe train sr srcnn --scale 2 --iters 12000 --threads 1 --out models/weights/srcnn_x2.pt
    vpipe train sr srcnn --scale 4 --iters 12000 --threads 1 --out models/weights/srcnn_x4.pt
    vpipe train sr espcn-s --scale 3 --iters 40000 --batch 32 --threads 1 \\
        --out models/weights/espcn-s_x3_bundled.pt
    # part 2 of every model (likewise --scale 2 and 4, and espcn-s with --batch 32): CC BY photos added
    OI=../shared/data/train/openimages-plates
    vpipe train sr srcnn --scale 3 --iters 8000 --lr 3e-4 --threads 1 \\
        --init models/weights/srcnn_x3_bundled.pt --photos $OI/train/images $OI/valid/images $OI/test/images \\
        --out models/weights/srcnn_x3.pt
    vpipe export srcnn --sr-scale 3 --weights models/weights/srcnn_x3.pt --out models/srcnn_x3.onnx
    vpipe export espcn-s --weights models/weights/espcn-s_x3.pt --out models/espcn-s_x3.onnx

Options: ARCH (srcnn = 9-1-5, srcnn-955, espcn = 64-32, espcn-s = 32-32), --scale {2,3,4},
--iters N (optimizer steps), --batch B, --patch P (HR patch side, a multiple of the scale; default 48), --lr (peak Adam
learning rate, default 1e-3; warm-up then cosine to zero), --last-lr F (the last layer's rate
as a fraction of --lr, default 0.1), --val-every N (steps between validation lines; the weights
so far are saved then too), --seed, --threads (torch intra-op threads, default 1), --out FILE
(a state_dict). Defaults: --iters 12000 --batch 16 --patch 48. --photos DIR... adds folders of
photos; --init FILE starts from a state_dict; every save also writes OUT's .state.pt (weights, Adam,
schedule, sampler RNG) and --resume goes on from it exactly (--stop-after N ends a part early).

Data: scikit-image's bundled photos (public domain / CC0, no downloads; `IMAGES`) and, with
--photos, whole photos from folders (the CC BY 2.0 Open Images photos in
../shared/data/train/openimages-plates/*/images; never the evaluation sets), each also
shrunk by --rescale factors. The low-resolution input is made exactly as `vpipe eval sr` makes it:
the 8-bit colour image is downscaled by `--degradation` (default imresize: antialiased bicubic),
converted to YCrCb in 8 bits, and (for SRCNN) its Y is bicubic-upsampled in 8 bits again.
Training uses the top 85 % of every image; the bottom 15 % is held out, and the trainer prints PSNR there against bicubic as it goes.

As the SRCNN paper: luma (Y) only, MSE loss, bicubic pre-upsampling for SRCNN, the 9-1-5 net
without any residual skip. Unlike the paper (SGD, ~10^8 backprops, days), training counts
optimizer steps on fresh random patches (uniform over images, random 8-fold flips/rotations,
half the near-flat patches re-drawn); Kaiming init, with one path through the net set to
reproduce bicubic and the rest of the last layer zero, so training starts at bicubic rather than
relearning the image (same architecture, no skip); Adam with a short warm-up and cosine decay,
the last layer at 0.1x the learning rate (the paper's smaller last-layer step). A CPU gets part
of the paper's gain in minutes (docs/super_resolution.md), not all of it.
The loss covers every output pixel, the zero-padded border included: the runtime pads with
zeros at a frame's edge too, and a net trained only on the interior (as the paper's unpadded
convolutions are) wrecks the 3-6 px band the usual 3-px border crop still scores (measured: +1.13 dB
inside, +0.10 dB with the band). Seeded: the same weights each run with the same thread count,
machine and library versions.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vpipe.tools.evaluate.scores import DEGRADATIONS, downscale, imresize
from vpipe.tools.export.families import FAMILIES

#: the super-resolution families, built by the exporter's own builders (one definition of each net)
ARCHS = tuple(name for name, family in FAMILIES.items() if family.kind == "sr")

#: scikit-image's bundled photos (public domain or CC0 per skimage.data's docstrings); no downloads.
IMAGES = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "colorwheel",
          "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "moon", "page",
          "retina", "rocket", "text")

HOLDOUT = 0.15


def bundled_images() -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8) for every bundled image; grey and binary ones become 3 equal channels."""
    from skimage import data

    out = []
    for name in IMAGES:
        image = np.asarray(getattr(data, name)())
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        out.append((name, np.ascontiguousarray(image[..., :3].astype(np.uint8))))
    return out


def folder_photos(folders: list[Path]) -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8) for every image in `folders` (e.g. the CC BY Open Images photos in
    ../shared/data/train/openimages-plates/*/images); grey ones become 3 equal channels."""
    from vpipe.pipeline.api.media import IMAGE_SUFFIXES

    out = []
    for folder in folders:
        if not folder.is_dir():
            raise SystemExit(f"--photos {folder}: folder not found")
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise SystemExit(f"{path}: not a readable image")
            out.append((path.name, np.ascontiguousarray(bgr[..., ::-1])))
    return out


def pairs(rgb: np.ndarray, scale: int, pre_upsample: bool,
          degradation: str = "imresize") -> tuple[np.ndarray, np.ndarray]:
    """(network input, HR Y target), float32 in [0, 1], degraded as the evaluation does it."""
    h, w = (rgb.shape[0] // scale) * scale, (rgb.shape[1] // scale) * scale
    bgr = np.ascontiguousarray(rgb[:h, :w, ::-1])
    lr = downscale(bgr, scale, degradation)
    ycc = cv2.cvtColor(lr, cv2.COLOR_BGR2YCrCb)
    source = cv2.resize(ycc, (w, h), interpolation=cv2.INTER_CUBIC)[..., 0] if pre_upsample else ycc[..., 0]
    target = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0]
    return source.astype(np.float32) / 255.0, target.astype(np.float32) / 255.0


def split(source: np.ndarray, target: np.ndarray, scale: int, pre: bool):
    """Top (training) and bottom (held-out) parts, cut on a multiple of the scale."""
    cut = int(target.shape[0] * (1 - HOLDOUT)) // scale * scale
    f = 1 if pre else scale
    return (source[:cut // f], target[:cut]), (source[cut // f:], target[cut:])


def sample_batch(rng, data, batch: int, patch: int, scale: int, pre: bool):
    f = 1 if pre else scale
    s = patch // f
    xs, ys = [], []
    while len(xs) < batch:
        source, target = data[rng.integers(len(data))]
        gy = rng.integers(0, (target.shape[0] - patch) // scale + 1) * scale
        gx = rng.integers(0, (target.shape[1] - patch) // scale + 1) * scale
        t = target[gy:gy + patch, gx:gx + patch]
        if t.std() < 0.01 and rng.random() < 0.5:  # half the flat ones (retina's background): re-draw
            continue
        x = source[gy // f:gy // f + s, gx // f:gx // f + s]
        k, flip = rng.integers(4), rng.integers(2)
        x, t = np.rot90(x, k), np.rot90(t, k)
        if flip:
            x, t = x[:, ::-1], t[:, ::-1]
        xs.append(np.ascontiguousarray(x))
        ys.append(np.ascontiguousarray(t))
    return np.stack(xs)[:, None], np.stack(ys)[:, None]


def squared_errors(a: np.ndarray, b: np.ndarray, border: int) -> np.ndarray:
    a = np.round(np.clip(a, 0, 1) * 255)[border:-border, border:-border]
    b = np.round(b * 255)[border:-border, border:-border]
    return ((a - b) ** 2).ravel()


def psnr(errors: list[np.ndarray]) -> float:
    """Over all held-out pixels pooled (a per-image mean would be ruled by near-flat images)."""
    return float(10 * np.log10(255.0 ** 2 / max(np.mean(np.concatenate(errors)), 1e-10)))


def init_weights(model, arch: str, scale: int, identity: bool = True, gain: float = 0.05) -> None:
    """Kaiming (fan-in) for hidden layers; with `identity` (the default, and the shipped models'
    init) one path reproduces bicubic and the rest of the last layer is zero, else the last layer
    is Gaussian with std 1e-3 as the paper. (The Gaussian is drawn either way: same RNG stream.)"""
    import torch

    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in convs[:-1]:
        torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu" if arch.startswith("srcnn") else "tanh")
        torch.nn.init.zeros_(conv.bias)
    torch.nn.init.normal_(convs[-1].weight, std=1e-3)
    torch.nn.init.zeros_(convs[-1].bias)
    if not identity:
        return
    # One path through the net starts as bicubic: SRCNN's input is already bicubic, so that path
    # is the identity (the input is >= 0, so ReLU passes it); ESPCN's passes the LR pixel through
    # tanh's linear range (x 0.05) and its last layer starts as the bicubic x`scale` taps within
    # its 3x3 reach. The net then learns the correction rather than first relearning the image.
    with torch.no_grad():
        for conv in convs[:-1]:
            conv.weight[0].zero_()
            k = conv.kernel_size[0] // 2
            conv.weight[0, 0, k, k] = 1.0 if arch.startswith("srcnn") or conv is not convs[0] else gain
        last = convs[-1]
        last.weight.zero_()  # start exactly at bicubic; the other paths grow from zero
        if arch.startswith("srcnn"):
            last.weight[0, 0].zero_()
            last.weight[0, 0, 2, 2] = 1.0
        else:
            taps = bicubic_taps(scale)  # [phase, offset -1..1]
            for ry in range(scale):
                for rx in range(scale):
                    last.weight[ry * scale + rx, 0] = torch.from_numpy(np.outer(taps[ry], taps[rx]) / gain)


def bicubic_taps(scale: int) -> np.ndarray:
    """OpenCV's bicubic x`scale` weights per output phase on LR offsets -1, 0, 1 (renormalized)."""
    n = 16
    impulse = np.zeros((1, n), np.float32)
    impulse[0, n // 2] = 1.0
    response = cv2.resize(impulse, (n * scale, 1), interpolation=cv2.INTER_CUBIC)[0]
    taps = np.array([[response[scale * (n // 2 - o) + r] for o in (-1, 0, 1)] for r in range(scale)])
    return (taps / taps.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class SROptions:
    """How to train (the flags of `vpipe train sr`; its defaults are the command's)."""

    scale: int = 3
    #: optimizer steps
    iters: int = 12000
    seed: int = 0
    batch: int = 16
    threads: int = 1
    #: HR patch side, a multiple of the scale
    patch: int = 48
    #: peak Adam learning rate (warm-up, then cosine to zero)
    lr: float = 1e-3
    val_every: int = 500
    #: the last layer's learning rate, as a fraction of `lr`
    last_lr: float = 0.1
    degradation: str = "imresize"
    #: extra copies of each training image shrunk by these factors
    rescale: tuple[float, ...] = (0.9, 0.8, 0.7, 0.6)
    #: folders of more training photos, used whole
    photos: tuple[Path, ...] = ()
    #: start from these weights (a state_dict) instead of bicubic
    init: Path | None = None
    #: go on from OUT's .state.pt
    resume: bool = False
    #: stop after this step (saved; resume goes on)
    stop_after: int | None = None


@dataclass
class _SRRun:
    """One training under way: the model and its optimizer, the data, the bar to clear."""

    options: SROptions
    out: Path
    pre: bool
    model: Any
    opt: Any
    sched: Any
    rng: np.random.Generator
    trn: list
    val: list
    #: held-out PSNR of bicubic
    base: float = 0.0

    @property
    def state_path(self) -> Path:
        return self.out.with_suffix(".state.pt")


def train(arch: str, out: Path, options: SROptions | None = None) -> None:
    import torch

    o = options or SROptions()
    if o.patch % o.scale:
        raise SystemExit(f"--patch {o.patch}: not a multiple of --scale {o.scale}")
    torch.manual_seed(o.seed)
    torch.set_num_threads(o.threads)
    rng = np.random.default_rng(o.seed)
    pre = arch.startswith("srcnn")
    trn, val, extra = training_data(o, pre)
    model = _model(arch, o)
    opt, sched = _optimizer(model, o)
    run = _SRRun(o, out, pre, model, opt, sched, rng, trn, val)
    # The bar to clear: bicubic on the held-out strips, scored as `vpipe eval sr` (border = scale).
    bicubic = [src if pre else cv2.resize(src, tgt.shape[::-1], interpolation=cv2.INTER_CUBIC) for src, tgt in val]
    run.base = psnr([squared_errors(b, tgt, o.scale) for b, (_, tgt) in zip(bicubic, val)])
    n_train = sum(t.size for _, t in trn) / 1e6
    print(f"{arch} x{o.scale} ({o.degradation}): {len(trn)} images ({len(extra)} from {len(o.photos)} folders; "
          f"rescaled x{o.rescale}), {n_train:.2f} MP for training; held-out bicubic PSNR {run.base:.2f} dB",
          flush=True)
    first = _resume(run) if o.resume and run.state_path.is_file() else 1
    _steps(run, first)
    print(f"{out}: saved")


def training_data(o: SROptions, pre: bool) -> tuple[list, list, list]:
    """(training pairs, held-out pairs, the extra photos): the bundled photos split, --photos whole,
    each also shrunk by --rescale."""
    trn, val = [], []
    extra = folder_photos(list(o.photos))
    for i, (_, rgb) in enumerate(bundled_images() + extra):
        if i < len(IMAGES):  # the held-out strips stay the bundled photos': logs stay comparable
            a, b = split(*pairs(rgb, o.scale, pre, o.degradation), o.scale, pre)
            trn.append(a)
            val.append(b)
            top = rgb[:int(rgb.shape[0] * (1 - HOLDOUT))]
        else:
            trn.append(pairs(rgb, o.scale, pre, o.degradation))
            top = rgb
        # Scale augmentation (Wang et al. 2015; VDSR and DRCN's 291-image recipe): the training
        # part shrunk again gives the same scenes with more detail per pixel, as in other photos.
        for factor in o.rescale:
            size = (round(top.shape[1] * factor), round(top.shape[0] * factor))
            trn.append(pairs(imresize(top, size), o.scale, pre, o.degradation))
    return trn, val, extra


def _model(arch: str, o: SROptions):
    import torch

    model = FAMILIES[arch].build(1, sr_scale=o.scale)
    init_weights(model, arch, o.scale)
    if o.init is not None and not o.init.is_file():
        raise SystemExit(f"--init {o.init}: file not found")
    if o.init is not None:  # fine-tune from a state_dict (e.g. a shipped model's weights)
        model.load_state_dict(torch.load(o.init, map_location="cpu", weights_only=True))
    return model


def _optimizer(model, o: SROptions):
    """Adam, the last layer at --last-lr of the rate; a short warm-up, then cosine to zero."""
    import torch

    # The paper's smaller step on the last layer: with Adam's sign-like first steps, a full step
    # there throws the output off by lr x channels per step and off its bicubic start.
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    rest = [p for p in model.parameters() if all(p is not q for q in last.parameters())]
    opt = torch.optim.Adam([{"params": rest, "lr": o.lr}, {"params": list(last.parameters()), "lr": o.lr * o.last_lr}])
    iters, warmup = o.iters, min(500, o.iters // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: (i + 1) / warmup if i < warmup else 0.5 * (1 + math.cos(math.pi * (i - warmup) / max(1, iters - warmup))))
    return opt, sched


def _resume(run: _SRRun) -> int:
    """Everything a stopped run needs to go on exactly where it was (weights, Adam's moments, the
    schedule, the patch sampler's RNG), from beside `out`, which stays a plain state_dict for
    export; returns the first step to take."""
    import torch

    state = torch.load(run.state_path, map_location="cpu", weights_only=False)
    if state["iters"] != run.options.iters:
        raise SystemExit(f"{run.state_path}: a run of --iters {state['iters']}, not {run.options.iters}")
    run.model.load_state_dict(state["model"])
    run.opt.load_state_dict(state["opt"])
    run.sched.load_state_dict(state["sched"])
    run.rng.bit_generator.state = state["rng"]
    print(f"{run.state_path}: resumed after step {state['step']}", flush=True)
    return state["step"] + 1


def _steps(run: _SRRun, first: int) -> None:
    """Train from step `first`; validate and save every --val-every steps and at the last."""
    import torch

    o, model = run.options, run.model
    start, running = time.time(), 0.0
    last_step = min(o.iters, o.stop_after or o.iters)  # a run split over sessions stops early, --resume goes on
    for step in range(first, last_step + 1):
        x, y = sample_batch(run.rng, run.trn, o.batch, o.patch, o.scale, run.pre)
        pred, target = model(torch.from_numpy(x)), torch.from_numpy(y)
        loss = torch.nn.functional.mse_loss(pred, target)
        run.opt.zero_grad()
        loss.backward()
        run.opt.step()
        run.sched.step()
        running += loss.item()
        if step % o.val_every == 0 or step == last_step:
            v = _held_out_psnr(model, run.val, o.scale)
            print(f"step {step}/{o.iters}: train loss {running / o.val_every:.5f}, held-out PSNR {v:.2f} dB "
                  f"(bicubic {run.base:.2f}, {v - run.base:+.2f}), lr {run.sched.get_last_lr()[0]:.2e}, "
                  f"{time.time() - start:.0f} s", flush=True)
            running = 0.0
            _save(run, step)


def _held_out_psnr(model, val: list, scale: int) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        errors = [squared_errors(model(torch.from_numpy(src)[None, None])[0, 0].numpy(), tgt, scale)
                  for src, tgt in val]
    model.train()
    return psnr(errors)


def _save(run: _SRRun, step: int) -> None:
    """The weights as they are (a stopped run keeps its last state), and the state to resume from."""
    import torch

    model, opt, sched = run.model, run.opt, run.sched
    run.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), run.out)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "rng": run.rng.bit_generator.state, "step": step, "iters": run.options.iters}, run.state_path)


def main(argv: list[str] | None = None, prog: str = "vpipe train sr") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("arch", choices=ARCHS)
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
    parser.add_argument("--iters", type=int, default=12000, help="optimizer steps")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48, help="HR patch side (a multiple of the scale)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak Adam learning rate (cosine decay)")
    parser.add_argument("--last-lr", type=float, default=0.1, help="last layer's learning rate, times --lr")
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--degradation", default="imresize", choices=DEGRADATIONS,
                        help="how LR inputs are made (as `vpipe eval sr --degradation`)")
    parser.add_argument("--rescale", type=float, nargs="*", default=[0.9, 0.8, 0.7, 0.6],
                        help="extra copies of each training image shrunk by these factors (none: --rescale)")
    parser.add_argument("--photos", type=Path, nargs="*", default=[],
                        help="folders of more training photos, used whole (e.g. ../shared/data/train/"
                             "openimages-plates/*/images, CC BY 2.0)")
    parser.add_argument("--init", type=Path, help="start from these weights (a state_dict) instead of bicubic")
    parser.add_argument("--resume", action="store_true",
                        help="go on from OUT's .state.pt, saved at every validation, as far as it got")
    parser.add_argument("--stop-after", type=int, help="stop after this step (saved; --resume goes on)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    train(args.arch, args.out, SROptions(
        scale=args.scale, iters=args.iters, seed=args.seed, batch=args.batch, threads=args.threads,
        patch=args.patch, lr=args.lr, val_every=args.val_every, last_lr=args.last_lr,
        degradation=args.degradation, rescale=tuple(args.rescale), photos=tuple(args.photos), init=args.init,
        resume=args.resume, stop_after=args.stop_after))


if __name__ == "__main__":
    main()
