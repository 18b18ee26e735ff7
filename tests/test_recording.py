from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy import recording
from ipamx_spy.recording import Exchange, Fault, Message, RecordingError, RecordingWriter

DATA = Path(__file__).parent / "data"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.binary(max_size=300))
def test_any_body_round_trips_exactly(raw: bytes) -> None:
    assert recording.decode_body(recording.encode_body(raw)) == raw


@given(json_values, st.sampled_from(sorted(recording.LAYOUTS)))
def test_json_bodies_are_stored_as_json_and_reproduced(value: object, layout: str) -> None:
    raw = recording.LAYOUTS[layout](value).encode()
    stored = recording.encode_body(raw)
    assert stored["encoding"] == "json" and stored["json"] == value
    assert recording.decode_body(stored) == raw


def test_dockerd_body_uses_the_go_layout() -> None:
    raw = b'{"PoolID":"a","Address":"10.0.0.1","Options":{"k":"<&>"}}\n'
    raw = raw.replace(b"<&>", b"\\u003c\\u0026\\u003e")
    stored = recording.encode_body(raw)
    assert stored == {"encoding": "json", "layout": "go",
                      "json": {"PoolID": "a", "Address": "10.0.0.1", "Options": {"k": "<&>"}}}


def test_irregular_json_keeps_its_text() -> None:
    raw = b'{ "a" :1}'
    stored = recording.encode_body(raw)
    assert stored["json"] == {"a": 1} and stored["text"] == '{ "a" :1}'


def test_text_and_binary_bodies() -> None:
    assert recording.encode_body(b"404 page not found\n") == {
        "encoding": "text", "text": "404 page not found\n"}
    assert recording.encode_body(b"\xff\x00")["encoding"] == "base64"


def exchange(seq: int) -> Exchange:
    request = Message(method="POST", target="/Plugin.Activate", headers=(("Host", ""),),
                      body=recording.encode_body(b""))
    response = Message(status=200, reason="OK", headers=(("Content-Length", "2"),),
                       body=recording.encode_body(b"{}"))
    return Exchange(seq=seq, conn=1, t=0.5, endpoint="Plugin.Activate", request=request,
                    response=response, fault=Fault(side="plugin", kind="closed", message="x"))


def test_writer_and_reader_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RecordingWriter(path, recording.make_header(name="n"))
    for seq in (1, 2):
        writer.write(exchange(seq).to_json())
    writer.close()
    rec = recording.load(path)
    assert rec.header["name"] == "n" and rec.header["version"] == recording.VERSION
    assert list(rec.exchanges) == [exchange(1), exchange(2)]
    assert not rec.torn_tail


def test_torn_last_line_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RecordingWriter(path, recording.make_header())
    writer.write(exchange(1).to_json())
    writer.close()
    with open(path, "ab") as f:
        f.write(json.dumps(exchange(2).to_json()).encode()[:40])
    rec = recording.load(path)
    assert [e.seq for e in rec.exchanges] == [1] and rec.torn_tail


def test_broken_line_in_the_middle_is_skipped_and_named(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(recording.make_header()) + "\n{broken\n" +
                    json.dumps(exchange(1).to_json()) + "\n")
    rec = recording.load(path)
    assert [e.seq for e in rec.exchanges] == [1] and not rec.torn_tail
    (damage,) = rec.damage
    assert str(damage).startswith(f"{path}:2: not a JSON record")


def test_not_a_recording_and_newer_versions_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"some": "log"}\n')
    with pytest.raises(RecordingError, match="not an ipamx-spy recording"):
        recording.load(other)
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({**recording.make_header(), "version": 99}) + "\n")
    with pytest.raises(RecordingError, match="newer than this ipamx-spy understands"):
        recording.load(newer)


def test_golden_version_1_file_still_reads() -> None:
    rec = recording.load(DATA / "recording-v1.jsonl")
    (ex,) = rec.exchanges
    assert ex.endpoint == "IpamDriver.RequestPool"
    assert ex.request.raw().startswith(b"POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\n")
    assert ex.request.raw().endswith(b'"V6":false}\n')
    assert rec.markers()[0]["text"] == "docker run --ip 10.4.4.21"
    assert rec.notes() == {1: ["a static pool"]}
