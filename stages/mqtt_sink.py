"""Events over MQTT (paho-mqtt, the optional extra `mqtt`): what happened, never a frame.

Each event of `Frame.events` (see stages/events.py) is published as JSON on
`PREFIX/CAMERA/events/TYPE`. `PREFIX/availability` is retained: "online" once connected, and the
broker's last will sets it to "offline" if vpipe dies without saying so.

paho's network thread owns the connection and reconnects with exponential backoff. A QoS 1
message published while the broker is away waits in paho's bounded queue and is sent (again, if
it was in flight) on reconnection; `close` waits up to `drain_timeout` for every message to be
acknowledged, so an event at the end of a run is not lost to a broker that is restarting.
The broker password may come from the environment (`url: mqtt://cam:${MQTT_PASS}@host`) and
is redacted in every message, like camera credentials.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from vpipe.pipeline.api.element import Params, Sink
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.api.registry import register
from vpipe.pipeline.api.secrets import expand_env, redact, scrub
from vpipe.stages.events import EVENT_TYPES, known_event_types


class MqttParams(Params):
    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://[user[:password]@]host[:port]; `${VAR}`s come from the environment.")
    prefix: str = Field("vpipe", pattern=r"^[^#+\s]+$", description="topics start with it: PREFIX/availability, PREFIX/CAMERA/events/TYPE.")
    qos: int = Field(1, ge=0, le=2)
    types: list[str] = Field(default_factory=lambda: list(EVENT_TYPES), description="which event types to publish.")
    client_id: str | None = None
    keepalive: int = Field(30, ge=5)
    min_delay: float = Field(0.5, gt=0, description="reconnection backoff: first wait, doubled up to the last (seconds).")
    max_delay: float = Field(30.0, gt=0)
    max_queued: int = Field(10_000, ge=1, description="messages waiting for the broker at most (memory stays bounded); more are dropped and counted.")
    drain_timeout: float = Field(10.0, ge=0, description="seconds `close` waits for queued messages to be acknowledged.")

    @field_validator("types")
    @classmethod
    def _types(cls, types: list[str]) -> list[str]:
        return known_event_types(types)


@register("mqtt")
class MqttSink(Sink[MqttParams]):
    """Publishes track and zone events to an MQTT broker, with availability and a last will."""

    Params = MqttParams

    def __init__(self, ctx, params: MqttParams):
        super().__init__(ctx, params)
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise VpipeError("the mqtt sink needs paho-mqtt: pip install 'vpipe[mqtt]'") from None
        self.mqtt = mqtt
        self.url, self.shown = expand_env(params.url, lambda name: VpipeError(f"params.url: environment variable {name} is not set"))
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise VpipeError(f"params.url: {self.scrub(params.url)} is not mqtt://host[:port]")
        try:
            self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        except ValueError as exc:
            raise VpipeError(f"params.url: {self.scrub(str(exc))}") from None
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.availability = f"{params.prefix}/availability"
        #: paho's Client from open() to close(); paho is imported only here, so typed Any.
        self.client: Any | None = None
        self.connected = threading.Event()
        #: events not handed to paho (its queue full), and the last connection problem.
        self.dropped = 0
        self.last_error = ""
        #: message ids handed to paho and those the broker acknowledged (paho's thread adds
        #: to `acked`); what is in the first and not the second is still on its way.
        self.pending: set[int] = set()
        self.acked: set[int] = set()
        self._lock = threading.Lock()

    def scrub(self, text: str) -> str:
        """`text` fit to print: the broker password redacted, `${VAR}` values by name."""
        return scrub(text, self.url, self.shown)

    def open(self) -> None:
        mqtt = self.mqtt
        client_id = self.params.client_id or f"vpipe-{self.name}-{uuid.uuid4().hex[:8]}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if self.user:
            client.username_pw_set(self.user, self.password)
        client.will_set(self.availability, "offline", qos=1, retain=True)
        client.reconnect_delay_set(self.params.min_delay, self.params.max_delay)
        client.max_queued_messages_set(self.params.max_queued)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        self.client = client
        try:
            # Asynchronous: a broker that is down now is retried by paho's thread, as a camera is.
            client.connect_async(self.host, self.port, self.params.keepalive)
        except (OSError, ValueError) as exc:
            raise VpipeError(self.scrub(f"{redact(self.url)}: {exc}")) from None
        client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            return
        self.connected.set()
        client.publish(self.availability, "online", qos=1, retain=True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.last_error = f"disconnected: {reason_code}"

    def _on_connect_fail(self, client, userdata) -> None:
        self.last_error = f"cannot connect to {self.host}:{self.port}"

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self.acked.add(mid)

    def __call__(self, frame: Frame) -> None:
        client = self.client
        assert client is not None  # open() runs before the first frame
        for event in frame.events:
            if event["type"] not in self.params.types:
                continue
            topic = f"{self.params.prefix}/{event['camera']}/events/{event['type']}"
            info = client.publish(topic, json.dumps(event, separators=(",", ":")), qos=self.params.qos)
            if info.rc == self.mqtt.MQTT_ERR_QUEUE_SIZE:
                self.dropped += 1
            elif self.params.qos:
                with self._lock:
                    self.pending.add(info.mid)
        self._forget_acked()

    def _forget_acked(self) -> int:
        """Drops what the broker acknowledged (the sets stay as small as the backlog); returns the rest."""
        with self._lock:
            done = self.pending & self.acked
            self.pending -= done
            self.acked -= done
            return len(self.pending)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            deadline = time.monotonic() + self.params.drain_timeout
            while self._forget_acked() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.connected.is_set():
                # A clean goodbye: the will is not sent, so say "offline" ourselves.
                goodbye = client.publish(self.availability, "offline", qos=1, retain=True)
                try:
                    goodbye.wait_for_publish(max(0.1, deadline - time.monotonic()))
                except (RuntimeError, ValueError):
                    pass  # the connection went meanwhile: the broker sends the will instead
            lost = self._forget_acked() + self.dropped
        finally:
            client.disconnect()
            client.loop_stop()
        if lost:
            raise VpipeError(self.scrub(f"{lost} event(s) not acknowledged by "
                                        f"{redact(self.url)} ({self.last_error or 'no connection'})"))
