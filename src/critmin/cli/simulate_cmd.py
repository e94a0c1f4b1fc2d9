"""``critmin simulate`` and ``critmin scenarios``: disruption scenarios, month by month, with uncertainty."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from critmin.atomic import atomic_path
from critmin.cli.common import (
    JsonFlag,
    SeedOpt,
    XlsxOpt,
    console,
    core_flags,
    err_console,
    frame_records,
    get_world,
    print_json,
    say,
    show_table,
    sources_frame,
    write_xlsx,
)
from critmin.errors import InputError

scenarios_app = typer.Typer(help="The scenario library shipped with critmin.", no_args_is_help=True)


@scenarios_app.command("list")
def scenarios_list(as_json: JsonFlag = False, xlsx: XlsxOpt = None) -> None:
    """List the library scenarios: name (what `critmin simulate` takes), title, chain and source."""
    import pandas as pd

    from critmin.simulate.library import library

    rows = [
        {"name": s.name, "title": s.title, "chain": s.chain, "source": "; ".join(s.sources)}
        for s in library()
    ]
    if as_json:
        print_json(rows)
        return
    if xlsx is not None:
        cited = {x for s in library() for x in s.sources}
        write_xlsx(xlsx, {"scenarios": pd.DataFrame(rows)},
                   sources_frame(None, extra=[{"source": x} for x in sorted(cited)]))
        say(f"wrote {xlsx}")
        return
    show_table(pd.DataFrame(rows), title="Scenario library", max_rows=None)


@scenarios_app.command("show")
def scenarios_show(name: str = typer.Argument(..., help="Library scenario name.")) -> None:
    """Print a library scenario's YAML."""
    from critmin.errors import did_you_mean
    from critmin.simulate.library import library_names, library_path

    names = library_names()
    if name not in names:
        more = did_you_mean(name, names) or f"; library: {', '.join(names)}"
        raise InputError("scenario", name, f"no such library scenario{more}")
    import sys

    sys.stdout.write(library_path(name).read_text(encoding="utf-8"))


def _check_options(as_json: bool, xlsx: Path | None, max_countries: int = 0, workers: int = 0) -> None:
    """The option checks shared by simulate, compare and backtest (one line naming the option)."""
    if xlsx is not None and as_json:
        raise InputError("--xlsx", None, "cannot be combined with --json")
    if xlsx is not None and xlsx.suffix.lower() != ".xlsx":
        raise InputError("--xlsx", str(xlsx), "the workbook must end in .xlsx")
    if max_countries < 0:
        raise InputError("--max-countries", str(max_countries), "must be 0 (all countries) or a positive number")
    if workers < 0:
        raise InputError("--workers", str(workers), "must be 0 (one per available CPU) or a positive number")


def default_workers() -> int:
    """Worker processes for ``--workers 0``: the CPUs this process may run on, at most 4."""
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


