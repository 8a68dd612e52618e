"""Train the super-resolution nets on redistributable images only (scikit-image's bundled set).

    python -m vpipe.tools.train_sr srcnn --scale 3 --out models/weights/srcnn_x3.pt
    python -m vpipe.tools.train_sr espcn --scale 3 --out models/weights/espcn_x3.pt
    vpipe export srcnn --weights models/weights/srcnn_x3.pt --out models/srcnn_x3.onnx

As the SRCNN paper: luma (Y of YCbCr) patches, the low-resolution input made by bicubic
downscaling, MSE loss. SRCNN learns on bicubic-upscaled inputs (it runs at the target size);
ESPCN learns on the low-resolution patch and upsamples with a sub-pixel shuffle. Adam instead of
the paper's SGD converges in minutes on a CPU rather than days. Seeded: the same weights each run
on the same machine and library versions.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

#: scikit-image's bundled photos (public domain or CC0; see skimage.data); no downloads.
IMAGES = ("astronaut", "brick", "camera", "clock", "coffee", "coins", "grass", "gravel", "horse",
          "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text", "colorwheel",
          "chelsea")


def luma_images() -> list[np.ndarray]:
    """Y channel in [0, 1], float32, from the bundled images."""
    from skimage import data

    out = []
    for name in IMAGES:
        image = getattr(data, name)()
        if image.ndim == 3:
            image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2YCrCb)[..., 0]
        out.append(image.astype(np.float32) / 255.0)
    return out


def degrade(hr: np.ndarray, scale: int) -> np.ndarray:
    """The low-resolution image, as the evaluation makes it (OpenCV bicubic)."""
    h, w = hr.shape
    return cv2.resize(hr, (w // scale, h // scale), interpolation=cv2.INTER_CUBIC)


def patches(images, scale: int, size: int, stride: int, pre_upsample: bool):
    """(input, target) patch pairs; target is `size` px of HR, input LR (or LR bicubic-upscaled)."""
    inputs, targets = [], []
    for hr in images:
        h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
        hr = hr[:h, :w]
        lr = degrade(hr, scale)
        source = cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC) if pre_upsample else lr
        for y in range(0, h - size + 1, stride):
            for x in range(0, w - size + 1, stride):
                targets.append(hr[y:y + size, x:x + size])
                if pre_upsample:
                    inputs.append(source[y:y + size, x:x + size])
                else:
                    s = size // scale
                    inputs.append(source[y // scale:y // scale + s, x // scale:x // scale + s])
    return np.stack(inputs)[:, None], np.stack(targets)[:, None]


def train(arch: str, scale: int, epochs: int, seed: int, out: Path, batch: int = 64, threads: int = 2,
          per_epoch: int = 0) -> None:
    import torch

    from vpipe.tools.sr_models import ESPCN, SRCNN

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    pre = arch.startswith("srcnn")
    size = 33 if pre else 11 * scale
    x, y = patches(luma_images(), scale, size, 14 if pre else 12, pre_upsample=pre)
    order = rng.permutation(len(x))
    split = max(1, len(x) // 20)
    val, trn = order[:split], order[split:]
    model = SRCNN(1, 5 if arch == "srcnn-955" else 1) if pre else ESPCN(1, scale)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    # The bar to clear: bicubic on the same validation patches.
    upsampled = x[val] if pre else np.stack([cv2.resize(p[0], (size, size), interpolation=cv2.INTER_CUBIC)[None] for p in x[val]])
    print(f"bicubic validation PSNR {10 * np.log10(1 / np.mean((upsampled - y[val]) ** 2)):.2f} dB", flush=True)
    # SRCNN's convolutions are unpadded in the paper; here they are padded, so score the centre.
    crop = 6 if pre else 0
    start = time.time()
    for epoch in range(epochs):
        model.train()
        # A random subset per epoch keeps an epoch short on a CPU (SRCNN runs at full resolution).
        perm = trn[rng.permutation(len(trn))][: per_epoch or None]
        for i in range(0, len(perm), batch):
            idx = torch.from_numpy(perm[i:i + batch])
            pred = model(xt[idx])
            target = yt[idx]
            if crop:
                pred, target = pred[..., crop:-crop, crop:-crop], target[..., crop:-crop, crop:-crop]
            loss = torch.nn.functional.mse_loss(pred, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            v = torch.from_numpy(val)
            mse = torch.nn.functional.mse_loss(model(xt[v]).clamp(0, 1), yt[v]).item()
        print(f"epoch {epoch + 1}/{epochs}: validation PSNR {10 * np.log10(1 / max(mse, 1e-12)):.2f} dB "
              f"({time.time() - start:.0f} s, {len(trn)} patches)", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    print(f"{out}: saved")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch", choices=("srcnn", "srcnn-955", "espcn"))
    parser.add_argument("--scale", type=int, default=3, choices=(2, 3, 4))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-epoch", type=int, default=0, help="patches per epoch (0: all)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    train(args.arch, args.scale, args.epochs, args.seed, args.out, threads=args.threads, per_epoch=args.per_epoch)


if __name__ == "__main__":
    main()
