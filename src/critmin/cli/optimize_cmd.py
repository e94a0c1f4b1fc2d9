"""``critmin optimize``: stockpile sizing (alone or pooled) and the joint-project portfolio."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from critmin.cli.common import (
    JsonFlag,
    SeedOpt,
    XlsxOpt,
    err_console,
    get_world,
    print_json,
    say,
    show_table,
    show_text,
    sources_frame,
    write_xlsx,
)
from critmin.errors import InputError

app = typer.Typer(help="Decisions: stockpile sizing (alone or pooled) and which joint projects to fund.",
                  no_args_is_help=True)


@contextmanager
def _progress() -> Iterator[Any]:
    """A Rich progress bar through simulate, build and solve on stderr (only when stderr is a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err_console, transient=True, disable=not err_console.is_terminal)
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int = 0, total: int = 0) -> None:
        if not bar.live.is_started:
            bar.start()
        for name, t in tasks.items():  # an earlier stage is complete when the next one starts
            if name != stage:
                bar.update(t, completed=bar.tasks[t].total or 1, total=bar.tasks[t].total or 1)
        if stage not in tasks:
            label = {"simulate": "simulating runs", "build": "building the model (linopy)",
                     "solve": "solving (HiGHS)"}.get(stage, stage)
            tasks[stage] = bar.add_task(label, total=total or 1)
        bar.update(tasks[stage], completed=done, total=total or 1)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


def _check_outputs(as_json: bool, xlsx: Path | None, plot: Path | None) -> None:
    if xlsx is not None and as_json:
        raise InputError("--xlsx", None, "cannot be combined with --json")
    if xlsx is not None and xlsx.suffix.lower() != ".xlsx":
        raise InputError("--xlsx", str(xlsx), "the workbook must end in .xlsx")
    if plot is not None and plot.suffix.lower() != ".html":
        raise InputError("--plot", str(plot), "the plot file must end in .html (Plotly)")


_STOCK_UNITS = {"stock_t": "t", "cost_usd": "US$", "expected_unmet_t": "t", "expected_unmet_without_t": "t",
                "p95_unmet_t": "t", "p95_unmet_without_t": "t", "baseline_use_t_per_month": "t/month",
                "months_of_cover": "months", "objective_usd": "US$", "extra_cost_usd": "US$",
                "stock_cost_usd": "US$", "expected_shortage_cost_usd": "US$"}


