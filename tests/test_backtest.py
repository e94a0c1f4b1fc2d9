"""``critmin backtest``: real episodes (src/critmin/backtests) run as scenarios, model figures against history."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli

import critmin
from critmin import simulate
from critmin.errors import InputError
from critmin.simulate.backtest import (
    BACKTEST_DIR,
    Outcome,
    _verdict,
    backtest,
    episode_names,
    evaluate,
    load_episode,
    model_month,
    month_label,
    parse_episode,
)
from critmin.simulate.engine import regional_prices

SB = "sb-licensing-sep-2024"  # a small chain (antimony-tungsten): runs in a fraction of a second


@pytest.fixture(scope="module")
def world():
    return critmin.load()


@pytest.fixture(scope="module")
def sb_result(world):
    """The antimony episode's scenario run once (30 runs, seed 3) and its backtest table."""
    ep = load_episode(BACKTEST_DIR / f"{SB}.yaml")
    ds = simulate.run(world, ep.scenario, runs=30, seed=3)
    return ep, ds, backtest(world, SB, runs=30, seed=3)


def _episode(**over) -> dict:
    raw = {
        "name": "toy-episode",
        "title": "Toy",
        "scenario": "antimony-licensing-2024",
        "start": "2024-09",
        "calibration": True,
        "outcomes": [
            {"id": "oct", "what": "x", "metric": "exports_change", "origin": "CHN", "stage": "antimony-refined",
             "month": "2024-10", "real": {"low": 5.0, "high": 6.0}, "source": "test"},
        ],
    }
    raw.update(over)
    return raw


def test_every_library_episode_parses():
    names = episode_names()
    assert {"ree-magnets-apr-2025", SB, "ga-ge-licensing-aug-2023"} <= set(names)
    for n in names:
        ep = load_episode(BACKTEST_DIR / f"{n}.yaml")
        assert ep.outcomes and ep.name == n


def test_calendar_months_map_to_model_months():
    assert model_month("2025-04", "2025-04") == 1
    assert model_month("2024-09", "2025-06") == 10
    assert month_label("2024-09", 10) == "2025-06"
    assert month_label("2025-11", 3) == "2026-01"


def test_model_figures_come_from_the_result(sb_result):
    ep, ds, table = sb_result
    assert list(table["outcome"]) == [o.id for o in ep.outcomes]
    s = list(ds["stage"].values).index("antimony-refined")
    c = list(ds["country"].values).index("CHN")
    for _, row in table[table["metric"] == "exports_change"].iterrows():
        t = model_month(ep.start, row["month"]) - 1
        expect = float(ds["exports"].values[t, s, c]) / float(ds["exports0"].values[s, c]) - 1
        assert row["model"] == pytest.approx(expect, rel=1e-12)
        assert -1.0 - 1e-9 <= row["model"] < 0  # the licensing scenario withholds part of China's exports
    prices = regional_prices(ds)
    for o, (_, row) in zip(ep.outcomes, table.iterrows(), strict=True):
        if o.metric != "price_change":
            continue
        t = model_month(ep.start, row["month"]) - 1
        region = row["where"].split("/")[-1]
        assert region == (o.region or "world")  # the outcome's region, else the world index
        p = (prices.sel(region=region) if region in prices["region"] else ds["price"]).values[:, t, s]
        assert row["model"] == pytest.approx(p.mean() - 1)
        assert row["model_p5"] - 1e-12 <= row["model_p95"]
    nm = table[table["metric"] == "not_modelled"]
    assert (nm["verdict"] == "not modelled").all() and nm["model"].isna().all()
    for _, row in table[table["verdict"] == "outside"].iterrows():
        lo, hi = row["real_low"], row["real_high"]
        near = hi if row["model"] > hi else lo
        assert row["off_by"] == pytest.approx(row["model"] - near)
    assert set(table["verdict"]) <= {"inside", "outside", "not modelled", "no figure"}


