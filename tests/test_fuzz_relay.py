"""Property-based fuzzing of the real relay (a bounded number of examples; scripts/fuzz.py
runs 100,000+ on demand): every request answered, no traceback, the proxy keeps serving."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relayfuzz import KINDS, Edit, Fuzzer, mutate, running, seeds

REQUESTS, ANSWERS = seeds()

edits = st.lists(st.builds(
    Edit, kind=st.sampled_from(KINDS), position=st.floats(0, 1),
    size=st.integers(0, 64), data=st.binary(max_size=32)), min_size=1, max_size=4)
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzzer() -> Iterator[Fuzzer]:
    directory = Path(tempfile.mkdtemp(prefix="ipx-fz-", dir="/tmp"))
    try:
        with running(directory) as fuzzer:
            yield fuzzer
        tally = fuzzer.tally
        assert (tally.tracebacks, tally.crashes) == (0, 0), tally.examples
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_the_seeds_are_real_dockerd_traffic() -> None:
    assert len(REQUESTS) >= 50 and len(ANSWERS) >= 50
    assert all(r.startswith(b"POST /") for r in REQUESTS)


@FUZZ
@given(base=st.sampled_from(REQUESTS), changes=edits)
def test_mutated_dockerd_requests_are_always_answered(fuzzer: Fuzzer, base: bytes,
                                                     changes: list[Edit]) -> None:
    raw = mutate(base, changes)
    assert fuzzer.request_case(raw), fuzzer.tally.examples
    assert fuzzer.tally.tracebacks == 0, fuzzer.tally.examples


@FUZZ
@given(base=st.sampled_from(ANSWERS), request=st.sampled_from(REQUESTS), changes=edits)
def test_mutated_plugin_answers_always_reach_the_docker_side(
        fuzzer: Fuzzer, base: bytes, request: bytes, changes: list[Edit]) -> None:
    answer = mutate(base, changes)
    assert fuzzer.answer_case(answer, request), fuzzer.tally.examples
    assert fuzzer.tally.tracebacks == 0, fuzzer.tally.examples
