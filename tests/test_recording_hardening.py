"""Issue 11 (files side): recordings that can always be written, never tear, and always read."""

from __future__ import annotations

import base64
import errno
import grp
import json
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipamx_spy import proxy, recording, tap
from ipamx_spy.atomic import MissingDirectory, UnsafePath, write_atomically
from ipamx_spy.recording import RecordingError, RecordingWriter
from ipamx_spy.recording_writer import encode_line
from ipamx_spy.records import UnrecordableRecord

SURROGATE = b'{"AddressSpace":"\\ud800"}'


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def message(body: bytes, *, request: bool = True) -> tap.WireMessage:
    if request:
        return tap.WireMessage(raw=b"", headers=(("Content-Length", str(len(body))),), body=body,
                               http_version="1.1", method="POST", target="/IpamDriver.RequestPool")
    return tap.WireMessage(raw=b"", headers=(("Content-Length", str(len(body))),), body=body,
                           http_version="1.1", status=200, reason="OK")


# -- encodable ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [SURROGATE, b'{"a":["\\udfff", "\\uDBFF"]}'])
def test_a_lone_surrogate_is_stored_as_base64_and_flagged(raw: bytes) -> None:
    stored = recording.encode_body(raw)
    assert stored["encoding"] == "base64" and "surrogate" in stored["reason"]
    assert recording.decode_body(stored) == raw
    encode_line({"type": "exchange", "body": stored}).decode("utf-8")


def test_a_paired_surrogate_is_json_as_before() -> None:
    stored = recording.encode_body(b'{"a":"\\ud83d\\ude00"}')
    assert stored["encoding"] == "json" and stored["json"] == {"a": "\U0001F600"}


def test_undecodable_bytes_are_base64_and_say_why() -> None:
    stored = recording.encode_body(b'{"a":"\xff"}')
    assert stored == {"encoding": "base64", "base64": base64.b64encode(b'{"a":"\xff"}').decode(),
                      "reason": "not UTF-8"}


@pytest.mark.parametrize("depth", [recording.MAX_DEPTH + 1, 900, 1000, 5000, 100_000])
def test_deep_json_is_kept_as_text_and_never_raises(depth: int) -> None:
    raw = deep(depth)
    stored = recording.encode_body(raw)
    assert stored["encoding"] == "text" and "deeper" in stored["reason"]
    assert recording.decode_body(stored) == raw


def test_shallow_json_stays_json() -> None:
    raw = deep(recording.MAX_DEPTH)
    assert recording.encode_body(raw)["encoding"] == "json"


def test_encode_line_never_raises() -> None:
    assert json.loads(encode_line({"type": "marker", "text": "\ud800"})) == {
        "type": "marker", "text": "\ud800"}
    nested: list[object] = []
    for _ in range(5000):
        nested = [nested]
    line = json.loads(encode_line({"type": "exchange", "seq": 3, "body": nested}))
    stand_in = UnrecordableRecord.from_json(line)
    assert line["type"] == "unrecordable" and stand_in.seq == 3 and stand_in.was == "exchange"


