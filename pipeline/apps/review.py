"""`vpipe review ORIGINAL ANONYMIZED`: a local page to step through an output, fix what the
detectors missed or over-covered, save the edits and re-render with `vpipe apply` (docs/review.md).

Only the output's pixels are ever served: the original is read by `apply` alone, so a review
shows nothing the output does not. Frames are decoded when asked for (a seek to the keyframe
before, then forward; a step to the next frame just decodes on), so a file of any length opens
at once. The frames `vpipe verify` flagged (OUT.verify.json, when there is one) come first.

Routes (all behind basic auth when a user is given, as the web view's):

  /                  the page
  /api/info          frames, size, flagged frames with their reasons, the edits so far
  /api/frame/N       frame N's covers, regions and detections (N: position in the output)
  /frame/N.jpg       frame N of the output
  POST /api/save     the edits -> ANONYMIZED.review.jsonl
  POST /api/render   `vpipe apply` of the saved edits -> ANONYMIZED.reviewed.EXT, then shown
"""

from __future__ import annotations

import bisect
import json
import threading
from collections import OrderedDict
from http.server import ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from vpipe.pipeline.api.edits import line_problem, read_edits
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.http import PageHandler, QuietServer, basic_auth_ok
from vpipe.pipeline.api.outputs import audit_path
from vpipe.pipeline.apps.review_page import PAGE
from vpipe.pipeline.verify.report import report_paths

#: JPEG quality of the frames served (tests hash the original's frames encoded the same way).
QUALITY = 90
#: decoded frames kept, for stepping back without a seek.
CACHE = 16


def review_path(anonymized: Path) -> Path:
    """ANONYMIZED.review.jsonl beside the output file or folder."""
    stem = anonymized.with_suffix("") if anonymized.is_file() else anonymized
    return stem.parent / (stem.name + ".review.jsonl")


def rendered_path(anonymized: Path) -> Path:
    """ANONYMIZED.reviewed.EXT: the output re-rendered with the edits."""
    stem = anonymized if anonymized.is_dir() else anonymized.with_suffix("")
    if stem.name.endswith(".reviewed"):  # a second round replaces the first's render
        return anonymized
    return stem.parent / (stem.name + ".reviewed" + anonymized.suffix)


class VideoFrames:
    """The frames of a video by position, decoded on demand."""

    def __init__(self, path: Path):
        import av

        self.lock = threading.Lock()
        try:
            self.container = av.open(str(path))
            self.stream = self.container.streams.video[0]
            # Packet timestamps only, no decoding: the position of every frame, at once.
            packets = [(p.pts, p.is_keyframe) for p in self.container.demux(self.stream) if p.pts is not None]
        except (av.error.FFmpegError, IndexError) as exc:
            raise VpipeError(f"{path}: cannot read as a video: {exc}") from None
        self.pts = sorted(pts for pts, _ in packets)
        self.keys = sorted(bisect.bisect_left(self.pts, pts) for pts, key in packets if key) or [0]
        self.container.seek(self.pts[0] if self.pts else 0, stream=self.stream, backward=True)
        self.decoder = self.container.decode(self.stream)
        self.next = 0
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.pts)

    def __getitem__(self, position: int) -> np.ndarray:
        with self.lock:
            if position in self.cache:
                self.cache.move_to_end(position)
                return self.cache[position]
            key = self.keys[max(0, bisect.bisect_right(self.keys, position) - 1)]
            # Decoding on from where the decoder is beats a seek unless a keyframe lies between.
            if not (0 <= self.next <= position and key < self.next):
                self.container.seek(self.pts[position], stream=self.stream, backward=True)
                self.decoder = self.container.decode(self.stream)
            for frame in self.decoder:
                if frame.pts is None:  # not placeable: self.pts holds only packets with one
                    continue
                at = bisect.bisect_left(self.pts, frame.pts)
                if at < position:
                    continue
                image = frame.to_ndarray(format="bgr24")
                self.cache[at] = image
                while len(self.cache) > CACHE:
                    self.cache.popitem(last=False)
                self.next = at + 1
                if at == position:
                    return image
                break
            self.next = -1
            raise VpipeError(f"frame {position} could not be decoded")

    def close(self) -> None:
        self.container.close()


class FolderFrames:
    """The images of an output folder, in the audit's order."""

    def __init__(self, folder: Path, records: list[dict]):
        self.paths = [folder / r["name"] for r in records if r.get("name")]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> np.ndarray:
        image = cv2.imread(str(self.paths[position]))
        if image is None:
            raise VpipeError(f"{self.paths[position]}: cannot read image")
        return image

    def close(self) -> None:
        pass


