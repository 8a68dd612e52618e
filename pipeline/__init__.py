"""vpipe: an edge video-stream pipeline described in YAML, run stage by stage on worker threads."""

__version__ = "0.1.0"
