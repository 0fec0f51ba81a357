"""``simrisk calibrate``: a plan's market figures from daily bars (SPEC 11).

Options only: the rules (market names, windows, the ``--recent`` default) and the work are
:func:`simcore.api.calibrate`'s (``check_calibrate``, ``run_calibrate``)."""
import click

from ._common import command_line, dump_json, guard, json_opt


@click.command(short_help="A plan's market figures (vol, ATR, tails, correlations, regimes) from daily bars.")
@click.argument("files", nargs=-1, required=True, metavar="[NAME=]FILE.csv...")
@click.option("--gap", type=click.FloatRange(min=0, min_open=True, max=1), default=0.01,
              show_default=True, help="Gap threshold: days with |Open / previous Close - 1| "
                                      "above it count as gaps (0.01 = 1%).")
@click.option("--recent", type=click.IntRange(min=3), default=63, show_default=True,
              help="Correlation over the last N daily returns as well (63 = a quarter).")
@click.option("--window", "windows", multiple=True, metavar="NAME=START:END",
              help="A named window of dates (inclusive) for correlations and a stress row, "
                   "e.g. gfc=2008-09-15:2008-12-31. Repeatable.")
@click.option("--max-bad-rows", type=click.IntRange(min=0), default=5, show_default=True,
              help="Bad rows (unparsable date, missing or non-positive price, High < Low) "
                   "dropped with a warning per file; more are an error.")
@json_opt
@click.option("-o", "--output", "output", metavar="FILE.yaml",
              help="Write a plan fragment (markets, correlation, tails, regimes, stress) for "
                   "a plan's `include:` key.")
@click.option("--force", is_flag=True, help="Let -o overwrite an existing file.")
@guard
def calibrate(files, gap, recent, windows, max_bad_rows, as_json, output, force):
    """Figures a plan needs about its markets from daily bars: one CSV per market with a date
    column and Open, High, Low, Close (Close alone gives what closes can). The files are
    aligned on the dates they all have.

    Prints vol (whole and by year), Wilder ATR(14), excess kurtosis, Student-t nu, gaps,
    correlations (whole, recent, windows) and a two-state regime fit; -o writes them as a
    plan fragment.
    """
    from simcore import api

    # every name, window and the -o destination before any file is read
    markets, wins = api.check_calibrate(files, windows=windows, gap=gap, recent=recent,
                                        max_bad_rows=max_bad_rows, output=output, force=force)
    given = click.get_current_context().get_parameter_source("recent").name != "DEFAULT"
    res = api.run_calibrate(markets, wins, gap=gap, recent=recent if given else None,
                            max_bad_rows=max_bad_rows,
                            warn=lambda text: click.echo(f"warning: {text}", err=True))
    click.echo(res.dates_used(), err=True)
    if output is not None:
        # --force is left out: the fragment (what made its figures) is the same with it
        res.write_fragment(output, force=force, command=command_line(omit=("force",)))
        click.echo(f"plan fragment written to {output}", err=True)
    if as_json:
        dump_json(res.to_dict())
    else:
        click.echo(res.table(), nl=False)
