"""What every command shares: exit-status conventions, scenario loading, progress, options.

Exit status (README "Exit status and errors"): 0 success; 2 a bad plan or option (one line on
stderr naming the field or option, nothing on stdout); 1 anything else, a failed simulation
included (one line); 130 interrupted (Ctrl-C); 141 stdout closed early (``simrisk run PLAN |
head -0``: quiet, as a Unix tool killed by SIGPIPE).
"""
from __future__ import annotations

import errno
import functools
import os
import sys

import click

from simcore._json import finite_json  # noqa: F401  (dump_json's, looked up here)

EXIT_INTERRUPTED = 130      # 128 + SIGINT, the shell's convention for Ctrl-C
EXIT_PIPE_CLOSED = 141      # 128 + SIGPIPE, what a Unix tool killed by a closed pipe shows


def one_line(text: str) -> str:
    """``text`` on one line: control characters (a newline in a market key, a tab in an
    option value) are shown escaped, so an error is always exactly one line."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class BadInput(click.ClickException):
    """A scenario or an option the user can fix: exit status 2 (SPEC 10)."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(one_line(message))


class Failed(click.ClickException):
    """A run that went wrong (exit status 1), in one line."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(one_line(message))


class Interrupted(click.ClickException):
    """Ctrl-C: exit status 130, one line on stderr; nothing on stdout, no file left."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self):
        super().__init__("interrupted (Ctrl-C): no result reported, no file written")


class PipeClosed(click.ClickException):
    """stdout was closed by its reader: exit quietly with 141 (see :func:`quiet_stdout`)."""

    exit_code = EXIT_PIPE_CLOSED

    def __init__(self):
        super().__init__("")

    def show(self, file=None) -> None:
        quiet_stdout()


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of what is still
    buffered cannot fail on the closed pipe a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):    # not a real file (tests' CliRunner)
        pass


def is_broken_pipe(e: BaseException) -> bool:
    return isinstance(e, BrokenPipeError) or (isinstance(e, OSError)
                                               and e.errno == errno.EPIPE)


