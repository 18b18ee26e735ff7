"""The recording session's setup as a library (``ipamx_spy.session_setup``) and the built-in
plugin's configuration from its options (``ipamx_spy.builtin``): every problem a user can fix is
one sentence, raised before anything starts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from wire import framed

from ipamx_spy import dockerd, live, tap
from ipamx_spy import session_setup as ss
from ipamx_spy.builtin import (
    AllocatorStore,
    BuiltinConfig,
    NetworkLinks,
    PluginStartError,
    config_from_options,
    start_plugin,
)
from ipamx_spy.cli import app
from ipamx_spy.client import docker_request
from ipamx_spy.ipam.config import Compat
from ipamx_spy.ipam.errors import ConfigError
from ipamx_spy.live import LiveView, ViewMode
from ipamx_spy.places import STATE_DIR
from ipamx_spy.proxy import ProxySession, answer
from ipamx_spy.recording import make_header
from ipamx_spy.replay.target import ReplayUnusable, parse_target
from ipamx_spy.validate import Validator


@pytest.mark.parametrize(("opts", "names"), [
    (ss.LiveOptions(compact=True, json_out=True), "--compact and --json"),
    (ss.LiveOptions(upstream_timeout=0), "--upstream-timeout 0"),
    (ss.LiveOptions(slow_ms=-1), "--slow-ms -1"),
    (ss.LiveOptions(redact=("header:",)), "--redact"),
])
def test_a_bad_option_is_one_sentence_naming_it(opts: ss.LiveOptions, names: str,
                                                tmp_path: Path) -> None:
    opts = ss.LiveOptions(**{**opts.__dict__, "record": tmp_path / "r.jsonl"})
    with pytest.raises(ss.SetupError, match=names):
        ss.live_session("x", make_header(name="x"), opts)
    assert not (tmp_path / "r.jsonl").exists()


def test_an_existing_or_linked_record_file_is_refused(tmp_path: Path) -> None:
    existing = tmp_path / "old.jsonl"
    existing.write_text("{}\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "nowhere.jsonl")
    with pytest.raises(ss.SetupError, match="the file exists"):
        ss.record_target(ss.LiveOptions(record=existing), "x")
    with pytest.raises(ss.SetupError, match="symbolic link"):
        ss.record_target(ss.LiveOptions(record=link), "x")
    assert ss.record_target(ss.LiveOptions(record=existing, no_record=True), "x") is None
    assert existing.read_text() == "{}\n"


def test_a_prepared_session_has_started_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    setup = ss.live_session("x", make_header(name="x"),
                            ss.LiveOptions(record=path, quiet=True, validate=False))
    assert (setup.record_path, setup.writer, setup.view, setup.checking) == (path, None, None,
                                                                             None)
    assert setup.live.mode is ViewMode.QUIET
    assert not path.exists()


def test_a_recording_that_cannot_be_opened_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(ss.SetupError, match="missing"):
        ss.open_writer(tmp_path / "missing" / "r.jsonl", make_header(name="x"))
    with pytest.raises(ss.SetupError, match="--group"):
        ss.open_writer(tmp_path / "r.jsonl", make_header(name="x"), group="no-such-group-x")


def test_a_started_setup_that_never_served_removes_its_empty_recording(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    setup = ss.LiveSetup(session=ProxySession(writer=None, sinks=[]),
                         live=ss.live_session("x", make_header(name="x"), ss.LiveOptions(
                             no_record=True, quiet=True, validate=False)).live,
                         record_path=path, header=make_header(name="x"))
    setup.start()
    assert path.exists()
    assert setup.stop() == []
    assert not path.exists()


def test_next_steps_name_the_recording() -> None:
    steps = ss.next_steps(Path("recordings/a.jsonl"))
    assert steps[0] == "ipamx-spy show recordings/a.jsonl --compact"
    assert steps[2].endswith("-o a.html")


@pytest.mark.parametrize(("state", "allocator", "network"), [
    ("none", None, None),
    ("default", STATE_DIR / "n.state.json", STATE_DIR / "n.network.json"),
    ("/tmp/x/s.json", Path("/tmp/x/s.json"), Path("/tmp/x/s.network.json")),
])
def test_the_builtin_state_files_follow_state(state: str, allocator: Path | None,
                                             network: Path | None) -> None:
    config = config_from_options(name="n", state=state, compat=Compat.V26, local_space="L",
                                 global_space="G", network_driver=True,
                                 store=AllocatorStore.parse("file"))
    assert (config.state, config.network_state, config.store) == (allocator, network,
                                                                   AllocatorStore())
    alone = config_from_options(name="n", state=state, compat=Compat.V26, local_space="L",
                                global_space="G", network_driver=False)
    assert alone.network_state is None


def test_a_plugin_that_cannot_start_is_one_sentence(tmp_path: Path) -> None:
    config = config_from_options(name="n", state=str(tmp_path / "no" / "s.json"), compat=Compat.V27,
                                 local_space="L", global_space="G", network_driver=False)
    with pytest.raises(PluginStartError, match="cannot open the allocator state"):
        start_plugin(config)
    bad = config_from_options(name="n", state="none", compat=Compat.V27, local_space="L",
                              global_space="G", network_driver=False, local_pools=["x"])
    with pytest.raises(PluginStartError, match="cannot start the built-in plugin"):
        start_plugin(bad)


def test_the_builtin_config_holds_enums_and_reads_their_words() -> None:
    config = BuiltinConfig(compat="26.1.5", network_links="memory")  # type: ignore[arg-type]
    assert config.compat is Compat.V26 and config.network_links is NetworkLinks.MEMORY
    assert BuiltinConfig().compat is Compat.V27
    assert BuiltinConfig().network_links is NetworkLinks.NETLINK
    with pytest.raises(ConfigError, match="expected a Docker version"):
        BuiltinConfig(compat="nineteen")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="network_links must be netlink or memory"):
        BuiltinConfig(network_links="tap")  # type: ignore[arg-type]


def test_a_compat_that_names_no_docker_is_a_usage_error_everywhere() -> None:
    with pytest.raises(ReplayUnusable, match="builtin:compat=nineteen: compat 'nineteen'"):
        parse_target("builtin:compat=nineteen")
    result = CliRunner().invoke(app, ["serve", "--docker-compat", "nineteen", "--state", "none",
                                      "--listen", "/nonexistent/x.sock"])
    assert result.exit_code == 2
    assert "--docker-compat: compat 'nineteen'" in result.output


def test_the_record_error_policy_is_an_enum_read_from_its_word() -> None:
    from ipamx_spy.proxy import OnRecordError

    assert ProxySession(writer=None, on_record_error="refuse").on_record_error \
        is OnRecordError.REFUSE  # type: ignore[arg-type]
    assert ProxySession(writer=None).on_record_error is OnRecordError.CONTINUE
    with pytest.raises(ValueError, match="on_record_error must be 'continue' or 'refuse'"):
        ProxySession(writer=None, on_record_error="drop")  # type: ignore[arg-type]
    setup = ss.live_session("x", make_header(name="x"), ss.LiveOptions(
        no_record=True, quiet=True, validate=False, on_record_error=OnRecordError.REFUSE))
    assert setup.session.on_record_error is OnRecordError.REFUSE


@pytest.mark.parametrize("opts", [ss.LiveOptions(compact=True), ss.LiveOptions(quiet=True)],
                         ids=["compact", "quiet"])
def test_the_relay_s_process_neither_validates_nor_draws(opts: ss.LiveOptions, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #14's "nothing else on the relay thread": a started session checks and draws in
    its child processes (the checking sink, the view), never in the process that relays; what
    they find still reaches the session's findings."""
    here: list[str] = []  # calls made in this process (a child's go to its own copy)

    def spied(name: str, method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            here.append(name)
            return method(*args, **kwargs)
        return call

    monkeypatch.setattr(Validator, "check", spied("validate", Validator.check))
    monkeypatch.setattr(live._Drawer, "batch", spied("draw", live._Drawer.batch))
    monkeypatch.setattr(LiveView, "on_record", spied("draw", LiveView.on_record))
    monkeypatch.setattr(dockerd, "explain", spied("explain", dockerd.explain))
    monkeypatch.setattr(dockerd, "read_answer", spied("verdict", dockerd.read_answer))
    setup = ss.live_session("x", make_header(name="x"),
                            dataclasses.replace(opts, record=tmp_path / "r.jsonl"))
    request = framed(docker_request(
        "IpamDriver.RequestAddress",
        b'{"PoolID":"LocalDefault/10.4.0.0/16","Address":"","Options":null}', host=""),
        tap.RequestTap)
    same = framed(answer(200, b'{"Address":"10.4.0.2/16","Data":{}}\n').raw,
                   tap.ResponseTap)  # handed out again unreleased: IPX301 from the second on
    setup.start()
    session = setup.session
    conn = session.open()
    for _ in range(3):
        pending = session.begin(conn, request.target)
        session.prepare(pending, request)
        session.publish(session.complete(pending, request, same, upstream_ms=0.1))
    session.close(conn, "done")
    findings = setup.stop()
    assert here == []
    assert [(f.code, f.seq) for f in findings] == [("IPX301", 2), ("IPX301", 3)]
