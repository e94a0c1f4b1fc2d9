"""Running a scenario: model build, sampling, chunked execution (in-process or Dask), results.

Runs are split into chunks of ``chunk_size``; every backend runs the same chunks
with the same pre-drawn parameters and combines them in chunk order, so for a
given seed the in-process and Dask results are identical, bit for bit.
"""

from __future__ import annotations

import json
import mmap
import multiprocessing
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
#: Seconds to wait for a dask scheduler given with ``scheduler=`` before giving up.
SCHEDULER_TIMEOUT = 10
#: Environment variable that sets the memory a simulation may use (bytes, or e.g. ``16G``, ``800M``).
MEMORY_ENV = "CRITMIN_SIMULATE_MEMORY"
#: Memory of the interpreter, the World and the model before any run (measured: ~340 MB at full
#: resolution of the rare-earth magnet chain), bytes.
BASE_MEMORY = 400 << 20
#: The percentile of the monthly shortfall shares (``monthly_p95_share``).
MONTHLY_Q = 95.0
#: Largest value float32 holds (the run-level shortfall is float32 unless it could exceed this).
F32_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------------------------------------------- reduction


class Reduction:
    """What the summaries need from the shortfall, reduced block by block (see ``docs/simulate.md``).

    Only (country, sector) *pairs* with baseline demand can be short (shortfall is a share of a sector's
    demand); they are ordered by stage, country, sector, so that a (country, stage) *cell* is a run of
    pairs and a stage a run of cells. Per chunk of runs it keeps: ``cum`` (runs, pairs) float64, the
    cumulative shortfall of each run, t; ``months`` (pairs,) int64, months above ``threshold`` × baseline
    monthly demand summed over runs; ``sf_sum`` (months, pairs) float64, the run sum of shortfall,
    added run by run in order; ``stage_short`` (runs, months, stages) float64, each run's world shortfall
    per stage, t/month; and ``top`` (k, months × cells; float32, or float64 with a float64 shortfall), the k
    largest values over the chunk's runs of
    each cell's shortfall share (shortfall ÷ baseline demand at the stage), where k = the ranks
    ``np.percentile`` reads for the P95 over *all* runs. Merging the chunks' ``top`` keeps the k largest
    values of every cell, so the P95 is exact (the same number as a percentile over every run's share),
    whatever the chunks and the backend. :class:`_Combine` merges the chunks as they arrive.
    """

    def __init__(self, model: ChainModel, horizon: int, runs: int, threshold: float,
                 share_dtype: Any = np.float32) -> None:
        d0 = model.demand0
        C, K = d0.shape
        S = len(model.stages)
        stage_of = np.asarray(model.sector_stage)
        c_idx, k_idx = np.nonzero(d0 > 0)
        order = np.lexsort((k_idx, c_idx, stage_of[k_idx]))
        self.pair_c, self.pair_k = c_idx[order], k_idx[order]
        self.pair_flat = self.pair_c * K + self.pair_k
        self.lim = threshold * d0[self.pair_c, self.pair_k]
        cell_key = stage_of[self.pair_k] * C + self.pair_c
        new_cell = np.r_[True, np.diff(cell_key) != 0] if len(cell_key) else np.zeros(0, bool)
        self.cell_starts = np.flatnonzero(new_cell)
        self.cell_len = np.diff(np.r_[self.cell_starts, len(cell_key)])
        self.cell_c = self.pair_c[self.cell_starts]
        self.cell_s = stage_of[self.pair_k[self.cell_starts]]
        self.cell_d0 = np.add.reduceat(d0[self.pair_c, self.pair_k], self.cell_starts) if len(cell_key) else \
            np.zeros(0)
        new_stage = np.r_[True, np.diff(self.cell_s) != 0] if len(self.cell_s) else np.zeros(0, bool)
        self.stage_starts = np.flatnonzero(new_stage)
        self.stage_ids = self.cell_s[self.stage_starts]
        self.shape = (C, K, S)
        self.horizon = horizon
        self.runs = runs
        self.threshold = threshold
        self.k = runs - int(np.floor(MONTHLY_Q / 100.0 * (runs - 1)))
        self.share_dtype = share_dtype  # the shortfall's dtype: float64 where float32 could overflow

    def start(self, n_runs: int, block: int) -> dict[str, np.ndarray]:
        """Zeroed accumulators of a chunk of ``n_runs`` runs stepped through ``block`` runs at a time."""
        M, P, CS = self.horizon, len(self.pair_flat), len(self.cell_starts)
        return {
            "cum": np.zeros((n_runs, P)),
            "months": np.zeros(P, dtype=np.int64),
            "sf_sum": np.zeros((M, P)),
            "stage_short": np.zeros((n_runs, M, self.shape[2])),
            "share": np.zeros((n_runs, M * CS), dtype=self.share_dtype),
        }

    def block(self, acc: dict[str, np.ndarray], sf: np.ndarray, a: int, b: int) -> None:
        """Fold a block's shortfall ``sf`` (runs a:b of the chunk, months, countries, sectors) into ``acc``.

        Only the cells with a shortfall somewhere in the block are worked on (a tenth of them in the
        magnet embargo), each with all its pairs: a cell's sums then do not depend on the other runs of
        the block, and what is skipped is zero, which adds nothing (the numbers are those of the whole
        arrays, for any blocking).
        """
        n = b - a
        M = sf.shape[1]
        if not len(self.pair_flat):
            return
        got = np.take(sf.reshape(n, M, -1), self.pair_flat, axis=2)  # (n, M, pairs); 4x faster than [..., idx]
        hit = got.any(axis=(0, 1))
        if not hit.any():
            return  # every accumulator stays as it is
        cells_hit = np.flatnonzero(np.logical_or.reduceat(hit, self.cell_starts))
        lengths = self.cell_len[cells_hit]
        seg = np.cumsum(lengths) - lengths  # where each hit cell starts among the pairs taken
        idx = np.repeat(self.cell_starts[cells_hit] - seg, lengths) + np.arange(int(lengths.sum()))
        x = got[:, :, idx].astype(np.float64)  # float64 from here on
        acc["cum"][a:b, idx] = x.sum(axis=1)
        acc["months"][idx] += np.count_nonzero(x > self.lim[idx], axis=(0, 1))
        # run sums, run by run in order (as kernel._accumulate): the same sums for any blocking
        buf = np.empty((n + 1, M, len(idx)))
        buf[0] = acc["sf_sum"][:, idx]
        buf[1:] = x
        acc["sf_sum"][:, idx] = np.add.reduce(buf, axis=0)
        cells = np.zeros((n, M, len(self.cell_starts)))
        cells[:, :, cells_hit] = np.add.reduceat(x, seg, axis=2)  # (n, M, cells) t/month
        acc["stage_short"][a:b][:, :, self.stage_ids] = np.add.reduceat(cells, self.stage_starts, axis=2)
        cells /= self.cell_d0
        acc["share"][a:b] = cells.reshape(n, -1)

    def finish_chunk(self, acc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The chunk's partial result: ``share`` cut to its ``top`` values (what travels back from a worker)."""
        acc.pop("_buf", None)
        acc["top"] = _top(acc.pop("share"), self.k)
        return acc

    def quantile(self, top: np.ndarray) -> np.ndarray:
        """P95 over all runs of each (month, cell) share from the merged ``top`` (as ``np.percentile``, linear)."""
        R = self.runs
        h = MONTHLY_Q / 100.0 * (R - 1)
        j = int(np.floor(h))
        g = h - j
        srt = np.sort(top.astype(np.float64), axis=0)
        lo = srt[0]
        hi = srt[1] if len(srt) > 1 else srt[0]
        d = hi - lo
        return lo + d * g if g < 0.5 else hi - d * (1.0 - g)


class _Combine:
    """The chunks' results folded into the whole result as they arrive, in any order: per-run rows into
    their place, months-short counts added (integers), the P95 ranks merged (a set of values); the run
    sums are kept per chunk and added in chunk order by :meth:`finish`, so that every backend gives the
    same numbers bit for bit. Nothing of a chunk is kept beyond its small run sums."""

    def __init__(self, red: Reduction, runs: int, out: dict[str, np.ndarray]) -> None:
        self.red, self.out = red, out
        self.cum = np.zeros((runs, len(red.pair_flat)))
        self.stage_short = np.zeros((runs, red.horizon, red.shape[2]))
        self.months = np.zeros(len(red.pair_flat), dtype=np.int64)
        self.top: np.ndarray | None = None
        self.sums: dict[int, dict[str, np.ndarray]] = {}

    def add(self, a: int, b: int, part: dict[str, np.ndarray], per_run: bool = True) -> None:
        """Fold chunk ``a:b``'s ``part``; ``per_run``: copy its per-run outputs into ``out`` (False when
        the chunk wrote into views of them)."""
        if per_run:
            for k in PER_RUN_OUTPUTS:
                if k in part and k != "shortfall" and k in self.out:
                    self.out[k][a:b] = part[k]
        rd = part["reduced"]
        self.cum[a:b] = rd["cum"]
        self.stage_short[a:b] = rd["stage_short"]
        self.months += rd["months"]
        self.top = rd["top"] if self.top is None else _top(np.concatenate([self.top, rd["top"]]), self.red.k)
        self.sums[a] = {k: part[k] for k in SUM_OUTPUTS} | {"sf_sum": rd["sf_sum"]}

    def finish(self, bounds: list[tuple[int, int]]) -> dict[str, np.ndarray]:
        """``out`` with the run sums added in chunk order and the reduction under ``"reduced"``."""
        ordered = [self.sums[a] for a, _ in bounds]
        _add_chunk_sums(self.out, ordered)
        sf_sum = np.zeros_like(ordered[0]["sf_sum"])
        for p in ordered:
            sf_sum = sf_sum + p["sf_sum"]
        self.out["reduced"] = {"cum": self.cum, "stage_short": self.stage_short, "months": self.months,
                               "sf_sum": sf_sum, "top": self.top}
        return self.out


def _top(x: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest values of each column of ``x`` (rows in no particular order)."""
    n = x.shape[0]
    if n <= k:
        return np.ascontiguousarray(x)
    return np.ascontiguousarray(np.partition(x, n - k, axis=0)[n - k:])


def shortfall_dtype(model: ChainModel, plan: Plan, samples: np.ndarray) -> Any:
    """float32 for the run-level shortfall unless it could overflow float32, else float64.

    A shortfall never exceeds demand: baseline × the product of the surges that overlap (the price
    factor is at most 1, as the index is at least 1 and the demand elasticity at most 0). Overlapping
    surges multiply (14 surges of ×1,000 reach 1e42 t), so the bound uses every surge's largest draw.
    """
    bound = float(model.demand0.max(initial=0.0))
    for su in plan.surges:
        bound *= max(1.0, float(samples[su["factor"]].max(initial=1.0)))
    return np.float32 if bound < F32_MAX / 1e3 else np.float64


def memory_limit() -> tuple[int, str]:
    """(bytes a simulation may use, where that figure comes from): $CRITMIN_SIMULATE_MEMORY, else the
    memory the OS reports available (``MemAvailable``), else 4 GiB."""
    raw = os.environ.get(MEMORY_ENV)
    if raw:
        text = raw.strip().upper().removesuffix("B")
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
        try:
            val = float(text[:-1] if mult > 1 else text) * mult
        except ValueError:
            raise InputError(MEMORY_ENV, raw, "use bytes or a size such as 800M or 16G") from None
        if not np.isfinite(val) or val <= 0:
            raise InputError(MEMORY_ENV, raw, "must be a positive size")
        return int(val), f"${MEMORY_ENV}"
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available memory"
    except OSError:
        pass
    return 4 << 30, "default limit"


def memory_needed(model: ChainModel, plan: Plan, runs: int, full: bool, chunk_size: int) -> int:
    """Bytes a run of ``runs`` runs needs at its peak (an estimate, ±25%): drawn parameters, per-run
    outputs, the reduction (per-run cumulative shortfall, a chunk's shares, the P95 ranks), the kernel's
    work arrays, and with ``full`` the (runs, months, countries, sectors) shortfall."""
    from critmin.simulate.kernel import BLOCK_RUNS

    M = plan.horizon
    S, C = model.q0.shape
    K = len(model.sectors)
    P = int((model.demand0 > 0).sum())
    G = len(getattr(plan, "regions", ["world"]) or ["world"])
    cells = M * min(C * S, P)
    k = runs - int(np.floor(MONTHLY_Q / 100.0 * (runs - 1)))
    chunk = min(chunk_size, runs)
    per_run = 8 * (len(plan.slots) + M * (S * (2 + G) + len(plan.stockpiles) + S) + 2 * P)
    need = BASE_MEMORY + runs * per_run
    need += 4 * cells * (chunk + 3 * k) + 8 * (BLOCK_RUNS + 1) * M * (P + C * K)
    need += 8 * 60 * BLOCK_RUNS * S * C + 8 * 6 * M * S * C  # kernel work arrays, run sums
    if full:
        need += runs * M * C * K * 4
    return int(need)


def check_memory(model: ChainModel, plan: Plan, runs: int, full: bool, chunk_size: int) -> None:
    """InputError naming ``--runs`` when the run would need more memory than :func:`memory_limit`."""
    need = memory_needed(model, plan, runs, full, chunk_size)
    limit, where = memory_limit()
    if need > limit:
        gb = 1 << 30
        what = "with run-level arrays (full)" if full else ""
        raise InputError(
            "--runs", str(runs),
            f"{runs:,} runs x {plan.horizon} months {what} need about {need / gb:.1f} GB of memory, more than "
            f"the {limit / gb:.1f} GB limit ({where}); use fewer runs or a shorter --horizon"
            f"{', or no --full' if full else ''}, or raise the limit with {MEMORY_ENV}=SIZE (e.g. 32G)")


# ---------------------------------------------------------------------------------------------- chunks


def _run_chunk(
    model: ChainModel, plan: Plan, samples: np.ndarray, red: Reduction, dtype: Any,
    out: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Run one chunk (``samples``: slots × its runs) and reduce its shortfall block by block.

    ``out`` (optional): arrays to fill in place, e.g. views of the whole result's rows with a
    ``shortfall`` to keep. Returns the chunk's run-level outputs (those in ``out`` or new ones), its run
    sums and :class:`Reduction`'s partial result under ``"reduced"``.
    """
    from critmin.simulate.kernel import BLOCK_RUNS

    n = samples.shape[1]
    if out is None:
        out = allocate_outputs(model, plan, n, shortfall=False)
    acc = red.start(n, BLOCK_RUNS)
    simulate_chunk(model, plan, samples, out=out, reduce=lambda sf, a, b: red.block(acc, sf, a, b),
                   shortfall_dtype=dtype)
    out["reduced"] = red.finish_chunk(acc)
    return out


def _run_chunk_shared(
    model: ChainModel, plan: Plan, samples: np.ndarray, a: int, shape: tuple[int, ...], path: str | None,
    red: Reduction | None = None, dtype: Any = np.float32, full: bool = True,
) -> dict[str, np.ndarray]:
    """A Dask task: run a chunk; write its shortfall into the client's shared file when this worker sees it.

    The file (``path``, named with a random id) lives in shared memory on the client's
    host; a worker on another host does not find it and returns the shortfall instead, as it does
    without ``path``. Without ``full`` (summaries only) the chunk keeps no shortfall. ``red`` (a
    :class:`Reduction`) reduces the chunk's shortfall (default: one for this chunk alone).
    """
    if red is None:
        red = Reduction(model, plan.horizon, samples.shape[1], 0.01)
    if not full:
        return _run_chunk(model, plan, samples, red, dtype)
    if not path or not os.path.exists(path):
        out = allocate_outputs(model, plan, samples.shape[1], shortfall_dtype=dtype)
        return _run_chunk(model, plan, samples, red, dtype, out)
    out = allocate_outputs(model, plan, samples.shape[1], shortfall=False)
    # No explicit close: Dask's sampling profiler may still hold a frame of the kernel (and so a
    # view of the map) for a moment after it returns; the map is unmapped with its last view.
    full = np.memmap(path, dtype=dtype, mode="r+", shape=shape)
    try:
        out["shortfall"] = full[a : a + samples.shape[1]]
        _run_chunk(model, plan, samples, red, dtype, out)
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
    full: bool = True,
    threshold: float = 0.01,
    workers: int = 1,
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

    ``full=True`` (the default) keeps the run-level ``shortfall`` (run, month, country, sector) in t of
    each sector's stage content per month (float32; float64 where float32 could overflow: 10,000 runs
    of the magnet chain are 3 GB); ``full=False`` keeps only what the summaries need (see
    :class:`Reduction`: ~150 MB for 10,000 runs). Either way the result has ``price`` (run, month,
    stage) index (1 = baseline; ``price_region`` (run, month, stage, region) when the model has
    regions), ``release`` (run, month, stockpile) t, ``balance_residual`` (run, month, stage) t,
    ``cum_shortfall`` (run, pair) t over the horizon per (country, sector) pair with demand,
    ``stage_shortfall`` (run, month, stage) t/month, ``shortfall_mean`` (month, country, sector),
    ``months_short`` (country, sector: mean months short by more than ``threshold`` × baseline
    demand), ``monthly_mean_share``/``monthly_p95_share`` (month, country, stage), mean
    ``production``/``inventory``/``exports`` (month, stage, country), mean ``demand`` (month, country,
    sector) and baseline ``demand0`` (country, sector). See :func:`summarize`.

    ``workers`` > 1 (in-process backend) runs the chunks in that many forked processes (Linux; the
    chunks, their reduction and the order they are combined in are the same, so the result is identical).

    A run that would need more memory than is available (or than ``$CRITMIN_SIMULATE_MEMORY``)
    stops with an InputError before it starts; outputs that are not finite raise one too.
    """
    if isinstance(runs, bool) or int(runs) < 1:
        raise InputError("--runs", str(runs), "runs must be a positive whole number")
    if int(seed) < 0:
        raise InputError("--seed", str(seed), "seed must be a non-negative whole number")
    if int(chunk_size) < 1:
        raise InputError("chunk_size", str(chunk_size), "must be positive")
    if backend not in ("numpy", "dask"):
        raise InputError("--backend", str(backend), "use numpy or dask")
    if not 0 <= float(threshold) <= 1:
        raise InputError("--threshold", str(threshold), "must be between 0 and 1")
    runs, seed = int(runs), int(seed)
    sc, model, plan = prepare(world, scenario, horizon, max_countries)
    check_memory(model, plan, runs, full, int(chunk_size))
    samples = sample(plan, runs, seed)
    dtype = shortfall_dtype(model, plan, samples)
    red = Reduction(model, plan.horizon, runs, float(threshold), share_dtype=dtype)
    bounds = _chunk_bounds(runs, int(chunk_size))
    if isinstance(workers, bool) or int(workers) < 1:
        raise InputError("--workers", str(workers), "must be a positive whole number")
    workers = min(int(workers), len(bounds))
    forked = backend == "numpy" and workers > 1 and "fork" in multiprocessing.get_all_start_methods()
    if progress and not forked:  # (forked: once the workers exist, so that no progress thread is forked)
        progress(0, runs)
    if forked:
        out = _run_forked(model, plan, samples, bounds, red, dtype, full, workers, progress, runs)
    elif backend == "numpy":
        out = allocate_outputs(model, plan, runs, shortfall=full, shortfall_dtype=dtype)
        comb = _Combine(red, runs, out)
        for a, b in bounds:
            # every chunk writes straight into its rows of the whole result (no copies, no concatenation)
            part = {k: out[k][a:b] for k in PER_RUN_OUTPUTS if k in out}
            part.update({k: np.zeros_like(out[k]) for k in SUM_OUTPUTS})
            comb.add(a, b, _run_chunk(model, plan, samples[:, a:b], red, dtype, part), per_run=False)
            if progress:
                progress(b, runs)
        out = comb.finish(bounds)
    else:
        out = _run_dask(model, plan, samples, bounds, scheduler, progress, runs, full, red, dtype)
    ds = _assemble(sc, model, plan, out, runs, seed, backend, red)
    _check_finite(ds, sc)
    return ds


#: What forked chunk workers inherit from the parent (set just before the pool forks them).
_FORK: dict[str, Any] = {}


def _forked_chunk(a: int, b: int) -> dict[str, np.ndarray]:
    """Runs a:b in a forked worker: the model, samples and (with ``full``) the shared shortfall come from
    :data:`_FORK` as the parent left it; returns the chunk's outputs without the shortfall."""
    st = _FORK
    model, plan = st["model"], st["plan"]
    out = allocate_outputs(model, plan, b - a, shortfall=False)
    if st["shortfall"] is not None:
        out["shortfall"] = st["shortfall"][a:b]  # rows of the parent's shared map
    res = _run_chunk(model, plan, st["samples"][:, a:b], st["red"], st["dtype"], out)
    res.pop("shortfall", None)
    return res


def _run_forked(
    model: ChainModel, plan: Plan, samples: np.ndarray, bounds: list[tuple[int, int]], red: Reduction,
    dtype: Any, full: bool, workers: int, progress: Callable[[int, int], None] | None, runs: int,
) -> dict[str, np.ndarray]:
    """The in-process backend on ``workers`` forked processes: chunks as tasks, combined in chunk order.

    The workers are forked before anything else starts (no thread of the parent is copied mid-way);
    with ``full`` they write the shortfall into a shared anonymous map of the parent's.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    out = allocate_outputs(model, plan, runs, shortfall=False)
    shared = None
    if full:
        shape = (runs, plan.horizon, len(model.countries), len(model.sectors))
        nbytes = max(int(np.prod(shape)) * np.dtype(dtype).itemsize, 1)
        shared = np.frombuffer(mmap.mmap(-1, nbytes, flags=mmap.MAP_SHARED), dtype=dtype,
                               count=int(np.prod(shape))).reshape(shape)
    _FORK.update(model=model, plan=plan, samples=samples, red=red, dtype=dtype, shortfall=shared)
    comb = _Combine(red, runs, out)
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            pending = {pool.submit(_forked_chunk, a, b): (a, b) for a, b in bounds}
            if progress:
                progress(0, runs)
            n_done = 0
            while pending:
                # a finished future holds its chunk's result (tens of MB): fold it, then drop the future
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    a, b = pending.pop(f)
                    comb.add(a, b, f.result())
                    n_done += b - a
                    if progress:
                        progress(n_done, runs)
                del finished, f
    finally:
        _FORK.clear()
    if shared is not None:
        out["shortfall"] = shared
    return comb.finish(bounds)


def _check_finite(ds: xr.Dataset, sc: Scenario) -> None:
    """InputError when a summary output is not finite (overflow beyond float64, e.g. stacked surges)."""
    has_demand = np.isfinite(ds["monthly_mean_share"].values) | np.isinf(ds["monthly_mean_share"].values)
    for name in ("cum_shortfall", "price", "shortfall_mean", "demand", "monthly_mean_share", "monthly_p95_share"):
        if name not in ds:
            continue
        v = ds[name].values
        # (the monthly shares are NaN where a country has no demand at a stage)
        bad = ~np.isfinite(v) & has_demand if name.startswith("monthly_") else ~np.isfinite(v)
        if bad.any():
            raise InputError(f"scenario {sc.name}", name, f"{int(bad.sum()):,} values are not finite "
                             "(beyond float64: shocks such as stacked demand surges multiply past 1e308)")


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


def _client(scheduler: str | None) -> tuple[Any, Any]:
    """(dask Client, LocalCluster or None): the cluster at ``scheduler``, else a local 2-worker one.

    A malformed or unreachable address is an InputError naming ``--scheduler`` (after
    :data:`SCHEDULER_TIMEOUT` seconds at most).
    """
    from distributed import Client, LocalCluster

    # not dask's default client: a client that failed to connect would otherwise stay the default (and
    # xarray would take distributed locks to write a file afterwards); tasks are submitted to it by name
    if scheduler:
        from distributed.comm.addressing import parse_address, parse_host_port

        try:
            # a malformed address is refused before a Client exists (a half-built one hangs 20 s at exit)
            scheme, loc = parse_address(str(scheduler))
            if scheme in ("tcp", "tls", "ws", "wss"):
                parse_host_port(loc)
            return Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT}s", set_as_default=False), None
        except (OSError, ValueError, TypeError, TimeoutError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError("--scheduler", scheduler, f"cannot reach a dask scheduler there ({why}); give an "
                             "address such as tcp://host:8786, or leave --scheduler out for a local cluster") \
                from None
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster, set_as_default=False), cluster


def _run_dask(
    model: ChainModel,
    plan: Plan,
    samples: np.ndarray,
    bounds: list[tuple[int, int]],
    scheduler: str | None,
    progress: Callable[[int, int], None] | None,
    runs: int,
    full: bool,
    red: Reduction,
    dtype: Any,
) -> dict[str, np.ndarray]:
    from distributed import as_completed

    client, cluster = _client(scheduler)
    try:
        out = allocate_outputs(model, plan, runs, shortfall=False)
        shape = (runs, plan.horizon, len(model.countries), len(model.sectors))
        itemsize = np.dtype(dtype).itemsize
        nbytes = int(np.prod(shape)) * itemsize if full else 0
        shared = _shared_file(nbytes) if nbytes else None
        path = shared[0] if shared else None
        row_bytes = nbytes // runs if runs else 0
        try:
            if full and not shared:
                out["shortfall"] = zeros(shape, dtype)
            m_f, p_f, r_f = client.scatter([model, plan, red], broadcast=True)
            futs = [
                client.submit(_run_chunk_shared, m_f, p_f, samples[:, a:b], a, shape, path, r_f, dtype, full,
                              pure=False)
                for a, b in bounds
            ]
            where = {f.key: (a, b) for f, (a, b) in zip(futs, bounds, strict=True)}
            comb = _Combine(red, runs, out)
            done = 0
            for f in as_completed(futs, loop=client.loop):
                a, b = where[f.key]
                part = f.result()
                if "shortfall" in part and shared:  # a worker that could not see the shared file
                    _pwrite_all(shared[1], np.ascontiguousarray(part["shortfall"], dtype=dtype), a * row_bytes)
                elif "shortfall" in part and full:
                    out["shortfall"][a:b] = part["shortfall"]
                comb.add(a, b, part)
                f.release()
                done += b - a
                if progress:
                    progress(done, runs)
            if shared:
                # the workers on this host wrote their rows into the shared file: map it (pages already there)
                mm = mmap.mmap(shared[1], nbytes, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
                out["shortfall"] = np.frombuffer(mm, dtype=dtype).reshape(shape)
        finally:
            if shared:
                os.close(shared[1])
                os.unlink(shared[0])  # the client's map stays valid; the memory goes with the last reference
        return comb.finish(bounds)
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
    red: Reduction,
) -> xr.Dataset:
    sums = {k: out[k] / runs for k in SUM_OUTPUTS}
    rd = out["reduced"]
    M = plan.horizon
    C, K, S = red.shape
    months = np.arange(1, M + 1)
    regions = list(getattr(plan, "regions", None) or ["world"])
    labels = getattr(plan, "month_labels", None)
    coords: dict[str, Any] = {
        "run": np.arange(runs),
        "month": months,
        "country": model.countries,
        "sector": model.sectors,
        "stage": model.stages,
        "region": regions,
        "stockpile": [sp["label"] for sp in plan.stockpiles],
        "sector_stage": ("sector", [model.stages[i] for i in model.sector_stage]),
        "sector_material": ("sector", [model.stage_material[i] for i in model.sector_stage]),
        "defence": ("sector", model.sector_defence),
        "material": ("stage", model.stage_material),
        "content": ("stage", model.stage_content),
        "pair_country": ("pair", np.asarray(model.countries, dtype=object)[red.pair_c].astype(str)),
        "pair_sector": ("pair", np.asarray(model.sectors, dtype=object)[red.pair_k].astype(str)),
    }
    if labels:
        coords["calendar"] = ("month", list(labels)[:M])
    # means and P95 of the monthly shares, (month, country, stage); NaN where the country has no demand there
    mean_sf = np.zeros((M, C * K))
    mean_sf[:, red.pair_flat] = rd["sf_sum"] / runs
    mean_cells = np.add.reduceat(rd["sf_sum"] / runs, red.cell_starts, axis=1) if len(red.cell_starts) else \
        np.zeros((M, 0))
    mean_share = np.full((M, C, S), np.nan)
    p95_share = np.full((M, C, S), np.nan)
    mean_share[:, red.cell_c, red.cell_s] = mean_cells / red.cell_d0
    if len(red.cell_starts):
        p95_share[:, red.cell_c, red.cell_s] = red.quantile(rd["top"]).reshape(M, -1)
    months_short = np.zeros(C * K)
    months_short[red.pair_flat] = rd["months"] / runs
    data: dict[str, Any] = {
        "price": (("run", "month", "stage"), out["price"]),
        "release": (("run", "month", "stockpile"), out["release"]),
        "balance_residual": (("run", "month", "stage"), out["balance_residual"]),
        "cum_shortfall": (("run", "pair"), rd["cum"]),
        "stage_shortfall": (("run", "month", "stage"), rd["stage_short"]),
        "shortfall_mean": (("month", "country", "sector"), mean_sf.reshape(M, C, K)),
        "months_short": (("country", "sector"), months_short.reshape(C, K)),
        "monthly_mean_share": (("month", "country", "stage"), mean_share),
        "monthly_p95_share": (("month", "country", "stage"), p95_share),
        "production": (("month", "stage", "country"), sums["production_sum"]),
        "inventory": (("month", "stage", "country"), sums["inventory_sum"]),
        "exports": (("month", "stage", "country"), sums["exports_sum"]),
        "exports0": (("stage", "country"), model.flows.sum(axis=2) - np.einsum("scc->sc", model.flows)),
        "demand": (("month", "country", "sector"), sums["demand_sum"]),
        "demand0": (("country", "sector"), model.demand0),
        "production0": (("stage", "country"), model.q0),
    }
    if "shortfall" in out:
        data["shortfall"] = (("run", "month", "country", "sector"), out["shortfall"])
    if "price_region" in out and out["price_region"].ndim == 4 and out["price_region"].shape[3] == len(regions):
        data["price_region"] = (("run", "month", "stage", "region"), out["price_region"])
    ds = xr.Dataset(data, coords=coords)
    units = {
        "shortfall": "t per month (content unit of the sector's stage)",
        "price": "index, baseline = 1",
        "price_region": "index, baseline = 1",
        "release": "t per month",
        "balance_residual": "t per month",
        "cum_shortfall": "t over the horizon (content unit of the sector's stage)",
        "stage_shortfall": "t per month, all countries and sectors of the stage",
        "shortfall_mean": "t per month, mean over runs",
        "months_short": "months, mean over runs",
        "monthly_mean_share": "share of the country's baseline monthly demand at the stage, mean over runs",
        "monthly_p95_share": "share of the country's baseline monthly demand at the stage, P95 over runs",
        "production": "t per month, mean over runs",
        "inventory": "t at month end, mean over runs",
        "exports": "t per month shipped to other countries, mean over runs",
        "exports0": "t per month shipped to other countries, baseline",
        "demand": "t per month, mean over runs",
        "demand0": "t per month, baseline",
        "production0": "t per month, baseline",
    }
    for k, u in units.items():
        if k in ds:
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
            "threshold": red.threshold,
            "full": int("shortfall" in out),
            "start": str(labels[0]) if labels else "",
            "sources": json.dumps(sc.sources),
            "model_provenance": json.dumps(model.provenance, default=str),
            "row_members": json.dumps(model.members),
            "parameters": json.dumps(
                {n: d.to_yaml() for n, d in zip(plan.slot_names, plan.slots, strict=True)}, default=float
            ),
        }
    )
    return ds


def summarize(ds: xr.Dataset, threshold: float | None = None) -> pd.DataFrame:
    """Cumulative shortfall over the horizon per country × sector, across runs.

    Columns: ``country, sector, material, stage, defence, demand_t`` (baseline
    demand over the horizon), ``mean_t, p5_t, p50_t, p95_t`` (cumulative shortfall,
    t), ``share_of_demand`` (mean_t ÷ demand_t), ``prob_shortfall`` (share of runs whose cumulative
    shortfall exceeds ``threshold`` × baseline demand) and ``months_short`` (mean number of months
    with a shortfall above ``threshold`` × monthly baseline demand). ``threshold`` defaults to the
    run's (``run(..., threshold=0.01)``); the 1% is a judgement (it keeps rounding-level shortfall from
    counting), not a sourced level. A different threshold needs the run-level shortfall for
    ``months_short`` (a result of ``run(..., full=True)``). Rows with no demand are dropped; sorted by
    mean shortfall, largest first.
    """
    run_thr = float(ds.attrs.get("threshold", 0.01))
    thr = run_thr if threshold is None else float(threshold)
    M = ds.sizes["month"]
    d0 = ds["demand0"].values
    cum = ds["cum_shortfall"].values  # (R, pairs) float64
    countries = [str(c) for c in ds["country"].values]
    sectors = [str(k) for k in ds["sector"].values]
    ci = pd.Index(countries).get_indexer(ds["pair_country"].values)
    ki = pd.Index(sectors).get_indexer(ds["pair_sector"].values)
    dem = d0[ci, ki]
    if thr == run_thr:
        months = ds["months_short"].values[ci, ki]
    elif "shortfall" in ds:
        sf = ds["shortfall"].values
        months = np.zeros(len(ci))
        lim = thr * d0[None, None]
        for a in range(0, sf.shape[0], SUMMARY_BLOCK):
            months += (sf[a : a + SUMMARY_BLOCK] > lim).sum(axis=(0, 1))[ci, ki]
        months /= sf.shape[0]
    else:
        raise InputError("threshold", str(threshold), f"this result counted months short at {run_thr} of demand; "
                         "run again with that threshold, or keep the run-level shortfall (full)")
    q = np.percentile(cum, [5, 50, 95], axis=0) if cum.size else np.zeros((3, 0))
    mean = cum.mean(axis=0) if cum.size else np.zeros(0)
    kk = np.asarray(ki)
    df = pd.DataFrame(
        {
            "country": np.asarray(countries, dtype=object)[ci],
            "sector": np.asarray(sectors, dtype=object)[kk],
            "material": np.asarray(ds["sector_material"].values)[kk],
            "stage": np.asarray(ds["sector_stage"].values)[kk],
            "defence": np.asarray(ds["defence"].values)[kk],
            "demand_t": dem * M,
            "mean_t": mean,
            "p5_t": q[0],
            "p50_t": q[1],
            "p95_t": q[2],
            "share_of_demand": mean / (dem * M),
            "prob_shortfall": (cum > thr * M * dem[None]).mean(axis=0) if cum.size else np.zeros(0),
            "months_short": months,
        }
    )
    df = df[df["demand_t"] > 0].sort_values(["mean_t", "country", "sector"], ascending=[False, True, True])
    return df.reset_index(drop=True)


def monthly(ds: xr.Dataset, all_cells: bool = False) -> pd.DataFrame:
    """Shortfall per month as a share of baseline demand, per country × stage with final demand.

    Columns ``country, stage, material, month`` (1 = first simulated month), ``calendar`` (YYYY-MM, when
    the scenario is pinned to a start month), ``mean_share`` (mean over runs) and ``p95_share`` (P95 over
    runs, exact: see :class:`Reduction`) of the country's shortfall at the stage ÷ its baseline monthly
    demand there (above 1 only under demand surges). Only countries and stages with a shortfall in some
    month, unless ``all_cells``.
    """
    mean = ds["monthly_mean_share"].values  # (M, C, S)
    p95 = ds["monthly_p95_share"].values
    has = np.isfinite(mean).all(axis=0)
    if not all_cells:
        has &= (np.nan_to_num(p95) > 0).any(axis=0) | (np.nan_to_num(mean) > 0).any(axis=0)
    cc, ss = np.nonzero(has)
    M = mean.shape[0]
    months = np.repeat(np.asarray(ds["month"].values), len(cc))
    df = pd.DataFrame(
        {
            "country": np.tile(np.asarray(ds["country"].values)[cc], M),
            "stage": np.tile(np.asarray(ds["stage"].values)[ss], M),
            "material": np.tile(np.asarray(ds["material"].values)[ss], M),
            "month": months,
        }
    )
    if "calendar" in ds.coords:
        df["calendar"] = np.repeat(np.asarray(ds["calendar"].values), len(cc))
    df["mean_share"] = mean[:, cc, ss].ravel()
    df["p95_share"] = p95[:, cc, ss].ravel()
    return df.sort_values(["country", "stage", "month"], kind="stable").reset_index(drop=True)


def price_quantiles(ds: xr.Dataset) -> pd.DataFrame:
    """Price index per stage, region and month across runs: ``material, stage, region, month`` (and
    ``calendar`` when pinned), ``p5, p50, p95`` (index, baseline 1). Regions: the model's price regions
    (``price_region``), else the one world index (region ``world``)."""
    p = regional_prices(ds).values  # (R, M, S, G)
    q = np.percentile(p, [5, 50, 95], axis=0)  # (3, M, S, G)
    M, S, G = q.shape[1:]
    mm, ss, gg = np.meshgrid(np.arange(M), np.arange(S), np.arange(G), indexing="ij")
    mm, ss, gg = (x.ravel() for x in (mm, ss, gg))
    df = pd.DataFrame(
        {
            "material": np.asarray(ds["material"].values)[ss],
            "stage": np.asarray(ds["stage"].values)[ss],
            "region": np.asarray(regional_prices(ds)["region"].values).astype(str)[gg],
            "month": np.asarray(ds["month"].values)[mm],
        }
    )
    if "calendar" in ds.coords:
        df["calendar"] = np.asarray(ds["calendar"].values)[mm]
    df["p5"], df["p50"], df["p95"] = q[0].ravel(), q[1].ravel(), q[2].ravel()
    return df.sort_values(["stage", "region", "month"], kind="stable").reset_index(drop=True)


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


def cumulative(ds: xr.Dataset) -> xr.DataArray:
    """Cumulative shortfall per run over the horizon, (run, country, sector) t, from a full or summary result
    (zero where a country has no demand in the sector)."""
    if "cum_shortfall" not in ds:
        return ds["shortfall"].astype(np.float64).sum("month")
    R = ds.sizes["run"]
    C, K = ds.sizes["country"], ds.sizes["sector"]
    ci = pd.Index([str(c) for c in ds["country"].values]).get_indexer(ds["pair_country"].values)
    ki = pd.Index([str(k) for k in ds["sector"].values]).get_indexer(ds["pair_sector"].values)
    full = np.zeros((R, C * K))
    full[:, ci * K + ki] = ds["cum_shortfall"].values
    return xr.DataArray(full.reshape(R, C, K), dims=("run", "country", "sector"),
                        coords={"run": ds["run"], "country": ds["country"], "sector": ds["sector"]})


def to_netcdf(ds: xr.Dataset, path: str | Path, full: bool = False) -> None:
    """Write a result to ``path`` (netCDF4 via h5netcdf, compressed): the summaries, and the run-level
    ``shortfall`` only with ``full`` (when the result has it)."""
    keep = ds if full else ds.drop_vars([v for v in ("shortfall",) if v in ds])
    enc = {v: {"zlib": True, "complevel": 4} for v in keep.data_vars if keep[v].dtype.kind == "f"}
    keep.to_netcdf(path, engine="h5netcdf", encoding=enc)


def mean_shortfall(ds: xr.Dataset) -> xr.DataArray:
    """Mean shortfall over runs, (month, country, sector) t/month, from a full or a summary result."""
    if "shortfall_mean" in ds:
        return ds["shortfall_mean"]
    return ds["shortfall"].astype(np.float64).mean("run")


def regional_prices(ds: xr.Dataset) -> xr.DataArray:
    """Price index per run, month, stage and region (baseline 1).

    The model's regional prices where the result has them (``price_region``, dims run, month, stage,
    region), else the world index ``price`` as the one region ``world``.
    """
    if "price_region" in ds and ds["price_region"].dims == ("run", "month", "stage", "region"):
        return ds["price_region"]
    return ds["price"].expand_dims(region=["world"], axis=3)
