"""What tests and benchmarks share and the product does not ship: a synthetic leak clip with its
ground truth, a detector stand-in that replays it, and a GStreamer RTSP server for live tests."""
