"""``simrisk calibrate``: a plan's market figures from daily bars (SPEC 11)."""
import re
import shlex
import sys

import click

from ._common import BadInput, dump_json, guard, json_opt

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _market(arg: str):
    """``NAME=FILE.csv`` or ``FILE.csv`` (the name is the file's stem)."""
    from pathlib import Path
    name, sep, path = arg.partition("=")
    if not sep:
        name, path = Path(arg).stem, arg
        how = f"from the file name of {arg}; name it with NAME={arg}"
    else:
        how = f"in {arg}"
    if not _NAME_RE.match(name or ""):
        raise BadInput(f"market name {name!r} ({how}): use only letters, digits, '_' and '-'")
    return name, path


def _window(text: str):
    import datetime as dt
    name, sep, span = text.partition("=")
    start, sep2, end = span.partition(":")
    if not (sep and sep2) or not _NAME_RE.match(name):
        raise BadInput(f"--window {text}: must be NAME=START:END, e.g. "
                       "gfc=2008-09-15:2008-12-31 (NAME: letters, digits, '_', '-')")
    try:
        a, b = dt.date.fromisoformat(start.strip()), dt.date.fromisoformat(end.strip())
    except ValueError:
        raise BadInput(f"--window {text}: START and END must be dates YYYY-MM-DD") from None
    if a > b:
        raise BadInput(f"--window {text}: START is after END")
    return name, (a.isoformat(), b.isoformat())


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
    from simcore._files import atomic_path, check_destination
    from simcore._version import __version__

    markets = [_market(f) for f in files]
    seen = {}
    for name, path in markets:
        if name in seen:
            raise BadInput(f"market {name} given twice ({seen[name]} and {path}); name them "
                           "with NAME=FILE.csv")
        seen[name] = path
    wins = {}
    for w in windows:
        name, span = _window(w)
        if name in wins or name in ("whole", "recent"):
            raise BadInput(f"--window {w}: the name {name} is "
                           + ("given twice" if name in wins else "reserved"))
        wins[name] = span
    if output is not None:
        check_destination(output, force=force, suffixes=(".yaml", ".yml"), option="-o")

    try:
        import pandas  # noqa: F401
    except ImportError:
        raise BadInput("calibrate needs pandas (install the calibrate extra: pip install "
                       "'.[calibrate]' in the source tree)") from None
    from simcore.calibrate import (align, calibrate as fit, format_calibration,
                                   fragment_yaml, public, read_bars)
    bars = {}
    for name, path in markets:
        b = read_bars(path, max_bad_rows=max_bad_rows)
        for note in b.notes:
            click.echo(f"warning: {note}", err=True)
        bars[name] = b
    data = align(bars)
    n_returns = len(data.index) - 1
    if recent > n_returns:
        if click.get_current_context().get_parameter_source("recent").name == "DEFAULT":
            click.echo(f"warning: --recent: {n_returns} daily returns in all, fewer than "
                       f"{recent}; the recent correlation is the whole sample's", err=True)
            recent = n_returns
        else:
            raise BadInput(f"--recent: {recent} days asked for, but the shared dates give "
                           f"{n_returns} daily returns")
    fig = fit(data, gap=gap, recent=recent, windows=wins)
    click.echo(f"dates used: {fig['first']} to {fig['last']} ({fig['days']} shared dates)"
               + "".join(f"; {n}: {k} rows outside them" for n, k in data.dropped.items() if k),
               err=True)
    if as_json:
        out = public(fig)
        if output is not None:
            out["fragment"] = output
    else:
        table = format_calibration(fig)
    if output is not None:
        command = "simrisk calibrate " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
            if len(sys.argv) > 2 and sys.argv[1] == "calibrate" else ""
        text = fragment_yaml(fig, command=command, version=__version__)
        with atomic_path(output) as tmp:
            tmp.write_text(text, encoding="utf-8")
        click.echo(f"plan fragment written to {output}", err=True)
    if as_json:
        dump_json(out)
    else:
        click.echo(table, nl=False)