def test_the_session_records_a_surrogate_and_a_deep_body_and_keeps_going(
        tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RecordingWriter(path, recording.make_header())
    session = proxy.ProxySession(writer=writer)
    for body in (SURROGATE, deep(1000), deep(900), b'{"Pool":"10.0.0.0/24"}'):
        pending = session.begin(1, "/IpamDriver.RequestPool")
        session.complete(pending, message(body), message(body, request=False), upstream_ms=1)
    writer.close()
    assert not session.backlog
    rec = recording.load(path)
    assert not rec.damage
    bodies = [(e.request.raw_body, e.response.raw_body if e.response else b"")
              for e in rec.exchanges]
    assert bodies == [(b, b) for b in (SURROGATE, deep(1000), deep(900),
                                      b'{"Pool":"10.0.0.0/24"}')]


# -- writes that cannot tear ----------------------------------------------------------------


class FlakyDisk:
    """An injected ``os.write``: short writes, then ENOSPC, as a full disk does."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __call__(self, fd: int, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        part = data[: min(len(data), self.room, 7)]  # always short
        self.room -= len(part)
        return os.write(fd, part)


def test_a_failed_write_leaves_whole_records_and_the_same_record_can_be_retried(
        tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    disk = FlakyDisk(room=10_000)
    writer = RecordingWriter(path, recording.make_header(), write=disk)
    records = [{"type": "marker", "t": float(i), "text": f"marker {i} " * 20}
               for i in range(60)]
    written = lost = 0
    for record in records:
        try:
            writer.write(record)
            written += 1
        except OSError:
            lost += 1
            assert path.read_bytes().endswith(b"\n")
    assert lost and written
    disk.room = 1 << 30  # room again: the held records go in whole
    writer.write(records[-1])
    writer.close()
    rec = recording.load(path)
    assert not rec.damage
    assert [r["text"] for r in rec.records] == [r["text"] for r in records[:written]] + [
        records[-1]["text"]]


def test_a_torn_tail_is_cut_when_the_writer_reopens_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    RecordingWriter(path, recording.make_header()).close()
    with open(path, "ab") as f:
        f.write(b'{"type":"marker","t":1,"te')
    writer = RecordingWriter(path, recording.make_header())
    assert writer.repaired == len(b'{"type":"marker","t":1,"te')
    writer.write({"type": "marker", "t": 2.0, "text": "after"})
    writer.close()
    rec = recording.load(path)
    assert not rec.damage and [r["text"] for r in rec.records] == ["after"]


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only); skipped elsewhere unless the tools are required."""
    where = tmp_path / "tiny"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        if os.environ.get("IPAMX_SPY_REQUIRE_TOOLS") == "1":
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.decode()}")
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_file_system_never_tears_a_record(tiny_fs: Path) -> None:
    path = tiny_fs / "r.jsonl"
    writer = RecordingWriter(path, recording.make_header())
    written = failures = 0
    for i in range(400):
        try:
            writer.write({"type": "marker", "t": float(i), "text": "x" * (300 + i)})
            written += 1
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            failures += 1
    writer.close()
    assert failures and written
    rec = recording.load(path)
    assert not rec.damage and len(rec.records) == written


# -- readers that recover -------------------------------------------------------------------


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


HEADER = json.dumps(recording.make_header(), separators=(",", ":"))
GOOD = (Path(__file__).parent / "golden" / "synthetic.jsonl").read_text().splitlines()


@pytest.mark.parametrize("bad, reason", [
    ('{"type":"exchange","seq":1,"endpoint":"x","request":{"method":"POST"},"response":"OK"}',
     "a message must be a JSON object"),
    ('{"type":"exchange","seq":1,"endpoint":"x","request":{"method":"POST","body":'
     '{"encoding":"rot13"}}}', "unknown body encoding 'rot13'"),
    ('{"type":"exchange","seq":1,"endpoint":"x","request":"POST"}',
     "a message must be a JSON object"),
    ('{"type":"note","seq":"six","text":"x"}', "seq must be a whole number"),
    ('{"type":"marker","t":"soon","text":"x"}', "t must be a number"),
    ('{"type":"exchange","seq":1,"endpoint":"x","request":{"method":"POST","body":'
     '{"encoding":"base64","base64":"%%%"}}}', "cannot be decoded"),
    ('[1,2]', "a record is a JSON object"),
    ('{"glued":1}{"type":"marker"', "not a JSON record"),
    ('{"type":"marker","text":"\\ud800"}', "lone surrogate"),
])
def test_an_unusable_record_is_skipped_and_named(tmp_path: Path, bad: str,
                                                  reason: str) -> None:
    path = write_lines(tmp_path / "r.jsonl", *GOOD[:5], bad, *GOOD[5:])
    rec = recording.load(path)
    (damage,) = rec.damage
    assert damage.line == 6 and reason in damage.reason
    assert str(damage).startswith(f"{path}:6: ") and str(damage).endswith("; skipped")
    assert len(rec.records) == len(GOOD) - 1


