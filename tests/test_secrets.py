"""Secrets never printed: URL passwords, secret-looking query values, values of `${VAR}`s."""

from __future__ import annotations

import pytest

from conftest import write_config
from vpipe.pipeline.api.errors import ConfigError
from vpipe.pipeline.api.secrets import expand_env, redact, scrub
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph


@pytest.mark.parametrize("uri, shown", [
    ("rtsp://cam/s1?token=abc123&channel=2", "rtsp://cam/s1?token=***&channel=2"),
    ("https://h/live.m3u8?user=ann&pwd=hunter2", "https://h/live.m3u8?user=ann&pwd=***"),
    ("rtsp://a:b@cam/s?access_token=t&X-Amz-Signature=s&api_key=k&auth=z&password=p&secret=q",
     "rtsp://a:***@cam/s?access_token=***&X-Amz-Signature=***&api_key=***&auth=***&password=***&secret=***"),
    ("rtsp://cam/s1?channel=2", "rtsp://cam/s1?channel=2"),
    # Azure SAS: the signature is `sig=` (issue 22); `signed...` fields around it are not secret.
    ("https://acct.blob.core.windows.net/c/v.mp4?sv=2022-11-02&se=2026-01-01&sp=r&sig=AbC%2Bd",
     "https://acct.blob.core.windows.net/c/v.mp4?sv=2022-11-02&se=2026-01-01&sp=r&sig=***"),
    ("https://h/v.mp4?Sig=x&design=1", "https://h/v.mp4?Sig=***&design=1"),
])
def test_secret_query_parameters_are_redacted(uri, shown):
    assert redact(uri) == shown


def test_expand_env_names_each_value_and_refuses_or_keeps_an_unset_one(monkeypatch):
    """One expansion for source uris, the web password and the MQTT url."""
    monkeypatch.setenv("CAM_PASS", "hunter2")
    monkeypatch.delenv("NOT_SET", raising=False)
    assert expand_env("rtsp://v:${CAM_PASS}@cam/${CAM_PASS}") == ("rtsp://v:hunter2@cam/hunter2", {"hunter2": "${CAM_PASS}"})
    assert expand_env("$CAM_PASS ${1X} ${NOT_SET}") == ("$CAM_PASS ${1X} ${NOT_SET}", {})
    with pytest.raises(ConfigError, match="NOT_SET"):
        expand_env("${NOT_SET}", lambda name: ConfigError(f"{name} is not set"))


def test_scrub_hides_query_secrets_in_free_text():
    uri = "rtsp://cam/s1?token=abc123&pwd=hunter2"
    text = f"{uri}: cannot open; server said abc123 and hunter2 are wrong"
    assert scrub(text, uri) == "rtsp://cam/s1?token=***&pwd=***: cannot open; server said *** and *** are wrong"


def test_stream_status_shows_no_query_token(tmp_path, monkeypatch):
    monkeypatch.setenv("CAM_URL", "rtsp://127.0.0.1:9/s1?token=abc123")
    graph = build_graph(load_config(write_config(tmp_path, """
sources: [{name: cam, uri: '${CAM_URL}'}]
sinks: [{type: "null"}]
""")))
    try:
        source = graph.nodes["cam"].element
        assert source.uri.endswith("token=abc123")
        assert source.safe_uri == "${CAM_URL}"
        assert "abc123" not in source.scrub(f"{source.uri}: connection refused")
    finally:
        graph.close()


def test_expanded_variable_is_named_in_errors(tmp_path, monkeypatch):
    private = tmp_path / "clients-acme-private"
    monkeypatch.setenv("CLIPS", str(private))
    config = load_config(write_config(tmp_path, """
sources: [{uri: '${CLIPS}/missing.mp4'}]
sinks: [{type: "null"}]
"""))
    with pytest.raises(ConfigError) as caught:
        build_graph(config)
    message = str(caught.value)
    assert "${CLIPS}/missing.mp4" in message
    assert "acme" not in message
