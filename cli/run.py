"""``simrisk run``: the main job."""
import click

from ._common import (BadInput, Progress, backend_opts, check_backend, check_output, dump_json,
                      guard, history_paths, horizon_opt, jobs_opt, json_opt, load, paths_opt,
                      preflight, progress_wanted, scenario_arg, seed_opt, show_warnings)
from ._common import check_report_opts, command_line, report_opts


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
@click.option("--force", is_flag=True,
              help="Let --save-equity, --report, --plot and --csv overwrite existing files.")
@click.option("--model", "models", metavar="gbm,bootstrap,replay",
              help="A plan with history: only. Run it under each price model listed and print "
                   "the answers side by side (gbm with vol and correlation calibrated from "
                   "the same history). docs/history.md.")
@report_opts
@guard
def run(file, paths, seed, horizon, jobs, backend, scheduler, as_json, equity_file, force,
        models, report_file, plot_dir, csv_file):
    """Simulate FILE's plan: ruin, tier times, margin calls, drawdown, final equity."""
    from simcore import api
    from simcore._files import atomic_path, note_input, output_set
    from simcore.errors import ScenarioError

    check_backend(backend, scheduler)
    note_input(file)                  # never a destination, even with --force
    dest = None
    if equity_file is not None:       # before any work: a bad destination is a bad option
        dest = check_output(equity_file, force=force, suffixes=(".npy",),
                            option="--save-equity")
    if models is not None:
        try:
            model_list = api.check_models(models)
        except ScenarioError as e:
            raise BadInput(str(e)) from None
        for opt, given in (("--save-equity", equity_file), ("--report", report_file),
                           ("--plot", plot_dir), ("--csv", csv_file)):
            if given is not None:
                raise BadInput(f"{opt}: not with --model (one run per model)")
    outputs = check_report_opts(report_file, plot_dir, csv_file, force=force, kind="run")
    spec = load(file, horizon)
    if models is not None:
        return _run_models(spec, model_list, paths, seed, jobs, backend, scheduler, as_json)
    given = paths is not None
    paths = history_paths(spec.compiled, spec.paths if paths is None else paths, given)
    seed = spec.seed if seed is None else seed
    preflight(spec.compiled, paths, jobs, runs=1, record_equity=dest is not None,
              paths_given=given)
    show_warnings(spec)
    with Progress(paths, progress_wanted(as_json)) as progress:
        res = api.run(spec, paths=paths, seed=seed, jobs=jobs, progress=progress,
                      backend=backend, scheduler=scheduler, record_equity=dest is not None,
                      equity_paths=outputs.equity_paths)
    summary = res.summary
    with output_set():                   # the files of this command: all of them or none
        summary.update(outputs.write_run(spec.compiled, res.output, summary, command_line(),
                                         spec.scenario))
        if dest is not None:
            import numpy as np
            with atomic_path(dest) as tmp:   # complete or absent, never a truncated file
                np.save(tmp, res.equity)
            summary["equity_file"] = equity_file
    if as_json:
        dump_json(summary)
    else:
        click.echo(res.table())          # it ends with a blank line
        if dest is not None:
            click.echo(f"day-end equity of every path: {equity_file} "
                       f"(shape {res.equity.shape[0]} x {res.equity.shape[1]})")
        click.echo(outputs.written(summary).removeprefix("\n"), nl=False)


def _run_models(spec, model_list, paths, seed, jobs, backend, scheduler, as_json):
    """``--model``: the plan under each price model, side by side (simcore.api.run_compare)."""
    from simcore import api
    from simcore.errors import ScenarioError
    from simcore.text import format_models

    given = paths is not None
    paths = spec.paths if paths is None else paths
    seed = spec.seed if seed is None else seed
    try:
        counts = api.check_compare(spec, model_list, paths)
    except ScenarioError as e:
        raise BadInput(str(e)) from None
    preflight(spec.compiled, max(counts.values()), jobs, runs=len(model_list),
              paths_given=given)
    show_warnings(spec)
    with Progress(sum(counts.values()), progress_wanted(as_json), "models") as progress:
        res = api.run_compare(spec, model_list, paths, seed, jobs=jobs, backend=backend,
                              scheduler=scheduler, progress=progress)
    if as_json:
        dump_json({"models": res, "version": res[model_list[0]]["version"],
                   "warnings": spec.warnings})
    else:
        click.echo(format_models(res))
