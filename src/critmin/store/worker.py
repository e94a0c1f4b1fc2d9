"""Workers: claim queued jobs from the store and run them, storing summaries: simulations with
:func:`critmin.simulate.run`, stockpile plans with ``world.optimize.stockpile`` and project portfolios with
``world.optimize.portfolio`` (on the creator's view of the store's registry, label narrowed to match).

A worker renews its lease on the job while it runs (a heartbeat thread, plus every progress
report). If it dies, the lease runs out and :meth:`Store.reap` (called by every worker's loop and
by ``critmin serve``) re-queues the job, or fails it with a message after
:data:`critmin.store.core.MAX_ATTEMPTS` tries: a job is never left "running".
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd

from critmin.store.core import Store


class _Stop(Exception):
    """The job was cancelled or taken away from this worker: stop simulating."""


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows (NaN -> None, numpy scalars -> Python) for the store's JSON columns."""
    out = []
    for row in df.to_dict(orient="records"):
        clean = {}
        for k, v in row.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            clean[str(k)] = v
        out.append(clean)
    return out


def run_summary(ds: Any) -> dict[str, Any]:
    """What a run keeps: shortfall by country × sector, prices, stockpile releases and a fan chart's bands.

    ``fan``: per month, P5/P50/P95 and mean across runs of the total shortfall (all countries and sectors)
    in t per month.
    """
    from critmin.simulate import price_summary, stockpile_summary, summarize

    total = ds["shortfall"].values.astype(np.float64).sum(axis=(2, 3))  # (run, month)
    q = np.percentile(total, [5, 50, 95], axis=0)
    return {
        "scenario": ds.attrs.get("scenario"),
        "title": ds.attrs.get("title"),
        "chain": ds.attrs.get("chain"),
        "runs": int(ds.attrs.get("runs", 0)),
        "seed": int(ds.attrs.get("seed", 0)),
        "horizon": int(ds.attrs.get("horizon", 0)),
        "shortfall": _records(summarize(ds)),
        "price": _records(price_summary(ds)),
        "stockpile": _records(stockpile_summary(ds)),
        "fan": {"month": [int(m) for m in ds["month"].values], "p5": q[0].tolist(), "p50": q[1].tolist(),
                "p95": q[2].tolist(), "mean": total.mean(axis=0).tolist(), "units": "t per month, all sectors"},
    }