def test_verdicts_inside_outside_and_relative_miss():
    def o(metric="exports_change", **real):
        return Outcome.model_validate({"id": "x", "what": "x", "metric": metric, "origin": "CHN", "stage": "s",
                                       "country": "USA", "month": "2025-01", "real": real, "source": "t"})

    assert _verdict(o(low=-0.5, high=-0.3), {"model": -0.4})["verdict"] == "inside"
    v = _verdict(o(low=-0.5, high=-0.3), {"model": -0.1})
    assert v["verdict"] == "outside" and v["off_by"] == pytest.approx(0.2) and v["off_by_rel"] == pytest.approx(1.0)
    v = _verdict(o(value=-1.0), {"model": -0.75})
    assert v["off_by"] == pytest.approx(0.25) and v["off_by_rel"] == pytest.approx(0.25)  # relative to |value|
    assert _verdict(o(value=-1.0), {"model": -1.0 + 1e-9})["verdict"] == "inside"  # rounding slack
    m = o("first_shortfall_month", low="2025-05", high="2025-05")
    assert _verdict(m, {"model": "2025-05"})["verdict"] == "inside"
    v = _verdict(m, {"model": "2025-08"})
    assert v["verdict"] == "outside" and v["off_by"] == 3 and v["off_by_rel"] == 3.0
    assert _verdict(m, {"model": None})["verdict"] == "no figure"


def test_first_shortfall_month_reads_the_mean_shortfall(world):
    ep = load_episode(BACKTEST_DIR / "ree-magnets-apr-2025.yaml")
    ds = simulate.run(world, ep.scenario, runs=12, seed=0)
    table = evaluate(ds, ep)
    row = table[table["outcome"] == "us-first-line-stoppage"].iloc[0]
    sec = np.flatnonzero(ds["sector_stage"].values == "magnet")
    usa = list(ds["country"].values).index("USA")
    share = ds["shortfall"].values[:, :, usa][:, :, sec].astype(float).sum(axis=2).mean(axis=0) / float(
        ds["demand0"].values[usa, sec].sum())
    first = int(np.flatnonzero(share > 0.01)[0]) + 1
    assert row["model_month"] == first and row["model"] == month_label(ep.start, first)
    assert first > 1  # working stocks cover the first month


def test_cli_json_and_table(tmp_path: Path):
    r = run_cli("backtest", SB, "--runs", "10", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["runs"] == 10 and len(doc["outcomes"]) == len(load_episode(BACKTEST_DIR / f"{SB}.yaml").outcomes)
    row = doc["outcomes"][0]
    assert {"episode", "outcome", "metric", "real_low", "real_high", "model", "verdict", "off_by", "off_by_rel",
            "why", "source"} <= set(row)
    t = run_cli("backtest", SB, "--runs", "10", "--seed", "1")
    assert t.returncode == 0 and "oct-2024-sb-exports" in t.stdout and "verdict" in t.stdout
    x = tmp_path / "bt.xlsx"
    r = run_cli("backtest", SB, "--runs", "5", "--xlsx", str(x))
    assert r.returncode == 0 and x.stat().st_size > 1000


def test_strict_fails_on_an_unexplained_miss_of_a_calibration_episode(tmp_path: Path):
    f = tmp_path / "ep.yaml"
    raw = _episode()
    raw["outcomes"].append({"id": "dom", "what": "China's domestic price", "metric": "not_modelled",
                            "month": "2024-12", "real": {"value": -0.1}, "source": "test"})
    f.write_text(yaml.safe_dump(raw), encoding="utf-8")  # exports cannot rise +500%: outside, no why
    r = run_cli("backtest", str(f), "--runs", "4", "--json")
    assert r.returncode == 0, r.stderr  # a report
    rows = {x["outcome"]: x for x in json.loads(r.stdout)["outcomes"]}
    assert rows["dom"]["verdict"] == "not modelled" and rows["dom"]["model"] is None
    assert rows["oct"]["verdict"] == "outside" and rows["oct"]["off_by"] < -5
    r = run_cli("backtest", str(f), "--runs", "4", "--strict")
    assert r.returncode == 1 and "toy-episode/oct" in r.stderr
    raw = _episode()
    raw["outcomes"][0]["why"] = "explained in the data"
    f.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert run_cli("backtest", str(f), "--runs", "4", "--strict").returncode == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start": "2024-13"}, "start"),
        ({"colour": "red"}, "colour"),
        ({"outcomes": [{"id": "a", "what": "x", "metric": "exports_change", "stage": "antimony-refined",
                        "month": "2024-10", "real": {"value": 1}, "source": "t"}]}, "outcomes[0]"),
        ({"outcomes": [{"id": "a", "what": "x", "metric": "price_rise", "real": {"value": 1}, "source": "t"}]},
         "outcomes[0].metric"),
        ({"outcomes": [{"id": "a", "what": "x", "metric": "not_modelled", "real": {"low": 1}, "source": "t"}]},
         "outcomes[0].real"),
        ({"outcomes": [{"id": "a", "what": "x", "metric": "price_change", "stage": "antimony-refined",
                        "month": "2024-08", "real": {"value": 1}, "source": "t"}]}, "outcomes[0].month"),
        ({"outcomes": [{"id": "a", "what": "x", "metric": "price_change", "stage": "antimony-refined",
                        "month": "2080-01", "real": {"value": 1}, "source": "t"}]}, "outcomes[0].month"),
        ({"outcomes": [{"id": "a", "what": "x", "metric": "price_change", "stage": "antimony-metal",
                        "month": "2024-10", "real": {"value": 1}, "source": "t"}]}, "outcomes[0].stage"),
        ({"outcomes": [{"id": "a", "what": "x", "metric": "first_shortfall_month", "country": "XXA",
                        "real": {"value": "2024-10"}, "source": "t"}]}, "outcomes[0].country"),
        ({"scenario": "no-such-scenario"}, "scenario"),
        ({"start": "2024-08"}, "start"),  # the scenario is pinned to 2024-09
    ],
)
def test_bad_episode_file_is_one_line_naming_file_and_field(tmp_path: Path, change: dict, field: str):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(_episode(**change)), encoding="utf-8")
    r = run_cli("backtest", str(f), "--runs", "2")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert f"{f}: {field}" in lines[0], lines[0]


