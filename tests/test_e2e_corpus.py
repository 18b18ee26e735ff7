"""The corpus scenarios live on every daemon of the matrix, against the emulator of that version.

Each scenario of ``scripts/record_corpus.py`` (the talk, ip-range with gateway and aux address,
dual stack, dynamic pools, errors, restart with request replay, the network driver's lifecycle
with ping) runs on a fresh dockerd 20.10.24, 26.1.5 and 28.5.2 through ``ipamx-spy proxy`` in
front of the reference plugin (imitating that daemon's IPAM), under a fresh plugin name. The
live capture must then equal, byte for byte, what ``ipamx-spy drive --docker-version V`` sends
for ``scenarios/NAME.scenario`` (the emulator's row for the daemon's version), and must match
the committed capture of that daemon in ``recordings/`` call for call (except for the
dynamic pools, where dockerd holds and asks again for pools that overlap the host's routes).
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from docker_env import RECORDINGS, Daemon

from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.compare import compare
from ipamx_spy.recording import load

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import record_corpus  # noqa: E402

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("name", sorted(record_corpus.SCENARIOS))
def test_a_live_capture_is_what_the_emulator_sends(daemon: Daemon, name: str, sockdir: Path,
                                                   request: pytest.FixtureRequest) -> None:
    if name == "dynamic-pools":  # its networks take 172.x pools: keep out of the differential
        request.getfixturevalue("host_routes")
    plugin = f"ipx{uuid.uuid4().hex[:8]}"
    out = record_corpus.record(name, sockdir, log=lambda _line: None, daemon=daemon,
                               plugin=plugin)
    live = load(out)
    script = (ROOT / "scenarios" / f"{name}.scenario").read_text()
    steps = scenario.parse(record_corpus.renamed(script, plugin), f"{name}.scenario")
    result = compare(steps, live)
    assert result.equal, result.report()
    assert result.recorded == len(live.exchanges)
    sub = "" if daemon.chroot is None else f"dockerd-{daemon.label}/"
    committed = load(RECORDINGS / f"{sub}{name}.jsonl")
    assert committed.header.get("docker_version") == live.header.get("docker_version")
    if name != "dynamic-pools":  # dockerd holds and re-asks pools that overlap host routes
        # the same calls; `docker stop a b` and `rm -f a b` run in parallel, in any order
        assert Counter(e.endpoint for e in live.exchanges) == Counter(
            e.endpoint for e in committed.exchanges)