def test_deep_json_in_a_file_is_read_as_text(tmp_path: Path) -> None:
    body = {"encoding": "json", "layout": "compact", "json": json.loads(deep(900))}
    record = {"type": "exchange", "seq": 1, "endpoint": "x",
              "request": {"method": "POST", "target": "/x", "headers": [], "body": body}}
    too_deep = {**record, "seq": 2, "request": {**record["request"],  # type: ignore[dict-item]
                                                "body": {**body, "json": "@"}}}
    text = json.dumps(too_deep).replace('"@"', deep(5000).decode())
    path = write_lines(tmp_path / "r.jsonl", HEADER, json.dumps(record), text)
    rec = recording.load(path)
    (exchange,) = rec.exchanges
    assert exchange.request.body["encoding"] == "text"
    assert exchange.request.raw_body == deep(900) + b"\n"
    assert [d.line for d in rec.damage] == [3] and "too deep" in rec.damage[0].reason


@pytest.mark.parametrize("header, message", [
    ("", "the file is empty"),
    ('{"some": "log"}', "not an ipamx-spy recording"),
    (HEADER.replace('"version":2', '"version":"abc"'), "bad recording format version 'abc'"),
    (HEADER.replace('"version":2', '"version":null'), "bad recording format version None"),
    (HEADER.replace('"version":2', '"version":true'), "bad recording format version True"),
    (HEADER.replace('"version":2', '"version":99'), "newer than this ipamx-spy understands"),
])
def test_unusable_headers_are_a_clear_error(tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(header + ("\n" if header else ""))
    with pytest.raises(RecordingError, match=message.replace("(", r"\(")):
        recording.load(path)


def test_a_cut_header_says_the_file_was_cut(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(HEADER[:30])
    with pytest.raises(RecordingError, match="header line is incomplete"):
        recording.load(path)


def test_version_1_files_still_read() -> None:
    rec = recording.load(Path(__file__).parent / "data" / "recording-v1.jsonl")
    assert rec.header["version"] == 1 and len(rec.exchanges) == 1 and not rec.damage


# -- files ----------------------------------------------------------------------------------


def test_recordings_are_private_and_a_group_can_be_named(tmp_path: Path) -> None:
    private = tmp_path / "a.jsonl"
    RecordingWriter(private, recording.make_header()).close()
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    group = grp.getgrgid(os.getgid()).gr_name
    shared = tmp_path / "b.jsonl"
    RecordingWriter(shared, recording.make_header(), group=group).close()
    info = os.stat(shared)
    assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_gid == os.getgid()
    with pytest.raises(ValueError, match="no group"):
        RecordingWriter(tmp_path / "c.jsonl", recording.make_header(),
                        group=f"no-such-{uuid.uuid4().hex[:8]}")


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    link = tmp_path / "r.jsonl"
    link.symlink_to(victim)
    with pytest.raises(UnsafePath, match="symbolic link"):
        RecordingWriter(link, recording.make_header())
    dangling = tmp_path / "d.jsonl"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafePath, match="symbolic link"):
        RecordingWriter(dangling, recording.make_header())
    assert victim.read_text() == "root's file\n" and not (tmp_path / "nowhere").exists()


def test_an_existing_file_that_is_not_a_recording_is_not_appended_to(tmp_path: Path) -> None:
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0\n")
    with pytest.raises(RecordingError, match="not an ipamx-spy recording; refusing"):
        RecordingWriter(other, recording.make_header())
    assert other.read_text() == "root:x:0:0\n"


def test_no_directory_is_created_unless_asked(tmp_path: Path) -> None:
    with pytest.raises(MissingDirectory, match="does not exist"):
        RecordingWriter(tmp_path / "a" / "b" / "r.jsonl", recording.make_header())
    assert not (tmp_path / "a").exists()
    RecordingWriter(tmp_path / "a" / "r.jsonl", recording.make_header(),
                    make_parent=True).close()
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o700


def test_the_atomic_temp_file_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    for pid_name in (f".state.json.tmp-{os.getpid()}", ".state.json.tmp"):
        (tmp_path / pid_name).symlink_to(victim)
    write_atomically(tmp_path / "state.json", "new", make_parent=False)
    assert victim.read_text() == "keep" and (tmp_path / "state.json").read_text() == "new"
    shutil.rmtree(tmp_path)