def stockpile(
    scenario: str = typer.Argument(None, help="Library scenario name or scenario YAML (simulation mode)."),
    shortfalls: Path = typer.Option(None, "--shortfalls", help="File mode: ensemble CSV (scenario, probability, "
                                    "holder, material, month, shortfall_t)."),
    costs: Path = typer.Option(None, "--costs", help="Cost CSV (material, price_usd_per_t, holding_usd_per_t_year, "
                               "shortage_usd_per_t, max_release_t_per_month); needed in file mode."),
    holders: str = typer.Option(None, "--holders", help="USA,JPN (each alone) or USA+JPN (a pool) "
                                "[default: USA+JPN in simulation mode, each holder of the file in file mode]."),
    floors: Path = typer.Option(None, "--floors", help="CSV holder, material, floor_t: t a pool member keeps."),
    budget: float = typer.Option(None, "--budget", help="US$ cap on acquisition + holding."),
    runs: int = typer.Option(None, "--runs", help="Simulated runs (simulation mode; default 200)."),
    seed: SeedOpt = 0,
    cvar: float = typer.Option(None, "--cvar", help="CVaR level ALPHA (e.g. 0.95) of the shortage cost."),
    lam: float = typer.Option(0.0, "--lambda", help="Weight L of the CVaR term in the objective."),
    as_json: JsonFlag = False,
    xlsx: XlsxOpt = None,
    plot: Path = typer.Option(None, "--plot", help="Write bars of unmet shortfall with and without the plan (.html)."),
) -> None:
    """Size a stockpile (t, US$, months of cover) against simulated disruptions or a shortfall file."""
    from critmin.optimize import files
    from critmin.optimize.simulated import DEFAULT_RUNS
    from critmin.optimize.simulated import stockpile as sim_stockpile
    from critmin.optimize.stockpile import optimize_stockpile

    _check_outputs(as_json, xlsx, plot)
    if (scenario is None) == (shortfalls is None):
        raise InputError("scenario", None, "give a scenario NAME|FILE or --shortfalls FILE.csv (one of them)")
    if cvar is not None and lam == 0.0:
        raise InputError("--cvar", str(cvar), "needs --lambda L > 0 (the weight of the CVaR term)")
    fl = files.read_floors(floors) if floors is not None else None
    world = get_world()
    rules = comparison = None
    meta: dict[str, Any] = {}
    if shortfalls is not None:
        if costs is None:
            raise InputError("--costs", None, "file mode needs --costs FILE.csv next to --shortfalls")
        if runs is not None:
            raise InputError("--runs", str(runs), "only for a simulated scenario, not with --shortfalls")
        iso3 = set(world.countries()["iso3"])
        ens, cst = files.read_file_mode(shortfalls, costs, iso3)
        with _progress() as update:
            res = optimize_stockpile(ens, cst, holders, budget=budget, cvar=cvar, lam=lam, floors=fl, countries=iso3,
                                     progress=lambda s: update(s))
        out = res.to_dict()
        title = f"Stockpile plan against {shortfalls}"
        src_rows = [{"source": str(shortfalls)}, {"source": str(costs)}]
    else:
        with _progress() as update:
            sim = sim_stockpile(world, scenario, holders or "USA+JPN", runs=runs or DEFAULT_RUNS, seed=seed,
                                costs=costs, budget=budget, cvar=cvar, lam=lam, floors=fl, progress=update)
        res, rules, comparison, meta = sim.result, sim.rules, sim.comparison, sim.meta
        out = sim.to_dict()
        title = (f"Stockpile plan: {meta.get('title') or meta.get('scenario')} ({meta.get('runs')} runs, "
                 f"seed {meta.get('seed')}, {meta.get('horizon')} months)")
        src_rows = [{"source": sim.costs.source}]
    if plot is not None:
        from critmin.optimize.plot import save, stockpile_figure

        save(stockpile_figure(res.plan, title, [f"holders {', '.join(h for h, _ in res.holders)}; "
                                                f"objective US${res.objective_usd:,.0f}"]), plot)
    if as_json:
        print_json(out)
        return
    if xlsx is not None:
        import pandas as pd

        sheets = {"plan": res.plan}
        if res.release is not None:
            sheets["release"] = res.release
        if rules is not None and len(rules):
            sheets["rules"] = rules
        if comparison is not None and len(comparison):
            sheets["pooled_vs_separate"] = comparison
        sheets["run"] = pd.DataFrame([{"objective_usd": res.objective_usd,
                                       "budget_shadow_usd_per_usd": res.budget_shadow_usd_per_usd,
                                       "cvar_usd": res.cvar_usd, **{k: v for k, v in meta.items()
                                                                     if k in ("scenario", "runs", "seed", "horizon")}}])
        write_xlsx(xlsx, sheets, sources_frame(world, extra=src_rows))
        say(f"wrote {xlsx}")
        return
    show_text(title)
    show_table(res.plan, title="Plan (t of each material's content unit; unmet = over the horizon)", max_rows=None,
               units=_STOCK_UNITS, more="--json or --xlsx F")
    show_text(f"objective (expected total cost): US${res.objective_usd:,.0f}; stock US${res.first_stage_cost_usd:,.0f}"
              f" + expected shortage cost US${res.expected_shortage_cost_usd:,.0f}")
    if res.budget_shadow_usd_per_usd is not None:
        show_text(f"budget shadow price: {res.budget_shadow_usd_per_usd:,.4g} US$ of expected total cost per US$ "
                  "more budget (negative: more budget would pay)")
    if res.cvar_usd is not None:
        show_text(f"CVaR of the shortage cost under the plan: US${res.cvar_usd:,.0f}")
    if rules is not None and len(rules):
        show_table(rules, title="Day rules instead (stock fixed at N days of baseline use)", max_rows=None,
                   units=_STOCK_UNITS)
    if comparison is not None and len(comparison):
        show_table(comparison, title="Pooled against separate holding (same ensemble)", max_rows=None,
                   units=_STOCK_UNITS)
    if plot is not None:
        say(f"wrote {plot}")


app.command("stockpile")(stockpile)


_PORT_UNITS = {"capex_usd_m": "US$ m", "cost_usd_m": "US$ m", "usa_cost_usd_m": "US$ m", "jpn_cost_usd_m": "US$ m",
               "capacity_t": "t/yr", "budget_usa_usd_m": "US$ m", "budget_jpn_usd_m": "US$ m",
               "budget_total_usd_m": "US$ m", "success_prob": "0–1", "usa_share": "0–1"}


