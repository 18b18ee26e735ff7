"""Flow files without mitmproxy: typed netstrings, the flow layout both ways, the contentview.

mitmproxy's own reading of the files is in tests/test_export_mitm.py.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ipamx_spy import recording as rec
from ipamx_spy.cli import app
from ipamx_spy.export import STREAM_FORMATS, build_trace
from ipamx_spy.export.mitm import BOOKMARK, FAILED, LOGGED, export_mitm, flow_states
from ipamx_spy.mitm import flowstate, tnetstring, view
from ipamx_spy.redact import parse_rules

HERE = Path(__file__).parent
RECORDINGS = sorted((HERE.parent / "recordings").glob("*.jsonl"))
SOURCES = [HERE / "golden" / "synthetic.jsonl", *RECORDINGS]
TALK = HERE.parent / "recordings" / "talk.jsonl"
SYNTHETIC = HERE / "golden" / "synthetic.jsonl"


def states_of(source: Path, **kwargs: Any) -> list[dict[str, Any]]:
    data = export_mitm(build_trace(rec.load(source), validate=False, **kwargs))
    values = tnetstring.loads_all(data)
    assert all(isinstance(v, dict) for v in values)
    return values  # type: ignore[return-value]


# -- typed netstrings -----------------------------------------------------------------------

def test_tnetstring_forms() -> None:
    assert tnetstring.dumps(12345) == b"5:12345#"
    assert tnetstring.dumps("hé") == b"3:h\xc3\xa9;"
    assert tnetstring.dumps(b"\x00") == b"1:\x00,"
    assert tnetstring.dumps([None, True, 1.5]) == b"16:0:~4:true!3:1.5^]"
    assert tnetstring.dumps({"a": []}) == b"7:1:a;0:]}"


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary() | st.text()
    | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(deadline=None)  # a loaded CI machine is slow; the property is not about time
@given(st.lists(values, max_size=4))
def test_tnetstring_round_trips(items: list[Any]) -> None:
    data = b"".join(tnetstring.dumps(v) for v in items)
    assert tnetstring.loads_all(data) == items


@pytest.mark.parametrize("data", [b"5:12345", b"5:123#", b"x:1#", b"3:abc?", b"4:true~",
                                  b"4:1:a;}", b"2:1:}", b"5:1:a;1:b;]extra"])
def test_tnetstring_refuses_broken_input(data: bytes) -> None:
    with pytest.raises(tnetstring.TNetStringError):
        tnetstring.loads_all(data)


def test_tnetstring_refuses_other_types() -> None:
    with pytest.raises(TypeError, match="set"):
        tnetstring.dumps({1, 2})  # type: ignore[arg-type]


# -- the layout of one flow -----------------------------------------------------------------

def test_talk_flow_layout() -> None:
    recording = rec.load(TALK)
    states = states_of(TALK)
    assert len(states) == len(recording.exchanges)
    sixth, exchange = states[5], recording.exchanges[5]
    assert sixth["version"] == flowstate.FLOW_FORMAT_VERSION and sixth["type"] == "http"
    request, response = sixth["request"], sixth["response"]
    assert request["path"] == b"/IpamDriver.RequestAddress" and request["method"] == b"POST"
    assert request["host"] == flowstate.DEFAULT_HOST and request["port"] == 80
    assert request["headers"][0] == [b"Host", b""]
    assert request["content"] == exchange.request.raw_body
    assert exchange.response is not None
    assert response["content"] == exchange.response.raw_body
    assert response["status_code"] == 200 and response["reason"] == b"OK"
    started = flowstate.unix_time(recording.header["started"])
    assert request["timestamp_start"] == pytest.approx(started + exchange.t)
    assert response["timestamp_end"] - request["timestamp_start"] == pytest.approx(
        exchange.duration_ms / 1000, abs=1e-6)
    assert sixth["client_conn"]["peername"] == ["dockerd", exchange.conn]
    assert sixth["client_conn"]["sockname"] == [recording.header["listen"], 0]
    meta = sixth["metadata"][flowstate.META]
    assert meta["exchange"]["seq"] == 6 and meta["verdict"] == {"outcome": "success",
                                                                "problem": None}
    assert meta["section"]["title"].startswith("docker run") and meta["section"]["first"]
    assert meta["connection"]["number"] == exchange.conn
    assert "dockerd asks for exactly '10.4.4.21'" in sixth["comment"].splitlines()[0]


def test_flow_ids_are_stable_and_unique() -> None:
    first, second = states_of(TALK), states_of(TALK)
    assert [s["id"] for s in first] == [s["id"] for s in second]
    assert len({s["id"] for s in first}) == len(first)


def test_markers_failures_and_notes_in_the_synthetic_session() -> None:
    recording = rec.load(SYNTHETIC)
    states = {s["metadata"][flowstate.META]["exchange"]["seq"]: s for s in states_of(SYNTHETIC)}
    marked = {seq: s["marked"] for seq, s in states.items() if s["marked"]}
    assert marked[11] == BOOKMARK          # the first call after "docker stop web"
    assert marked[7] == FAILED             # the refused second --ip 10.4.4.21
    assert marked[10] == LOGGED            # the refused release dockerd only logs
    assert states[9]["response"] is None and states[9]["error"]["msg"]
    notes = recording.notes()
    for seq, texts in notes.items():
        assert flowstate.notes_of(states[seq]["comment"]) == texts


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_flows_write_the_recording_back_record_for_record(source: Path) -> None:
    recording = rec.load(source)
    records = flowstate.recording_records(states_of(source), now=0.0)
    assert records == [recording.header, *recording.records]


def test_edited_flows_keep_the_edit_and_new_notes() -> None:
    states = states_of(TALK)
    edited = copy.deepcopy(states[5])
    body = b'{"PoolID":"ipamx-local/10.4.4.0/24","Address":"10.4.4.99","Options":null}\n'
    edited["request"]["content"] = body
    edited["comment"] += "\nnote: asked for .99 instead"
    records = flowstate.recording_records([*states[:5], edited], now=0.0)
    exchange = rec.Exchange.from_json(records[-2])
    assert exchange.seq == 6 and exchange.request.raw_body == body
    assert records[-1]["type"] == "note" and records[-1]["text"] == "asked for .99 instead"
    assert records[-1]["seq"] == 6


def test_flows_mitmproxy_captured_itself() -> None:
    state = copy.deepcopy(states_of(TALK)[3])
    state["metadata"] = {}
    state["comment"] = "seen through socat"
    twice = [state, {**copy.deepcopy(state), "id": "other"}]
    records = flowstate.recording_records(twice, now=0.0)
    assert records[0]["format"] == rec.FORMAT and records[1]["type"] == "open"
    exchanges = [rec.Exchange.from_json(r) for r in records if r["type"] == "exchange"]
    assert [e.seq for e in exchanges] == [1, 2]
    assert exchanges[0].endpoint == "IpamDriver.RequestPool" and exchanges[0].t == 0.0
    assert exchanges[0].duration_ms > 0 and exchanges[0].conn == 1
    assert [r["text"] for r in records if r["type"] == "note"] == ["seen through socat"] * 2
    reread = rec.parse("".join(json.dumps(r) + "\n" for r in records).encode())
    assert len(reread.exchanges) == 2


def test_redacted_values_stay_out_of_the_flow_file() -> None:
    rules = parse_rules(["Address", "header:Date"])
    data = export_mitm(build_trace(rec.load(TALK), rules=rules, validate=False))
    assert b"10.4.4.21" not in data and b"Nov 2026" not in data


# -- the contentview ------------------------------------------------------------------------

def _text(lines: list[view.Line]) -> list[str]:
    return ["".join(text for _style, text in line) for line in lines]


def test_view_of_a_request_and_its_answer() -> None:
    exchange = rec.load(TALK).exchanges[5]
    description, request = view.message_view(exchange, answer=False)
    assert description == "libnetwork IpamDriver.RequestAddress request"
    text = _text(request)
    assert text[0].startswith("IpamDriver.RequestAddress — ")
    assert text[1] == view.sentence(exchange)
    assert any(line.startswith("Address") and '"10.4.4.21"' in line for line in text)
    description, answer = view.message_view(exchange, answer=True)
    text = _text(answer)
    assert description == "libnetwork IpamDriver.RequestAddress answer"
    assert "dockerd: success" in text
    assert any(line.startswith("Address") and '"10.4.4.21/24"' in line for line in text)


def test_view_says_what_dockerd_makes_of_failures_and_odd_fields() -> None:
    synthetic = {e.seq: e for e in rec.load(SYNTHETIC).exchanges}
    assert "dockerd fails the command: remote: " in _text(
        view.message_view(synthetic[7], answer=True)[1])[2]
    assert _text(view.message_view(synthetic[10], answer=True)[1])[2].startswith(
        "dockerd only logs the error")
    assert _text(view.message_view(synthetic[9], answer=True)[1])[2] == "dockerd: no answer"
    odd = view.field_lines((), {"Extra": 1})
    assert _text(odd) == ["Extra  ?            1  (not in the protocol)"]


def test_view_of_an_unknown_endpoint() -> None:
    exchange = rec.Exchange(seq=1, conn=1, t=0.0, endpoint="Foo.Bar", response=None,
                            request=rec.Message(method="POST", target="/Foo.Bar", headers=(),
                                                body={"encoding": "empty"}))
    description, lines = view.message_view(exchange, answer=False)
    assert _text(lines) == ["Foo.Bar: not a libnetwork plugin endpoint"]


# -- the command ----------------------------------------------------------------------------

def test_export_command_writes_a_flow_file(tmp_path: Path) -> None:
    out = tmp_path / "talk.mitm"
    result = CliRunner().invoke(app, ["export", str(TALK), "-f", "mitm", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b"".join(STREAM_FORMATS["mitm"](build_trace(rec.load(TALK))))
    piped = CliRunner().invoke(app, ["export", str(TALK), "-f", "mitm", "--no-validate"])
    assert piped.exit_code == 0
    assert len(tnetstring.loads_all(piped.stdout_bytes)) == len(rec.load(TALK).exchanges)


def test_flow_states_follow_the_selection() -> None:
    from ipamx_spy.export import Selection

    trace = build_trace(rec.load(TALK), selection=Selection(ranges=((5, 7),)), validate=False)
    assert [s["metadata"][flowstate.META]["exchange"]["seq"] for s in flow_states(trace)] == [
        5, 6, 7]


def test_addon_needs_nothing_beyond_the_standard_library() -> None:
    """What the addon imports of ipamx-spy runs without site-packages (mitmproxy has its own)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import ipamx_spy.mitm.flowstate, ipamx_spy.mitm.view, ipamx_spy.mitm.tnetstring")
    result = subprocess.run([sys.executable, "-S", "-c", code, str(HERE.parent)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_mitm_addon_command_prints_the_addon_path() -> None:
    result = CliRunner().invoke(app, ["mitm-addon"])
    assert result.exit_code == 0
    path = Path(result.stdout.strip())
    assert path.name == "mitm_addon.py" and "class LibnetworkView" in path.read_text()


def test_binary_export_refuses_a_terminal_and_says_when_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from ipamx_spy.export.output import OutputError, write_chunks

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    with pytest.raises(OutputError, match="binary") as refused:
        write_chunks(iter([b"4:true!"]), "-")
    assert refused.value.code == 2
    with pytest.raises(OutputError, match="cannot write") as unwritable:
        write_chunks(iter([b"4:true!"]), str(tmp_path / "missing" / "x.mitm"))
    assert unwritable.value.code == 1
