"""The allocator's building blocks: run sets, prefixes, predefined pools, configuration."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ipamx_spy.ipam import ConfigError, IpamConfig, PredefinedPool
from ipamx_spy.ipam.addrset import RunSet
from ipamx_spy.ipam.dynamic import block_after, blocks_between, round_robin
from ipamx_spy.ipam.predefined import SplitList, sorted_unique, ula_pool
from ipamx_spy.ipam.prefix import Prefix, go_quote, parse_addr, parse_prefix


def p(text: str) -> Prefix:
    prefix = parse_prefix(text)
    assert prefix is not None
    return prefix


# -- RunSet -------------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=200),
       st.integers(0, 40), st.integers(0, 40))
@example(ops=[(True, 21)], low=22, high=21)  # an empty range holds no member
def test_runset_matches_a_python_set(ops: list[tuple[bool, int]], low: int, high: int) -> None:
    runs, model = RunSet(), set()
    for add, value in ops:
        if add:
            assert runs.add(value) == (value not in model)
            model.add(value)
        else:
            assert runs.discard(value) == (value in model)
            model.discard(value)
    assert sorted(runs) == sorted(model) and len(runs) == len(model)
    pairs = runs.runs()
    assert all(b[0] > a[1] + 1 for a, b in zip(pairs, pairs[1:], strict=False))
    free = [v for v in range(low, high + 1) if v not in model]
    assert runs.first_free(low, high) == (free[0] if free else None)
    assert runs.any_in(low, high) == any(low <= v <= high for v in model)
    assert runs.count_in(low, high) == sum(low <= v <= high for v in model)
    assert RunSet.from_runs(pairs).runs() == pairs


def test_runset_from_runs_rejects_disorder() -> None:
    with pytest.raises(ValueError):
        RunSet.from_runs([(5, 9), (3, 4)])
    assert RunSet.from_runs([(0, 3), (4, 6)]).runs() == [(0, 6)]


def test_runset_fill_is_one_run() -> None:
    runs = RunSet()
    for value in range(65536):
        assert runs.first_free(0, 65535) == value
        runs.add(value)
    assert runs.runs() == [(0, 65535)] and runs.first_free(0, 65535) is None


# -- prefixes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/024", "010.0.0.0/8",
                                  "fe80::1%eth0/64", "10.0.0.0/+8", "10.0.0.0/255.0.0.0", "",
                                  " 10.0.0.0/8", "fd00::/129"])
def test_parse_prefix_rejects_what_netip_rejects(text: str) -> None:
    assert parse_prefix(text) is None


def test_prefix_keeps_host_bits_and_prints_like_go() -> None:
    assert str(p("10.1.2.3/16")) == "10.1.2.3/16" and str(p("10.1.2.3/16").masked()) == \
        "10.1.0.0/16"
    assert str(p("fd00:0:0::1/64")) == "fd00::1/64"
    assert str(p("::ffff:10.0.0.0/104")) == "::ffff:10.0.0.0/104"
    assert parse_addr("::ffff:1.2.3.4") is not None
    assert parse_addr("::ffff:1.2.3.4").unmap() == parse_addr("1.2.3.4")  # type: ignore[union-attr]


def test_overlaps_and_arithmetic() -> None:
    assert p("10.0.0.0/8").overlaps(p("10.1.0.0/16")) and not p("10.0.0.0/16").overlaps(
        p("10.1.0.0/16"))
    assert not p("10.0.0.0/8").overlaps(p("::/0"))
    assert block_after(p("10.0.0.0/16"), 24) == p("10.1.0.0/24")
    assert block_after(p("10.0.1.1/32"), 24) == p("10.0.2.0/24")
    assert block_after(p("255.255.255.0/24"), 24) is None
    assert blocks_between(p("10.0.0.0/24"), p("10.0.3.5/32"), 24) == 3
    assert blocks_between(p("10.0.3.0/24"), p("10.0.0.0/24"), 24) == 0


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'


# -- predefined pools ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "base", "size"), [
    ("base=10.10.0.0/16,size=24", "10.10.0.0/16", 24),
    ("10.10.0.0/16,size=24", "10.10.0.0/16", 24),
    ("10.10.0.0/16:24", "10.10.0.0/16", 24),
    ("10.10.0.0/16", "10.10.0.0/16", 16),
    ("fd00::/48:64", "fd00::/48", 64),
    ("fd00::/48", "fd00::/48", 48),
])
def test_predefined_pool_syntax(text: str, base: str, size: int) -> None:
    pool = PredefinedPool.parse(text)
    assert (str(pool.base), pool.size) == (base, size)


@pytest.mark.parametrize("text", ["base=10.10.0.0/16,size=8", "10.10.0.1/16:24", "nope",
                                  "base=10.0.0.0/8,size=x", "base=10.0.0.0/8,color=red"])
def test_predefined_pool_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        PredefinedPool.parse(text)


def test_ula_is_stable_and_a_slash_48() -> None:
    pool = ula_pool("0123-engine")
    assert pool == ula_pool("0123-engine") and pool.base.bits == 48 and pool.size == 64
    assert str(pool.base).startswith("fd")


def test_sorted_unique_drops_later_overlaps() -> None:
    pools = [PredefinedPool.parse(t) for t in ("192.168.0.0/16:20", "10.10.0.0/16:24",
                                               "10.0.0.0/8:16", "172.17.0.0/16")]
    assert [str(x.base) for x in sorted_unique(pools)] == \
        ["10.0.0.0/8", "172.17.0.0/16", "192.168.0.0/16"]


def test_split_list_indexes_lazily() -> None:
    split = SplitList([PredefinedPool.parse("10.0.0.0/8:24"), PredefinedPool.parse("fd00::/48:64")])
    assert len(split) == 65536 * 2
    assert split[0] == p("10.0.0.0/24") and split[65535] == p("10.255.255.0/24")
    assert split[65536] == p("fd00::/64") and split[len(split):] == []
    assert split[-1] == p("fd00:0:0:ffff::/64")
    with pytest.raises(IndexError):
        split[len(split)]


def test_round_robin_skips_families_and_taken() -> None:
    split = SplitList([PredefinedPool.parse(t) for t in ("fd00::/63:64", "10.0.0.0/30:31")])
    assert round_robin(split, 0, 4, lambda c: False) == (p("10.0.0.0/31"), 3)
    assert round_robin(split, 3, 4, lambda c: False) == (p("10.0.0.2/31"), 0)
    assert round_robin(split, 0, 4, lambda c: True) is None


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="compat"):
        IpamConfig(compat="banana")
    with pytest.raises(ConfigError, match="compat"):
        IpamConfig(compat="26.x")
    modes = {v: IpamConfig(compat=v).compat for v in (
        "19.03", "20.10", "20.10.24", "23", "24", "25.0.5", "26", "26.1.5", "27", "28.5.2", "v29")}
    assert modes == {"19.03": "20.10", "20.10": "20.10", "20.10.24": "20.10", "23": "20.10",
                     "24": "26", "25.0.5": "26", "26": "26", "26.1.5": "26", "27": "27",
                     "28.5.2": "27", "v29": "27"}
    with pytest.raises(ConfigError, match="'/'"):
        IpamConfig(local_space="a/b")
    with pytest.raises(ConfigError, match="both"):
        IpamConfig(local_space="x", global_space="x")
    with pytest.raises(ConfigError, match="exclude"):
        IpamConfig.build(exclude=["nope"])
    config = IpamConfig.build(exclude=["10.0.0.1", "fd00::1", "192.168.1.7/24"])
    assert [str(x) for x in config.exclude] == ["10.0.0.1/32", "fd00::1/128", "192.168.1.0/24"]
    assert config.to_json()["PredefinedPools"]["local"][-1]["Size"] == 64  # type: ignore[index]
