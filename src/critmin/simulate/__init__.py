"""Disruption scenarios simulated month by month with uncertainty.

Start here::

    import critmin
    from critmin import simulate
    world = critmin.load()
    ds = simulate.run(world, "ree-magnet-embargo-us-jpn-12m", runs=1000, seed=1)
    simulate.summarize(ds)            # shortfall by country x sector: mean, P5/P50/P95, probability
    simulate.monthly(ds)              # shortfall per month as a share of demand: mean, P95
    simulate.backtest(world, "ree-magnets-apr-2025")       # model vs history
    simulate.compare(world, "ree-magnet-embargo-us-jpn-12m", "ree-magnet-embargo-us-jpn-12m-stockpile")

A scenario (YAML, :mod:`critmin.simulate.scenario`) names a chain, shocks and
responses. :mod:`critmin.simulate.model` builds a balanced monthly baseline of the
chain from the World; :mod:`critmin.simulate.kernel` steps through the months for
all Monte Carlo runs at once; :mod:`critmin.simulate.engine` runs chunks in-process
or on Dask and returns an xarray Dataset; :mod:`critmin.simulate.backtest` runs real
episodes against history and :mod:`critmin.simulate.compare` two scenarios with the same
random numbers. See ``docs/simulate.md``.
"""

from critmin.simulate.backtest import backtest
from critmin.simulate.compare import compare
from critmin.simulate.engine import (
    cumulative,
    monthly,
    price_quantiles,
    price_summary,
    run,
    stockpile_summary,
    summarize,
    to_netcdf,
)
from critmin.simulate.library import library, library_names, library_path
from critmin.simulate.model import ChainModel, build_model
from critmin.simulate.scenario import Scenario, load_scenario, parse_scenario

__all__ = [
    "ChainModel",
    "Scenario",
    "backtest",
    "build_model",
    "compare",
    "cumulative",
    "library",
    "library_names",
    "library_path",
    "load_scenario",
    "monthly",
    "parse_scenario",
    "price_quantiles",
    "price_summary",
    "run",
    "stockpile_summary",
    "summarize",
    "to_netcdf",
]
