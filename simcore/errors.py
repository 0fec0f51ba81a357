"""Errors the user can fix: a bad scenario or a bad option."""


def _printable(text: str) -> str:
    """Control characters (a newline in a market key) escaped: a message is one line."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ScenarioError(ValueError):
    """A scenario (or option) is invalid.

    ``field`` is the dotted path of the offending key (``markets.MCL.vol``), ``problem`` what
    is wrong with it (``must be > 0``). ``str(err)`` is the one-line message shown to users.
    """

    def __init__(self, field: str, problem: str):
        self.field = field = _printable(field)
        self.problem = problem = _printable(problem)
        super().__init__(f"{field}: {problem}" if field else problem)


class SimulationError(RuntimeError):
    """A run went wrong in a way no result may hide: for example a path whose state (price,
    equity) became non-finite. The run is failed as a whole; nothing is reported."""


class OutputConflict(RuntimeError):
    """A file appeared at an output's destination while the command ran (it did not exist, or
    was not to be overwritten, when checked): it was left as it is and the finished output was
    kept beside it under another name, which the message gives."""