def simulate(
    scenario: str = typer.Argument(..., help="Library scenario name or a scenario YAML file; or `compare A B` "
                                             "(two scenarios, same seed: the difference B - A)."),
    others: list[str] = typer.Argument(None, metavar="[A B]", help="With compare: the two scenarios."),
    runs: int = typer.Option(1000, "--runs", help="Monte Carlo runs."),
    seed: SeedOpt = 0,
    horizon: int = typer.Option(None, "--horizon", help="Months to simulate (default: the scenario's, 36)."),
    as_json: JsonFlag = False,
    out: Path = typer.Option(None, "--out", help="Write the result (xarray Dataset) to FILE.nc: summaries, "
                             "and run-level arrays with --full."),
    full: bool = typer.Option(False, "--full", help="Keep the run-level shortfall (run, month, country, "
                              "sector) and write it with --out (GBs for 10,000 runs)."),
    plot: Path = typer.Option(
        None, "--plot", help="Write a fan chart and bars to FILE (.html, .png, .svg, .pdf)."
    ),
    backend: str = typer.Option("numpy", "--backend", help="numpy (in-process) or dask."),
    scheduler: str = typer.Option(
        None, "--scheduler", help="dask.distributed scheduler ADDRESS (default: local)."
    ),
    threshold: float = typer.Option(
        0.01,
        "--threshold",
        help="prob_shortfall counts runs short by more than this share of demand (default 0.01, a judgement).",
    ),
    max_countries: int = typer.Option(
        0, "--max-countries", help="Countries kept, the rest lumped into ROW (0 = every country in the World)."
    ),
    top: int = typer.Option(25, "--top", help="Rows in the table view."),
    workers: int = typer.Option(
        0, "--workers", help="Processes for the in-process backend (0 = one per available CPU, at most 4; "
                             "the result does not depend on it)."),
    xlsx: XlsxOpt = None,
) -> None:
    """Simulate a disruption scenario month by month; report shortfall by country, sector and material."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from critmin import simulate as sim

    if scenario == "compare":
        return compare(others or [], runs, seed, horizon, as_json, plot, max_countries, workers, xlsx, top)
    if others:
        raise InputError("simulate", " ".join(others), "one scenario at a time (two with: simulate compare A B)")
    _check_options(as_json, xlsx, max_countries, workers)
    if out is not None and out.suffix != ".nc":
        raise InputError("--out", str(out), "the result file must end in .nc (netCDF)")
    if plot is not None:
        from critmin.simulate.plot import check_plot_path

        check_plot_path(plot)
    if not 0 <= threshold <= 1:
        raise InputError("--threshold", str(threshold), "must be between 0 and 1")
    world = get_world()
    # The bar starts at the first progress call, once the scenario has been read and checked (an
    # input error before that prints its one line and nothing else), and only on a terminal.
    bar = Progress(
        TextColumn("[bold]simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,  # nobody watches a bar in a pipe or a log
    )
    task = bar.add_task("runs", total=runs)

    def progress(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        ds = sim.run(
            world,
            scenario,
            runs=runs,
            seed=seed,
            horizon=horizon,
            backend=backend,  # type: ignore[arg-type]
            scheduler=scheduler,
            max_countries=max_countries or None,
            progress=progress,
            full=full,
            threshold=threshold,
            workers=workers or default_workers(),
        )
    finally:
        if bar.live.is_started:
            bar.stop()
    summary = sim.summarize(ds)
    prices = sim.price_summary(ds)
    stocks = sim.stockpile_summary(ds)
    if out is not None:
        try:
            with atomic_path(out) as tmp:
                sim.to_netcdf(ds, tmp, full=full)
        except OSError as exc:  # h5py reports some failures without a file name
            raise InputError("--out", str(out), f"cannot write the result: {exc.strerror or exc}") from None
    if plot is not None:
        from critmin.simulate.plot import plot as make_plot

        make_plot(ds, plot)
    resid = float(ds["balance_residual"].max())
    if as_json:
        from critmin.cli.common import frame_records

        print_json(
            {
                "scenario": ds.attrs["scenario"],
                "title": ds.attrs["title"],
                "chain": ds.attrs["chain"],
                "runs": int(ds.attrs["runs"]),
                "seed": int(ds.attrs["seed"]),
                "horizon": int(ds.attrs["horizon"]),
                "backend": ds.attrs["backend"],
                "sources": json.loads(ds.attrs["sources"]),
                "threshold": threshold,
                "start": ds.attrs.get("start") or None,
                "shortfall": frame_records(summary),
                "monthly": frame_records(sim.monthly(ds)),
                "price": frame_records(sim.price_quantiles(ds)),
                "prices": frame_records(prices),
                "stockpiles": frame_records(stocks),
                "countries": [str(c) for c in ds["country"].values],
                "row_members": json.loads(ds.attrs["row_members"]),
                "max_balance_residual_t": resid,
                "out": str(out) if out else None,
                "plot": str(plot) if plot else None,
            }
        )
        return
    if xlsx is not None:
        import pandas as pd

        meta = pd.DataFrame([{k: ds.attrs[k] for k in ("scenario", "title", "chain", "runs", "seed", "horizon",
                                                          "backend")} | {"threshold": threshold}])
        cited = [{"source": x} for x in json.loads(ds.attrs["sources"])]
        write_xlsx(xlsx, {"shortfall": summary, "monthly": sim.monthly(ds), "price": sim.price_quantiles(ds),
                          "prices": prices, "stockpiles": stocks, "run": meta},
                   sources_frame(world, tables=("production", "trade", "demand", "chain_stages"), extra=cited))
        say(f"wrote {xlsx}")
    else:
        console.print(
            f"[bold]{ds.attrs['title']}[/]  chain {ds.attrs['chain']}, {ds.attrs['runs']} runs, "
            f"seed {ds.attrs['seed']}, {ds.attrs['horizon']} months", soft_wrap=not console.is_terminal
        )
        shown = summary.drop(columns=["stage", "defence"])
        show_table(shown, title="Cumulative shortfall over the horizon (t)", max_rows=top,
                   more="--top N, --json or --xlsx F")
        show_table(prices, title="Price index (1 = baseline)")
        if len(stocks):
            show_table(stocks, title="Stockpile releases (t)")
    if out is not None:
        say(f"wrote {out}")
    if plot is not None:
        say(f"wrote {plot}")


def _range_text(lo: object, hi: object) -> str:
    from critmin.cli.format import fmt_cell

    a, b = fmt_cell(lo, "num"), fmt_cell(hi, "num")
    return a if a == b else f"{a} to {b}"


def backtest(
    name: str = typer.Argument(None, help="Episode name (see src/critmin/backtests) or a YAML file; "
                                          "default: every library episode."),
    runs: int = typer.Option(500, "--runs", help="Monte Carlo runs per episode."),
    seed: SeedOpt = 0,
    threshold: float = typer.Option(
        0.01, "--threshold", help="first_shortfall_month: share of baseline demand that counts as short "
                                  "(default 0.01, a judgement)."),
    max_countries: int = typer.Option(
        0, "--max-countries", help="Countries kept, the rest lumped into ROW (0 = every country in the World)."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 when a calibration episode's figure is outside its real range "
                                "without a 'why' in the data."),
    as_json: JsonFlag = False,
    xlsx: XlsxOpt = None,
) -> None:
    """Run real disruption episodes and print the model's figures against history, with a verdict each."""
    import pandas as pd

    from critmin.cli.format import fmt_cell
    from critmin.simulate.backtest import backtest as run_backtest
    from critmin.simulate.backtest import check_options, episodes, strict_failures

    _check_options(as_json, xlsx, max_countries)
    with core_flags("runs", "seed", "threshold"):
        check_options(runs, seed, threshold)
    episodes(name)  # a bad episode file stops here, before the World is loaded
    world = get_world()
    from critmin.cli.format import busy

    with busy("running backtests"):
        table = run_backtest(world, name, runs=runs, seed=seed, threshold=threshold,
                             max_countries=max_countries or None)
    failing = strict_failures(table)
    if as_json:
        print_json({"runs": runs, "seed": seed, "threshold": threshold, "outcomes": frame_records(table)})
    elif xlsx is not None:
        cited = [{"source": s} for s in dict.fromkeys(table["source"].dropna())]
        meta = pd.DataFrame([{"runs": runs, "seed": seed, "threshold": threshold}])
        write_xlsx(xlsx, {"backtest": table, "run": meta}, sources_frame(None, extra=cited))
        say(f"wrote {xlsx}")
    else:
        shown = pd.DataFrame(
            {
                "episode": table["episode"],
                "outcome": table["outcome"],
                "metric": table["metric"],
                "where": table["where"],
                "month": table["month"].where(table["month"].notna(), None),
                "real": [_range_text(a, b) for a, b in zip(table["real_low"], table["real_high"], strict=True)],
                "model": [fmt_cell(v, "num") for v in table["model"]],
                "verdict": table["verdict"],
                "off_by": [fmt_cell(v, "num") for v in table["off_by"]],
                "off_by_rel": [fmt_cell(v, "num") for v in table["off_by_rel"]],
                "why": [w if v == "outside" else (n or "") for w, v, n in
                        zip(table["why"], table["verdict"], table["model_note"], strict=True)],
            }
        )
        show_table(shown, title=f"Backtests: model vs history ({runs} runs, seed {seed}; changes as fractions, "
                                "months as YYYY-MM)", max_rows=None)
        counts = table["verdict"].value_counts()
        console.print(", ".join(f"{k}: {v}" for k, v in counts.items()), soft_wrap=True, markup=False,
                      highlight=False)
    if strict and len(failing):
        from critmin.cli.format import err_console as errc

        ids = ", ".join(f"{e}/{o}" for e, o in zip(failing["episode"], failing["outcome"], strict=True))
        errc.print(f"strict: calibration figures outside their real range without a why: {ids}", markup=False,
                   soft_wrap=True, highlight=False)
        raise typer.Exit(1)


