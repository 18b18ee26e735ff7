"""``--store`` is parsed once into a typed ``AllocatorStore`` (its kind, and etcd's members);
a URL that names no store is a usage error (exit 2) before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ipamx_spy.builtin import (
    FILE_STORE,
    AllocatorStore,
    BuiltinConfig,
    StoreKind,
    config_from_options,
)
from ipamx_spy.cli import app
from ipamx_spy.ipam.config import Compat
from ipamx_spy.ipam.errors import ConfigError
from ipamx_spy.ipam.etcd import EtcdSpec


@pytest.mark.parametrize("text", ["file", "", " file "])
def test_file_is_the_default_store(text: str) -> None:
    store = AllocatorStore.parse(text)
    assert store == FILE_STORE and store.kind is StoreKind.FILE and store.etcd is None
    assert str(store) == "file"


def test_an_etcd_url_is_parsed_into_members_and_tls_files() -> None:
    store = AllocatorStore.parse("etcds://a:2379,[::1]:2380/team?ca=/c.pem")
    assert store.kind is StoreKind.ETCD
    assert store.etcd == EtcdSpec(endpoints=(("a", 2379), ("::1", 2380)), prefix="/team",
                                  tls=True, ca="/c.pem")
    assert AllocatorStore.parse(str(store)) == store  # printed as it is read


@pytest.mark.parametrize(("text", "why"), [
    ("etcd://nohost", "is not HOST:PORT"),
    ("etcd://h:99999", "is not HOST:PORT"),
    ("redis://h:1", "expected etcd://"),
    ("memory", "expected etcd://"),
])
def test_a_bad_url_is_a_config_error_naming_it(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        AllocatorStore.parse(text)


def test_a_kind_without_its_spec_is_refused() -> None:
    with pytest.raises(ValueError):
        AllocatorStore(kind=StoreKind.ETCD)
    with pytest.raises(ValueError):
        AllocatorStore(etcd=EtcdSpec(endpoints=(("h", 1),)))


def test_the_config_holds_the_parsed_store() -> None:
    url = "etcd://127.0.0.1:2379"
    assert BuiltinConfig(store=url).store == AllocatorStore.parse(url)  # type: ignore[arg-type]
    config = config_from_options(name="n", state="none", compat=Compat.V27, local_space="L",
                                 global_space="G", network_driver=False,
                                 store=AllocatorStore.parse(url))
    assert config.store.etcd == EtcdSpec.parse(url)
    assert BuiltinConfig().store is FILE_STORE


@pytest.mark.parametrize("command", ["serve", "proxy"])
def test_the_cli_refuses_a_bad_store_with_exit_2(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--store", "etcd://nohost", "--state", "none"])
    assert result.exit_code == 2
    assert "--store" in result.output and "'nohost' is not HOST:PORT" in result.output


def test_the_cli_reads_a_bad_store_from_the_environment() -> None:
    result = CliRunner().invoke(app, ["serve", "--state", "none"],
                                env={"IPAMX_SPY_STORE": "zookeeper://z:1"})
    assert result.exit_code == 2 and "expected etcd://" in result.output
