"""The one adapter from the disruption model's output to a stockpile ensemble.

If the simulate output changes shape, this file is the only place to adjust.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from critmin.optimize.stockpile import Ensemble


def simulate_runs(world: Any, scenario: Any, runs: int, seed: int,
                  progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """Run the disruption model and return a Dataset with run-level ``shortfall`` (run, month, country, sector).

    Asks for the full run-level result where :func:`critmin.simulate.run` offers a switch for it
    (``full=True``), since the stockpile LP needs every run.
    """
    from critmin import simulate

    kwargs: dict[str, Any] = {"runs": runs, "seed": seed, "progress": progress}
    params = inspect.signature(simulate.run).parameters
    if "full" in params:
        kwargs["full"] = True
    return simulate.run(world, scenario, **kwargs)


def from_simulation(ds: xr.Dataset, members: list[str], source: str | Path = "scenario") -> Ensemble:
    """The shortfall after private stocks that a stockpile of ``members`` would have to cover.

    ``ds``: the result of :func:`critmin.simulate.run` (``shortfall`` run × month × country × sector in t/month
    of each sector's stage content, ``demand0`` country × sector, coordinate ``sector_stage``). Each run is a
    scenario of equal probability; the material (form) is the sector's stage, the use its sector. Members the
    chain does not name get no shortfall. Forms no member ever misses are dropped.
    """
    sf = ds["shortfall"]
    countries = [str(c) for c in ds["country"].values]
    present = [m for m in members if m in countries]
    runs, horizon = sf.sizes["run"], sf.sizes["month"]
    sectors = [str(s) for s in ds["sector"].values]
    stage_of = [str(s) for s in ds["sector_stage"].values]
    stages = list(dict.fromkeys(stage_of))
    sub = sf.sel(country=present).transpose("run", "country", "sector", "month").values.astype(np.float64) \
        if present else np.zeros((runs, 0, len(sectors), horizon))
    arr = np.zeros((runs, len(members), len(stages), len(sectors), horizon))
    for j, mbr in enumerate(members):
        if mbr not in present:
            continue
        jj = present.index(mbr)
        for u, st in enumerate(stage_of):
            arr[:, j, stages.index(st), u, :] = sub[:, jj, u, :]
    arr[arr < 1e-9] = 0.0  # float32 residue of the kernel
    keep_m = [i for i in range(len(stages)) if arr[:, :, i].any()]
    keep_u = [u for u in range(len(sectors)) if arr[:, :, :, u].any()]
    if not keep_m:  # nothing short: keep one form so that the model still has a shape
        keep_m = [len(stages) - 1]
        keep_u = [u for u in range(len(sectors)) if stage_of[u] == stages[keep_m[0]]][:1]
    arr = arr[:, :, keep_m][:, :, :, keep_u]
    forms = [stages[i] for i in keep_m]
    uses = [sectors[u] for u in keep_u]
    da = xr.DataArray(arr, dims=("scenario", "member", "material", "use", "month"),
                      coords={"scenario": [f"run{r}" for r in range(runs)], "member": members, "material": forms,
                              "use": uses, "month": np.arange(1, horizon + 1)})
    d0 = ds["demand0"]
    use = np.zeros((len(members), len(forms)))
    for j, mbr in enumerate(members):
        if mbr not in present:
            continue
        row = d0.sel(country=mbr).values
        for u, st in enumerate(stage_of):
            if st in forms:
                use[j, forms.index(st)] += float(row[u])
    units = {}
    if "content" in ds.coords:
        content = dict(zip([str(s) for s in ds["stage"].values], [str(c) for c in ds["content"].values], strict=True))
        units = {f: content.get(f, "") for f in forms}
    defence = dict(zip(sectors, [bool(x) for x in ds["defence"].values], strict=True)) if "defence" in ds.coords \
        else {}
    return Ensemble(
        shortfall=da,
        probability=np.full(runs, 1.0 / runs),
        source=str(source),
        baseline_use=xr.DataArray(use, dims=("member", "material"), coords={"member": members, "material": forms}),
        units=units,
        meta={"scenario": ds.attrs.get("scenario"), "title": ds.attrs.get("title"), "chain": ds.attrs.get("chain"),
              "runs": runs, "seed": ds.attrs.get("seed"), "horizon": horizon,
              "defence": {u: defence.get(u, False) for u in uses}},
    )
