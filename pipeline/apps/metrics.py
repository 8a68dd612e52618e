"""Prometheus metrics for `vpipe run --metrics-port N` (optional: needs `prometheus_client`).

A collector reads the runner's counters when Prometheus scrapes; nothing is added to the hot
path. Per element (stage, sink, source): frames, FPS, drops, errors, queue depth; per stream:
reconnects, gaps, seconds lost, connected; per sink: a capture-to-sink latency histogram.
Stream URLs are never exported (element names only), so camera credentials cannot leak here.
"""

from __future__ import annotations

import time
from typing import Iterator

from vpipe.pipeline.api.element import Sink
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.runtime.runner import Runner

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
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        stats = self.runner.stats
        graph = self.runner.graph
        now = time.perf_counter()
        counts = {name: s.frames for name, s in stats.stages.items()}
        # FPS over the time since the previous scrape (the whole run on the first one).
        then, before = self._last or (stats.started, {name: 0 for name in counts})
        self._last = (now, counts)
        span = max(now - then, 1e-9)

        frames = CounterMetricFamily("vpipe_frames", "Frames through each element", labels=["element", "role"])
        fps = GaugeMetricFamily("vpipe_fps", "Frames per second through each element since the last scrape",
                                labels=["element", "role"])
        dropped = CounterMetricFamily("vpipe_dropped_frames", "Frames dropped on an element's input queue",
                                      labels=["element"])
        errors = CounterMetricFamily("vpipe_errors", "Frames an element failed on", labels=["element"])
        depth = GaugeMetricFamily("vpipe_queue_depth", "Frames waiting on an element's input queue",
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

        reconnects = CounterMetricFamily("vpipe_stream_reconnects", "Times a stream came back after a loss",
                                         labels=["stream"])
        gaps = CounterMetricFamily("vpipe_stream_gaps", "Interruptions seen in a stream", labels=["stream"])
        lost = CounterMetricFamily("vpipe_stream_lost_seconds", "Seconds of stream lost in gaps",
                                   labels=["stream"])
        up = GaugeMetricFamily("vpipe_stream_up", "1 while a stream delivers frames", labels=["stream"])
        for node in graph.sources:
            info = node.element.info
            if not info.live:
                continue
            reconnects.add_metric([node.name], info.reconnects)
            gaps.add_metric([node.name], info.gaps)
            lost.add_metric([node.name], info.gap_seconds)
            up.add_metric([node.name], 1.0 if info.state == "connected" else 0.0)

        offline = CounterMetricFamily("vpipe_sink_offline_drops", "Frames a network sink dropped while "
                                      "disconnected from its server", labels=["element"])
        for name, drops in offline_drops(graph).items():
            offline.add_metric([name], drops)

        latency = HistogramMetricFamily("vpipe_latency_seconds", "Capture-to-sink latency", labels=["sink"])
        for sink, buckets in self._latency_buckets().items():
            cumulative, total = [], 0
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), buckets):
                total += count
                cumulative.append((bound, total))
            latency.add_metric([sink], cumulative, sum_value=self._sums[sink])

        yield from (frames, fps, dropped, errors, depth, reconnects, gaps, lost, up, offline, latency)

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


def offline_drops(graph) -> dict[str, int]:
    """Frames each network sink dropped while disconnected (those that report a Delivery)."""
    deliveries = {n.name: n.element.delivery() for n in graph.sinks if isinstance(n.element, Sink)}
    return {name: d.dropped for name, d in deliveries.items() if d is not None}
