"""Records other than exchanges are types (``ipamx_spy.records``), findings carry a ``Severity``
and faults a ``Side``; what is stored stays the recording format, word for word."""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from ipamx_spy import proxy, recording, tap
from ipamx_spy.findings import SEVERITIES, Finding, Severity
from ipamx_spy.live import LiveView, ViewMode
from ipamx_spy.noanswer import NoAnswerKind
from ipamx_spy.notes import note_record
from ipamx_spy.recording import Fault, RecordingError, RecordingWriter
from ipamx_spy.recording_writer import encode_line
from ipamx_spy.records import (
    AnsweredBy,
    ClientRecord,
    CloseRecord,
    FaultKind,
    FaultRecord,
    HeaderRecord,
    MarkerRecord,
    NoteRecord,
    OpenRecord,
    RecordType,
    Side,
    UnrecordableRecord,
)
from ipamx_spy.replay.engine import FAIL, PASS, ReplayOutcome


def test_a_proxy_session_writes_only_typed_records_that_read_back(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RecordingWriter(path, recording.make_header())
    session = proxy.ProxySession(writer=writer)
    conn = session.open()
    session.begin(conn, "/IpamDriver.RequestPool")  # never answered: the close names it
    marker = session.marker("docker network create n")
    session.fault(conn, Fault(side=Side.DOCKER, kind="malformed", message="junk"), b"\x00junk")
    session.close(conn, "closed by the docker side")
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["header", "open", "marker", "fault", "close"]
    assert all(RecordType(line["type"]) for line in lines)
    assert lines[1] == OpenRecord(conn=conn, t=lines[1]["t"], peer="docker").to_json()
    assert list(lines[2]) == ["type", "t", "text", "after_seq"] and lines[2] == marker
    assert list(lines[3]) == ["type", "conn", "t", "side", "kind", "message", "data"]
    assert lines[3]["side"] == "docker" and lines[3]["data"]["encoding"] in {"text", "base64"}
    assert lines[4]["unanswered"] == [1] and lines[4]["reason"] == "closed by the docker side"
    loaded = recording.load(path)
    assert [m["text"] for m in loaded.markers()] == ["docker network create n"]
    assert not loaded.damage


def test_each_record_type_stores_the_documented_shape() -> None:
    assert CloseRecord(conn=2, t=1.5, reason="session ended").to_json() == {
        "type": "close", "conn": 2, "t": 1.5, "reason": "session ended"}
    assert CloseRecord(conn=2, t=1.5, reason="EOF", unanswered=(7,)).to_json()["unanswered"] == [7]
    assert MarkerRecord(t=0.25, text="step", after_seq=3).to_json() == {
        "type": "marker", "t": 0.25, "text": "step", "after_seq": 3}
    assert list(NoteRecord(seq=4, text="pool", t=9.0).to_json()) == ["type", "seq", "text", "t"]
    stand_in = FaultRecord(conn=1, t=2.0, side=Side.PROXY, kind=FaultKind.UNENCODABLE, seq=5,
                           record_type="exchange", message="could not store it").to_json()
    assert list(stand_in) == ["type", "conn", "t", "side", "kind", "seq", "record_type",
                              "message", "data"]
    assert stand_in["side"] == "proxy" and type(stand_in["side"]) is str


def test_a_note_is_a_note_record(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RecordingWriter(path, {**recording.make_header(), "started": "2026-12-01T10:00:00Z"})
    session = proxy.ProxySession(writer=writer)
    pending = session.begin(session.open(), "/Plugin.Activate")
    session.complete(pending, _message(b""), _message(b'{"Implements":["IpamDriver"]}',
                                                      request=False), upstream_ms=1)
    writer.close()
    note = note_record(recording.load(path), pending.seq, " why ",
                       dt.datetime(2026, 12, 1, 10, 0, 30, tzinfo=dt.UTC))
    assert note == NoteRecord(seq=pending.seq, text="why", t=30.0)


def test_severity_and_side_are_enums_and_words_read_back() -> None:
    finding = Finding(code="IPX102", severity="error", seq=1, message="x")  # type: ignore[arg-type]
    assert finding.severity is Severity.ERROR and finding.to_json()["severity"] == "error"
    assert type(finding.to_json()["severity"]) is str
    assert [s.rank for s in SEVERITIES] == [0, 1, 2] and Severity.INFO.rank == 2
    with pytest.raises(ValueError, match="severity must be one of error, warning, info"):
        Finding(code="IPX102", severity="fatal", seq=1, message="x")  # type: ignore[arg-type]
    fault = Fault(side="plugin", kind="closed", message="EOF")  # type: ignore[arg-type]
    assert fault.side is Side.PLUGIN and Fault.from_json(fault.to_json()) == fault
    assert fault.kind is FaultKind.CLOSED and type(fault.to_json()["kind"]) is str
    with pytest.raises(RecordingError, match="fault side must be plugin, docker or proxy"):
        Fault.from_json({"side": "moon", "kind": "closed", "message": "y"})
    with pytest.raises(RecordingError, match="fault kind must be one of unreachable, closed"):
        Fault.from_json({"side": "plugin", "kind": "hangup", "message": "y"})
    with pytest.raises(ValueError, match="fault kind must be one of"):
        Fault(side=Side.PLUGIN, kind="hangup", message="y")  # type: ignore[arg-type]
    assert {kind.fault for kind in NoAnswerKind} <= set(FaultKind)  # every missing answer


def test_view_modes_and_replay_outcomes_are_enums() -> None:
    console = Console(file=io.StringIO())
    view = LiveView(console=console, diagnostics=console, mode="compact")  # type: ignore[arg-type]
    assert view.mode is ViewMode.COMPACT
    with pytest.raises(ValueError, match="unknown live view mode 'loud'"):
        LiveView(console=console, diagnostics=console, mode="loud")  # type: ignore[arg-type]
    assert [o.value for o in ReplayOutcome] == ["pass", "fail", "skip"]
    assert PASS is ReplayOutcome.PASS and json.dumps({"v": FAIL}) == '{"v": "fail"}'


def _message(body: bytes, *, request: bool = True) -> tap.WireMessage:
    headers = (("Content-Length", str(len(body))),)
    if request:
        return tap.WireMessage(raw=b"", headers=headers, body=body, http_version="1.1",
                               method="POST", target="/Plugin.Activate")
    return tap.WireMessage(raw=b"", headers=headers, body=body, http_version="1.1", status=200,
                           reason="OK")


def test_compat_values_are_an_enum_and_stored_as_their_words() -> None:
    from ipamx_spy.ipam.config import Compat, IpamConfig, compat_mode

    assert compat_mode("26.1.5+dfsg1") is Compat.V26 and compat_mode("23") is Compat.V20_10
    config = IpamConfig.build(compat="28")
    assert config.compat is Compat.V27 and type(config.to_json()["Compat"]) is str
    assert IpamConfig(compat="20.10").compat is Compat.V20_10  # type: ignore[arg-type]


def _record_type_words() -> set[str]:
    return {member.value for member in RecordType}


def _is_type_lookup(node: ast.expr) -> bool:
    """``x.get("type")``, ``x["type"]`` or a name the code calls ``kind``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "get" and node.args \
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == "type":
        return True
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
            and node.slice.value == "type":
        return True
    return isinstance(node, ast.Name) and node.id == "kind"


def _words(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [w for element in node.elts for w in _words(element)]
    return []


def record_type_literals(source: str) -> list[str]:
    """Where ``source`` names a record type by a string literal: compared with a record's
    ``type`` (or ``kind``), or stored as the ``"type"`` of a dict literal."""
    words, found = _record_type_words(), []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_type_lookup(side) for side in sides):
                found += [f"{node.lineno}: {w}" for side in sides for w in _words(side)
                          if w in words]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "type" \
                        and isinstance(value, ast.Constant) and value.value in words:
                    found.append(f"{node.lineno}: {value.value}")
    return found


def test_the_check_finds_record_types_spelt_as_strings() -> None:
    assert record_type_literals('if record.get("type") == "marker": pass') == ["1: marker"]
    assert record_type_literals('kind = r["type"]\nok = kind in ("exchange", "client")') \
        == ["2: exchange", "2: client"]
    assert record_type_literals('h = {"type": "header", "format": F}') == ["1: header"]
    assert record_type_literals('ok = s.get("type") == "http"') == []  # not a record type


def test_no_library_code_spells_a_record_type_as_a_string() -> None:
    root = Path(recording.__file__).parent
    found = {str(path.relative_to(root)): hits for path in sorted(root.rglob("*.py"))
             if path.name != "records.py"
             and (hits := record_type_literals(path.read_text(encoding="utf-8")))}
    assert found == {}


def test_the_header_is_a_typed_record_and_its_words_are_unchanged() -> None:
    header = recording.make_header(name="n", listen="/l.sock", upstream="/u.sock")
    assert list(header) == ["type", "format", "version", "tool", "started", "name", "listen",
                            "upstream"]
    assert header["type"] == "header" and header["format"] == "ipamx-spy-recording"
    assert header["version"] == recording.VERSION
    typed = HeaderRecord(format=recording.FORMAT, version=recording.VERSION, tool="t",
                         started="s", fields={"name": "n"})
    assert json.dumps(typed.to_json()) == (
        '{"type": "header", "format": "ipamx-spy-recording", "version": '
        f'{recording.VERSION}, "tool": "t", "started": "s", "name": "n"}}')


def test_answered_by_is_an_enum_that_reads_back_and_refuses_other_words() -> None:
    exchange = recording.Exchange(
        seq=1, conn=1, t=0.0, endpoint="IpamDriver.GetCapabilities",
        request=recording.Message(headers=(), body={"encoding": "empty"}, method="POST",
                                  target="/IpamDriver.GetCapabilities"),
        response=None, answered_by=AnsweredBy.BUILTIN)
    stored = json.loads(json.dumps(exchange.to_json()))
    assert stored["answered_by"] == "builtin"  # the word on disk is unchanged
    back = recording.Exchange.from_json(stored)
    assert back.answered_by is AnsweredBy.BUILTIN
    assert recording.Exchange.from_json({**stored, "answered_by": "spy"}).answered_by \
        is AnsweredBy.SPY
    del stored["answered_by"]  # an older record without the field was answered by the plugin
    assert recording.Exchange.from_json(stored).answered_by is AnsweredBy.PLUGIN
    with pytest.raises(RecordingError, match="answered_by must be plugin, builtin or spy"):
        recording.Exchange.from_json({**stored, "answered_by": "nobody"})


def test_the_builtin_allocators_scopes_are_an_enum_with_the_same_words() -> None:
    from ipamx_spy.ipam.config import SCOPES, IpamConfig, Scope
    from ipamx_spy.ipam.model import Space

    config = IpamConfig()
    assert config.scope_of(config.local_space) is Scope.LOCAL
    assert config.scope_of(config.global_space) is Scope.GLOBAL
    assert config.scope_of("elsewhere") is None
    assert config.space_name(Scope.GLOBAL) == config.global_space
    assert Space(kind="global6").scope is Scope.GLOBAL
    assert SCOPES == (Scope.LOCAL, Scope.GLOBAL)
    assert list(json.loads(json.dumps(config.to_json()))["PredefinedPools"]) == ["local", "global"]


def test_the_web_pages_mode_is_an_enum_with_the_same_data_mode_words() -> None:
    from ipamx_spy.web import view

    assert [m.value for m in view.PageMode] == ["static", "live", "recordings"]
    board = view.Board(hosts=(), title="t")
    for mode in view.PageMode:
        assert f'data-mode="{mode.value}"' in view.page_html(board, mode=mode)
    assert 'id="filter"' not in view.page_html(board)  # the export's page is static


FAULT_MAKERS = {"Fault", "FaultRecord", "TapError"}


def fault_kind_literals(source: str) -> list[str]:
    """Where ``source`` makes a fault (``Fault``, ``FaultRecord``, ``tap.TapError``) with its
    ``kind`` spelt as a string literal instead of a ``FaultKind`` member."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
            node.func, "id", "")
        for keyword in node.keywords if name in FAULT_MAKERS else ():
            if keyword.arg == "kind" and isinstance(keyword.value, ast.Constant):
                hits.append(f"{node.lineno}: {keyword.value.value}")
    return hits


def test_no_library_code_spells_a_fault_kind_as_a_string() -> None:
    assert fault_kind_literals('f = Fault(side=Side.PLUGIN, kind="closed", message=m)\n'
                               'e = tap.TapError(status=400, kind=FaultKind.TRUNCATED)') \
        == ["1: closed"]
    package = Path(__file__).resolve().parent.parent / "ipamx_spy"
    found = {str(path.relative_to(package)): hits for path in sorted(package.rglob("*.py"))
             if (hits := fault_kind_literals(path.read_text(encoding="utf-8")))}
    assert found == {}


def test_a_client_record_stores_its_exchange_retagged_and_reads_back(tmp_path: Path) -> None:
    from ipamx_spy.client import CLIENT_HEADER

    path = tmp_path / "r.jsonl"
    writer = RecordingWriter(path, recording.make_header())
    session = proxy.ProxySession(writer=writer)
    pending = session.begin(session.open(), "/IpamDriver.Networks")
    request = _message(b"")
    request = tap.WireMessage(raw=b"", headers=(*request.headers, (CLIENT_HEADER, "status")),
                              body=b"", http_version="1.1", method="POST",
                              target="/IpamDriver.Networks")
    exchange = session.complete(pending, request, _message(b'{"Networks":[]}', request=False),
                                upstream_ms=1)
    writer.close()
    assert exchange is not None
    line = path.read_text().splitlines()[2]
    assert line == encode_line({**exchange.to_json(), "type": "client"}).decode().rstrip("\n")
    stored = json.loads(line)
    assert ClientRecord(exchange=exchange).to_json() == stored and list(stored)[0] == "type"
    read = ClientRecord.from_json(stored)
    assert read.to_json() == stored and read.exchange.endpoint == "IpamDriver.Networks"
    assert read.exchange.request.header(CLIENT_HEADER) == "status"
    with pytest.raises(RecordingError, match="not a client record"):
        ClientRecord.from_json(exchange.to_json())


def test_an_unrecordable_record_keeps_the_old_shape_and_reads_back() -> None:
    nested: list[object] = []
    for _ in range(5000):
        nested = [nested]
    for record in ({"type": "exchange", "seq": 3, "conn": 1, "t": 0.5, "endpoint": "E",
                    "body": nested},
                   {"seq": 4, "body": nested}, {"type": "note", "t": 2, "text": nested}):
        stored = json.loads(encode_line(record))
        keep = {k: record[k] for k in ("type", "seq", "conn", "t", "endpoint") if k in record}
        assert stored == {**keep, "type": "unrecordable", "was": keep.get("type"),
                          "reason": stored["reason"]}
        assert list(stored) == list({**keep, "type": 0, "was": 0, "reason": 0})
        typed = UnrecordableRecord.from_json(stored)
        assert typed.to_json() == stored and list(typed.to_json()) == list(stored)
        assert typed.was == record.get("type") and typed.seq == record.get("seq")
        assert typed.reason.startswith("the record could not be encoded: RecursionError")
    with pytest.raises(RecordingError, match="needs its type and a reason"):
        UnrecordableRecord.from_json({"type": "unrecordable", "was": "exchange"})


def test_the_readme_row_of_records_py_names_every_record_class() -> None:
    import ipamx_spy.records as records

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `ipamx_spy/records.py`"))
    classes = {name for name, value in vars(records).items()
               if isinstance(value, type) and value.__module__ == records.__name__
               and name.endswith("Record")}
    assert {"ClientRecord", "UnrecordableRecord", "HeaderRecord"} <= classes
    assert sorted(name for name in classes if f"`{name}`" not in row) == []
