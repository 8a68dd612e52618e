"""The command line's values as a config transform (pipeline/runtime/overrides.py): each override
on its own, on the config alone (no graph built), and the config it was given left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SAMPLE, write_config
from vpipe.pipeline.api.errors import ConfigError
from vpipe.pipeline.runtime.config import Config, NodeSpec, load_config
from vpipe.pipeline.runtime.overrides import Overrides, apply_overrides

GRAPH = f"""
sources:
  - {{uri: {SAMPLE}, params: {{max_side: 640}}}}
  - {{name: cam, uri: "rtsp://cam.local/s1"}}
sinks:
  - {{type: video, params: {{path: out/clip.mp4, crf: 30}}}}
  - {{type: jsonl, params: {{path: out/clip.jsonl}}}}
"""


@pytest.fixture
def config(tmp_path) -> Config:
    return load_config(write_config(tmp_path, GRAPH))


def test_no_override_changes_nothing_but_the_settings_defaults(config):
    new = apply_overrides(config, Overrides())
    assert new.spec == config.spec
    assert new.settings.given == {} and new.settings.overwrite and not new.settings.sequential
    assert new.path == config.path


def test_input_replaces_the_first_source_and_keeps_params_of_the_same_kind(config, tmp_path):
    new = apply_overrides(config, Overrides(input="other.mp4"))
    source = new.spec.sources[0]
    assert (source.uri, source.kind, source.params) == ("other.mp4", "file", {"max_side": 640})
    assert new.settings.given == {("sources", 0): "--input"}
    assert new.spec.sources[1] == config.spec.sources[1]


def test_input_of_another_kind_drops_the_configured_params(config, tmp_path):
    (tmp_path / "photos").mkdir()
    new = apply_overrides(config, Overrides(input=str(tmp_path / "photos")))
    assert (new.spec.sources[0].kind, new.spec.sources[0].params) == ("images", {})


def test_output_replaces_the_first_sinks_path_and_the_audit_follows_it(config):
    new = apply_overrides(config, Overrides(output="elsewhere/a.mp4"))
    video, audit = new.spec.sinks
    assert (video.type, video.params) == ("video", {"path": "elsewhere/a.mp4", "crf": 30})
    assert audit.params == {"path": "elsewhere/a.jsonl"}
    assert new.settings.given == {("sinks", 0): "--output", ("sinks", 1): "--output (its audit)"}


def test_output_folder_swaps_the_video_sink_for_images_under_the_same_name(config):
    new = apply_overrides(config, Overrides(output="frames/"))
    sink = new.spec.sinks[0]
    assert (sink.type, sink.name, sink.params) == ("images", "video", {"path": "frames/"})
    assert new.spec.sinks[1].params == {"path": "frames.jsonl"}


def test_an_explicit_audit_wins_over_the_one_beside_the_output(config):
    new = apply_overrides(config, Overrides(output="a.mp4", audit="logs/a.jsonl"))
    assert new.spec.sinks[1].params == {"path": "logs/a.jsonl"}


def test_output_into_a_raw_sink_is_refused(tmp_path):
    config = load_config(write_config(tmp_path, GRAPH.replace("type: video,", "type: video, raw_output: true,")))
    with pytest.raises(ConfigError, match="^--output: the first sink, 'video', writes raw pixels"):
        apply_overrides(config, Overrides(output="a.mp4"))


def test_device_replaces_the_default_device(config):
    assert apply_overrides(config, Overrides(device="cuda:1")).spec.device == "cuda:1"


def test_output_dir_moves_every_file_into_it_by_node_name(config, tmp_path):
    new = apply_overrides(config, Overrides(output_dir=tmp_path / "scratch"))
    assert [s.params["path"] for s in new.spec.sinks] == [
        str(tmp_path / "scratch" / "video" / "clip.mp4"), str(tmp_path / "scratch" / "jsonl" / "clip.jsonl")]
    assert new.settings.given == {}


def test_reconnect_attempts_reach_network_streams_only(config):
    new = apply_overrides(config, Overrides(reconnect_attempts=3))
    assert new.spec.sources[0].params == {"max_side": 640}
    assert new.spec.sources[1].params == {"reconnect": {"max_attempts": 3}}
    forever = apply_overrides(config, Overrides(reconnect_attempts=0))
    assert forever.spec.sources[1].params == {"reconnect": {"max_attempts": None}}


def test_run_settings_travel_with_the_config(config):
    new = apply_overrides(config, Overrides(overwrite=False, sequential=True, cores=3))
    assert (new.settings.overwrite, new.settings.sequential, new.settings.cores) == (False, True, 3)


def test_added_sinks_come_after_the_configs(config):
    view = NodeSpec(type="null", name="view")
    new = apply_overrides(config, Overrides(add_sinks=(view,)))
    assert [s.name for s in new.spec.sinks] == [None, None, "view"]


def test_the_config_given_is_left_as_it_was(config, tmp_path):
    before = config.spec.model_dump()
    settings = config.settings
    apply_overrides(config, Overrides(input="x.mp4", output="y/", device="cuda", reconnect_attempts=2,
                                      output_dir=tmp_path, overwrite=False, add_sinks=(NodeSpec(type="null"),)))
    assert config.spec.model_dump() == before
    assert config.settings is settings and settings.given == {}


def test_a_built_graph_reads_the_inputs_path_from_the_shell_not_the_configs_folder(tmp_path, monkeypatch):
    from vpipe.pipeline.runtime.graph import build_graph

    monkeypatch.chdir(SAMPLE.parent)
    config = load_config(write_config(tmp_path, f"sources: [{{uri: {SAMPLE}}}]\nsinks: [{{type: 'null'}}]\n"))
    graph = build_graph(apply_overrides(config, Overrides(input=SAMPLE.name)))
    try:
        assert Path(graph.sources[0].element.info.path).resolve() == SAMPLE.resolve()
    finally:
        graph.close()
