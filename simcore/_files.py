"""Files a command writes: checks before any work, and atomic replacement.

``check_destination`` is called before a command starts its work, so that a bad output path
fails at once instead of after a long run; ``atomic_path`` makes the write itself all or
nothing: readers never see a half-written file, and an interrupted write leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile

from .errors import ScenarioError

__all__ = ["check_destination", "atomic_path"]


def check_destination(path, *, force: bool, suffixes: tuple[str, ...],
                      option: str) -> pathlib.Path:
    """Check that ``path`` can be written, before any work: its folder exists and is
    writable, it is not a directory, its suffix is one of ``suffixes`` (case-insensitive,
    with the dot: ``(".yaml", ".yml")``), and it does not exist unless ``force``.

    Returns the path; raises :class:`ScenarioError` ``(option, problem)`` otherwise."""
    p = pathlib.Path(path)
    if p.is_dir():
        raise ScenarioError(option, f"{p} is a directory")
    wanted = tuple(s.lower() for s in suffixes)
    if wanted and p.suffix.lower() not in wanted:
        raise ScenarioError(option, f"{p}: the file name must end in "
                                    + " or ".join(suffixes))
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise ScenarioError(option, f"{p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ScenarioError(option, f"{p}: folder {parent} is not writable")
    if (p.exists() or p.is_symlink()) and not force:
        raise ScenarioError(option, f"{p} exists (use --force to overwrite it)")
    return p


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the folder of ``path`` (with the same suffix); when the
    block ends normally it is moved into place with ``os.replace`` (atomic on one file
    system). On any exception, KeyboardInterrupt included, the temporary file is removed
    and the exception re-raised; ``path`` is left as it was."""
    p = pathlib.Path(path)
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix or ".tmp", dir=parent)
    os.close(fd)
    tmp_path = pathlib.Path(tmp)
    mask = os.umask(0)             # mkstemp makes the file 0600; give it the usual mode
    os.umask(mask)
    try:
        os.chmod(tmp_path, 0o666 & ~mask)
        yield tmp_path
        os.replace(tmp_path, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