class Worker:
    """Claims and runs jobs from ``store``. ``world`` is a World (default: ``critmin.load(world_path)``)."""

    def __init__(self, store: Store, world: Any = None, world_path: str | None = None, name: str | None = None,
                 lease: float = 30.0, poll: float = 1.0) -> None:
        self.store = store
        self._world = world
        self._world_path = world_path
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = float(lease)
        self.poll = float(poll)

    @property
    def world(self) -> Any:
        """The World jobs run on (loaded on first use)."""
        if self._world is None:
            import critmin

            self._world = critmin.load(self._world_path)
        return self._world

    def run_once(self) -> bool:
        """Reap lost jobs, then claim and run one job; False when the queue was empty."""
        self.store.reap()
        job = self.store.claim(self.name, self.lease)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: dict[str, Any]) -> None:
        from critmin import simulate
        from critmin.errors import InputError

        jid = job["job"]
        stop = threading.Event()
        lost = threading.Event()

        def beat() -> None:
            while not stop.wait(self.lease / 3):
                if not self.store.heartbeat(jid, self.name, self.lease):
                    lost.set()
                    return

        hb = threading.Thread(target=beat, name=f"heartbeat-{jid[:6]}", daemon=True)
        hb.start()

        def progress(done: int, total: int) -> None:
            if lost.is_set() or not self.store.heartbeat(jid, self.name, self.lease, done / max(total, 1)):
                raise _Stop()

        p = job["params"]
        kind = job.get("kind", "simulate")
        try:
            label, message = None, None
            if kind == "stockpile":
                summary = stockpile_summary(self.world, p, plan_progress(progress))
            elif kind == "portfolio":
                progress(1, 10)
                summary, label, message = self._portfolio(job)
            else:
                runs = int(p["runs"])
                ds = simulate.run(self.world, job["scenario"], runs=runs, seed=int(p["seed"]),
                                  horizon=p.get("horizon"), chunk_size=max(1, math.ceil(runs / 20)), progress=progress)
                summary = run_summary(ds)
            stop.set()
            self.store.finish(jid, self.name, summary, label=label, message=message)
        except _Stop:
            pass
        except InputError as exc:
            self.store.fail(jid, self.name, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure ends the job with a message, never stuck
            self.store.fail(jid, self.name, f"{type(exc).__name__}: {exc}")
        finally:
            stop.set()
            hb.join(timeout=5)

    def _portfolio(self, job: dict[str, Any]) -> tuple[dict[str, Any], Any, str | None]:
        """Run a portfolio plan on the creator's view of the registry (the store's records, when it holds any);
        returns (summary, derived label or None, message or None)."""
        label, message, cands, left = None, None, None, None
        if self.store.has_registry():
            from critmin.optimize.portfolio import candidates_from_registry

            creator = self.store.actor_by_id(job["created_by"])
            if creator is None:
                raise RuntimeError("the plan's creator has no account any more: the registry view is unknown")
            label, message = self.store.registry_label(creator, job["label"])
            cands, left = candidates_from_registry(self.world, self.store.registry(creator))
        return portfolio_summary(self.world, job["params"], cands, left), label, message

    def serve(self, stop: threading.Event | None = None, max_jobs: int | None = None) -> int:
        """Run jobs until ``stop`` is set (or ``max_jobs`` have run); returns the number run."""
        stop = stop or threading.Event()
        n = 0
        while not stop.is_set() and (max_jobs is None or n < max_jobs):
            if self.run_once():
                n += 1
            else:
                stop.wait(self.poll)
        return n


def clean(obj: Any) -> Any:
    """JSON-safe copy of nested dicts/lists: numpy scalars and arrays as Python, NaN/inf as None."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


#: Share of a stockpile plan's progress spent simulating (the LP build and solves follow).
SIMULATE_SHARE = 0.85


def plan_progress(report: Any) -> Any:
    """A ``progress(stage, done, total)`` callback for :func:`critmin.optimize.simulated.stockpile` that reports
    0–1 to ``report(done, total)``: ``simulate`` fills 0–:data:`SIMULATE_SHARE`, ``build`` and ``solve`` follow."""
    steps = {"build": 0.9, "solve": 0.95}

    def cb(stage: str, done: int, total: int) -> None:
        if stage == "simulate":
            frac = SIMULATE_SHARE * done / max(total, 1)
        else:
            frac = steps.get(stage, SIMULATE_SHARE)
        report(int(round(frac * 1000)), 1000)

    return cb


def stockpile_summary(world: Any, p: dict[str, Any], progress: Any = None) -> dict[str, Any]:
    """What a stockpile plan keeps: ``SimulatedStockpile.to_dict()`` (plan, rules, pooled_vs_separate, costs in
    US$, stocks in t) with the request's holders, budget and CVaR level, JSON-safe."""
    res = world.optimize.stockpile(p["scenario"], holders=p["holders"], runs=int(p["runs"]), seed=int(p["seed"]),
                                   budget=p.get("budget"), cvar=p.get("cvar"), lam=float(p.get("lam") or 0.0),
                                   progress=progress)
    out = clean(res.to_dict())
    out.update({"kind": "stockpile", "holders_spec": p["holders"], "budget_usd": p.get("budget"),
                "cvar_level": p.get("cvar")})
    return out


def portfolio_summary(world: Any, p: dict[str, Any], cands: Any = None, left: Any = None) -> dict[str, Any]:
    """What a portfolio plan keeps: ``PortfolioResult.to_dict()`` (chosen, rejected, frontier, left_out, notes;
    budgets in US$ million), JSON-safe. ``cands``/``left``: candidates built from a registry view (else the
    World's registry)."""
    from critmin.optimize.portfolio import DEFAULT_SCENARIOS

    scenarios = None
    if p.get("scenario"):
        from critmin.store.plan_params import scenario_chains

        scenarios = {scenario_chains()[p["scenario"]]: p["scenario"]}
    res = world.optimize.portfolio(budget_usa=float(p["budget_usa"]), budget_jpn=float(p["budget_jpn"]),
                                   objective=p.get("objective", "shortfall"), require_chains=p.get("require_chains"),
                                   require_stages=p.get("require_stages"), by_year=int(p.get("by_year") or 2030),
                                   scenarios=scenarios, runs=int(p.get("runs") or 100), seed=int(p.get("seed") or 0),
                                   cands=cands)
    if left is not None:
        res.left_out = left
    out = clean(res.to_dict())
    out.update({"kind": "portfolio", "scenarios": scenarios or dict(DEFAULT_SCENARIOS)})
    return out


def start_thread(store: Store, world: Any = None, world_path: str | None = None, lease: float = 30.0,
                 poll: float = 0.5) -> tuple[threading.Thread, threading.Event]:
    """A worker in a daemon thread of this process (``critmin serve``'s own); returns (thread, stop event)."""
    stop = threading.Event()
    w = Worker(store, world=world, world_path=world_path, lease=lease, poll=poll)
    t = threading.Thread(target=w.serve, args=(stop,), name="critmin-worker", daemon=True)
    t.start()
    return t, stop


def wait_for(store: Store, actor: Any, run_id: str, timeout: float = 60.0, plans: bool = False) -> dict[str, Any]:
    """Poll until a run (or a plan) is final (or ``timeout`` seconds pass); returns the last view."""
    end = time.monotonic() + timeout
    while True:
        r = store.get_run(actor, run_id, summary=False, plans=plans)
        if r["status"] in ("done", "failed", "cancelled") or time.monotonic() > end:
            return r
        time.sleep(0.1)
