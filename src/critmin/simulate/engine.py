"""Running a scenario: model build, sampling, chunked execution (in-process or Dask), results.

Runs are split into chunks of ``chunk_size``; every backend runs the same chunks
with the same pre-drawn parameters and combines them in chunk order, so for a
given seed the in-process and Dask results are identical, bit for bit.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from critmin.errors import InputError, did_you_mean
from critmin.simulate.kernel import (
    PER_RUN_OUTPUTS,
    SUM_OUTPUTS,
    Plan,
    allocate_outputs,
    compile_plan,
    sample,
    simulate_chunk,
    zeros,
)
from critmin.simulate.model import ChainModel, build_model
from critmin.simulate.scenario import Scenario, load_scenario, parse_scenario

Backend = Literal["numpy", "dask"]
DEFAULT_CHUNK = 1000
#: Runs per block when summarising the shortfall.
SUMMARY_BLOCK = 256


def resolve_scenario(scenario: str | Path | Scenario | dict[str, Any]) -> tuple[Scenario, str]:
    """A Scenario from a library name, a YAML path, a mapping or a Scenario; plus its source label."""
    from critmin.simulate.library import library_names, library_path

    if isinstance(scenario, Scenario):
        return scenario, f"scenario {scenario.name}"
    if isinstance(scenario, dict):
        return parse_scenario(scenario, "scenario"), "scenario"
    text = str(scenario)
    p = Path(text)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise InputError(text, None, "no such scenario file")
        return load_scenario(p), str(p)
    if text in library_names():
        lp = library_path(text)
        return load_scenario(lp), f"scenario {text}"

    more = did_you_mean(text, library_names())
    raise InputError("scenario", text, f"neither a scenario file nor a library scenario{more}")


def _named_places(scenario: Scenario) -> list[str]:
    names: list[str] = []
    for sh in scenario.shocks:
        for attr in ("origin", "country"):
            v = getattr(sh, attr, None)
            if isinstance(v, str):
                names.append(v)
        if getattr(sh, "destinations", "all") != "all":
            names.extend(sh.destinations)
        names.extend(getattr(sh, "except_", []) or [])
        fac = getattr(sh, "facility", None)
        if fac is not None:
            names.append(fac.country)
    for sp in scenario.responses.stockpiles:
        names.append(sp.holder)
    for cap in scenario.responses.capacity:
        if cap.country:
            names.append(cap.country)
    return names


def prepare(
    world: Any,
    scenario: str | Path | Scenario | dict[str, Any],
    horizon: int | None = None,
    max_countries: int | None = None,
) -> tuple[Scenario, ChainModel, Plan]:
    """Validate ``scenario`` against ``world``; build its chain model and compiled plan."""
    sc, source = resolve_scenario(scenario)
    chains = world.chains
    if sc.chain not in chains:
        more = did_you_mean(sc.chain, list(chains)) or f"; chains: {', '.join(sorted(chains)) or 'none'}"
        raise InputError(source, "chain", f"unknown chain {sc.chain!r}{more}")
    chain = chains[sc.chain]
    keep: list[str] = []
    bmap = world.bloc_map()
    for n in _named_places(sc):
        keep.extend(bmap.get(n, [n]))
    model = build_model(world, chain, year=sc.year, max_countries=max_countries, keep=keep)
    h = int(horizon) if horizon is not None else sc.horizon
    if h < 1 or h > 600:
        raise InputError("--horizon", str(h), "horizon must be 1-600 months")
    plan = compile_plan(sc, model, world, chain, source, h)
    return sc, model, plan


def _chunk_bounds(runs: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk_size, runs)) for a in range(0, runs, chunk_size)]


#: Where a local Dask cluster's workers write their shortfall for the client to map (no transfer).
SHARED_DIR = "/dev/shm"


def _run_chunk_shared(
    model: ChainModel, plan: Plan, samples: np.ndarray, a: int, shape: tuple[int, ...], path: str | None
) -> dict[str, np.ndarray]:
    """A Dask task: run a chunk; write its shortfall into the client's shared file when this worker sees it.

    The file (``path``, named with a random id) lives in shared memory on the client's
    host; a worker on another host does not find it and returns the shortfall instead.
    """
    if not path or not os.path.exists(path):
        return simulate_chunk(model, plan, samples)
    out = allocate_outputs(model, plan, samples.shape[1], shortfall=False)
    # No explicit close: Dask's sampling profiler may still hold a frame of the kernel (and so a
    # view of the map) for a moment after it returns; the map is unmapped with its last view.
    full = np.memmap(path, dtype=np.float32, mode="r+", shape=shape)
    try:
        out["shortfall"] = full[a : a + samples.shape[1]]
        simulate_chunk(model, plan, samples, out=out)
    finally:
        out.pop("shortfall", None)
        del full
    return out


def run(
    world: Any,
    scenario: str | Path | Scenario | dict[str, Any],
    runs: int = 1000,
    seed: int = 0,
    horizon: int | None = None,
    backend: Backend = "numpy",
    scheduler: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    max_countries: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> xr.Dataset:
    """Simulate ``scenario`` on ``world``: ``runs`` Monte Carlo runs over ``horizon`` months.

    ``scenario`` is a library name, a YAML path, a mapping or a :class:`Scenario`.
    ``backend="dask"`` spreads chunks of ``chunk_size`` runs over a dask.distributed
    cluster at ``scheduler`` (address), or a local 2-worker cluster if none is given;
    for the same ``seed`` the result equals the in-process (``"numpy"``) one.
    ``progress(done_runs, runs)`` is called once with 0 when the scenario has been read and checked,
    then after each chunk. ``max_countries`` lumps all
    but that many of the most active countries into ``ROW`` (``None``, the default: every
    country of the World that takes part in the chain is its own row).

    Returns an :class:`xarray.Dataset` with ``shortfall`` (run, month, country, sector)
    in t of each sector's stage content per month, ``price`` (run, month, stage) index
    (1 = baseline), ``release`` (run, month, stockpile) t, ``balance_residual``
    (run, month, stage) t, mean ``production``/``inventory`` (month, stage, country),
    mean ``demand`` (month, country, sector) and baseline ``demand0`` (country, sector),
    all per month. See :func:`summarize`.
    """
    if isinstance(runs, bool) or int(runs) < 1:
        raise InputError("--runs", str(runs), "runs must be a positive whole number")
    if int(seed) < 0:
        raise InputError("--seed", str(seed), "seed must be a non-negative whole number")
    if int(chunk_size) < 1:
        raise InputError("chunk_size", str(chunk_size), "must be positive")
    if backend not in ("numpy", "dask"):
        raise InputError("--backend", str(backend), "use numpy or dask")
    runs, seed = int(runs), int(seed)
    sc, model, plan = prepare(world, scenario, horizon, max_countries)
    samples = sample(plan, runs, seed)
    bounds = _chunk_bounds(runs, int(chunk_size))
    if progress:
        progress(0, runs)
    if backend == "numpy":
        # every chunk writes straight into its rows of the whole result (no copies, no concatenation)
        out = allocate_outputs(model, plan, runs)
        parts = []
        for a, b in bounds:
            part = {k: out[k][a:b] for k in PER_RUN_OUTPUTS}
            part.update({k: np.zeros_like(out[k]) for k in SUM_OUTPUTS})
            simulate_chunk(model, plan, samples[:, a:b], out=part)
            parts.append(part)
            if progress:
                progress(b, runs)
        _add_chunk_sums(out, parts)
    else:
        out = _run_dask(model, plan, samples, bounds, scheduler, progress, runs)
    return _assemble(sc, model, plan, out, runs, seed, backend)


def _add_chunk_sums(out: dict[str, np.ndarray], parts: list[dict[str, np.ndarray]]) -> None:
    """``out``'s run sums = the chunks' sums added in chunk order (``parts``, first chunk first).

    Both backends add them this way, so that their results are identical bit for bit.
    """
    for k in SUM_OUTPUTS:
        acc = np.zeros_like(out[k])
        for part in parts:
            acc = acc + part[k]
        out[k] = acc


def _pwrite_all(fd: int, arr: np.ndarray, offset: int) -> None:
    view = memoryview(arr).cast("B")
    while len(view):
        n = os.pwrite(fd, view[: 1 << 30], offset)
        view, offset = view[n:], offset + n


def _shared_file(nbytes: int) -> tuple[str, int] | None:
    """A zero-filled file of ``nbytes`` in :data:`SHARED_DIR` (path, fd), if there is room."""
    if not os.path.isdir(SHARED_DIR):
        return None
    try:
        if shutil.disk_usage(SHARED_DIR).free < 2 * nbytes:
            return None
        path = os.path.join(SHARED_DIR, f"critmin-simulate-{uuid.uuid4().hex}.f32")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None
    try:
        os.ftruncate(fd, nbytes)
    except OSError:
        os.close(fd)
        os.unlink(path)
        return None
    return path, fd


def _run_dask(
    model: ChainModel,
    plan: Plan,
    samples: np.ndarray,
    bounds: list[tuple[int, int]],
    scheduler: str | None,
    progress: Callable[[int, int], None] | None,
    runs: int,
) -> dict[str, np.ndarray]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        out = allocate_outputs(model, plan, runs, shortfall=False)
        shape = (runs, plan.horizon, len(model.countries), len(model.sectors))
        nbytes = int(np.prod(shape)) * 4
        shared = _shared_file(nbytes) if nbytes else None
        path = shared[0] if shared else None
        row_bytes = nbytes // runs if runs else 0
        try:
            if not shared:
                out["shortfall"] = zeros(shape, np.float32)
            m_f, p_f = client.scatter([model, plan], broadcast=True)
            futs = [
                client.submit(_run_chunk_shared, m_f, p_f, samples[:, a:b], a, shape, path, pure=False)
                for a, b in bounds
            ]
            where = {f.key: (a, b) for f, (a, b) in zip(futs, bounds, strict=True)}
            parts: dict[int, dict[str, np.ndarray]] = {}
            done = 0
            for f in as_completed(futs):
                a, b = where[f.key]
                part = f.result()
                for k in PER_RUN_OUTPUTS:
                    if k not in part:
                        continue
                    if k == "shortfall" and shared:  # a worker that could not see the shared file
                        _pwrite_all(shared[1], np.ascontiguousarray(part[k], dtype=np.float32), a * row_bytes)
                    else:
                        out[k][a:b] = part[k]
                parts[a] = {k: part[k] for k in SUM_OUTPUTS}
                f.release()
                done += b - a
                if progress:
                    progress(done, runs)
            if shared:
                # the workers on this host wrote their rows into the shared file: map it (pages already there)
                mm = mmap.mmap(shared[1], nbytes, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
                out["shortfall"] = np.frombuffer(mm, dtype=np.float32).reshape(shape)
        finally:
            if shared:
                os.close(shared[1])
                os.unlink(shared[0])  # the client's map stays valid; the memory goes with the last reference
        _add_chunk_sums(out, [parts[a] for a, _ in bounds])
        return out
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _assemble(
    sc: Scenario,
    model: ChainModel,
    plan: Plan,
    out: dict[str, np.ndarray],
    runs: int,
    seed: int,
    backend: str,
) -> xr.Dataset:
    cat = {k: out[k] for k in PER_RUN_OUTPUTS}
    sums = {k: out[k] / runs for k in SUM_OUTPUTS}
    months = np.arange(1, plan.horizon + 1)
    coords = {
        "run": np.arange(runs),
        "month": months,
        "country": model.countries,
        "sector": model.sectors,
        "stage": model.stages,
        "stockpile": [sp["label"] for sp in plan.stockpiles],
        "sector_stage": ("sector", [model.stages[i] for i in model.sector_stage]),
        "sector_material": ("sector", [model.stage_material[i] for i in model.sector_stage]),
        "defence": ("sector", model.sector_defence),
        "material": ("stage", model.stage_material),
        "content": ("stage", model.stage_content),
    }
    ds = xr.Dataset(
        {
            "shortfall": (("run", "month", "country", "sector"), cat["shortfall"]),
            "price": (("run", "month", "stage"), cat["price"]),
            "release": (("run", "month", "stockpile"), cat["release"]),
            "balance_residual": (("run", "month", "stage"), cat["balance_residual"]),
            "production": (("month", "stage", "country"), sums["production_sum"]),
            "inventory": (("month", "stage", "country"), sums["inventory_sum"]),
            "exports": (("month", "stage", "country"), sums["exports_sum"]),
            "exports0": (("stage", "country"), model.flows.sum(axis=2) - np.einsum("scc->sc", model.flows)),
            "demand": (("month", "country", "sector"), sums["demand_sum"]),
            "demand0": (("country", "sector"), model.demand0),
            "production0": (("stage", "country"), model.q0),
        },
        coords=coords,
    )
    units = {
        "shortfall": "t per month (content unit of the sector's stage)",
        "price": "index, baseline = 1",
        "release": "t per month",
        "balance_residual": "t per month",
        "production": "t per month, mean over runs",
        "inventory": "t at month end, mean over runs",
        "exports": "t per month shipped to other countries, mean over runs",
        "exports0": "t per month shipped to other countries, baseline",
        "demand": "t per month, mean over runs",
        "demand0": "t per month, baseline",
        "production0": "t per month, baseline",
    }
    for k, u in units.items():
        ds[k].attrs["units"] = u
    ds.attrs.update(
        {
            "scenario": sc.name,
            "title": sc.title,
            "chain": model.chain_id,
            "runs": runs,
            "seed": seed,
            "horizon": plan.horizon,
            "backend": backend,
            "sources": json.dumps(sc.sources),
            "model_provenance": json.dumps(model.provenance, default=str),
            "row_members": json.dumps(model.members),
            "parameters": json.dumps(
                {n: d.to_yaml() for n, d in zip(plan.slot_names, plan.slots, strict=True)}, default=float
            ),
        }
    )
    return ds


def summarize(ds: xr.Dataset, threshold: float = 0.01) -> pd.DataFrame:
    """Cumulative shortfall over the horizon per country × sector, across runs.

    Columns: ``country, sector, material, stage, defence, demand_t`` (baseline
    demand over the horizon), ``mean_t, p5_t, p50_t, p95_t`` (cumulative shortfall,
    t), ``prob_shortfall`` (share of runs whose cumulative shortfall exceeds
    ``threshold`` × baseline demand) and ``months_short`` (mean number of months
    with a shortfall above ``threshold`` × monthly baseline demand). The default 1%
    is a judgement (it keeps rounding-level shortfall from counting), not a sourced
    level. Rows with no demand are dropped; sorted by mean shortfall, largest first.
    """
    sf = ds["shortfall"].values  # (R, M, C, K) float32
    R, M = sf.shape[:2]
    d0 = ds["demand0"].values  # (C, K)
    # in blocks of runs, so that no float64 copy of the whole array is made (GBs at ~200 countries)
    cum = np.empty((R, *d0.shape))
    n_short = np.empty((R, *d0.shape), dtype=np.int64)
    lim = threshold * d0[None, None]
    for a in range(0, R, SUMMARY_BLOCK):
        blk = sf[a : a + SUMMARY_BLOCK].astype(np.float64)
        cum[a : a + SUMMARY_BLOCK] = blk.sum(axis=1)
        n_short[a : a + SUMMARY_BLOCK] = (blk > lim).sum(axis=1)
    q = np.percentile(cum, [5, 50, 95], axis=0)
    prob = (cum > threshold * M * d0[None]).mean(axis=0)
    months = n_short.mean(axis=0)
    C, K = d0.shape
    cc, kk = np.meshgrid(np.arange(C), np.arange(K), indexing="ij")
    df = pd.DataFrame(
        {
            "country": np.asarray(ds["country"].values)[cc.ravel()],
            "sector": np.asarray(ds["sector"].values)[kk.ravel()],
            "material": np.asarray(ds["sector_material"].values)[kk.ravel()],
            "stage": np.asarray(ds["sector_stage"].values)[kk.ravel()],
            "defence": np.asarray(ds["defence"].values)[kk.ravel()],
            "demand_t": (d0 * M).ravel(),
            "mean_t": cum.mean(axis=0).ravel(),
            "p5_t": q[0].ravel(),
            "p50_t": q[1].ravel(),
            "p95_t": q[2].ravel(),
            "prob_shortfall": prob.ravel(),
            "months_short": months.ravel(),
        }
    )
    df = df[df["demand_t"] > 0].sort_values(["mean_t", "country", "sector"], ascending=[False, True, True])
    return df.reset_index(drop=True)


def price_summary(ds: xr.Dataset) -> pd.DataFrame:
    """Peak and mean price index per stage: mean over runs of the max / mean over months, P95 of the peak."""
    p = ds["price"].values
    peak = p.max(axis=1)
    return pd.DataFrame(
        {
            "stage": ds["stage"].values,
            "material": ds["material"].values,
            "peak_mean": peak.mean(axis=0),
            "peak_p95": np.percentile(peak, 95, axis=0),
            "mean": p.mean(axis=(0, 1)),
        }
    )


def stockpile_summary(ds: xr.Dataset) -> pd.DataFrame:
    """Total release per stockpile over the horizon (mean and P95 across runs), t."""
    r = ds["release"].values.sum(axis=1)
    return pd.DataFrame(
        {
            "stockpile": ds["stockpile"].values,
            "released_mean_t": r.mean(axis=0) if r.size else [],
            "released_p95_t": np.percentile(r, 95, axis=0) if r.size else [],
        }
    )


def mean_shortfall(ds: xr.Dataset) -> xr.DataArray:
    """Mean shortfall over runs, (month, country, sector) t/month, from a full or a summary result."""
    if "shortfall_mean" in ds:
        return ds["shortfall_mean"]
    return ds["shortfall"].astype(np.float64).mean("run")


def regional_prices(ds: xr.Dataset) -> xr.DataArray:
    """Price index per run, month, stage and region (baseline 1).

    The model's regional prices where the result has them (a variable ``price_region`` with dims
    run, month, stage, region), else the world index ``price`` as the one region ``world``.
    """
    for name in ("price_region", "regional_price", "price_by_region"):
        if name in ds and ds[name].dims == ("run", "month", "stage", "region"):
            return ds[name]
    return ds["price"].expand_dims(region=["world"], axis=3)
