"""SIGKILL the allocator at random moments: nothing it acknowledged may be lost or reused."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ipamx_spy.ipam import IpamService

HELPER = Path(__file__).with_name("ipam_crash_child.py")
ROOT = Path(__file__).resolve().parents[2]
POOL = "LocalDefault/10.77.0.0/16"


class Ledger:
    """What the killed processes acknowledged: live addresses, and one release in flight."""

    def __init__(self) -> None:
        self.alive: set[str] = set()
        self.in_flight: str | None = None

    def record(self, line: str) -> None:
        kind, address = line[0], line[1:]
        if kind == "+":
            assert address not in self.alive, f"{address} handed out twice"
            self.alive.add(address)
        elif kind == "?":
            self.in_flight = address
        elif kind == "-":
            self.alive.discard(address)
            self.in_flight = None

    def settled(self) -> set[str]:
        return self.alive - {self.in_flight} if self.in_flight else set(self.alive)

    def resolve(self, leased: set[str]) -> None:
        """A release cut short by the kill happened iff its address is no longer leased."""
        if self.in_flight is not None and self.in_flight not in leased:
            self.alive.discard(self.in_flight)
        self.in_flight = None


def run_and_kill(path: Path, ledger: Ledger, rng: random.Random) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, str(HELPER), str(path)], stdout=subprocess.PIPE,
                             text=True, env=env)
    assert child.stdout is not None
    for _ in range(rng.randint(1, 600)):
        line = child.stdout.readline().strip()
        if not line:
            break
        ledger.record(line)
    time.sleep(rng.uniform(0, 0.03))
    child.send_signal(signal.SIGKILL)
    child.wait()
    for line in child.stdout.read().splitlines():  # printed before the kill: acknowledged too
        ledger.record(line.strip())
    assert child.returncode == -signal.SIGKILL, "the helper died on its own"


def check_restart(path: Path, ledger: Ledger) -> None:
    service = IpamService.from_options(state_path=path)
    routes = service.routes()
    leases = routes["IpamDriver.Leases"]({})["Leases"]
    leased = {lease["Address"].split("/")[0] for lease in leases}
    missing = ledger.settled() - leased
    assert not missing, f"acknowledged addresses lost after SIGKILL: {sorted(missing)[:5]}"
    ledger.resolve(leased)
    for _ in range(5):
        answer = routes["IpamDriver.RequestAddress"]({"PoolID": POOL})
        ledger.record("+" + answer["Address"].split("/")[0])
    service.close()


def test_sigkill_never_loses_or_reuses_an_acknowledged_address(tmp_path: Path) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    path = tmp_path / "crash.state.json"
    ledger = Ledger()
    try:
        for _ in range(5):
            run_and_kill(path, ledger, rng)
            check_restart(path, ledger)
    except AssertionError as exc:
        raise AssertionError(f"{exc} (random seed {seed})") from exc
    assert len(ledger.alive) > 5, f"the helper made no progress (seed {seed})"