def compare(names: list[str], runs: int, seed: int, horizon: int | None, as_json: bool, plot: Path | None,
            max_countries: int, workers: int, xlsx: Path | None, top: int) -> None:
    """``critmin simulate compare A B``: both scenarios with the same seed; tables (or JSON) of B - A and a plot."""
    from critmin.simulate.compare import compare as run_compare
    from critmin.simulate.compare import plot as plot_compare

    if len(names) != 2:
        raise InputError("compare", " ".join(names) or None, "give two scenarios: simulate compare A B")
    _check_options(as_json, xlsx, max_countries, workers)
    if plot is not None and plot.suffix.lower() != ".html":
        raise InputError("--plot", str(plot), "a comparison is drawn as .html")
    world = get_world()
    from critmin.cli.format import busy

    with busy(f"simulating {names[0]} and {names[1]}"):
        c = run_compare(world, names[0], names[1], runs=runs, seed=seed, horizon=horizon,
                            max_countries=max_countries or None, workers=workers or default_workers())
    if plot is not None:
        plot_compare(c, plot)
    if as_json:
        print_json({**c.meta, "shortfall": frame_records(c.shortfall), "sectors": frame_records(c.sectors),
                    "monthly": frame_records(c.monthly), "price": frame_records(c.price),
                    "plot": str(plot) if plot else None})
        return
    if xlsx is not None:
        import pandas as pd

        cited = [{"source": x} for d in (c.a, c.b) for x in json.loads(d.attrs["sources"])]
        write_xlsx(xlsx, {"shortfall": c.shortfall, "sectors": c.sectors, "monthly": c.monthly, "price": c.price,
                          "run": pd.DataFrame([c.meta])}, sources_frame(None, extra=cited))
        say(f"wrote {xlsx}")
    else:
        m = c.meta
        console.print(f"[bold]B - A[/]: {m['b']} minus {m['a']}  chain {m['chain']}, {m['runs']} runs each, seed "
                      f"{m['seed']} (common random numbers), {m['horizon']} months", soft_wrap=not console.is_terminal)
        show_table(c.shortfall.drop(columns=["material"]), title="Cumulative shortfall over the horizon, B - A (t)",
                   max_rows=top, more="--top N, --json or --xlsx F")
        show_table(c.sectors, title="By sector, B - A (t)", max_rows=None)
        moved = c.price.groupby(["stage", "region"], sort=False).agg(
            p50_a_peak=("p50_a", "max"), p50_b_peak=("p50_b", "max"), diff_mean_max=("diff_mean", "max"),
            diff_mean_min=("diff_mean", "min")).reset_index()
        show_table(moved, title="Price index (1 = baseline): peak of the monthly P50 in A and B, largest change")
    if plot is not None:
        say(f"wrote {plot}")
