"""The readers over large recordings: time and peak memory of ``check``, ``show``, ``export -f
json`` and ``replay``, against baselines measured in the same run.

The bench writes its recordings first, once per run, into a temporary directory it removes at
the end: a template of 10,000 exchanges recorded against the reference plugin (bench/replay.py's
workload: a network with a static subnet, a gateway, 20 containers' addresses, everything
released again; a 0.5 s pause before each network, as between docker commands), then each size
by writing the template's records again with new numbers and times (no plugin, one
``json.dumps`` a line).

Every figure is one command run as a child process (``python -m ipamx_spy ...``, output to
/dev/null), its wall time and its peak RSS (``wait4``'s ``ru_maxrss``); the baseline is a child
that reads the same file line by line with ``json.loads`` and nothing else. For replay the
baseline is a child that reads the file the same bare way and hands each request body to the
in-process reference plugin: the floor of what replay must do.

``export -f html`` and ``export -f svg`` are measured the same way (skip them with ``--skip
html,svg``): they stream too, so their peak should not grow with the file either.

Targets (issue 14): ``check``/``show``/``export -f json`` linear in time (the per-exchange time
of the large file over the 10,000's stays near 1), peak RSS at most 64 MiB above the
10,000-exchange run's, ``check`` at most 5x the bare ``json.loads`` of the same file;
``replay`` of 10,000 exchanges at most 2x its bare loop (default output).

Usage: python bench/readers.py [--exchanges 1000000] [--skip show,export,html,svg]
Prints one JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from replay import make_recording  # noqa: E402

from ipamx_spy.recording import make_header  # noqa: E402

SMALL = 10_000
PAUSE_S = 0.5  # before each network's RequestPool: the gap between two docker commands
MiB = 1024 * 1024

BARE_LOADS = "import json, sys\nfor line in open(sys.argv[1], 'rb'):\n    json.loads(line)\n"
BARE_REPLAY = """\
import json, sys
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.recording import decode_body
plugin = make_plugin(BuiltinConfig())
lines = open(sys.argv[1], 'rb')
next(lines)
for line in lines:
    record = json.loads(line)
    plugin.handle(record['endpoint'], decode_body(record['request']['body']))
"""


def template() -> list[dict[str, Any]]:
    """The records of 10,000 exchanges recorded against the reference plugin, timed with a
    pause before each network (``t`` rewritten when written out)."""
    return [e.to_json() for e in make_recording(SMALL).exchanges]


def write_recording(path: Path, size: int, records: list[dict[str, Any]]) -> None:
    """``size`` exchanges: the template again and again, numbered 1..size, 1 ms apart within
    a network and ``PAUSE_S`` before each one."""
    t = 0.0
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(make_header(name="bench-readers", docker_version="20.10.24"),
                           separators=(",", ":")) + "\n")
        for index in range(size):
            record = records[index % len(records)]
            t += PAUSE_S if record["endpoint"] == "IpamDriver.RequestPool" else 0.001
            f.write(json.dumps({**record, "seq": index + 1, "t": round(t, 6)},
                               separators=(",", ":"), ensure_ascii=False) + "\n")


def run(argv: list[str]) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS in MiB, exit code, CPU seconds) of one child process (CPU
    time holds up better than wall time on a machine shared with other work)."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT),
                                      "COLUMNS": "120"})
        assert child.stderr is not None
        errors = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {errors.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime


def spy(*args: str) -> list[str]:
    return [sys.executable, "-m", "ipamx_spy", *args]


def measure(commands: dict[str, list[str]], rounds: int) -> dict[str, dict[str, float]]:
    """Each command ``rounds`` times, interleaved; the best time and the highest peak."""
    seen: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            seen[name].append(run(argv))
    return {name: {"s": round(min(r[0] for r in runs), 3),
                   "cpu_s": round(min(r[3] for r in runs), 3),
                   "peak_mib": round(max(r[1] for r in runs), 1),
                   "exit": runs[0][2]} for name, runs in seen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--exchanges", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the large file")
    parser.add_argument("--skip", default="",
                        help="comma-separated: check,show,export,html,svg,replay")
    parser.add_argument("--write", nargs=3, metavar=("SMALL", "LARGE", "N"),
                        help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.write:
        records = template()
        write_recording(Path(options.write[0]), SMALL, records)
        write_recording(Path(options.write[1]), int(options.write[2]), records)
        return
    skip = set(filter(None, options.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="ipamx-readers-"))
    try:
        small, large = work / "small.jsonl", work / "large.jsonl"
        started = time.perf_counter()
        # written by a child: a child's peak RSS starts at its parent's when it forks, so
        # the measuring process stays small
        subprocess.run([sys.executable, __file__, "--write", str(small), str(large),
                        str(options.exchanges)], check=True)
        report: dict[str, Any] = {
            "exchanges": options.exchanges,
            "file_mib": round(large.stat().st_size / MiB, 1),
            "written_s": round(time.perf_counter() - started, 1),
            "load_average": [round(x, 1) for x in os.getloadavg()],
        }
        commands = {"bare json.loads": [sys.executable, "-c", BARE_LOADS]}
        if "check" not in skip:
            commands["check"] = spy("check")
        if "show" not in skip:
            commands["show"] = spy("show")
        if "export" not in skip:
            commands["export -f json"] = spy("export", "-f", "json")
        for page in ("html", "svg"):  # laid out whole until they were streamed
            if page not in skip:
                commands[f"export -f {page}"] = spy("export", "-f", page)
        results = {}
        for label, path, rounds in (("small", small, 3), ("large", large, options.rounds)):
            results[label] = measure({name: [*argv, str(path)]
                                      for name, argv in commands.items()}, rounds)
        report["small"], report["large"] = results["small"], results["large"]
        scale = options.exchanges / SMALL
        report["figures"] = {name: {
            "per_exchange_vs_small": round(results["large"][name]["s"]
                                           / (results["small"][name]["s"] * scale), 2),
            "cpu_per_exchange_vs_small": round(results["large"][name]["cpu_s"]
                                               / (results["small"][name]["cpu_s"] * scale), 2),
            "cpu_vs_bare_json_loads": round(results["large"][name]["cpu_s"]
                                            / results["large"]["bare json.loads"]["cpu_s"], 2),
            "peak_above_small_mib": round(results["large"][name]["peak_mib"]
                                          - results["small"][name]["peak_mib"], 1),
            "vs_bare_json_loads": round(results["large"][name]["s"]
                                        / results["large"]["bare json.loads"]["s"], 2),
        } for name in commands}
        if "replay" not in skip:
            replayed = measure({"bare loop": [sys.executable, "-c", BARE_REPLAY, str(small)],
                                "replay": spy("replay", str(small)),
                                "replay -q": spy("replay", "-q", str(small))}, 3)
            report["replay_10000"] = replayed
            report["replay_vs_bare_loop"] = round(
                replayed["replay"]["s"] / replayed["bare loop"]["s"], 2)
            report["replay_q_vs_bare_loop"] = round(
                replayed["replay -q"]["s"] / replayed["bare loop"]["s"], 2)
            for name in ("replay", "replay -q"):
                report[f"{name} cpu vs bare loop"] = round(
                    replayed[name]["cpu_s"] / replayed["bare loop"]["cpu_s"], 2)
        report["load_average_end"] = [round(x, 1) for x in os.getloadavg()]
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