def portfolio(
    budget_usa: float = typer.Option(..., "--budget-usa", help="US budget, US$ million."),
    budget_jpn: float = typer.Option(..., "--budget-jpn", help="Japan's budget, US$ million."),
    candidates: Path = typer.Option(None, "--candidates", help="Candidate CSV (project, chain, stage, country, "
                                    "capacity_t, capex_usd_m, online_year, usa_share, success_prob[, "
                                    "floor_price_usd_per_t, offtake_t]); default: the registry."),
    objective: str = typer.Option("shortfall", "--objective", help="shortfall (expected shortage cost avoided) or "
                                  "capacity (success_prob x capacity x stage weight)."),
    require_chains: str = typer.Option(None, "--require-chains", help="Chains that must get a project, e.g. "
                                       "rare-earth-magnets,li-ion-batteries:2 (at least 2)."),
    require_stages: str = typer.Option(None, "--require-stages", help="Chain stages that must get a project, "
                                       "e.g. rare-earth-magnets/magnet."),
    stage_weights: Path = typer.Option(None, "--stage-weights", help="CSV chain, stage, weight (capacity "
                                       "objective; default weight 1)."),
    by_year: int = typer.Option(2030, "--by-year", help="Projects count if online by this year."),
    runs: int = typer.Option(100, "--runs", help="Simulated runs per chain (shortfall objective)."),
    seed: SeedOpt = 0,
    as_json: JsonFlag = False,
    xlsx: XlsxOpt = None,
    plot: Path = typer.Option(None, "--plot", help="Write the efficient frontier (.html)."),
) -> None:
    """Choose joint projects under US and Japanese budgets (MILP): chosen, rejected, efficient frontier."""
    from critmin.optimize.portfolio import optimize_portfolio

    _check_outputs(as_json, xlsx, plot)
    if runs < 1:
        raise InputError("--runs", str(runs), "runs must be a positive whole number")
    world = get_world()
    with _progress() as update:
        update("solve")
        res = optimize_portfolio(world, budget_usa=budget_usa, budget_jpn=budget_jpn, candidates=candidates,
                                 objective=objective, require_chains=require_chains, require_stages=require_stages,
                                 stage_weights=stage_weights, by_year=by_year, runs=runs, seed=seed)
    unit = "weighted t/yr" if objective == "capacity" else "US$ of expected shortage cost avoided"
    if plot is not None:
        from critmin.optimize.plot import frontier_figure, save

        save(frontier_figure(res.frontier, "Efficient frontier of the joint-project portfolio",
                             [f"objective {objective} ({unit}); budgets US$ {budget_usa:,.0f} m US, "
                              f"US$ {budget_jpn:,.0f} m Japan, scaled together"], unit), plot)
    if as_json:
        print_json(res.to_dict())
        return
    if xlsx is not None:
        import pandas as pd

        write_xlsx(xlsx, {"chosen": res.chosen, "rejected": res.rejected, "frontier": res.frontier,
                          "left_out": res.left_out,
                          "run": pd.DataFrame([{"objective": res.objective, "unit": unit,
                                                "budget_usa_usd_m": budget_usa, "budget_jpn_usd_m": budget_jpn,
                                                "by_year": by_year}])},
                   sources_frame(world, extra=[{"source": s} for s in sorted(set(res.chosen.get("project", [])))]))
        say(f"wrote {xlsx}")
        return
    show_text(f"Best portfolio: {res.objective:,.4g} {unit} (budgets US$ {budget_usa:,.0f} m US, "
              f"US$ {budget_jpn:,.0f} m Japan)")
    show_table(res.chosen, title="Chosen (marginal value = what the best portfolio loses without it)",
               max_rows=None, units=_PORT_UNITS)
    show_table(res.rejected, title="Rejected, and what each would need to enter", max_rows=None, units=_PORT_UNITS)
    show_table(res.frontier, title=f"Efficient frontier (value in {unit})", max_rows=None, units=_PORT_UNITS)
    if len(res.left_out):
        show_table(res.left_out, title="Registry projects that are not candidates", max_rows=None)
    for n in res.notes:
        show_text(f"note: {n}")
    if plot is not None:
        say(f"wrote {plot}")


app.command("portfolio")(portfolio)
