"""Batch mode on Ray: a local Ray runtime (2 CPUs, 127.0.0.1) runs folders of short clips.

Same pixels and audit as a local batch, a worker killed mid-file retried, a rerun that redoes
only what is missing, a bad file reported while the batch goes on. Ray starts once for the
module (a few seconds); the tests are marked `ray` and `slow`, out of the fast tier.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest

import elements  # noqa: F401  (registers the test elements here; the workers import it by hook)
from conftest import CENTERFACE, SAMPLE, cut_clips
from vpipe.pipeline.api.errors import ConfigError
from vpipe.pipeline.api.paths import sha256_file
from vpipe.pipeline.apps.batch import find_videos, run_batch
from vpipe.pipeline.apps.manifest import NAME, Manifest
from vpipe.pipeline.apps.options import Batch, RayOptions, Watch

ray = pytest.importorskip("ray")
from vpipe.pipeline.apps.ray_batch import run_ray_batch  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.ray]

#: one ORT thread and one x264 thread: the same work in both modes, deterministic.
CONFIG = f"""
version: 1
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{name: faces, type: detect, engine: {CENTERFACE}, threads: 1, params: {{threshold: 0.3, input_size: 192x320}}}}
  {{extra}}
  - {{name: track, type: track}}
  - {{name: blur, type: anonymize, params: {{method: blur, classes: [face]}}}}
sinks:
  - {{type: video, params: {{path: unused.mp4, threads: 1, preset: ultrafast}}}}
  - {{type: jsonl, inputs: [blur], params: {{path: unused.jsonl}}}}
"""


@pytest.fixture(scope="module")
def cluster():
    temp = tempfile.mkdtemp(prefix="vray", dir="/tmp")  # short: Ray's socket paths have a limit
    tests = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}, "worker_process_setup_hook": "elements.in_ray_worker"})
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    cut_clips(SAMPLE, folder, count=4, frames=30)
    return folder


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(CONFIG.replace("{extra}", extra))
    return path


def frames(video: Path) -> list[np.ndarray]:
    with av.open(str(video)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def audit(path: Path) -> list[dict]:
    """The audit's lines without their wall-clock time, the one field two runs cannot share."""
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in path.read_text().splitlines()]


def test_ray_outputs_are_frame_identical_to_a_local_batch(cluster, clips, tmp_path):
    graph = config(tmp_path)
    local = run_batch(Batch(graph, clips, tmp_path / "local"), log=lambda line: None)
    run = run_ray_batch(Batch(graph, clips, tmp_path / "ray"), watch=Watch(quiet=True), log=lambda line: None)
    assert [r.status for r in local] == ["done"] * 4 and [r.status for r in run.results] == ["done"] * 4
    detections = 0
    for clip in find_videos(clips):
        mine, theirs = tmp_path / "ray" / clip.name, tmp_path / "local" / clip.name
        ray_frames, local_frames = frames(mine), frames(theirs)
        assert len(ray_frames) == len(local_frames) == 30
        for a, b in zip(ray_frames, local_frames):
            np.testing.assert_array_equal(a, b)
        assert audit(mine.with_suffix(".jsonl")) == audit(theirs.with_suffix(".jsonl"))
        detections += sum(len(r.get("detections", [])) for r in audit(mine.with_suffix(".jsonl")))
    assert detections > 0, "the clips should hold faces, or the comparison proves little"
    states = Manifest(tmp_path / "ray").states()
    for result in run.results:
        line = states[result.name]
        assert line["state"] == "done" and line["frames_in"] == line["frames_out"] == 30
        assert line["sha256"] == sha256_file(result.output)
    assert not list((tmp_path / "ray").rglob("*.partial*"))


def test_a_worker_killed_mid_file_is_retried_and_leaves_no_partial(cluster, clips, tmp_path):
    marker = tmp_path / "killed"
    graph = config(tmp_path, f"- {{type: test_kill_once, params: {{marker: {marker}, frame: 12}}}}")
    run = run_ray_batch(Batch(graph, clips, tmp_path / "out"), RayOptions(retries=2), Watch(quiet=True),
                        log=lambda line: None)
    assert marker.exists(), "no worker was killed"
    assert [r.status for r in run.results] == ["done"] * 4
    retried = [r for r in run.results if r.attempts > 1]
    assert len(retried) == 1 and retried[0].worker != f"{os.uname().nodename}:{marker.read_text()}"
    lines = [json.loads(line) for line in (tmp_path / "out" / NAME).read_text().splitlines()]
    mine = [(line["state"], line.get("attempt")) for line in lines if line["file"] == retried[0].name]
    assert mine == [("running", 1), ("running", 2), ("done", 2)]
    assert len(frames(retried[0].output)) == 30 and len(audit(retried[0].output.with_suffix(".jsonl"))) == 30
    assert not list((tmp_path / "out").rglob("*.partial*"))