class Review:
    """The state of one review: the output shown, its audit, the flags and the edits saved."""

    def __init__(self, original: Path, anonymized: Path, audit: Path | None, config: Path,
                 user: str | None = None, password: str | None = None):
        self.original, self.config = original, config
        self.user, self.password = user, password
        self.lock = threading.Lock()
        self.frames = self._open(anonymized, audit or audit_path(anonymized))

    def show(self, anonymized: Path, audit: Path) -> None:
        """Show another output from now on (the render of the edits)."""
        old = self.frames
        self.frames = self._open(anonymized, audit)
        old.close()

    def _open(self, anonymized: Path, audit: Path) -> VideoFrames | FolderFrames:
        """The frames of the output `anonymized`; its audit's records and verify's flags are set
        with them."""
        records = read_edits(audit)
        frames = FolderFrames(anonymized, records) if anonymized.is_dir() else VideoFrames(anonymized)
        if len(frames) < len(records):
            raise VpipeError(f"{anonymized}: has {len(frames)} frames, its audit {audit} lists {len(records)}")
        self.anonymized, self.audit, self.records = anonymized, audit, records
        self.flags = _flags(report_paths(anonymized)[0])
        return frames

    def info(self) -> dict:
        h, w = self.frames[0].shape[:2]
        flagged = sorted(self.flags.items())
        edits = {p: {k: r[k] for k in ("manual", "remove") if r.get(k)} for p, r in enumerate(self.records)
                 if r.get("manual") or r.get("remove")}
        return {"frames": len(self.records), "width": w, "height": h, "output": self.anonymized.name,
                "flagged": flagged, "verified": report_paths(self.anonymized)[0].is_file(), "edits": edits}

    def frame_info(self, position: int) -> dict:
        record = self.records[position]
        covers, polygons = [], []
        for stage, entry in record.get("audit", {}).items():
            if entry.get("covered") == "whole_frame":
                h, w = self.frames[0].shape[:2]
                covers.append({"box": [0, 0, w, h], "stage": stage, "whole": True})
            classes = entry.get("classes", [])  # the review entry names the class of each box
            for i, box in enumerate(entry.get("boxes", [])):
                covers.append({"box": box, "stage": stage, "class": classes[i] if i < len(classes) else None})
            polygons += entry.get("polygons", [])
        return {"position": position, "index": record["index"], "name": record.get("name"), "covers": covers,
                "polygons": polygons, "flags": self.flags.get(position, []),
                "detections": [{k: d.get(k) for k in ("box", "class", "track")} for d in record.get("detections", [])]}

    def jpeg(self, position: int) -> bytes:
        return cv2.imencode(".jpg", self.frames[position], [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1].tobytes()

    def save(self, edits: dict) -> Path:
        """The audit with the edits, one line per frame (docs/review.md), beside the output."""
        lines = []
        for position, record in enumerate(self.records):
            line = {k: v for k, v in record.items() if k not in ("line", "manual", "remove")}
            edit = edits.get(str(position)) or {}
            line |= {k: edit[k] for k in ("manual", "remove") if edit.get(k)}
            problem = line_problem(line)
            if problem:
                raise VpipeError(f"frame {position}: {problem}")
            lines.append(json.dumps(line, separators=(",", ":")) + "\n")
        path = review_path(self.anonymized)
        path.write_text("".join(lines), encoding="utf-8")
        return path

    def render(self) -> Path:
        """`vpipe apply` of the saved edits; the new output is shown from then on."""
        from vpipe.pipeline.apps.apply import build_apply
        from vpipe.pipeline.runtime.runner import Runner

        saved = review_path(self.anonymized)
        if not saved.is_file():
            raise VpipeError("nothing saved yet: save the edits first")
        # A second round replaces the first's render: the file shown now is read until the new
        # one is published under its name (a rename: the open one stays readable meanwhile).
        out = rendered_path(self.anonymized)
        graph, frames = build_apply(self.original, saved, str(out), self.config, overwrite=True)
        try:
            Runner(graph, max_frames=frames).run()
        finally:
            graph.close()
        audit = audit_path(out)
        self.show(out, audit)
        return out

    def authorized(self, header: str | None) -> bool:
        return basic_auth_ok(header, self.user, self.password)


def _flags(report: Path) -> dict[int, list[str]]:
    """position -> the reasons `vpipe verify` gave, from its JSON report (none without one)."""
    if not report.is_file():
        return {}
    flags: dict[int, list[str]] = {}
    for c in json.loads(report.read_text(encoding="utf-8")).get("candidates", []):
        flags.setdefault(c["position"], []).append(f"{c['kind']}: {c['detail']}")
    return flags


class _Handler(PageHandler):
    review: Review

    def _allowed(self) -> bool:
        if self.review.authorized(self.headers.get("Authorization")):
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="vpipe review"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:
        if not self._allowed():
            return
        path = self.path.split("?", 1)[0]
        review = self.review
        try:
            if path == "/":
                return self._send(200, "text/html; charset=utf-8", PAGE.encode())
            if path == "/api/info":
                with review.lock:
                    return self._json(200, review.info())
            for prefix, suffix in (("/api/frame/", ""), ("/frame/", ".jpg")):
                if path.startswith(prefix) and path.endswith(suffix):
                    number = path[len(prefix):len(path) - len(suffix)]
                    if number.isdigit() and int(number) < len(review.records):
                        with review.lock:
                            if suffix:
                                return self._send(200, "image/jpeg", review.jpeg(int(number)))
                            return self._json(200, review.frame_info(int(number)))
            self._send(404, "text/plain", b"not found")
        except VpipeError as exc:
            self._json(500, {"error": str(exc)})

    def do_POST(self) -> None:
        if not self._allowed():
            return
        review = self.review
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with review.lock:
                if self.path == "/api/save":
                    return self._json(200, {"saved": str(review.save(body.get("edits") or {}))})
                if self.path == "/api/render":
                    out = review.render()
                    return self._json(200, {"output": str(out), **review.info()})
            self._send(404, "text/plain", b"not found")
        except (VpipeError, ValueError, AttributeError) as exc:
            self._json(400, {"error": str(exc)})

    def _json(self, code: int, value) -> None:
        self._send(code, "application/json", json.dumps(value).encode())


def serve(review: Review, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The review's server, listening (serve_forever it, or run it on a thread)."""
    handler = type("Handler", (_Handler,), {"review": review})
    try:
        return QuietServer((host, port), handler)
    except OSError as exc:
        raise VpipeError(f"--port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
