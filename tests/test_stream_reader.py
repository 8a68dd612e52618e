"""The network stream's reader thread without a server: connections that end, fail to open and come
back, fed by fakes, with a fake clock. Its timeline (pts that keep rising across reconnects, gaps
marked on the frame after them) and its retry budget, frame by frame (the live tests in
test_live.py do the same against a real RTSP server)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

import vpipe.stages.stream as stream
from vpipe.pipeline.api.errors import VpipeError
from vpipe.stages.stream import NetworkStreamSource, StreamParams

#: each connection: None (the open fails) or its frames as (wall clock, stream pts or None).
CONNECTIONS = [
    [(10.0, 5.0), (10.04, 5.04), (10.08, 5.08), (12.0, 5.12), (12.04, 8.0)],  # a stall, then a skip ahead
    None,
    [(20.0, None), (20.04, None)],  # back after a loss, frames without pts
    None,
    None,
]


def test_the_timeline_rises_across_reconnects_and_the_retries_run_out(monkeypatch):
    now = [0.0]
    connections = iter(CONNECTIONS)
    image = np.zeros((6, 8, 3), np.uint8)

    def fake_open(self):
        frames = next(connections)
        if frames is None:
            raise VpipeError("connection refused")
        return SimpleNamespace(frames=frames, streams=SimpleNamespace(video=[None]), close=lambda: None)

    def fake_decode(container, video):
        for wall, pts in container.frames:
            now[0] = wall
            yield image, pts

    handed: list = []
    monkeypatch.setattr(NetworkStreamSource, "_open", fake_open)
    monkeypatch.setattr(NetworkStreamSource, "_put", lambda self, item, force=False: handed.append(item) or True)
    monkeypatch.setattr(stream, "decode_bgr", fake_decode)
    monkeypatch.setattr(stream, "time", SimpleNamespace(monotonic=lambda: now[0]))
    params = StreamParams.model_validate({"gap_threshold": 1.0,
                                          "reconnect": {"max_attempts": 2, "initial_delay": 0.001, "jitter": 0}})
    source = NetworkStreamSource("cam", "rtsp://cam.local/s1", params, Path())
    source.info.fps = 25.0

    source._read_loop()

    *frames, failed = handed
    assert [f.pts for f in frames] == [0.0, 0.04, 0.08, 0.12, 3.0, 10.96, 11.0]
    gaps = [f.audit["capture"]["gap_s"] if f.audit else None for f in frames]
    assert gaps == [None, None, None, 1.92, 2.88, 7.96, None]
    assert (source.info.reconnects, source.info.gaps, source.info.height, source.info.width) == (1, 3, 6, 8)
    assert failed.message == "rtsp://cam.local/s1: no stream after 2 attempts: connection refused"
    assert source.info.state == "failed"


def test_a_reader_blocked_in_its_open_counts_as_running_until_it_returns(monkeypatch):
    """The CLI skips Python's shutdown while a reader is still inside FFmpeg (see
    `readers_running`); that only works if a blocked open counts and a finished reader does not."""
    import threading

    opening, release = threading.Event(), threading.Event()

    def blocked_open(self):
        opening.set()
        release.wait(10)
        raise VpipeError("connection timed out")

    monkeypatch.setattr(NetworkStreamSource, "_open", blocked_open)
    params = StreamParams.model_validate({"reconnect": {"max_attempts": 1}})
    source = NetworkStreamSource("cam", "rtsp://cam.local/s1", params, Path())
    failures: list[str] = []

    def consume():
        try:
            list(source.frames())
        except VpipeError as exc:
            failures.append(str(exc))

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert opening.wait(10)
    assert stream.readers_running()
    release.set()
    consumer.join(10)
    source._reader.join(10)
    assert failures == ["rtsp://cam.local/s1: no stream after 1 attempt: connection timed out"]
    assert not stream.readers_running()
