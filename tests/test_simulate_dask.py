"""Same seed, same result: in-process and on a local 2-worker dask.distributed cluster."""

from __future__ import annotations

import pytest
from test_simulate_support import embargo, embargo_world, scenario, toy_world

from critmin import simulate


def _case():
    """A toy world and an uncertain embargo on USA and JPN, with every response drawn per run."""
    sc = scenario(
        [
            embargo(
                ["USA", "JPN"],
                fraction={"dist": "triangular", "low": 0.3, "mode": 0.8, "high": 1.0},
                duration={"dist": "uniform", "low": 3, "high": 9},
            )
        ],
        rerouting={"friction": {"dist": "uniform", "low": 0.0, "high": 1.0}},
        capacity=[{"spare": {"dist": "uniform", "low": 0, "high": 0.3}, "lead_months": 2}],
        stockpiles=[{"holder": "USA+JPN", "stage": "product", "tonnes": 20, "max_monthly_release": 5}],
    )
    return embargo_world(), sc


@pytest.mark.slow
def test_dask_backend_equals_in_process():
    from distributed import LocalCluster

    w, sc = _case()
    local = simulate.run(w, sc, runs=300, seed=42, chunk_size=64)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        remote = simulate.run(
            w, sc, runs=300, seed=42, chunk_size=64, backend="dask", scheduler=cluster.scheduler_address
        )
        summary = simulate.run(  # summaries only: the workers keep no run-level shortfall
            w, sc, runs=300, seed=42, chunk_size=64, backend="dask", scheduler=cluster.scheduler_address, full=False
        )
    finally:
        cluster.close()
    assert "shortfall" in local
    for var in local.data_vars:
        assert local[var].equals(remote[var]), var
    assert "shortfall" not in summary
    for var in summary.data_vars:  # incl. cum_shortfall, monthly_p95_share (exact P95 from merged ranks)
        assert local[var].equals(summary[var]), var
    assert float(local["shortfall"].sum()) > 0
    other = simulate.run(w, sc, runs=300, seed=43, chunk_size=64)
    assert not other["shortfall"].equals(local["shortfall"])


def test_shared_chunk_survives_a_retained_view(tmp_path, monkeypatch):
    """A Dask worker's profiler can hold a kernel frame (and a view of the shared map) after the
    kernel returns; the task must still finish, with its rows written into the shared file."""
    import numpy as np

    from critmin.simulate import engine

    w = toy_world(production={"CHN": 1200.0, "AUS": 300.0}, product_trade={("CHN", "USA"): 120.0})
    sc = scenario([embargo("all")])
    _, model, plan = engine.prepare(w, sc, None, None)
    runs = 8
    samples = engine.sample(plan, runs, 7)
    expected = simulate.run(w, sc, runs=runs, seed=7)["shortfall"].values
    shape = (runs, plan.horizon, len(model.countries), len(model.sectors))
    path = tmp_path / "shared.f32"
    path.write_bytes(b"\0" * (int(np.prod(shape)) * 4))

    held = []
    real = engine.simulate_chunk

    def keeps_a_view(model, plan, samples, out=None, **kw):
        held.append(out["shortfall"][:1])  # what a retained frame would keep alive
        return real(model, plan, samples, out=out, **kw)

    monkeypatch.setattr(engine, "simulate_chunk", keeps_a_view)
    for a, b in ((0, 5), (5, 8)):
        part = engine._run_chunk_shared(model, plan, samples[:, a:b], a, shape, str(path))
        assert "shortfall" not in part
    assert len(held) == 2
    held.clear()
    got = np.fromfile(path, dtype=np.float32).reshape(shape)
    assert got.sum() > 0
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
def test_dask_without_shared_memory_returns_shortfall_from_workers(monkeypatch, tmp_path):
    """No shared-memory folder on the client (e.g. not Linux): workers send their shortfall back."""
    from distributed import LocalCluster

    from critmin.simulate import engine

    w, sc = _case()
    local = simulate.run(w, sc, runs=90, seed=5, chunk_size=32)
    monkeypatch.setattr(engine, "SHARED_DIR", str(tmp_path / "no-shm"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = simulate.run(w, sc, runs=90, seed=5, chunk_size=32, backend="dask",
                              scheduler=cluster.scheduler_address)
    assert float(local["shortfall"].sum()) > 0
    assert local["shortfall"].equals(remote["shortfall"])


@pytest.mark.slow
def test_dask_worker_on_another_host_is_written_into_the_shared_file(monkeypatch):
    """A worker that cannot see the client's shared file (another host) returns its rows; the client
    writes them into the file at their offset, next to the rows written by workers on its own host."""
    import os

    from distributed import LocalCluster

    from critmin.simulate import engine

    w, sc = _case()
    local = simulate.run(w, sc, runs=90, seed=6, chunk_size=32)
    real_exists = os.path.exists
    seen = []

    def only_the_first_chunk_sees_it(path):  # in-process workers; one chunk counts as local
        if "critmin-simulate-" in str(path):
            seen.append(path)
            return len(seen) == 1
        return real_exists(path)

    monkeypatch.setattr(engine.os.path, "exists", only_the_first_chunk_sees_it)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = simulate.run(w, sc, runs=90, seed=6, chunk_size=32, backend="dask",
                              scheduler=cluster.scheduler_address)
    assert len(seen) == 3
    assert float(local["shortfall"].sum()) > 0  # (two all-zero results would be equal too)
    assert local["shortfall"].equals(remote["shortfall"])
