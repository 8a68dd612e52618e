"""Built-in elements. Importing this package registers them all by name."""

from vpipe.stages import annotate, anonymize, capture, clips, detect, events, lookahead, mqtt_sink, rtsp_sink, segment, sinks, stream, track, upscale, video_sink, web  # noqa: F401
