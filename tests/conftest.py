"""Shared fixtures. Data beside the project (../shared/data) is optional: tests that need it skip."""

from __future__ import annotations

import itertools
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VPIPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLE = ROOT / "samples" / "roadview.mp4"
CENTERFACE = ROOT / "models" / "centerface.onnx"
FIXTURES = Path(__file__).parent / "fixtures"


def shared_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (evaluation data lives in ../shared/data beside the repo)")
    return path


@pytest.fixture
def vtest() -> Path:
    return shared_file("video/vtest.avi")


def write_config(tmp_path: Path, text: str, name: str = "graph.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("{ROOT}", str(ROOT)))
    return path


#: Test tiers, one table: `pytest -m "not slow and not live and not export"` runs the runtime's own
#: tests (the fast tier); CI runs everything. live: GStreamer RTSP servers, brokers, browsers;
#: export: torch and the tools (exporters, trainers, generators); slow: whole runs in subprocesses.
#: A test can carry its own mark instead (@pytest.mark.slow) where its module is mixed.
TIERS = {
    "test_live": "live",
    "test_mqtt": "live",
    "test_web": "live",
    "test_review": "live",
    "test_export": "export",
    "test_train_detect": "export",
    "test_sr_models": "export",
    "test_plate_synth": "export",
    "test_eval_detect": "export",
    "test_end_to_end": "slow",
    "test_verify": "slow",
    "test_inputs": "slow",
    "test_batch": "slow",
    "test_clips": "slow",
    "test_monitor_privacy": "slow",
    "test_sr_bench": "slow",
    "test_train_sr": "export",
    "test_ray": "slow",
    "test_plate_size": "slow",  # the plate model on the sample clip's frames
    "test_tools_commands": "slow",  # each test starts vpipe and python -m in subprocesses
}


def pytest_configure(config) -> None:
    """pytest-xdist's workers ignore SIGINT, and the vpipe processes the tests start would inherit
    that: a test's SIGINT (a user's Ctrl-C) would then do nothing before a run installs its own
    handler. Python's own handler is put back, so the children start with SIGINT's default."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        tier = TIERS.get(item.module.__name__.rpartition(".")[2])
        if tier:
            item.add_marker(tier)


#: seconds to import: the fast tier's collection imports none of them (tests/test_imports.py).
HEAVY = ("torch", "torchvision", "ray")
#: those of HEAVY imported once collection finished.
collected_heavy: list[str] = []


def pytest_collection_finish(session) -> None:
    collected_heavy[:] = [name for name in HEAVY if name in sys.modules]


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """A module whose tier `-m` deselects is not imported at all: the export and ray tests import
    torch and ray at module level (seconds), for tests the fast tier would deselect anyway."""
    tier = TIERS.get(collection_path.stem) if collection_path.suffix == ".py" else None
    markexpr = config.getoption("markexpr", "")
    if tier and markexpr and not _may_select(markexpr, tier):
        return True
    return None


def _may_select(markexpr: str, tier: str) -> bool:
    """Whether `-m markexpr` may select a test marked `tier`, whatever other marks it has."""
    from _pytest.mark.expression import Expression  # what `-m` itself uses

    expression = Expression.compile(markexpr)
    others = sorted(set(re.findall(r"[A-Za-z_][\w.:+-]*", markexpr)) - {"and", "or", "not", tier})
    subsets = (set(c) for n in range(len(others) + 1) for c in itertools.combinations(others, n))
    return any(expression.evaluate(_marked({tier, *marks})) for marks in subsets)


def _marked(marks: set[str]):
    """A test carrying `marks`, as `-m` asks it."""
    return lambda name, **_: name in marks


def cut_clips(source: Path, folder: Path, count: int, frames: int) -> list[Path]:
    """`count` short H.264 clips of `frames` frames each, cut from `source` at staggered starts."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(source)) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    clips = []
    for k in range(count):
        start = (k * 17) % (len(images) - frames)
        clips.append(folder / f"clip{k:02d}.mp4")
        with av.open(str(clips[-1]), "w") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.height, stream.width = images[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            for image in images[start:start + frames]:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(stream.encode())
    return clips


@pytest.fixture(scope="session")
def roadview_run(tmp_path_factory) -> dict:
    """`vpipe run configs/roadview.yaml -o roadview.mp4` on the whole bundled clip, once a session.

    A whole run of the default graph (faces and plates, each with tiles) is the suite's costliest
    step; the tests of that one output (it runs, it covers the plate in every frame, it verifies
    clean) share it instead of each running it again. Under pytest-xdist each worker has a session
    of its own: the first worker to ask makes the run in the folder they share, under a lock, and
    the others read it."""
    import fcntl
    import json
    import subprocess

    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "roadview_run"
    folder.mkdir(exist_ok=True)
    out, done = folder / "roadview.mp4", folder / "result.json"
    command = [sys.executable, "-m", "vpipe.pipeline.apps.cli", "run", str(ROOT / "configs" / "roadview.yaml"),
               "-o", str(out), "-q"]
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            result = subprocess.run(command, capture_output=True, text=True, timeout=900)
            done.write_text(json.dumps({"returncode": result.returncode, "stdout": result.stdout,
                                        "stderr": result.stderr}))
        made = json.loads(done.read_text())
    result = subprocess.CompletedProcess(command, made["returncode"], made["stdout"], made["stderr"])
    return {"result": result, "video": out, "audit": out.with_suffix(".jsonl")}
