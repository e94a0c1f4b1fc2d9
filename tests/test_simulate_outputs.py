"""What ``simulate.run`` keeps: summaries reduced chunk by chunk, equal to those of the run-level arrays;
exact P95 of the monthly shares; the same numbers for any chunking, worker count or backend; float64 where
float32 overflows; the memory estimate and the scheduler checked before a run."""

from __future__ import annotations

import numpy as np
import pytest
from test_simulate_support import embargo, embargo_world, scenario

from critmin import simulate
from critmin.errors import InputError
from critmin.simulate import engine


def _case() -> tuple[object, dict]:
    sc = scenario(
        [embargo(["USA", "JPN"], fraction={"dist": "uniform", "low": 0.2, "high": 1.0},
                 duration={"dist": "uniform", "low": 2, "high": 8})],
        rerouting={"friction": {"dist": "uniform", "low": 0.2, "high": 0.9}},
        stockpiles=[{"holder": "USA+JPN", "stage": "product", "tonnes": 20, "max_monthly_release": 5}],
    )
    return embargo_world(), sc


@pytest.fixture(scope="module")
def pair():
    """The same 97 runs kept whole (full) and as summaries only, in chunks of 40 (module-wide, ~1 s)."""
    w, sc = _case()
    full = simulate.run(w, sc, runs=97, seed=2, chunk_size=40, full=True)
    summ = simulate.run(w, sc, runs=97, seed=2, chunk_size=40, full=False)
    return w, sc, full, summ


def test_summaries_do_not_depend_on_keeping_the_run_level_arrays(pair):
    _, _, full, summ = pair
    assert "shortfall" in full and "shortfall" not in summ
    for v in summ.data_vars:
        assert full[v].equals(summ[v]), v
    a, b = simulate.summarize(full), simulate.summarize(summ)
    assert a.equals(b) and len(a) and a["mean_t"].max() > 0


