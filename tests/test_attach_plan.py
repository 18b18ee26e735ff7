"""ipamx_spy.attach.plan: where the spy goes, the .spec/.json rewrite, the journal format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy.address import Address
from ipamx_spy.attach.plan import (
    AttachError,
    AttachTarget,
    Journal,
    journal_from_json,
    journal_to_json,
    plan_for,
    rewrite_spec,
    spec_address,
)

SPY_DIR = Path("/run/ipamx-spy")
MANAGED = Path("/run/docker/plugins") / ("ab" * 32) / "ipamx.sock"


def socket_target(path: Path = Path("/run/docker/plugins/acme.sock")) -> AttachTarget:
    return AttachTarget(name="acme", kind="socket", path=path, how="legacy plugin socket",
                        upstream=Address(kind="unix", path=str(path)))


def file_target(path: Path, text: str) -> AttachTarget:
    return AttachTarget(name="acme", kind="file", path=path, how=f"plugin file {path}",
                        upstream=spec_address(path, text, "acme"), original=text)


def test_a_socket_plan_moves_the_plugin_next_to_its_socket_and_forwards_there() -> None:
    plan = plan_for(socket_target(), SPY_DIR)
    assert plan.listen == Path("/run/docker/plugins/acme.sock")
    assert plan.staging == Path("/run/docker/plugins/.acme.sock.spy")
    assert plan.moved == Path("/run/docker/plugins/.acme.sock.plugin")
    assert plan.upstream == Address(kind="unix", path="/run/docker/plugins/.acme.sock.plugin",
                                    source="legacy plugin socket")
    assert plan.rewritten is None


def test_a_managed_plugin_socket_fits_the_unix_path_limit() -> None:
    plan = plan_for(socket_target(MANAGED), SPY_DIR)
    assert plan.moved is not None and len(str(plan.moved)) <= 107


def test_a_socket_path_too_long_to_move_is_refused_before_anything_changes() -> None:
    long_name = Path("/run/docker/plugins") / ("x" * 80) / "plugin-with-a-long-name.sock"
    with pytest.raises(AttachError, match="107-byte limit"):
        plan_for(socket_target(long_name), SPY_DIR)


def test_a_tcp_spec_file_is_rewritten_to_name_the_spy_socket() -> None:
    path = Path("/etc/docker/plugins/acme.spec")
    plan = plan_for(file_target(path, "tcp://127.0.0.1:9000\n"), SPY_DIR)
    assert plan.listen == plan.staging == SPY_DIR / "acme.sock"
    assert plan.moved is None
    assert plan.upstream == Address(kind="tcp", host="127.0.0.1", port=9000,
                                    source=f"plugin acme via {path}")
    assert plan.rewritten == "unix:///run/ipamx-spy/acme.sock\n"


def test_a_json_file_keeps_its_other_fields_when_its_addr_is_rewritten() -> None:
    path = Path("/usr/lib/docker/plugins/acme.json")
    original = json.dumps({"Name": "acme", "Addr": "http://10.0.0.5:8080",
                           "TLSConfig": {"InsecureSkipVerify": True}})
    rewritten = json.loads(rewrite_spec(path, original, "unix:///run/ipamx-spy/acme.sock"))
    assert rewritten == {"Name": "acme", "Addr": "unix:///run/ipamx-spy/acme.sock",
                         "TLSConfig": {"InsecureSkipVerify": True}}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("acme.spec", "https://10.0.0.5:8443", "TLS plugins are not supported"),
    ("acme.spec", "10.0.0.5:8080", "not a path or a URL"),
    ("acme.json", '{"Name": "acme"}', "needs an Addr"),
    ("acme.json", "not json", "acme.json"),
])
def test_plugin_files_dockerd_could_not_use_are_refused(name: str, text: str,
                                                        message: str) -> None:
    with pytest.raises(AttachError, match=message):
        spec_address(Path("/etc/docker/plugins") / name, text, "acme")


def test_a_target_kind_outside_the_table_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="target kind"):
        AttachTarget(name="acme", kind="pipe", path=Path("/x"), how="",
                     upstream=Address(kind="unix", path="/x"))


@given(name=st.from_regex(r"[a-z][a-z0-9_.-]{0,20}", fullmatch=True),
       original=st.text(max_size=200), inode=st.none() | st.integers(0, 2**63),
       pid=st.integers(1, 2**22))
def test_a_journal_reads_back_as_written(name: str, original: str, inode: int | None,
                                         pid: int) -> None:
    spec = Path(f"/etc/docker/plugins/{name}.spec")
    target = AttachTarget(name=name, kind="file", path=spec, how="plugin file",
                          upstream=Address(kind="tcp", host="127.0.0.1", port=9000),
                          original=original)
    for plan in (plan_for(target, SPY_DIR), plan_for(socket_target(), SPY_DIR)):
        control = None if inode is None else SPY_DIR / f"{name}.ctl"
        journal = Journal(plan=plan, pid=pid, pid_start="1234", spy_inode=inode, control=control)
        back = journal_from_json(journal_to_json(journal), "j")
        assert journal_to_json(back) == journal_to_json(journal)
        assert back.plan.target.original == plan.target.original
        assert (back.plan.moved, back.spy_inode, back.pid, back.control) == \
            (plan.moved, inode, pid, control)


@pytest.mark.parametrize("text", ["", "{}", "[1]", '{"version": 99}', "not json"])
def test_a_file_that_is_not_a_journal_says_so_and_what_to_do(text: str) -> None:
    with pytest.raises(AttachError, match="by hand|journal version"):
        journal_from_json(text, "/run/ipamx-spy/acme.attach.json")
