"""``simrisk run``: the main job."""
import os

import click

from ._common import (BadInput, Progress, backend_opts, check_backend, dump_json, guard,
                      jobs_opt, json_opt, load, paths_opt, progress_wanted, scenario_arg,
                      seed_opt)


@click.command()
@scenario_arg
@paths_opt
@seed_opt
@jobs_opt
@backend_opts
@json_opt
@click.option("--save-equity", "equity_file", type=click.Path(dir_okay=False), metavar="FILE.npy",
              help="Also keep every path's day-end equity and save it as a NumPy array of "
                   "shape (paths, horizon_days + 1) (column 0 = capital). Memory grows with "
                   "paths x horizon; never overwrites an existing file.")
@guard
def run(file, paths, seed, jobs, backend, scheduler, as_json, equity_file):
    """Simulate FILE's plan: ruin, tier times, margin calls, drawdown, final equity."""
    from simcore.metrics import format_table, summarize
    from simcore.runner import simulate

    check_backend(backend, scheduler)
    if equity_file is not None:
        if not equity_file.endswith(".npy"):
            raise BadInput("--save-equity: the file name must end in .npy")
        if os.path.exists(equity_file):
            raise BadInput(f"--save-equity: {equity_file} exists (simrisk never overwrites "
                           "a file)")
        parent = os.path.dirname(os.path.abspath(equity_file))
        if not os.path.isdir(parent):
            raise BadInput(f"--save-equity: directory {parent} does not exist")
    scenario, plan = load(file)
    paths = scenario.paths if paths is None else paths
    seed = scenario.seed if seed is None else seed
    with Progress(paths, progress_wanted(as_json)) as progress:
        out = simulate(plan, paths, seed, jobs=jobs, progress=progress, backend=backend,
                       scheduler=scheduler, record_equity=equity_file is not None)
    summary = summarize(plan, out, paths, seed)
    if equity_file is not None:
        import numpy as np
        with open(equity_file, "xb") as fh:      # exclusive create: never overwrite
            np.save(fh, out.equity)
        summary["equity_file"] = equity_file
    if as_json:
        dump_json(summary)
    else:
        click.echo(format_table(summary))
        if equity_file is not None:
            click.echo(f"\nday-end equity of every path: {equity_file} "
                       f"(shape {out.equity.shape[0]} x {out.equity.shape[1]})")
