"""`vpipe bench`'s table in a log or a pipe: every figure whole, not squeezed to 80 columns."""

from __future__ import annotations

from vpipe.pipeline.apps.bench import print_report


def stage(role: str) -> dict:
    return {"role": role, "frames": 1234, "mean_ms": 123.456, "p50": 120.5, "p95": 180.25, "p99": 199.75,
            "busy_share": 0.93, "queue_occupancy": 7.5, "queue_size": 8, "dropped": 0, "errors": 0}


def test_the_table_keeps_every_name_and_figure_whole_outside_a_terminal(capsys):
    names = ["camera_front_left", "faces_centerface_detector", "plates_ssdlite_detector", "lookahead", "plate_blur"]
    report = {"config": "configs/roadview.yaml", "mode": "pipelined", "slowest_stage": names[1],
              "stages": {n: stage("source" if i == 0 else "stage") for i, n in enumerate(names)},
              "fps": 3.3, "measured_frames": 190, "p50": 900.0, "p95": 1200.0, "p99": 1300.0}
    print_report(report)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "configs/roadview.yaml (pipelined)"
    header = lines[1].split()
    assert header == ["stage", "role", "frames", "mean", "ms", "p50", "p95", "p99", "busy", "queue", "dropped", "errors"]
    for name, line in zip(names, lines[2:]):
        assert line.split()[:3 if name == names[1] else 2] == [name] + (["*"] if name == names[1] else []) + [
            "source" if name == names[0] else "stage"]
        assert "123.46" in line and "199.75" in line and "93%" in line
