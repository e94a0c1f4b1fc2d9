"""The simulation plot's country bars never add shortfall across content units (one bar per stage)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from critmin.simulate.plot import _country_bars, plot


def _dataset() -> xr.Dataset:
    # 4 runs x 2 months x 3 countries x 3 sectors; sectors ev and wind on the magnet stage, defence on oxide
    rng = np.random.default_rng(3)
    shortfall = rng.uniform(0, 10, size=(4, 2, 3, 3))
    shortfall[:, :, 2, 2] = 1000.0  # KOR dominates the oxide stage in tonnes of REO
    return xr.Dataset(
        {"shortfall": (("run", "month", "country", "sector"), shortfall)},
        coords={"run": np.arange(4), "month": np.arange(2), "country": ["USA", "JPN", "KOR"],
                "sector": ["ev", "wind", "defence"], "stage": ["magnet", "oxide"],
                "sector_stage": ("sector", ["magnet", "magnet", "oxide"]),
                "content": ("stage", ["t NdFeB", "t REO"])},
        attrs={"title": "toy", "runs": 4},
    )


def test_country_bars_sum_within_a_stage_only():
    ds = _dataset()
    cum = ds["shortfall"].sum("month")
    labels, bars = _country_bars(cum, ds)
    assert list(bars) == ["magnet (t NdFeB)", "oxide (t REO)"]
    sf = ds["shortfall"].values.sum(axis=1)  # run, country, sector
    for n, c in enumerate(labels):
        i = ["USA", "JPN", "KOR"].index(c)
        assert bars["magnet (t NdFeB)"][0][n] == pytest.approx(sf[:, i, :2].sum(axis=1).mean())
        assert bars["oxide (t REO)"][0][n] == pytest.approx(sf[:, i, 2].mean())
        assert bars["oxide (t REO)"][1][n] == pytest.approx(np.percentile(sf[:, i, 2], 95))
    assert labels[0] == "KOR"  # largest share of one stage (the oxide stage), whatever the units


def test_country_bars_rank_by_share_not_tonnes():
    ds = _dataset()
    sf = ds["shortfall"].values
    sf[:] = 0.0
    sf[:, :, 0, 0] = 1000.0  # USA: 1,000 t NdFeB, half the magnet stage's shortfall
    sf[:, :, 1, 0] = 1000.0  # JPN: the other half
    sf[:, :, 2, 2] = 1.0     # KOR: 1 t REO, all of the oxide stage's shortfall
    labels, _ = _country_bars(ds["shortfall"].sum("month"), ds)
    assert labels[0] == "KOR"


@pytest.mark.parametrize("suffix", [".html", ".png"])
def test_plot_draws_one_country_series_per_stage(tmp_path, suffix):
    out = plot(_dataset(), tmp_path / f"p{suffix}")
    assert out.stat().st_size > 10_000
    if suffix == ".html":
        text = out.read_text(encoding="utf-8")
        assert "Cumulative shortfall by country and stage" in text
        assert '"name":"magnet (t NdFeB)"' in text and '"name":"oxide (t REO)"' in text


def test_plot_reads_the_summaries_of_a_run_without_run_level_arrays(tmp_path):
    """A result of ``run(..., full=False)`` draws the same series and bars as the run-level one."""
    from test_simulate_support import embargo, embargo_world, scenario

    from critmin import simulate
    from critmin.simulate.engine import cumulative
    from critmin.simulate.plot import _series

    w = embargo_world()
    sc = scenario([embargo(["USA", "JPN"], fraction={"dist": "uniform", "low": 0.3, "high": 1.0})])
    full = simulate.run(w, sc, runs=24, seed=1, full=True)
    summ = simulate.run(w, sc, runs=24, seed=1, full=False)
    a, b = _series(full), _series(summ)
    assert list(a) == list(b)
    for name in a:
        for k in ("p5", "p50", "p95", "mean"):
            np.testing.assert_allclose(a[name][k], b[name][k], rtol=1e-6, atol=1e-9)  # float32 vs float64 sums
    assert max(float(s["mean"].max()) for s in b.values()) > 0
    np.testing.assert_allclose(cumulative(summ).values, full["shortfall"].values.astype(float).sum(axis=1),
                               rtol=1e-12)
    out = plot(summ, tmp_path / "s.html")
    assert "Cumulative shortfall by country and stage" in out.read_text(encoding="utf-8")
