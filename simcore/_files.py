"""Output files: check a destination before any work, write it atomically.

Every file simrisk writes (``run --save-equity``, ``size --plot``, ...) goes through these two
helpers, so that

* a destination that cannot be written (missing or read-only folder, a directory, the wrong
  extension, an existing file without ``--force``) is refused *before* a minute of simulation,
  as a bad option (exit status 2, :class:`~simcore.errors.ScenarioError` naming the option);
* a write that fails half-way (full disk, Ctrl-C, any exception) never leaves a truncated
  file behind, nor a stale temporary: the data go to a temporary file in the same folder,
  which is renamed into place (``os.replace``, atomic on POSIX) only once complete.

Usage::

    dest = check_destination(path, force=force, suffixes=(".npy",), option="--save-equity")
    ...                                   # the long work
    with atomic_path(dest) as tmp:
        np.save(tmp, array)               # writes tmp; renamed to dest on success
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
    """Check that ``path`` can be written, before any work is done; return it as a Path.

    The folder must exist and be writable, ``path`` must not be a directory, its suffix must
    be one of ``suffixes`` (case-insensitive; empty ``suffixes`` accepts any), and it must not
    exist unless ``force``. Raises :class:`ScenarioError` ``(option, problem)`` otherwise."""
    text = os.fspath(path)
    if not text:
        raise ScenarioError(option, "the file name is empty")
    p = pathlib.Path(text)
    if p.is_dir():
        raise ScenarioError(option, f"{text} is a directory (give a file name)")
    if suffixes and p.suffix.lower() not in tuple(s.lower() for s in suffixes):
        want = " or ".join(suffixes)
        raise ScenarioError(option, f"the file name must end in {want} (got {text})")
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise ScenarioError(option, f"folder {parent} does not exist")
    if not _can_create_in(parent):
        raise ScenarioError(option, f"folder {parent} is not writable")
    if p.exists() or p.is_symlink():
        if not force:
            raise ScenarioError(option, f"{text} exists (use --force to overwrite it)")
        if not os.access(p, os.W_OK) and not os.access(parent, os.W_OK):
            raise ScenarioError(option, f"{text} exists and cannot be replaced")
    return p


def _can_create_in(folder: pathlib.Path) -> bool:
    """Whether a file can be created in ``folder``: tried for real (``os.access`` says yes
    to root everywhere, even on /proc or a read-only mount)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".simrisk-probe.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in ``path``'s folder (with the same suffix); when the block
    ends normally, ``os.replace`` it onto ``path``. On any exception -- KeyboardInterrupt
    included -- the temporary file is removed and the exception re-raised, so ``path`` is
    either untouched or complete."""
    dest = pathlib.Path(os.fspath(path))
    parent = dest.parent if str(dest.parent) else pathlib.Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".part{dest.suffix}",
                               dir=parent)
    os.close(fd)
    tmp_path = pathlib.Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())     # mkstemp makes 0600; a plain file would not
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
