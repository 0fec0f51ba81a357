"""``simrisk run``: the main job."""
import click

from ._common import (Progress, backend_opts, check_backend, check_output, dump_json, guard,
                      history_paths, horizon_opt, jobs_opt, json_opt, load, paths_opt, preflight,
                      progress_wanted, scenario_arg, seed_opt, show_warnings)


@click.command()
@scenario_arg
@paths_opt
@seed_opt
@horizon_opt
@jobs_opt
@backend_opts
@json_opt
@click.option("--save-equity", "equity_file", type=click.Path(dir_okay=False), metavar="FILE.npy",
              help="Also keep every path's day-end equity and save it as a NumPy array of "
                   "shape (paths, horizon_days + 1) (column 0 = capital). Memory grows with "
                   "paths x horizon; never overwrites an existing file unless --force.")
@click.option("--force", is_flag=True, help="Let --save-equity overwrite an existing file.")
@guard
def run(file, paths, seed, horizon, jobs, backend, scheduler, as_json, equity_file, force):
    """Simulate FILE's plan: ruin, tier times, margin calls, drawdown, final equity."""
    from simcore._files import atomic_path
    from simcore.metrics import format_table, summarize
    from simcore.runner import simulate

    check_backend(backend, scheduler)
    dest = None
    if equity_file is not None:       # before any work: a bad destination is a bad option
        dest = check_output(equity_file, force=force, suffixes=(".npy",),
                            option="--save-equity")
    scenario, plan = load(file, horizon)
    given = paths is not None
    paths = history_paths(plan, scenario.paths if paths is None else paths, given)
    seed = scenario.seed if seed is None else seed
    preflight(plan, paths, jobs, runs=1, record_equity=dest is not None,
              paths_given=given)
    show_warnings(plan)
    with Progress(paths, progress_wanted(as_json)) as progress:
        out = simulate(plan, paths, seed, jobs=jobs, progress=progress, backend=backend,
                       scheduler=scheduler, record_equity=dest is not None)
    summary = summarize(plan, out, paths, seed)
    if dest is not None:
        import numpy as np
        with atomic_path(dest) as tmp:   # complete or absent, never a truncated file
            np.save(tmp, out.equity)
        summary["equity_file"] = equity_file
    if as_json:
        dump_json(summary)
    else:
        click.echo(format_table(summary))
        if dest is not None:
            click.echo(f"\nday-end equity of every path: {equity_file} "
                       f"(shape {out.equity.shape[0]} x {out.equity.shape[1]})")
