"""The runner: frames flow through chains, fan-outs, joins and merges; errors follow their policy."""

from __future__ import annotations

import json
import threading
import time

import av
import numpy as np
import pytest

import elements  # noqa: F401  (registers the test elements)
from conftest import SAMPLE, write_config
from vpipe.pipeline.api.errors import StageError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.pipeline.runtime.queues import END, FrameQueue
from vpipe.pipeline.runtime.runner import Runner
from vpipe.pipeline.runtime.sequential import run_sequential


def run(tmp_path, text: str, max_frames: int | None = 30, sequential: bool = False):
    graph = build_graph(load_config(write_config(tmp_path, text)))
    try:
        if sequential:
            return run_sequential(graph, max_frames=max_frames), graph
        runner = Runner(graph, max_frames=max_frames)
        runner.run()
        return runner.stats, graph
    finally:
        graph.close()


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_chain_delivers_every_frame_in_order(tmp_path):
    stats, _ = run(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{name: none, type: test_box, params: {{frames: []}}}}, {{type: anonymize}}]
sinks: [{{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}]
""", max_frames=None)
    records = lines(tmp_path / "out.jsonl")
    assert [r["index"] for r in records] == list(range(200))
    assert records[1]["pts"] == pytest.approx(0.04)
    assert stats.sink_frames["jsonl"] == 200


@pytest.mark.parametrize("sequential", [False, True])
def test_fatal_error_names_the_stage_and_finalizes_sinks(tmp_path, sequential):
    text = f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{name: flaky, type: test_flaky, params: {{frames: [12]}}}}]
sinks:
  - {{type: video, raw_output: true, params: {{path: {tmp_path}/out.mp4}}}}
"""
    with pytest.raises(StageError, match=r"stage 'flaky': injected failure on frame 12"):
        run(tmp_path, text, max_frames=None, sequential=sequential)
    with av.open(str(tmp_path / "out.mp4")) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == 12  # frames 0..11 made it, nothing after the failure


def test_skip_frame_drops_only_the_bad_frames(tmp_path):
    stats, _ = run(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{name: flaky, type: test_flaky, on_error: skip_frame, params: {{frames: [3, 7]}}}}]
sinks: [{{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}]
""", max_frames=20)
    assert [r["index"] for r in lines(tmp_path / "out.jsonl")] == [i for i in range(20) if i not in (3, 7)]
    assert stats.stages["flaky"].errors == 2


def test_marked_fault_makes_the_anonymizer_cover_the_whole_frame(tmp_path):
    run(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{name: none, type: test_box, params: {{frames: []}}}}
  - {{name: det, type: test_flaky, on_error: mark, params: {{frames: [4]}}}}
  - {{name: blur, type: anonymize}}
sinks:
  - {{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}
  - {{type: images, inputs: [blur], params: {{path: {tmp_path}/frames, ext: png}}}}
""", max_frames=8)
    records = {r["index"]: r for r in lines(tmp_path / "out.jsonl")}
    assert records[4]["faults"] == ["det"]
    assert records[4]["audit"]["blur"]["covered"] == "whole_frame"
    assert "faults" not in records[3]
    import cv2

    covered = cv2.imread(str(tmp_path / "frames" / "source_000004.png"))
    clean = cv2.imread(str(tmp_path / "frames" / "source_000003.png"))
    # Nothing recognisable is left: local detail (Laplacian energy) collapses.
    assert cv2.Laplacian(covered, cv2.CV_64F).var() < 0.05 * cv2.Laplacian(clean, cv2.CV_64F).var()


def test_anonymizer_on_fault_stop_aborts(tmp_path):
    with pytest.raises(StageError, match="stage 'blur'"):
        run(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{name: none, type: test_box, params: {{frames: []}}}}
  - {{name: det, type: test_flaky, on_error: mark, params: {{frames: [2]}}}}
  - {{name: blur, type: anonymize, params: {{on_fault: stop}}}}
sinks: [{{type: "null"}}]
""")


def test_parallel_workers_keep_input_order(tmp_path):
    from elements import Slow

    Slow.peak = 0
    run(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{type: test_slow, workers: 3, params: {{ms: 4}}}}]
sinks: [{{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}]
""", max_frames=40)
    assert [r["index"] for r in lines(tmp_path / "out.jsonl")] == list(range(40))
    assert Slow.peak > 1


