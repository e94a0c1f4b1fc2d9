"""The defaults and checks that moved from the CLI into the core (critmin.risk.resolve): a notebook user gets the
CLI's defaults, and errors naming parameters (``year``, ``source``, ``stage``, ``years``, ``chain``), not flags."""

from __future__ import annotations

import pytest

import critmin
from critmin import registry
from critmin.errors import InputError
from critmin.risk.resolve import (
    chain_years,
    check_chain_year,
    latest_year,
    parse_years,
    resolve_source,
    resolve_stage,
    resolve_year,
)


@pytest.fixture(scope="module")
def world() -> critmin.World:
    return critmin.load()


def _source_of(call) -> str:  # noqa: ANN001 - a zero-argument callable expected to raise
    with pytest.raises(InputError) as e:
        call()
    assert "\n" not in str(e.value) and "--" not in e.value.source
    return e.value.source


def test_default_source_and_year_are_the_cli_defaults(world: critmin.World) -> None:
    assert resolve_source(world, "graphite") == "wmd"  # the material's default_source
    prod = world.production(material="graphite")
    assert resolve_year(world, "graphite") == int(prod[prod["source"] == "wmd"]["year"].max())
    assert resolve_year(world, "graphite", 2020, "wmd", "mining") == 2020
    gallium = world.materials().set_index("material").loc["gallium", "default_source"]
    assert resolve_source(world, "gallium") == gallium != "wmd"  # gallium's own default, not wmd


def test_errors_name_parameters(world: critmin.World) -> None:
    assert _source_of(lambda: resolve_stage("smelting")) == "stage"
    assert _source_of(lambda: resolve_source(world, "graphite", "no-such-source")) == "source"
    assert _source_of(lambda: resolve_source(world, "graphite", "wmd", "refining")) == "stage"
    with pytest.raises(InputError) as e:
        resolve_year(world, "gallium", 2010)
    assert e.value.source == "year" and "wmd 2018–2024" in e.value.problem  # the years there are
    assert _source_of(lambda: parse_years("2024:2018")) == "years"
    assert _source_of(lambda: parse_years("twenty")) == "years"
    assert _source_of(lambda: latest_year([])) == "year"
    assert _source_of(lambda: check_chain_year(world, "no-such-chain", None)) == "chain"
    assert _source_of(lambda: check_chain_year(world, "li-ion-batteries", 1900)) == "year"
    # the core functions behind the commands name parameters too
    assert _source_of(lambda: world.risk.concentration("graphite", "mining", 1900, "wmd")) == "year"
    assert _source_of(lambda: world.risk.exposure("USA", None, ["no-such-chain"])) == "chain"
    reg = registry.load()
    assert _source_of(lambda: reg.filter_projects(chain="no-such-chain")) == "chain"
    assert _source_of(lambda: reg.summary("planet")) == "by"
    assert _source_of(lambda: reg.summary("state", "all")) == "type"


def test_years_parsing_and_chain_years(world: critmin.World) -> None:
    assert parse_years("2018:2020") == (2018, 2020)
    assert parse_years("2020, 2018,2020") == [2020, 2018]
    assert latest_year([2019, 2023, 2021]) == 2023 and latest_year([2019], 2017) == 2017
    lo, hi = chain_years(world, "li-ion-batteries")
    assert lo <= hi
    assert check_chain_year(world, "li-ion-batteries", hi) == ("li-ion-batteries", hi)
    assert check_chain_year(world, "li-ion-batteries", None) == ("li-ion-batteries", None)


def test_the_cli_names_the_flags(cli) -> None:
    """One translation (critmin.cli.common.core_flags): the same errors name --year, --source, CHAIN, --chain."""
    cases = [
        (("risk", "concentration", "--material", "gallium", "--year", "2010"), "error: --year: 2010: outside"),
        (("risk", "concentration", "--material", "graphite", "--source", "nope"), "error: --source: nope: no graphite"),
        (("risk", "concentration", "--material", "graphite", "--stage", "smelting"), "error: --stage: smelting:"),
        (("network", "show", "no-such-chain"), "error: CHAIN: no-such-chain: unknown chain"),
        (("network", "show", "li-ion-batteries", "--year", "1900"), "error: --year: 1900: outside the data"),
        (("risk", "exposure", "--importer", "USA", "--chain", "nope"), "error: --chain: nope: unknown chain"),
        (("projects", "list", "--chain", "nope"), "error: --chain: nope: unknown chain"),
        (("invest", "summary", "--by", "planet"), "error: --by: planet: unknown grouping"),
    ]
    for args, msg in cases:
        r = cli(*args)
        assert r.returncode == 2 and r.stderr.startswith(msg) and r.stderr.count("\n") == 1, (args, r.stderr)
