"""Decisions: how big a stockpile, of what, held by whom; which joint projects to fund first.

Start here::

    import critmin
    world = critmin.load()
    res = world.optimize.stockpile("ree-magnet-embargo-us-jpn-12m", holders="USA+JPN", runs=200, seed=1)
    res.plan                       # holder x material: stock_t, cost_usd, expected/P95 unmet with and without
    world.optimize.portfolio(budget_usa=500, budget_jpn=500, objective="capacity").chosen

    from critmin.optimize import files, optimize_stockpile     # any ensemble (file mode)
    ens, costs = files.read_file_mode("shortfalls.csv", "costs.csv")
    optimize_stockpile(ens, costs, holders="USA,JPN")

Models are built with linopy and solved with HiGHS; equations and judgements: docs/optimize.md.
"""

from __future__ import annotations

from typing import Any

from critmin.optimize.stockpile import (
    Costs,
    Ensemble,
    StockpileResult,
    evaluate_rule,
    optimize_stockpile,
    parse_holders,
)

__all__ = [
    "Costs",
    "Ensemble",
    "OptimizeAccessor",
    "StockpileResult",
    "evaluate_rule",
    "optimize_stockpile",
    "parse_holders",
]


class OptimizeAccessor:
    """``world.optimize``: the decision models on this World."""

    def __init__(self, world: Any) -> None:
        self._world = world

    def stockpile(self, scenario: Any, holders: str = "USA+JPN", **kwargs: Any) -> Any:
        """Size a stockpile against a simulated scenario; see :func:`critmin.optimize.simulated.stockpile`."""
        from critmin.optimize.simulated import stockpile

        return stockpile(self._world, scenario, holders=holders, **kwargs)

    def portfolio(self, **kwargs: Any) -> Any:
        """Choose joint projects under budgets; see :func:`critmin.optimize.portfolio.optimize_portfolio`."""
        from critmin.optimize.portfolio import optimize_portfolio

        return optimize_portfolio(self._world, **kwargs)