def test_unknown_episode_and_bad_options():
    r = run_cli("backtest", "sb-licensing-sep-2042")
    assert r.returncode == 2 and "did you mean" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    for args, name in ((["--runs", "0"], "--runs"), (["--threshold", "2"], "--threshold")):
        r = run_cli("backtest", SB, *args)
        assert r.returncode == 2 and name in r.stderr


def test_parse_episode_rejects_non_mapping():
    with pytest.raises(InputError, match="mapping"):
        parse_episode([1, 2], "x.yaml")


def test_every_library_episode_runs(world):
    """``critmin backtest`` (no name) runs every episode: a row per outcome, a verdict each, and the three
    calibration episodes of issue 10 among them."""
    table = backtest(world, None, runs=4, seed=0, max_countries=20)
    expected = sum(len(load_episode(BACKTEST_DIR / f"{n}.yaml").outcomes) for n in episode_names())
    assert len(table) == expected
    cal = set(table.loc[table["calibration"].astype(bool), "episode"])
    assert {"ree-magnets-apr-2025", SB, "ga-ge-licensing-aug-2023"} <= cal
    modelled = table[table["metric"] != "not_modelled"]
    assert modelled["verdict"].isin(["inside", "outside", "no figure"]).all()
    out = modelled[modelled["verdict"] == "outside"]
    assert out["off_by"].notna().all() and (out["off_by"] != 0).all()


def test_world_backtest_is_the_same_call(world, sb_result):
    """``world.backtest(name)`` is :func:`critmin.simulate.backtest` on that World (same runs, same seed)."""
    _ep, _ds, table = sb_result
    via_world = world.backtest(SB, runs=30, seed=3)
    import pandas as pd

    assert isinstance(via_world, pd.DataFrame) and len(via_world) > 0
    pd.testing.assert_frame_equal(via_world, table)


def test_check_options_names_parameters():
    """The core checks runs, seed and threshold before any episode is read (the CLI names the flags)."""
    from critmin.simulate.backtest import check_options

    check_options(1, 0, 0.5)
    for args, name in (((0, 0, 0.1), "runs"), ((True, 0, 0.1), "runs"), ((10, -1, 0.1), "seed"),
                       ((10, 0, 1.5), "threshold")):
        with pytest.raises(InputError) as e:
            check_options(*args)
        assert e.value.source == name