def test_fan_out_and_join_merge_both_branches(tmp_path):
    run(tmp_path, f"""
sources: [{{name: cam, uri: {SAMPLE}}}]
stages:
  - {{name: plates, type: test_box, inputs: [cam], params: {{label: plate}}}}
  - {{name: faces, type: test_box, inputs: [cam], params: {{label: face, box: [100, 100, 140, 150]}}}}
  - {{name: blur, type: anonymize, inputs: [plates, faces]}}
sinks: [{{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}]
""", max_frames=25)
    records = lines(tmp_path / "out.jsonl")
    assert len(records) == 25
    for r in records:
        assert sorted(d["class"] for d in r["detections"]) == ["face", "plate"]
        assert r["audit"]["blur"]["covered"] == 2


def test_merge_of_two_sources_into_one_stage(tmp_path):
    stats, graph = run(tmp_path, f"""
sources:
  - {{name: left, uri: {SAMPLE}}}
  - {{name: right, uri: {SAMPLE}}}
stages: [{{name: none, type: test_box, params: {{frames: []}}}}, {{type: anonymize}}]
sinks: [{{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}]
""", max_frames=15)
    assert graph.nodes["none"].fan_in == "merge"
    records = lines(tmp_path / "out.jsonl")
    for side in ("left", "right"):
        assert [r["index"] for r in records if r["source"] == side] == list(range(15))


def test_sequential_matches_pipelined(tmp_path):
    text = f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{type: test_box}}, {{type: anonymize}}]
sinks: [{{type: images, params: {{path: {tmp_path}/OUT, ext: png}}}}]
"""
    import cv2

    run(tmp_path, text.replace("OUT", "a"), max_frames=5)
    run(tmp_path, text.replace("OUT", "b"), max_frames=5, sequential=True)
    for i in range(5):
        a = cv2.imread(str(tmp_path / "a" / f"source_{i:06d}.png"))
        b = cv2.imread(str(tmp_path / "b" / f"source_{i:06d}.png"))
        assert np.array_equal(a, b)


def test_drop_oldest_keeps_the_freshest_frames():
    q = FrameQueue(2, "drop_oldest")
    for i in range(5):
        q.put(i)
    q.put(END)  # end markers are never dropped
    assert q.dropped == 3
    assert [q.get(), q.get(), q.get()] == [3, 4, END]


def test_a_dropped_frames_audit_goes_to_the_frame_after_it():
    # A camera's first frame after a reconnect carries the gap; the burst after the reconnect
    # pushes it out of a live edge's queue. The record must keep the gap.
    q = FrameQueue(2, "drop_oldest")
    frames = [Frame(np.zeros((2, 2, 3), np.uint8), "cam", i, i / 25, 0.0, 0.0) for i in range(4)]
    frames[0].audit["capture"] = {"reconnects": 1, "gap_s": 2.1}
    frames[2].audit["capture"] = {"reconnects": 1}
    for frame in frames:
        q.put(frame)
    assert q.dropped == 2 and [q.get().index, q.get().index] == [2, 3]
    assert frames[2].audit == {"capture": {"reconnects": 1, "gap_s": 2.1}}  # its own value kept, the gap added
    single = FrameQueue(1, "drop_oldest")  # nothing queued after it: the incoming frame takes it
    first, second = (Frame(np.zeros((2, 2, 3), np.uint8), "cam", i, i / 25, 0.0, 0.0) for i in range(2))
    first.audit["capture"] = {"gap_s": 3.0}
    single.put(first)
    single.put(second)
    assert single.get() is second and second.audit == {"capture": {"gap_s": 3.0}}


def test_block_waits_for_room():
    q = FrameQueue(1, "block")
    q.put("a")
    done = threading.Event()
    threading.Thread(target=lambda: (q.put("b"), done.set()), daemon=True).start()
    time.sleep(0.1)
    assert not done.is_set()  # the producer waits: lossless
    assert q.get() == "a"
    assert done.wait(2)
    assert q.get() == "b" and q.dropped == 0


def test_hung_stage_times_out_fail_closed(tmp_path):
    start = time.perf_counter()
    with pytest.raises(StageError, match=r"stage 'det': no result after 0.5 s on frame 5"):
        run(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{name: none, type: test_box, params: {{frames: []}}}}
  - {{name: det, type: test_hang, timeout: 0.5, params: {{frame: 5, seconds: 8}}}}
  - {{name: blur, type: anonymize}}
sinks: [{{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}]
""", max_frames=None)
    assert time.perf_counter() - start < 5  # the watchdog did not wait for the stuck call
    assert [r["index"] for r in lines(tmp_path / "out.jsonl")] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("mode", ["threads", "sequential"])
