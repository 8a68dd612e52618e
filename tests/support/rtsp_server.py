"""A tiny RTSP server for tests and demos: serves an H.264 MP4 in a loop, or receives a publish.

Runs under the SYSTEM python (`/usr/bin/python3`), which has GStreamer's bindings (python3-gi,
gir1.2-gst-rtsp-server-1.0); the project's venv does not. It imports nothing from vpipe.

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 --file samples/roadview.mp4
    -> rtsp://127.0.0.1:8554/cam  (looping the file at its own frame rate, no re-encoding)
    -> rtsp://127.0.0.1:8554/in   (accepts RECORD: a client publishes H.264; counted, discarded)

The file's access units are read once, then pushed through appsrc with steadily increasing
timestamps, so every client sees an endless live camera that starts on a key frame. It prints
`ready rtsp://HOST:PORT` once listening and `received N` lines (every 25 frames) for publishes.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtspServer  # noqa: E402,F401


def read_access_units(path: str) -> tuple[list[bytes], list[bool], int]:
    """The file's H.264 access units (Annex B, SPS/PPS repeated on key frames) and its fps*1000."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 ! '
        "video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false")
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units, keys, rate = [], [], 25000
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buffer = sample.get_buffer()
        ok, info = buffer.map(Gst.MapFlags.READ)
        units.append(bytes(info.data))
        buffer.unmap(info)
        keys.append(not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT))
        structure = sample.get_caps().get_structure(0)
        ok, num, den = structure.get_fraction("framerate")
        if ok and num and den:
            rate = round(1000 * num / den)
    pipeline.set_state(Gst.State.NULL)
    if not units or not keys[0]:
        raise SystemExit(f"{path}: no H.264 video starting on a key frame")
    return units, keys, rate


class LoopFactory(GstRtspServer.RTSPMediaFactory):
    """One media per client, each pushing the file's access units in an endless loop."""

    def __init__(self, units: list[bytes], rate_milli: int):
        super().__init__()
        self.units = units
        self.duration = Gst.util_uint64_scale(Gst.SECOND, 1000, rate_milli)
        self.set_shared(False)
        self.set_launch(f"( appsrc name=src is-live=true format=time do-timestamp=false "
                        f'caps="video/x-h264,stream-format=byte-stream,alignment=au,'
                        f'framerate={rate_milli}/1000" ! h264parse ! '
                        "rtph264pay name=pay0 pt=96 config-interval=1 )")

    def do_configure(self, media) -> None:
        src = media.get_element().get_child_by_name("src")
        state = {"n": 0}

        def need_data(appsrc, _length) -> None:
            n = state["n"]
            data = self.units[n % len(self.units)]
            buffer = Gst.Buffer.new_wrapped(data)
            buffer.pts = buffer.dts = n * self.duration
            buffer.duration = self.duration
            state["n"] = n + 1
            appsrc.emit("push-buffer", buffer)

        src.connect("need-data", need_data)


class RecordFactory(GstRtspServer.RTSPMediaFactory):
    """Accepts a published H.264 stream (RECORD) and counts the access units it receives."""

    def __init__(self):
        super().__init__()
        self.received = 0
        self.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
        self.set_launch("( rtph264depay name=depay0 ! h264parse ! "
                        "video/x-h264,alignment=au ! appsink name=sink emit-signals=true sync=false )")

    def do_configure(self, media) -> None:
        sink = media.get_element().get_child_by_name("sink")

        def new_sample(appsink) -> Gst.FlowReturn:
            appsink.emit("pull-sample")
            self.received += 1
            if self.received % 25 == 0:
                print(f"received {self.received}", flush=True)
            return Gst.FlowReturn.OK

        sink.connect("new-sample", new_sample)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--file", required=True, help="H.264 MP4 to serve in a loop at /cam")
    parser.add_argument("--user", help="require this user (basic auth) with --password")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    units, _keys, rate = read_access_units(args.file)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    cam, record = LoopFactory(units, rate), RecordFactory()
    if args.user:
        # Basic auth for both mounts: tests check that credentials never leak into vpipe's output.
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        for factory in (cam, record):
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_role_from_structure(Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
            factory.set_permissions(permissions)
    mounts.add_factory("/cam", cam)
    mounts.add_factory("/in", record)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on {args.host}:{args.port}")
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"ready rtsp://{args.host}:{args.port}", flush=True)
    loop.run()
    print(f"stopped; received {record.received}", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
