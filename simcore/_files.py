"""Output files: check a destination before any work, write it atomically.

Every file simrisk writes (``run --save-equity``, ``size --plot``, ...) goes through these two
helpers, so that

* a destination that cannot be written (missing or read-only folder, a directory, the wrong
  extension, an existing file without ``--force``) is refused *before* a minute of simulation,
  as a bad option (exit status 2, :class:`~simcore.errors.ScenarioError` naming the option);
* a write that fails half-way (full disk, Ctrl-C, any exception) never leaves a truncated
  file behind, nor a stale temporary: the data go to a temporary file in the same folder,
  which is renamed into place (``os.replace``, atomic on POSIX) only once complete.

* a file that appears at the destination while the work runs (another program, a second
  simrisk) is not overwritten unless that destination was checked with ``force=True``: the
  finished file is linked into place only if the name is still free (``os.link`` fails on an
  existing name), else it is kept beside it as ``NAME.new.EXT`` and :class:`OutputConflict`
  says so;
* the files of one command are committed together (:func:`output_set`): a failure while any of
  them is written leaves none of them behind.

Usage::

    dest = check_destination(path, force=force, suffixes=(".npy",), option="--save-equity")
    ...                                   # the long work
    with output_set():                    # optional: several files, all or none
        with atomic_path(dest) as tmp:
            np.save(tmp, array)           # writes tmp; moved to dest on success
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import pathlib
import tempfile

from .errors import OutputConflict, ScenarioError

__all__ = ["check_destination", "atomic_path", "output_set", "OutputConflict", "note_input"]

# destinations checked with force=True: the only ones a finished file may replace
_may_replace: set[str] = set()
# files this process has read as input (the plan, its includes, history CSVs): never a
# destination, with or without --force
_inputs: set[str] = set()
# the pending (temporary, destination) pairs of the innermost output_set, or None
_pending: contextvars.ContextVar = contextvars.ContextVar("simrisk_pending_outputs",
                                                         default=None)


def _key(p: pathlib.Path) -> str:
    return os.path.realpath(os.fspath(p))


def note_input(path) -> None:
    """Record ``path`` as read by this command: :func:`check_destination` refuses it and a
    finished output never replaces it, even with ``--force`` (simrisk never writes over
    what it reads)."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        k = _key(pathlib.Path(os.fspath(path)))
        _inputs.add(k)
        _may_replace.discard(k)


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
    _may_replace.discard(_key(p))       # re-granted below only with force
    if _key(p) in _inputs:
        raise ScenarioError(option, f"{text} is a file this command reads (the plan, an "
                                    "include or a history file); simrisk never writes over "
                                    "its input: give another name")
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
    if force:
        _may_replace.add(_key(p))
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
    ends normally, move it onto ``path`` (:func:`_commit`) -- at once, or inside an
    :func:`output_set` when that ends. On any exception -- KeyboardInterrupt included -- the
    temporary file is removed and the exception re-raised, so ``path`` is either untouched or
    complete."""
    dest = pathlib.Path(os.fspath(path))
    parent = dest.parent if str(dest.parent) else pathlib.Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".part{dest.suffix}",
                               dir=parent)
    os.close(fd)
    tmp_path = pathlib.Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())     # mkstemp makes 0600; a plain file would not
        yield tmp_path
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    pending = _pending.get()
    if pending is None:
        _commit([(tmp_path, dest)])
    else:
        pending.append((tmp_path, dest))


@contextlib.contextmanager
def output_set():
    """Files written with :func:`atomic_path` inside the block stay temporary until it ends
    normally, then are moved into place together; on any exception none is, and every
    temporary is removed. (Moving is a rename, which does not fail for lack of space.)"""
    pending: list = []
    token = _pending.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _ in pending:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    finally:
        _pending.reset(token)
    _commit(pending)


def _commit(pairs) -> None:
    """Move each finished temporary onto its destination: ``os.replace`` where the destination
    was checked with ``force=True``; elsewhere only if the name is still free (``os.link``
    refuses an existing name, so a file that appeared meanwhile is never overwritten). A
    refused one is kept beside it as ``NAME.new.EXT``; after the others are moved,
    :class:`OutputConflict` names them."""
    kept = []
    for tmp, dest in pairs:
        if _key(dest) in _inputs:       # read during the run (an include, a history file)
            kept.append((dest, _keep_beside(tmp, dest)))
            continue
        if _key(dest) in _may_replace:
            os.replace(tmp, dest)
            continue
        try:
            os.link(tmp, dest)
        except FileExistsError:
            kept.append((dest, _keep_beside(tmp, dest)))
            continue
        except OSError:                 # no hard links here (some network or FAT mounts)
            if dest.exists() or dest.is_symlink():
                kept.append((dest, _keep_beside(tmp, dest)))
                continue
            os.replace(tmp, dest)
            continue
        tmp.unlink()
    if kept:
        raise OutputConflict("; ".join(
            (f"{d} is a file this command read and was left as it is"
             if _key(d) in _inputs else
             f"{d} appeared while simrisk ran and was left as it is")
            + f"; this run's file is {k}" for d, k in kept))


def _keep_beside(tmp: pathlib.Path, dest: pathlib.Path) -> pathlib.Path:
    """Give a finished temporary a free visible name next to ``dest``: NAME.new.EXT,
    NAME.new-2.EXT, ..."""
    k = 1
    while True:
        alt = dest.with_name(f"{dest.stem}.new{'' if k == 1 else f'-{k}'}{dest.suffix}")
        try:
            os.link(tmp, alt)
        except FileExistsError:
            k += 1
            continue
        except OSError:
            if alt.exists():
                k += 1
                continue
            os.replace(tmp, alt)
            return alt
        tmp.unlink()
        return alt