def test_a_rerun_after_losing_the_manifest_refuses_or_redoes_with_overwrite(cluster, clips, tmp_path):
    """Without the manifest, nothing vouches that a file under an output's name is that output
    (issue 22 H4): the rerun refuses; with overwrite it redoes every file."""
    graph, out = config(tmp_path), tmp_path / "out"
    first = run_ray_batch(Batch(graph, clips, out), watch=Watch(quiet=True), log=lambda line: None)
    lost = sorted(first.results, key=lambda r: r.name)[1:3]
    (out / NAME).unlink()
    for result in lost:
        result.output.unlink()
    with pytest.raises(ConfigError, match="does not record it as done"):
        run_ray_batch(Batch(graph, clips, out), watch=Watch(quiet=True), log=lambda line: None)
    second = run_ray_batch(Batch(graph, clips, out, overwrite=True), watch=Watch(quiet=True), log=lambda line: None)
    assert [r.status for r in second.results] == ["done"] * 4
    states = Manifest(out).states()
    assert all(states[r.name]["state"] == "done" and states[r.name]["sha256"] == sha256_file(r.output)
               for r in second.results)
    third = run_ray_batch(Batch(graph, clips, out), watch=Watch(quiet=True), log=lambda line: None)
    assert [r.status for r in third.results] == ["skipped"] * 4


def test_a_bad_file_is_reported_and_the_batch_goes_on(cluster, clips, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(clips, folder)
    (folder / "broken.mp4").write_bytes(b"not a video")
    run = run_ray_batch(Batch(config(tmp_path), folder, tmp_path / "out"), watch=Watch(quiet=True), log=lambda line: None)
    status = {r.name: r.status for r in run.results}
    assert status.pop("broken.mp4") == "failed" and set(status.values()) == {"done"} and len(status) == 4
    line = Manifest(tmp_path / "out").states()["broken.mp4"]
    assert line["state"] == "failed" and "broken.mp4" in line["error"]
    from rich.console import Console

    from vpipe.pipeline.apps.batch_progress import summary_table

    console = Console(width=150, record=True)
    console.print(summary_table(run.results, run.seconds))
    total = [row for row in console.export_text().splitlines() if "total" in row][0].replace("│", " ").split()
    assert total[1:6] == ["4", "0", "1", "0", "120"]  # done, skipped, failed, retried, frames


def test_each_worker_serves_its_metrics(cluster, clips, tmp_path):
    pytest.importorskip("prometheus_client")
    import socket
    import urllib.request

    with socket.socket() as probe:  # a free port to start from; each worker takes the next free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_ray_batch(Batch(config(tmp_path), clips, tmp_path / "out"), watch=Watch(quiet=True, metrics_port=port),
                        log=lambda line: None)
    workers = {r.worker for r in run.results}
    assert set(run.metrics) == workers and len(set(run.metrics.values())) == len(workers)
    for endpoint in run.metrics.values():
        text = urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10).read().decode()
        # the worker's last file, still served: 30 frames through the detector
        assert 'vpipe_frames_total{element="faces",role="stage"} 30.0' in text


def test_the_config_executor_section_runs_a_folder_on_ray(cluster, clips, tmp_path, monkeypatch, capsys):
    """`executor: {kind: ray}` in the YAML does what --ray does: the files run in Ray's workers."""
    from test_config_errors import run_cli

    path = config(tmp_path)
    path.write_text(path.read_text() + "executor: {kind: ray, retries: 1}\n")
    code, _, err = run_cli(monkeypatch, capsys, "run", str(path), "-i", str(clips), "-o", str(tmp_path / "out"), "-q")
    assert code == 0, err
    states = Manifest(tmp_path / "out").states()
    assert len(states) == 4 and {s["state"] for s in states.values()} == {"done"}
    assert all(int(s["worker"].rpartition(":")[2]) != os.getpid() for s in states.values())