class Progress:
    """A progress bar on stderr for long runs; silent when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool, label: str = "simulating"):
        self.total, self.enabled, self.label = total, enabled, label
        self.bar = None

    def __enter__(self):
        if self.enabled:
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr,
                                         show_pos=True, show_eta=True)
            self.bar.__enter__()
        return self

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def progress_wanted(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


def load(file: str, horizon=None):
    """Load and compile a plan (:class:`simcore.api.PlanSpec`), turning every user error into
    exit status 2.

    ``horizon`` (``--horizon DAYS``) overrides the plan's ``horizon_days`` before the plan is
    compiled. The plan's warnings are *not* printed here: a command validates its options
    first, then calls :func:`show_warnings` (an option error stays one line)."""
    from simcore.api import load_for
    from simcore.errors import ScenarioError

    try:
        return load_for(file, horizon)
    except ScenarioError as e:
        # a bad --horizon is named as the option (``--horizon: horizon_days: ...``)
        raise BadInput(f"--{e}" if e.field == "horizon" else str(e)) from None


def history_paths(plan, paths: int, paths_given: bool) -> int:
    """Replay (real history, SPEC 11) has one path per start date: the run's paths, with a
    note on stderr when ``--paths`` (or the plan's ``paths``) asked for another number."""
    from simcore.runner import history_paths as _hp
    n = _hp(plan, paths)
    if n != paths:
        click.echo(f"note: replay has one path per start date: {n:,} paths, not the "
                   f"{paths:,} {'--paths asks' if paths_given else 'the plan gives'}", err=True)
    return n


def show_warnings(spec) -> None:
    """The plan's plausibility warnings (``spec.warnings``), one line each on stderr."""
    for w in spec.warnings:
        click.echo(f"warning: {one_line(w)}", err=True)


def preflight(plan, paths: int, jobs, *, runs: float = 1, record_equity: bool = False,
              paths_given: bool = True, what: str = "this run") -> None:
    """Before a run: refuse what cannot fit in memory (exit 2), and say on stderr what will
    take more than about a minute, with the estimate (:func:`simcore.limits.estimate_run`)."""
    from simcore.limits import LONG_RUN_SECONDS, estimate_run, human_bytes, human_seconds

    keep = 2 if runs <= 1 else 3 if runs < 12 else 12
    est = estimate_run(plan, paths, runs=runs, keep=keep, record_equity=record_equity,
                       jobs=jobs)
    src = f"--paths {paths:,}" if paths_given else f"the plan's paths ({paths:,})"
    if est.memory > est.memory_available:
        if record_equity and est.equity_memory * 2 > est.memory_available:
            raise BadInput(f"--save-equity: {paths:,} paths x {plan.n_days + 1:,} days of "
                           f"equity need about {human_bytes(2 * est.equity_memory)} of memory; "
                           f"this machine has {human_bytes(est.memory_available)} available "
                           "(fewer --paths, or a shorter --horizon)")
        raise BadInput(f"{'--paths' if paths_given else 'paths'}: {what} with {src} needs "
                       f"about {human_bytes(est.memory)} of memory; this machine has "
                       f"{human_bytes(est.memory_available)} available")
    if est.seconds is not None and est.seconds > LONG_RUN_SECONDS:
        runs_txt = "" if runs == 1 else f" x {runs:g} runs" if what == "this run" \
            else f" x about {runs:g} runs ({what})"
        click.echo(f"warning: {what} simulates {est.asset_steps:.3g} asset-steps ({src} x "
                   f"{plan.n_days:,} days x {plan.spd} steps a day x {plan.M} markets"
                   f"{runs_txt}); at {est.per_asset_step * 1e9:.0f} ns each (timed on this "
                   f"plan) that is {human_seconds(est.cpu_seconds)} of CPU, about "
                   f"{human_seconds(est.seconds)} on {est.cores} core"
                   f"{'s' if est.cores > 1 else ''} (Ctrl-C stops it)", err=True)


def check_output(path, *, force: bool, suffixes: tuple, option: str):
    """:func:`simcore._files.check_destination` with its error as a bad option (exit 2)."""
    from simcore._files import check_destination
    from simcore.errors import ScenarioError

    try:
        return check_destination(path, force=force, suffixes=suffixes, option=option)
    except ScenarioError as e:
        raise BadInput(str(e)) from None


def after_interrupt() -> None:
    """After the first Ctrl-C has been handled (temporaries removed, the one-line message on
    its way): a second one ends the process at once with status 130 and nothing more printed.
    Without this, a second SIGINT while the interpreter waits for the workers' current block
    printed a KeyboardInterrupt traceback from threading's shutdown."""
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        sys.stderr.flush()
        signal.signal(signal.SIGINT, lambda *_: os._exit(EXIT_INTERRUPTED))


def guard(fn):
    """Run a command body: user errors keep their exit status (2); a failed simulation or
    anything else is exit 1 with a one-line message (SIMRISK_DEBUG=1 shows the traceback);
    Ctrl-C is 130 with one line; a closed stdout is a quiet 141."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            after_interrupt()
            raise Interrupted() from None
        except Exception as e:  # noqa: BLE001 - the CLI's last line of defence
            from simcore.errors import OutputConflict, ScenarioError, SimulationError
            if is_broken_pipe(e):
                raise PipeClosed() from None
            if isinstance(e, ScenarioError):
                raise BadInput(str(e)) from None
            if isinstance(e, OutputConflict):
                raise Failed(str(e)) from None
            if os.environ.get("SIMRISK_DEBUG"):
                raise
            if isinstance(e, SimulationError):
                raise Failed(f"simulation failed: {e}") from None
            if isinstance(e, MemoryError):
                raise Failed("out of memory (try fewer --paths or a shorter --horizon)") \
                    from None
            raise Failed(f"{type(e).__name__}: {e}") from None
    return wrapper


scenario_arg = click.argument("file", type=click.Path(exists=True, dir_okay=False))
paths_opt = click.option("--paths", type=click.IntRange(min=1),
                         help="Number of simulated paths [default: the scenario's `paths`].")
seed_opt = click.option("--seed", type=click.IntRange(min=0),
                        help="Random seed [default: the scenario's `seed`].")
jobs_opt = click.option("--jobs", "-j", type=int, default=0, show_default=True,
                        help="Worker threads; 0 = every core, -1 = all but one. Results do not depend on it.")
json_opt = click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON object on stdout and nothing else there.")
horizon_opt = click.option("--horizon", type=click.IntRange(min=1), metavar="DAYS",
                           help="Trading days per path [default: the scenario's "
                                "`horizon_days`].")


def backend_opts(fn):
    """``--backend threads|dask`` and ``--scheduler ADDRESS`` (results do not depend on them)."""
    fn = click.option("--scheduler", metavar="ADDRESS",
                      help="dask.distributed scheduler, e.g. tcp://10.0.0.5:8786 (with "
                           "--backend dask) [default: start a local cluster].")(fn)
    fn = click.option("--backend", type=click.Choice(["threads", "dask"]), default="threads",
                      show_default=True,
                      help="Where blocks of paths run: local threads, or a dask cluster "
                           "(the dask extra: pip install '.[dask]'). Results are identical.")(fn)
    return fn


def check_backend(backend: str, scheduler) -> None:
    from simcore.api import _check_backend
    from simcore.errors import ScenarioError

    try:
        _check_backend(backend, scheduler)
    except ScenarioError as e:
        raise BadInput(str(e)) from None


def dump_json(obj) -> None:
    import json
    click.echo(json.dumps(finite_json(obj), allow_nan=False))


# ---- --report / --plot DIR / --csv (simcore.report does the work) --------------------------

def report_opts(fn):
    """``--report FILE.html``, ``--plot DIR`` (size: ``DIR`` or ``FILE.png``) and ``--csv``
    (run only), as :func:`check_report_opts` takes them."""
    kind = fn.__name__
    if kind == "run":
        fn = click.option("--csv", "csv_file", type=click.Path(dir_okay=False),
                          metavar="FILE.csv",
                          help="Write one row per path (ruin day, blown, margin calls, "
                               "trades, wins, final and peak equity, max drawdown, first day "
                               "at each tier).")(fn)
    if kind in ("run", "stress"):
        fn = click.option("--plot", "plot_dir", type=click.Path(file_okay=False),
                          metavar="DIR",
                          help="Write the figures as PNG files in DIR (made if missing; "
                               "needs matplotlib: the plot extra).")(fn)
    elif kind == "size":
        fn = click.option("--plot", "plot_dir", type=click.Path(), metavar="DIR|FILE.png",
                          help="Write the curve(s) against capital with the target and 95% "
                               "band as DIR/sizing.png (DIR made if missing), or as FILE.png "
                               "when the name ends in .png (any other extension is refused; "
                               "needs matplotlib: the plot extra).")(fn)
    fn = click.option("--report", "report_file", type=click.Path(dir_okay=False),
                      metavar="FILE.html",
                      help="Write one self-contained HTML page: the plan, the command, the "
                           "tables, the figures and what they say (needs matplotlib).")(fn)
    return fn


def check_report_opts(report_file, plot_dir, csv_file, *, force: bool, kind: str):
    """Check the report options before any work (a bad one is exit 2); return the
    :class:`simcore.report.Outputs` that writes them after the run."""
    from simcore.errors import ScenarioError
    from simcore.report import Outputs

    try:
        return Outputs.check(report_file, plot_dir, csv_file, force=force, kind=kind)
    except ScenarioError as e:
        raise BadInput(str(e)) from None


def command_line(omit: tuple = ()) -> str:
    """The command as typed, rebuilt from click's context: ``simrisk run PLAN --paths 2000``
    (without the parameters named in ``omit``, e.g. ``("force",)``)."""
    import shlex
    ctx = click.get_current_context()
    words = ["simrisk", ctx.info_name]
    for p in ctx.command.params:
        v = ctx.params.get(p.name)
        if p.name in omit or v is None or v is False or v == () or (p.name == "jobs" and v == p.default) \
                or (isinstance(p, click.Option) and p.default not in (None, False)
                    and v == p.default):
            continue
        if isinstance(p, click.Argument):    # nargs=-1 (calibrate's files): each word
            words += [str(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
        elif v is True:
            words.append(p.opts[-1] if p.opts[-1].startswith("--") else p.opts[0])
        else:
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                words += [next(o for o in p.opts if o.startswith("--")), str(x)]
    return shlex.join(words)
