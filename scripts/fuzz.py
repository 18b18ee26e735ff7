"""Fuzz the real relay with 100,000+ mutated dockerd requests and plugin answers.

The same cases as tests/test_fuzz_relay.py, drawn with ``random`` instead of Hypothesis so
that a long run is cheap. Prints the counts the README's Reliability section quotes.

Usage: python scripts/fuzz.py [--cases 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from relayfuzz import INTERESTING, KINDS, Edit, running, seeds  # noqa: E402


def random_edits(rng: random.Random) -> list[Edit]:
    return [Edit(kind=rng.choice(KINDS), position=rng.random(), size=rng.randrange(65),
                 data=rng.randbytes(rng.randrange(33)) if rng.random() < 0.8
                 else rng.choice(INTERESTING))
            for _ in range(rng.randint(1, 4))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from relayfuzz import mutate

    rng = random.Random(args.seed)
    requests, answers = seeds()
    directory = Path(tempfile.mkdtemp(prefix="ipx-fuzz-", dir="/tmp"))
    started = time.monotonic()
    try:
        with running(directory) as fuzzer:
            for n in range(args.cases):
                if n % 2 == 0:
                    fuzzer.request_case(mutate(rng.choice(requests), random_edits(rng)))
                else:
                    fuzzer.answer_case(mutate(rng.choice(answers), random_edits(rng)),
                                       rng.choice(requests))
                if n and n % 10_000 == 0:
                    print(f"  {n} cases, {fuzzer.tally.unanswered} unanswered, "
                          f"{fuzzer.tally.tracebacks} tracebacks", flush=True)
        tally = fuzzer.tally
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(f"fuzz: {tally.cases} cases ({args.cases // 2 + args.cases % 2} mutated requests, "
          f"{args.cases // 2} mutated plugin answers) in {elapsed:.0f} s: "
          f"{tally.unanswered} unanswered, {tally.tracebacks} tracebacks, "
          f"{tally.crashes} internal errors answered")
    for example in tally.examples:
        print("  ", example)
    return 0 if tally.unanswered == tally.tracebacks == tally.crashes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