def test_every_element_is_closed_exactly_once(tmp_path, mode):
    from vpipe.pipeline.runtime.runner import Runner
    from vpipe.pipeline.runtime.sequential import run_sequential

    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{type: test_slow, params: {{ms: 0}}}}]
sinks: [{{type: jsonl, params: {{path: {tmp_path}/a.jsonl}}}}]
""")
    graph = build_graph(load_config(config))
    calls: dict[str, int] = {}
    for node in graph.nodes.values():
        original = node.element.close

        def counting(name=node.name, original=original):
            calls[name] = calls.get(name, 0) + 1
            original()

        node.element.close = counting
    try:
        if mode == "threads":
            Runner(graph, max_frames=5).run()
        else:
            run_sequential(graph, max_frames=5)
    finally:
        graph.close()  # the CLI's own safety net: must not close what the run closed
    assert calls == {name: 1 for name in graph.nodes}


def gap_marker_on(graph, index: int) -> dict:
    """Make the source report a gap before frame `index`, as a live stream does after a reconnect."""
    source = graph.sources[0].element
    capture, marker = source.capture, {"capture": {"reconnects": 1, "gap_s": 2.5}}

    def marked():
        for k, captured in enumerate(capture()):
            if k == index:
                captured.audit = marker
            yield captured

    source.capture = marked
    return marker


def test_sequential_counts_errors_and_keeps_audit_markers_like_the_threads(tmp_path):
    text = f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{name: skip, type: test_flaky, on_error: skip_frame, params: {{frames: [3, 7]}}}}
  - {{name: mark, type: test_flaky, on_error: mark, params: {{frames: [5]}}}}
sinks: [{{type: jsonl, params: {{path: {tmp_path}/OUT.jsonl}}}}]
"""
    seen = {}
    for mode in ("threads", "sequential"):
        graph = build_graph(load_config(write_config(tmp_path, text.replace("OUT", mode))))
        marker = gap_marker_on(graph, 2)
        try:
            stats = run_sequential(graph, max_frames=10) if mode == "sequential" else Runner(graph, 10).run()
        finally:
            graph.close()
        counts = {name: (s.frames, s.errors, s.skipped) for name, s in stats.stages.items()}
        seen[mode] = counts, lines(tmp_path / f"{mode}.jsonl")
    counts, records = seen["sequential"]
    assert counts["skip"] == (8, 2, 2) and counts["mark"] == (8, 1, 0)
    by_index = {r["index"]: r for r in records}
    assert sorted(by_index) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert by_index[2]["audit"] == marker and by_index[5]["faults"] == ["mark"]
    untimed = [[{k: v for k, v in r.items() if k != "time"} for r in seen[mode][1]] for mode in seen]
    assert seen["threads"][0] == counts and untimed[0] == untimed[1]


def test_sequential_reports_an_element_that_fails_to_open_as_a_stage_error(tmp_path):
    graph = build_graph(load_config(write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages: [{{name: flaky, type: test_flaky}}]
sinks: [{{type: jsonl, params: {{path: {tmp_path}/out.jsonl}}}}]
""")))

    def broken():
        raise RuntimeError("no device")

    graph.nodes["flaky"].element.open = broken
    try:
        with pytest.raises(StageError, match="stage 'flaky': no device"):
            run_sequential(graph, max_frames=5)
    finally:
        graph.close()
    assert lines(tmp_path / "out.jsonl") == []  # nothing was captured once the run had failed


def test_throughput_counts_from_the_first_capture_not_the_first_completion(monkeypatch):
    """A look-ahead holds frames, then lets them all out at once: measured from the first
    completion, 10 frames at ~10 FPS read as thousands (bench said 190 FPS for a ~6 FPS
    pipeline, issue 22)."""
    from vpipe.pipeline.runtime import stats as stats_module

    now = [0.0]
    monkeypatch.setattr(stats_module.time, "perf_counter", lambda: now[0])
    stats = stats_module.RunStats([("cam", "source"), ("out", "sink")])
    for i in range(10):  # captured every 0.1 s; all reach the sink in a burst at the end
        now[0] = 1.0 + i * 1e-4
        stats.complete("out", captured_at=i * 0.1, index=i)
    assert 9 < stats.summary()["fps"] < 11
