"""Where check 1's detail threshold comes from (pipeline/verify/check.py, DETAIL_RATIO).

    vpipe run configs/roadview.yaml -o /tmp/rv.mp4 --max-frames 125      # vpipe's output and audit
    python benchmarks/verify_detail.py samples/roadview.mp4 /tmp/rv.mp4 [--audit /tmp/rv.jsonl]

For every covered region with detail that the audit lists, two measures of the original's fine
detail the output keeps: `kept_detail` (the output's Laplacian projected on the original's, what
check 1 uses) and the ratio of Laplacian variances it used before. Each on vpipe's output, and on
the same frames re-encoded with libx264 and no anonymizer (what an uncovered region looks like).
A good threshold lies between the covered maximum and the re-encoded minimum.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import numpy as np

from vpipe.pipeline.api.outputs import audit_path
from vpipe.pipeline.verify.check import FLAT, covered_rects, frame_pairs, kept_detail, read_audit, region_detail


def reencode(original: Path, out: Path, frames: int) -> None:
    """The original's first `frames` frames through libx264, as the video sink writes them."""
    with av.open(str(original)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=25)
        stream.pix_fmt = "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            if i == 0:
                stream.width, stream.height = frame.width, frame.height
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")))
        dst.mux(stream.encode())


def measures(original: Path, output: Path, records: list[dict]) -> np.ndarray:
    """Rows of (projection, variance ratio), one per covered region with detail."""
    rows = []
    for record, before, after, _ in frame_pairs(original, output, records):
        h, w = after.shape[:2]
        for box in covered_rects(record, w, h):
            reference = region_detail(before, box, w, h)
            if reference is None or reference < FLAT:
                continue
            rows.append((kept_detail(before, after, box, w, h), (region_detail(after, box, w, h) or 0.0) / reference))
    return np.array(rows).reshape(-1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original", type=Path)
    parser.add_argument("output", type=Path, help="vpipe's output of the original")
    parser.add_argument("--audit", type=Path, help="its audit (default: beside the output)")
    args = parser.parse_args()
    records = read_audit(args.audit or audit_path(args.output))
    covered = measures(args.original, args.output, records)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.mp4"
        reencode(args.original, plain, max(r["index"] for r in records) + 1)
        uncovered = measures(args.original, plain, records)
    print(f"{len(covered)} covered regions with detail")
    for column, name in enumerate(("projection (check 1)", "variance ratio (before)")):
        print(f"{name:24s} covered: max {covered[:, column].max():.3f}, 99th pct {np.percentile(covered[:, column], 99):.3f}"
              f" | re-encoded: min {uncovered[:, column].min():.3f}, 1st pct {np.percentile(uncovered[:, column], 1):.3f}")


if __name__ == "__main__":
    main()
