"""``simrisk``: the command line. Thin by design: each command parses its options, calls
``simcore`` and prints; no engine logic lives here.

Exit status (SPEC 10): 0 on success; 2 for a bad scenario or bad options (one line on
stderr naming the field or option, nothing on stdout); 1 for anything else.
"""
import click

from simcore._version import __version__

from .run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="simrisk")
def main():
    """simrisk: Monte Carlo risk of a small futures account's scaling plan.

    How likely is ruin, how long until each equity tier, how often a margin call --
    simulated over correlated multi-asset paths under the plan's own rules.
    """


main.add_command(run)

# optional commands register themselves here as they are added
for _name in ("stress", "size"):
    try:
        _mod = __import__(f"cli.{_name}", fromlist=[_name])
    except ModuleNotFoundError as _e:  # the module is not there yet
        if _e.name != f"cli.{_name}":
            raise
    else:
        main.add_command(getattr(_mod, _name))

if __name__ == "__main__":  # pragma: no cover
    main()
