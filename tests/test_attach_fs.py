"""ipamx_spy.attach.fs: finding the plugin, the swap, and restoring from every crash point."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipamx_spy.attach import fs
from ipamx_spy.attach.plan import AttachError, AttachPlan, Journal, plan_for


class TagServer:
    """A listening socket that answers every connection with its tag, then closes it."""

    def __init__(self, path: Path, tag: bytes) -> None:
        self.path, self.tag = path, tag
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.inode = os.lstat(path).st_ino
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):  # a probe may hang up first
                conn.sendall(self.tag)

    def close(self) -> None:
        if self.sock.fileno() == -1:
            return
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


def who_answers(path: Path) -> bytes | None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(path))
            return sock.recv(64)
    except OSError:
        return None


@pytest.fixture
def plugin(sockdir: Path) -> Iterator[TagServer]:
    server = TagServer(sockdir / "acme.sock", b"plugin")
    yield server
    server.close()


def socket_plan(sockdir: Path) -> AttachPlan:
    return plan_for(fs.socket_target("acme", sockdir / "acme.sock", "legacy plugin socket"),
                    sockdir / "spy")


def journal(plan: AttachPlan, spy_inode: int | None = None) -> Journal:
    return Journal(plan=plan, pid=os.getpid(), pid_start=fs.process_start(os.getpid()) or "",
                   spy_inode=spy_inode)


def attach(plan: AttachPlan) -> TagServer:
    spy = TagServer(plan.staging, b"spy")
    fs.put_spy_in_front(plan)
    return spy


# -- finding ----------------------------------------------------------------------------------


def test_a_legacy_socket_is_found_before_a_spec_file(sockdir: Path, plugin: TagServer) -> None:
    specs = sockdir / "etc"
    specs.mkdir()
    (specs / "acme.spec").write_text("tcp://127.0.0.1:9000")
    target = fs.find_legacy("acme", socket_dir=sockdir, spec_dirs=(specs,))
    assert (target.kind, target.path) == ("socket", sockdir / "acme.sock")


def test_the_n_slash_n_sock_form_is_found(sockdir: Path) -> None:
    (sockdir / "acme").mkdir()
    server = TagServer(sockdir / "acme" / "acme.sock", b"plugin")
    try:
        target = fs.find_legacy("acme", socket_dir=sockdir, spec_dirs=())
    finally:
        server.close()
    assert target.path == sockdir / "acme" / "acme.sock"


def test_a_spec_file_naming_a_socket_attaches_at_that_socket(sockdir: Path,
                                                             plugin: TagServer) -> None:
    (sockdir / "acme.spec").write_text(f"unix://{plugin.path}\n")
    target = fs.find_legacy("acme", socket_dir=sockdir / "none", spec_dirs=(sockdir,))
    assert (target.kind, target.path) == ("socket", plugin.path)
    assert "acme.spec" in target.how


def test_a_tcp_json_file_is_a_file_target(sockdir: Path) -> None:
    (sockdir / "acme").mkdir()
    (sockdir / "acme" / "acme.json").write_text('{"Addr": "tcp://10.1.2.3:4000"}')
    target = fs.find_legacy("acme", socket_dir=sockdir, spec_dirs=(sockdir,))
    assert (target.kind, str(target.upstream)) == ("file", "tcp://10.1.2.3:4000")
    assert target.original == '{"Addr": "tcp://10.1.2.3:4000"}'


def test_a_plain_file_named_like_a_socket_is_not_a_plugin(sockdir: Path) -> None:
    (sockdir / "acme.sock").write_text("")
    with pytest.raises(AttachError, match=f"no acme.sock in {sockdir}"):
        fs.find_legacy("acme", socket_dir=sockdir, spec_dirs=(sockdir / "etc",))


# -- attaching and restoring a socket ---------------------------------------------------------


def test_attach_puts_the_spy_in_front_and_restore_puts_the_plugin_back(
        sockdir: Path, plugin: TagServer) -> None:
    os.chmod(plugin.path, 0o640)
    plan = socket_plan(sockdir)
    spy = attach(plan)
    assert plan.moved is not None
    assert who_answers(plugin.path) == b"spy"
    assert who_answers(plan.moved) == b"plugin"
    assert os.stat(plugin.path).st_mode & 0o777 == 0o640
    assert not plan.staging.exists()
    done = fs.restore(journal(plan, spy.inode))
    assert done == [f"moved the plugin's socket back to {plugin.path}"]
    assert os.lstat(plugin.path).st_ino == plugin.inode
    assert who_answers(plugin.path) == b"plugin"
    assert sorted(p.name for p in sockdir.iterdir()) == ["acme.sock"]
    assert fs.restore(journal(plan, spy.inode)) == []
    spy.close()


def test_restore_after_a_crash_before_the_spy_bound_changes_nothing(
        sockdir: Path, plugin: TagServer) -> None:
    assert fs.restore(journal(socket_plan(sockdir))) == []
    assert who_answers(plugin.path) == b"plugin"


def test_restore_after_a_crash_between_bind_and_swap_removes_the_staging_socket(
        sockdir: Path, plugin: TagServer) -> None:
    plan = socket_plan(sockdir)
    spy = TagServer(plan.staging, b"spy")
    spy.close()
    assert fs.restore(journal(plan, spy.inode)) == [f"removed the spy's socket {plan.staging}"]
    assert sorted(p.name for p in sockdir.iterdir()) == ["acme.sock"]


def test_restore_after_a_crash_between_link_and_rename_drops_the_second_name(
        sockdir: Path, plugin: TagServer) -> None:
    plan = socket_plan(sockdir)
    assert plan.moved is not None
    os.link(plugin.path, plan.moved)
    assert fs.restore(journal(plan)) == [f"removed the second name {plan.moved} of the "
                                         "plugin's socket"]
    assert who_answers(plugin.path) == b"plugin"
    assert not plan.moved.exists()


def test_restore_after_kill_9_of_the_spy(sockdir: Path, plugin: TagServer) -> None:
    plan = socket_plan(sockdir)
    spy = attach(plan)
    spy.close()  # the dead spy leaves its socket file at the plugin's path
    assert who_answers(plugin.path) is None
    fs.restore(journal(plan, spy.inode))
    assert who_answers(plugin.path) == b"plugin"


def test_a_socket_the_plugin_made_anew_while_attached_is_kept(sockdir: Path,
                                                              plugin: TagServer) -> None:
    plan = socket_plan(sockdir)
    assert plan.moved is not None
    spy = attach(plan)
    plugin.close()  # the plugin stops, and its new instance replaces the path
    os.unlink(plugin.path)
    restarted = TagServer(plugin.path, b"restarted")
    try:
        done = fs.restore(journal(plan, spy.inode))
        assert who_answers(plugin.path) == b"restarted"
    finally:
        restarted.close()
        spy.close()
    assert done == [f"{plugin.path} is a new socket (the plugin restarted); removed the dead "
                    f"{plan.moved}"]
    assert not plan.moved.exists()


def test_attach_refuses_when_the_moved_name_is_taken(sockdir: Path, plugin: TagServer) -> None:
    plan = socket_plan(sockdir)
    assert plan.moved is not None
    plan.moved.write_text("")
    spy = TagServer(plan.staging, b"spy")
    try:
        with pytest.raises(AttachError, match="did not detach"):
            fs.put_spy_in_front(plan)
        assert who_answers(plugin.path) == b"plugin"
    finally:
        spy.close()


# -- attaching and restoring a .spec / .json file ---------------------------------------------


def file_plan(sockdir: Path, name: str, text: str) -> AttachPlan:
    path = sockdir / name
    path.write_text(text)
    os.chmod(path, 0o604)
    return plan_for(fs.find_legacy("acme", socket_dir=sockdir / "none", spec_dirs=(sockdir,)),
                    sockdir / "spy")


@pytest.mark.parametrize(("name", "text"), [
    ("acme.spec", "tcp://127.0.0.1:9000\n"), ("acme.json", '{"Addr": "http://127.0.0.1:9000"}')])
def test_a_plugin_file_is_rewritten_and_written_back(sockdir: Path, name: str,
                                                     text: str) -> None:
    plan = file_plan(sockdir, name, text)
    fs.put_spy_in_front(plan)
    assert f"unix://{sockdir}/spy/acme.sock" in (sockdir / name).read_text()
    assert os.stat(sockdir / name).st_mode & 0o777 == 0o604
    done = fs.restore(journal(plan))
    assert done == [f"wrote the original address back into {sockdir / name}"]
    assert (sockdir / name).read_text() == text
    assert os.stat(sockdir / name).st_mode & 0o777 == 0o604
    assert fs.restore(journal(plan)) == []
    assert sorted(p.name for p in sockdir.iterdir()) == [name]


def test_a_plugin_file_changed_by_someone_else_is_left_alone(sockdir: Path) -> None:
    plan = file_plan(sockdir, "acme.spec", "tcp://127.0.0.1:9000")
    fs.put_spy_in_front(plan)
    (sockdir / "acme.spec").write_text("tcp://127.0.0.1:9999")
    assert fs.restore(journal(plan)) == [f"left {sockdir / 'acme.spec'} alone: someone "
                                         "changed it while the spy was attached"]
    assert (sockdir / "acme.spec").read_text() == "tcp://127.0.0.1:9999"


def test_the_dead_spys_socket_of_a_file_target_is_removed(sockdir: Path) -> None:
    plan = file_plan(sockdir, "acme.spec", "tcp://127.0.0.1:9000")
    plan.listen.parent.mkdir()
    spy = TagServer(plan.staging, b"spy")
    fs.put_spy_in_front(plan)
    spy.close()
    assert fs.restore(journal(plan, spy.inode)) == [
        f"wrote the original address back into {sockdir / 'acme.spec'}",
        f"removed the spy's socket {plan.listen}"]


def test_a_dead_spys_control_socket_is_removed_and_a_live_one_kept(
        sockdir: Path, plugin: TagServer) -> None:
    plan = socket_plan(sockdir)
    control = TagServer(sockdir / "acme.ctl", b"control")
    with_control = Journal(plan=plan, pid=1, pid_start="", control=control.path)
    fs.restore(with_control)
    assert who_answers(control.path) == b"control"
    control.close()
    fs.restore(with_control)
    assert not control.path.exists()


# -- journal and process ----------------------------------------------------------------------


def test_the_journal_is_written_atomically_and_read_back(sockdir: Path,
                                                         plugin: TagServer) -> None:
    path = sockdir / "j" / "acme.attach.json"
    assert fs.read_journal(path) is None
    written = journal(socket_plan(sockdir), 42)
    fs.write_journal(path, written)
    assert os.listdir(path.parent) == ["acme.attach.json"]
    assert os.stat(path).st_mode & 0o777 == 0o600
    back = fs.read_journal(path)
    assert back is not None and (back.spy_inode, back.plan.moved) == (42, written.plan.moved)


def test_a_spy_is_alive_only_while_its_process_runs(sockdir: Path, plugin: TagServer) -> None:
    me = journal(socket_plan(sockdir))
    assert fs.spy_alive(me)
    assert not fs.spy_alive(Journal(plan=me.plan, pid=os.getpid(), pid_start="1"))
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    gone = Journal(plan=me.plan, pid=int(child.stdout), pid_start=me.pid_start)
    assert not fs.spy_alive(gone)
