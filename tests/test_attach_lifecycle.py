"""ipamx_spy.attach.lifecycle: the journal written before anything changes, and ``detach`` for
each state a spy can be in (none, stepping back itself, dead, hung)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_attach_fs import TagServer, attach, socket_plan, who_answers

from ipamx_spy.attach import fs
from ipamx_spy.attach.lifecycle import (
    Detached,
    begin_journal,
    detach,
    refuse_if_attached,
)
from ipamx_spy.attach.plan import AttachError, AttachPlan, Journal

# A stand-in spy: says "ready" once its SIGTERM handler is in place, then waits. On SIGTERM it
# removes the journal named by argv[1] (as a spy does once it has restored), or, with "hang",
# ignores the signal.
SPY = """
import os, signal, sys
journal, mode = sys.argv[1], sys.argv[2]
def stepped_back(*_):
    os.unlink(journal)
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "hang" else stepped_back)
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def plugin(sockdir: Path) -> Iterator[TagServer]:
    server = TagServer(sockdir / "acme.sock", b"plugin")
    yield server
    server.close()


def _journal_of(plan: AttachPlan, pid: int, spy_inode: int | None = None) -> Journal:
    return Journal(plan=plan, pid=pid, pid_start=fs.process_start(pid) or "gone",
                   spy_inode=spy_inode)


def _gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _stand_in(journal: Path, mode: str) -> subprocess.Popen[str]:
    spy = subprocess.Popen([sys.executable, "-c", SPY, str(journal), mode], text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert spy.stdout is not None and spy.stdout.readline() == "ready\n"
    return spy


def test_an_attach_is_refused_while_a_journal_says_one_runs_or_was_cut_short(
        sockdir: Path, plugin: TagServer) -> None:
    path, plan = sockdir / "acme.journal", socket_plan(sockdir)
    refuse_if_attached(path, "acme")  # no journal: go ahead
    fs.write_journal(path, _journal_of(plan, os.getpid()))
    with pytest.raises(AttachError, match=f"pid {os.getpid()}\\) is already attached to acme"):
        refuse_if_attached(path, "acme")
    fs.write_journal(path, _journal_of(plan, _gone_pid()))
    with pytest.raises(AttachError, match="run `ipamx-spy detach acme` first"):
        refuse_if_attached(path, "acme")


def test_the_journal_names_this_process_and_an_unwritable_one_changes_nothing(
        sockdir: Path, plugin: TagServer) -> None:
    plan, control = socket_plan(sockdir), sockdir / "acme.ctl"
    written = begin_journal(sockdir / "acme.journal", plan, control)
    read = fs.read_journal(sockdir / "acme.journal")
    assert read is not None and fs.spy_alive(read)
    assert (read.pid, read.pid_start, read.control, read.plan.listen, read.plan.moved) == (
        os.getpid(), written.pid_start, control, plan.listen, plan.moved)
    (sockdir / "a-file").write_text("")
    with pytest.raises(AttachError, match="cannot write the journal"):
        begin_journal(sockdir / "a-file" / "acme.journal", plan, control)


def test_detach_without_a_journal_does_nothing(sockdir: Path) -> None:
    assert detach(sockdir / "acme.journal", timeout=1).how is Detached.NOT_ATTACHED


def test_detach_after_the_spy_died_restores_from_the_journal(sockdir: Path,
                                                             plugin: TagServer) -> None:
    path, plan = sockdir / "acme.journal", socket_plan(sockdir)
    spy = attach(plan)
    spy.close()
    fs.write_journal(path, _journal_of(plan, _gone_pid(), spy.inode))
    done = detach(path, timeout=1)
    assert (done.how, done.spy_hung) == (Detached.RESTORED, False)
    assert done.steps == (f"moved the plugin's socket back to {plugin.path}",)
    assert who_answers(plugin.path) == b"plugin" and not path.exists()


def test_detach_asks_a_running_spy_to_step_back_itself(sockdir: Path,
                                                       plugin: TagServer) -> None:
    path, plan = sockdir / "acme.journal", socket_plan(sockdir)
    path.touch()
    spy = _stand_in(path, "step-back")
    try:
        fs.write_journal(path, _journal_of(plan, spy.pid))
        done = detach(path, timeout=30)
        assert (done.how, done.pid) == (Detached.BY_THE_SPY, spy.pid)
        assert spy.wait(30) == 0 and not path.exists()
    finally:
        spy.kill()
        spy.wait()


def test_a_spy_that_ignores_detach_is_restored_around(sockdir: Path, plugin: TagServer) -> None:
    path, plan = sockdir / "acme.journal", socket_plan(sockdir)
    path.touch()
    spy = _stand_in(path, "hang")
    try:
        served = attach(plan)
        served.close()
        fs.write_journal(path, _journal_of(plan, spy.pid, served.inode))
        done = detach(path, timeout=0.2)
        assert (done.how, done.pid, done.spy_hung) == (Detached.RESTORED, spy.pid, True)
        assert who_answers(plugin.path) == b"plugin" and not path.exists()
        assert spy.poll() is None  # still running: detach only asked
    finally:
        spy.kill()
        spy.wait()
