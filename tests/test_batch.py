"""Batches across streams: several sources feed one model stage, which runs what is waiting at once."""

from __future__ import annotations

import json

import numpy as np

import elements  # noqa: F401  (registers the test elements)
from conftest import ROOT, SAMPLE, write_config
from elements import BatchFlaky
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.runner import Runner

ENGINE = ROOT / "models" / "centerface.onnx"


def run(tmp_path, text: str, max_frames: int = 12) -> Runner:
    graph = build_graph(load_config(write_config(tmp_path, text)))
    try:
        runner = Runner(graph, max_frames=max_frames)
        runner.run()
        return runner
    finally:
        graph.close()


def records(path) -> dict[tuple[str, int], list]:
    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        out[(r["source"], r["index"])] = [d["box"] for d in r.get("detections", [])]
    return out


def test_batched_detections_equal_frame_by_frame(tmp_path, monkeypatch):
    from vpipe.stages.detect import Detect

    sizes = []
    original = Detect.run_batch
    monkeypatch.setattr(Detect, "run_batch", lambda self, frames: sizes.append(len(frames)) or original(self, frames))
    results = {}
    for batch in (1, 4):
        out = tmp_path / f"b{batch}.jsonl"
        run(tmp_path, f"""
sources: [{{name: a, uri: {SAMPLE}}}, {{name: b, uri: {SAMPLE}}}, {{name: c, uri: {SAMPLE}}}]
stages:
  - {{name: faces, type: detect, engine: {ENGINE}, batch: {batch}, params: {{threshold: 0.3}}}}
sinks: [{{type: jsonl, params: {{path: {out}}}}}]
""")
        results[batch] = records(out)
    assert set(results[1]) == set(results[4]) and len(results[1]) == 36
    assert max(sizes) > 1, "three sources behind one detector never formed a batch"
    found = 0
    for key, boxes in results[1].items():
        assert len(results[4][key]) == len(boxes), key
        if boxes:
            found += 1
            np.testing.assert_allclose(sorted(results[4][key]), sorted(boxes), atol=0.2)
    assert found > 0, "the sample should have faces to compare"


def test_a_failing_batch_is_retried_frame_by_frame(tmp_path):
    BatchFlaky.sizes.clear()
    out = tmp_path / "out.jsonl"
    runner = run(tmp_path, f"""
sources: [{{name: a, uri: {SAMPLE}}}, {{name: b, uri: {SAMPLE}}}]
stages:
  - {{name: flaky, type: test_batch_flaky, batch: 8, on_error: skip_frame, params: {{frames: [5]}}}}
sinks: [{{type: jsonl, params: {{path: {out}}}}}]
""", max_frames=20)
    got = records(out)
    # Only frame 5 of each source is skipped, not the frames batched with it.
    assert sorted(got) == sorted((s, i) for s in "ab" for i in range(20) if i != 5)
    assert runner.stats.stages["flaky"].skipped == 2
    assert max(BatchFlaky.sizes) > 1
