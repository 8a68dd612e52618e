"""Prometheus metrics for `vpipe run --metrics-port N` (optional: needs `prometheus_client`).

A collector reads the runner's counters when Prometheus scrapes; nothing is added to the hot
path. Per element (stage, sink, source): frames, FPS, drops, errors, queue depth; per stream:
reconnects, gaps, seconds lost, connected; per sink: a capture-to-sink latency histogram.
Stream URLs are never exported (element names only), so camera credentials cannot leak here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterator

from vpipe.pipeline.api.element import Sink
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.runtime.runner import Runner

if TYPE_CHECKING:
    from vpipe.pipeline.runtime.graph import Graph

#: latency buckets (seconds): edge pipelines live between a few ms and a few seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class RunnerCollector:
    """Turns `Runner.stats` (and the sources' `StreamInfo`) into metric families at scrape time."""

    def __init__(self, runner: Runner):
        self.runner = runner
        # Latency histograms must be cumulative; the stats keep only a sliding window of
        # completions, so the collector counts each completion once as it first sees it.
        self._seen = {sink: 0 for sink in runner.stats.completions}
        self._buckets = {sink: [0] * (len(BUCKETS) + 1) for sink in runner.stats.completions}
        self._sums = {sink: 0.0 for sink in runner.stats.completions}
        self._last: tuple[float, dict[str, int]] | None = None

    def collect(self) -> Iterator:
        from prometheus_client import core

        yield from self._element_metrics(core)
        yield from _stream_metrics(core, self.runner.graph)
        offline = core.CounterMetricFamily("vpipe_sink_offline_drops", "Frames a network sink dropped while "
                                           "disconnected from its server", labels=["element"])
        for name, drops in offline_drops(self.runner.graph).items():
            offline.add_metric([name], drops)
        yield offline
        yield self._latency_metric(core)

    def _element_metrics(self, core: Any) -> tuple:
        """Per element: frames, FPS since the last scrape, drops, errors, queue depth."""
        stats = self.runner.stats
        now = time.perf_counter()
        counts = {name: s.frames for name, s in stats.stages.items()}
        # FPS over the time since the previous scrape (the whole run on the first one).
        then, before = self._last or (stats.started, {name: 0 for name in counts})
        self._last = (now, counts)
        span = max(now - then, 1e-9)

        frames = core.CounterMetricFamily("vpipe_frames", "Frames through each element", labels=["element", "role"])
        fps = core.GaugeMetricFamily("vpipe_fps", "Frames per second through each element since the last scrape",
                                     labels=["element", "role"])
        dropped = core.CounterMetricFamily("vpipe_dropped_frames", "Frames dropped on an element's input queue",
                                           labels=["element"])
        errors = core.CounterMetricFamily("vpipe_errors", "Frames an element failed on", labels=["element"])
        depth = core.GaugeMetricFamily("vpipe_queue_depth", "Frames waiting on an element's input queue",
                                       labels=["element"])
        for name, stage in stats.stages.items():
            frames.add_metric([name, stage.role], counts[name])
            fps.add_metric([name, stage.role], (counts[name] - before.get(name, 0)) / span)
            if stage.role != "source":
                errors.add_metric([name], stage.errors)
        for name, value in self.runner.dropped().items():
            if stats.stages[name].role != "source":
                dropped.add_metric([name], value)
        for name, size in self.runner.queue_depths().items():
            depth.add_metric([name], size)
        return frames, fps, dropped, errors, depth

    def _latency_metric(self, core: Any) -> Any:
        latency = core.HistogramMetricFamily("vpipe_latency_seconds", "Capture-to-sink latency", labels=["sink"])
        for sink, buckets in self._latency_buckets().items():
            cumulative, total = [], 0
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), buckets):
                total += count
                cumulative.append((bound, total))
            latency.add_metric([sink], cumulative, sum_value=self._sums[sink])
        return latency

    def _latency_buckets(self) -> dict[str, list[int]]:
        stats = self.runner.stats
        with stats._lock:  # the same lock the sinks take to append; copies a bounded window
            fresh = {}
            for sink, done in stats.completions.items():
                total = stats.sink_frames[sink]
                new = min(total - self._seen[sink], len(done))
                fresh[sink] = [lat for _, lat in list(done)[len(done) - new:]] if new > 0 else []
                self._seen[sink] = total
        for sink, values in fresh.items():
            for value in values:
                self._buckets[sink][_bucket(value)] += 1
                self._sums[sink] += value
        return self._buckets


def _bucket(value: float) -> int:
    for i, bound in enumerate(BUCKETS):
        if value <= bound:
            return i
    return len(BUCKETS)


class MetricsServer:
    """The HTTP endpoint; `close` stops it (the CLI closes it when the run ends)."""

    def __init__(self, server, thread, registry):
        self.server, self.thread, self.registry = server, thread, registry

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def prometheus():
    """The prometheus_client module, or one line naming the extra that installs it."""
    try:
        import prometheus_client
    except ImportError:
        raise VpipeError("--metrics-port needs prometheus_client: pip install 'vpipe[metrics]'") from None
    return prometheus_client


def serve_metrics(runner: Runner, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Start the endpoint at http://HOST:PORT/metrics; one-line errors when it cannot."""
    client = prometheus()
    registry = client.CollectorRegistry()
    registry.register(RunnerCollector(runner))
    try:
        server, thread = client.start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise VpipeError(f"--metrics-port {port}: cannot listen on {host}: {exc.strerror or exc}") from None
    return MetricsServer(server, thread, registry)


def _stream_metrics(core: Any, graph: Graph) -> tuple:
    """Per live stream: reconnects, gaps, seconds lost, whether it delivers now."""
    reconnects = core.CounterMetricFamily("vpipe_stream_reconnects", "Times a stream came back after a loss",
                                          labels=["stream"])
    gaps = core.CounterMetricFamily("vpipe_stream_gaps", "Interruptions seen in a stream", labels=["stream"])
    lost = core.CounterMetricFamily("vpipe_stream_lost_seconds", "Seconds of stream lost in gaps",
                                    labels=["stream"])
    up = core.GaugeMetricFamily("vpipe_stream_up", "1 while a stream delivers frames", labels=["stream"])
    for name, info in graph.streams().items():
        if not info.live:
            continue
        reconnects.add_metric([name], info.reconnects)
        gaps.add_metric([name], info.gaps)
        lost.add_metric([name], info.gap_seconds)
        up.add_metric([name], 1.0 if info.state == "connected" else 0.0)
    return reconnects, gaps, lost, up


def offline_drops(graph) -> dict[str, int]:
    """Frames each network sink dropped while disconnected (those that report a Delivery)."""
    deliveries = {n.name: n.element.delivery() for n in graph.sinks if isinstance(n.element, Sink)}
    return {name: d.dropped for name, d in deliveries.items() if d is not None}
