"""The real ``critmin simulate`` / ``critmin scenarios`` commands, run in process (conftest.run_cli); one test
runs the installed command as a subprocess (the simulate end-to-end smoke test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
import yaml
from conftest import run_cli
from test_simulate_support import tables, two_stage_chain, write_world

from critmin.simulate import library, library_names, load_scenario, parse_scenario
from critmin.simulate.engine import prepare
from critmin.world import World

CRITMIN = str(Path(sys.executable).with_name("critmin"))
BAD = Path(__file__).parent / "bad_scenarios"
BAD_FILES = sorted(BAD.glob("*.yaml"))


def expected_field(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: ")
    return first.removeprefix("# expect: ").strip()


def critmin(*args: str, world: Path | None = None):
    """``critmin [--world W] ARGS`` in this process."""
    pre = ["--world", str(world)] if world else []
    return run_cli(*pre, *args, env={"COLUMNS": "200"})


def critmin_subprocess(*args: str, world: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``critmin [--world W] ARGS``: the installed console script in a subprocess."""
    env = dict(os.environ, COLUMNS="200")
    pre = ["--world", str(world)] if world else []
    return subprocess.run([CRITMIN, *pre, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def toy_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = tables(
        production={"CHN": 1200.0, "AUS": 240.0},
        ore_trade={("AUS", "JPN"): 120.0},
        product_trade={("CHN", "USA"): 120.0, ("CHN", "JPN"): 60.0, ("JPN", "KOR"): 12.0},
    )
    return write_world(tmp_path_factory.mktemp("world"), t, two_stage_chain())


def test_bad_corpus_is_big_enough():
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_scenario_exits_2_naming_the_field(path: Path, toy_world_dir: Path):
    r = critmin("simulate", str(path), "--runs", "2", world=toy_world_dir)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f": {expected_field(path)}: " in lines[0], lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_simulate_json_out_and_plot(toy_world_dir: Path, tmp_path: Path):
    sc = {
        "name": "toy-embargo",
        "title": "Toy embargo",
        "chain": "toy",
        "source": "test fixture",
        "shocks": [
            {
                "type": "export_restriction",
                "origin": "CHN",
                "stages": ["product"],
                "destinations": ["USA", "JPN"],
                "fraction": {"dist": "uniform", "low": 0.5, "high": 1.0},
                "duration": 6,
            }
        ],
        "responses": {"stockpiles": [{"holder": "USA", "stage": "product", "tonnes": 5}]},
    }
    f = tmp_path / "toy.yaml"
    f.write_text(yaml.safe_dump(sc), encoding="utf-8")
    nc, png, html = tmp_path / "r.nc", tmp_path / "r.png", tmp_path / "r.html"
    args = ["simulate", str(f), "--runs", "64", "--seed", "7", "--horizon", "12", "--json"]
    r = critmin(*args, "--out", str(nc), "--plot", str(png), world=toy_world_dir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"scenario", "runs", "seed", "shortfall"} <= set(out)
    assert out["scenario"] == "toy-embargo" and out["runs"] == 64 and out["seed"] == 7
    row = next(x for x in out["shortfall"] if x["country"] == "USA" and x["sector"] == "ev")
    assert {"country", "sector", "material", "mean_t", "p95_t", "prob_shortfall", "share_of_demand"} <= set(row)
    assert row["material"] == "product-x" and row["mean_t"] > 0 and row["prob_shortfall"] == 1.0
    assert row["share_of_demand"] == pytest.approx(row["mean_t"] / row["demand_t"])
    assert out["stockpiles"][0]["released_mean_t"] == pytest.approx(5.0)
    assert out["max_balance_residual_t"] < 1e-9
    # the JSON contract: monthly shares and price quantiles by region
    m = [x for x in out["monthly"] if x["country"] == "USA" and x["stage"] == "product"]
    assert [x["month"] for x in m] == list(range(1, 13))
    assert {"country", "stage", "month", "mean_share", "p95_share"} <= set(m[0])
    assert all(0 <= x["mean_share"] <= 1 + 1e-9 and 0 <= x["p95_share"] <= 1 + 1e-9 for x in m)
    assert m[0]["p95_share"] > m[0]["mean_share"] > 0  # short in month 1 (at least half withheld)
    p = [x for x in out["price"] if x["stage"] == "product"]
    assert len(p) == 12 * len({x["region"] for x in p}) and {"material", "region", "p5", "p50", "p95"} <= set(p[0])
    assert all(0 < x["p5"] <= x["p50"] <= x["p95"] for x in p)
    ds = xr.open_dataset(nc, engine="h5netcdf")  # summaries only by default
    assert "shortfall" not in ds and ds["cum_shortfall"].dims == ("run", "pair") and ds.sizes["run"] == 64
    ds.close()
    r = critmin(*args, "--out", str(nc), "--full", world=toy_world_dir)
    assert r.returncode == 0, r.stderr
    ds = xr.open_dataset(nc, engine="h5netcdf")
    assert ds["shortfall"].dims == ("run", "month", "country", "sector") and ds.sizes["run"] == 64
    ds.close()
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    # same seed, same answer; the html plot is self-contained
    r2 = critmin(*args, "--plot", str(html), world=toy_world_dir)
    assert json.loads(r2.stdout)["shortfall"] == out["shortfall"]
    assert "plotly" in html.read_text(encoding="utf-8")[:200_000].lower()
    # table view
    r3 = critmin("simulate", str(f), "--runs", "8", world=toy_world_dir)
    assert r3.returncode == 0 and "USA" in r3.stdout and "Price index" in r3.stdout


def test_bad_options_exit_2(toy_world_dir: Path, tmp_path: Path):
    f = tmp_path / "ok.yaml"
    f.write_text("name: ok\ntitle: ok\nchain: toy\n", encoding="utf-8")
    for args, field in (
        (["--runs", "0"], "--runs"),
        (["--out", str(tmp_path / "x.csv")], "--out"),
        (["--plot", str(tmp_path / "x.gif")], "--plot"),
        (["--backend", "spark"], "--backend"),
        (["--workers", "-1"], "--workers"),
        (["--threshold", "1.5"], "--threshold"),
    ):
        r = critmin("simulate", str(f), *args, world=toy_world_dir)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and field in r.stderr, r.stderr
    r = critmin("simulate", "no-such-scenario", world=toy_world_dir)
    assert r.returncode == 2 and "no-such-scenario" in r.stderr


def test_scenarios_list_and_show():
    r = critmin("scenarios", "list", "--json")
    assert r.returncode == 0
    rows = json.loads(r.stdout)
    assert [x["name"] for x in rows] == library_names()
    assert all(set(x) >= {"name", "title", "source"} and x["source"] for x in rows)
    r = critmin("scenarios", "show", "ree-magnet-embargo-us-jpn-12m")
    assert r.returncode == 0
    assert yaml.safe_load(r.stdout)["name"] == "ree-magnet-embargo-us-jpn-12m"
    r = critmin("scenarios", "show", "nope")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_library_is_sourced_and_complete():
    names = set(library_names())
    for required in (
        "baseline",
        "ga-ge-licensing-2023",
        "graphite-licensing-2023",
        "antimony-licensing-2024",
        "ga-ge-us-ban-2024",
        "sb-us-ban-2024",
        "ree-medium-heavy-2025",
        "ree-oct-2025-expansion",
        "ree-magnet-embargo-us-jpn-12m",
    ):
        assert required in names
    distributed = 0
    for sc in library():
        assert sc.sources, sc.name
        # every non-fixed parameter (shocks and responses) is listed as an assumption, and every
        # assumption names a parameter of the file (a stale field path would hide a judgement)
        params = dict(param_paths(sc))
        # the walk reaches every shock (else the checks below would pass on nothing)
        assert {f"shocks[{i}]" for i in range(len(sc.shocks))} <= {p.split(".")[0] for p in params}, sc.name
        fields = {a.field for a in sc.assumptions}

        def covers(field: str, path: str) -> bool:  # an assumption on `approval` covers approval.schedule.3
            return path == field or path.startswith(field + ".")

        stale = {f for f in fields if not any(covers(f, p) for p in params)}
        assert not stale, (sc.name, sorted(stale))
        for path, d in params.items():
            if not d.is_fixed:
                assert any(covers(f, path) for f in fields), (sc.name, path)
                distributed += 1
    assert distributed > 0  # the library has distributed parameters: the check above ran


def param_paths(obj: object, path: str = ""):
    """``(field path, Dist)`` for every numeric parameter of a scenario, e.g. ``shocks[0].fraction``."""
    from pydantic import BaseModel

    from critmin.simulate.scenario import Approval, Dist

    if isinstance(obj, Dist):
        yield path, obj
    elif isinstance(obj, Approval):  # licensing approvals: a share, a ramp or a schedule of shares
        if obj.kind == "constant":
            yield path, obj.values[0]
        elif obj.kind == "ramp":
            yield from ((f"{path}.ramp.{k}", d) for k, d in zip(("from", "to", "months"), (*obj.values, *obj.months),
                                                                 strict=True))
        else:
            yield from ((f"{path}.schedule.{k}", d) for k, d in zip(obj.months, obj.values, strict=True))
    elif isinstance(obj, BaseModel):
        for name, value in obj:
            key = "except" if name == "except_" else name
            yield from param_paths(value, f"{path}.{key}" if path else key)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from param_paths(value, f"{path}[{i}]")


def test_malformed_corpus_in_process(toy_world_dir: Path):
    from critmin.errors import InputError

    w = World.from_path(toy_world_dir)
    for p in BAD_FILES:
        with pytest.raises(InputError) as ei:
            prepare(w, load_scenario(p))
        assert ei.value.field == expected_field(p), (p.name, str(ei.value))


def test_library_resolves_against_the_embedded_world():
    import critmin

    w = critmin.load()
    for name in library_names():
        sc = load_scenario(Path(critmin.__file__).parent / "scenarios" / f"{name}.yaml")
        assert sc.chain in w.chains, (name, sc.chain)  # a library scenario on a chain the World lacks is a bug
        prepare(w, sc)
    assert parse_scenario({"name": "x", "title": "x", "chain": "rare-earth-magnets"}).horizon == 36


@pytest.mark.slow
def test_cli_full_country_resolution_by_default():
    """Without --max-countries every country of the World is its own row (no ROW lumping)."""
    full = critmin_subprocess("simulate", "ree-magnet-embargo-us-jpn-12m", "--runs", "20", "--json")
    assert full.returncode == 0, full.stderr
    lumped = critmin_subprocess("simulate", "ree-magnet-embargo-us-jpn-12m", "--runs", "20", "--json",
                                "--max-countries", "10")
    assert lumped.returncode == 0, lumped.stderr
    f, lump = json.loads(full.stdout), json.loads(lumped.stdout)
    # ("ROW" also exists at full resolution: the sources' own rest-of-world rows)
    assert len(f["countries"]) > 100 and {"USA", "JPN", "CHN", "VNM", "DEU"} <= set(f["countries"])
    assert "ROW" in lump["countries"] and len(lump["countries"]) <= 11 < len(f["countries"])
    bad = critmin_subprocess("simulate", "baseline", "--runs", "5", "--max-countries", "-1")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--max-countries" in bad.stderr