def test_summaries_equal_a_direct_reduction_of_the_run_level_shortfall(pair):
    _, _, full, _ = pair
    sf = full["shortfall"].values.astype(np.float64)  # (R, M, C, K)
    d0 = full["demand0"].values
    M = sf.shape[1]
    cum = sf.sum(axis=1)
    s = simulate.summarize(full)
    countries, sectors = list(full["country"].values), list(full["sector"].values)
    for _, row in s.iterrows():
        c, k = countries.index(row["country"]), sectors.index(row["sector"])
        x = cum[:, c, k]
        assert row["mean_t"] == pytest.approx(x.mean(), rel=1e-12, abs=1e-12)
        assert row["p95_t"] == pytest.approx(np.percentile(x, 95), rel=1e-12, abs=1e-12)
        assert row["prob_shortfall"] == pytest.approx((x > 0.01 * M * d0[c, k]).mean())
        assert row["months_short"] == pytest.approx((sf[:, :, c, k] > 0.01 * d0[c, k]).sum(axis=1).mean())
        assert row["share_of_demand"] == pytest.approx(x.mean() / (M * d0[c, k]))
    # the monthly shares: mean and P95 over runs per (month, country, stage), P95 exact
    m = simulate.monthly(full, all_cells=True)
    stage_of = full["sector_stage"].values
    checked = 0
    for (ctry, st), grp in m.groupby(["country", "stage"]):
        c = countries.index(ctry)
        ks = np.flatnonzero(stage_of == st)
        share = sf[:, :, c][:, :, ks].sum(axis=2) / d0[c, ks].sum()  # (R, M)
        np.testing.assert_allclose(grp["mean_share"].values, share.mean(axis=0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grp["p95_share"].values, np.percentile(share.astype(np.float32), 95, axis=0),
                                   rtol=1e-6, atol=1e-9)
        checked += int((share > 0).any())
    assert checked >= 2  # USA and JPN are short
    # the fan chart's stage totals
    st = full["stage_shortfall"].sel(stage="product").values
    np.testing.assert_allclose(st, sf[..., stage_of == "product"].sum(axis=(2, 3)), rtol=1e-12)


def test_same_numbers_for_any_chunking_workers_and_backend(pair):
    w, sc, _, summ = pair
    per_run = ("price", "release", "balance_residual", "cum_shortfall", "stage_shortfall", "monthly_p95_share",
               "months_short")
    other = simulate.run(w, sc, runs=97, seed=2, chunk_size=13, full=False)
    for v in per_run:
        assert summ[v].equals(other[v]), v
    # the run sums (means) are added chunk by chunk: equal to rounding whatever the chunks
    np.testing.assert_allclose(other["shortfall_mean"].values, summ["shortfall_mean"].values, rtol=1e-12)
    forked = simulate.run(w, sc, runs=97, seed=2, chunk_size=40, full=False, workers=2)
    for v in summ.data_vars:
        assert summ[v].equals(forked[v]), v


def test_forked_workers_fill_the_run_level_shortfall(pair):
    w, sc, full, _ = pair
    forked = simulate.run(w, sc, runs=97, seed=2, chunk_size=40, full=True, workers=3)
    assert float(forked["shortfall"].sum()) > 0
    for v in full.data_vars:
        assert full[v].equals(forked[v]), v


def test_a_stack_of_surges_works_in_float64_and_stays_finite():
    # 14 overlapping surges of x1,000 (each inside the documented range) multiply demand by 1e42 > float32's max
    w = embargo_world()
    surges = [{"type": "demand_surge", "country": "USA", "sector": "ev", "factor": 1000} for _ in range(14)]
    sc = scenario([embargo(["USA"]), *surges])
    ds = simulate.run(w, sc, runs=3, seed=0, full=True)
    assert ds["shortfall"].dtype == np.float64
    s = simulate.summarize(ds)
    row = s[(s.country == "USA") & (s.sector == "ev")].iloc[0]
    assert np.isfinite(row["mean_t"]) and row["mean_t"] > 1e38
    assert np.isfinite(s[["mean_t", "p95_t", "share_of_demand"]].to_numpy()).all()


def test_memory_estimate_stops_a_run_that_cannot_fit(monkeypatch):
    w, sc = _case()
    monkeypatch.setenv(engine.MEMORY_ENV, "500M")
    with pytest.raises(InputError) as ei:
        simulate.run(w, sc, runs=10**9, seed=0, full=False)
    msg = str(ei.value)
    assert ei.value.source == "--runs" and "GB of memory" in msg and engine.MEMORY_ENV in msg
    monkeypatch.setenv(engine.MEMORY_ENV, "lots")
    with pytest.raises(InputError, match=engine.MEMORY_ENV):
        simulate.run(w, sc, runs=2, seed=0)
    monkeypatch.delenv(engine.MEMORY_ENV)
    _, model, plan = engine.prepare(w, sc)
    small = engine.memory_needed(model, plan, 1000, False, 1000)
    assert small < engine.memory_needed(model, plan, 1000, True, 1000) < engine.memory_needed(model, plan, 10**6,
                                                                                               True, 1000)


def test_cli_caps_runs_with_one_line(cli):
    r = cli("simulate", "ree-magnet-embargo-us-jpn-12m", "--runs", str(10**12), "--json",
            env={engine.MEMORY_ENV: "2G"})
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--runs" in lines[0] and engine.MEMORY_ENV in lines[0], r.stderr


@pytest.mark.parametrize("address", ["not a scheduler::", "tcp://127.0.0.1:1"])
def test_bad_scheduler_is_one_line_naming_the_option(monkeypatch, address):
    w, sc = _case()
    monkeypatch.setattr(engine, "SCHEDULER_TIMEOUT", 1)
    with pytest.raises(InputError) as ei:
        simulate.run(w, sc, runs=2, seed=0, backend="dask", scheduler=address)
    assert ei.value.source == "--scheduler" and "\n" not in str(ei.value)


def test_summary_netcdf_is_small_and_round_trips(pair, tmp_path):
    import xarray as xr

    _, _, full, summ = pair
    p, q = tmp_path / "s.nc", tmp_path / "f.nc"
    simulate.to_netcdf(full, p)  # summaries only, though the result has the run-level arrays
    simulate.to_netcdf(full, q, full=True)
    back = xr.open_dataset(p, engine="h5netcdf")
    try:
        assert "shortfall" not in back
        assert simulate.summarize(back).equals(simulate.summarize(summ))
        assert p.stat().st_size < q.stat().st_size
    finally:
        back.close()


def test_malformed_scheduler_in_a_real_process_exits_at_once(critmin_cli):
    """The whole command (a subprocess): one line, exit 2, no Client left to time out at exit."""
    import time

    t = time.perf_counter()
    r = critmin_cli("simulate", "baseline", "--runs", "2", "--backend", "dask", "--scheduler", "bogus::")
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "--scheduler" in r.stderr, r.stderr
    assert time.perf_counter() - t < 15  # (a half-built Client used to hang 20 s and print a traceback)
