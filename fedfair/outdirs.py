"""Where fedfair writes: one policy for every command with an output directory (``--out``, ``--logdir``).

- fedfair writes only into a new or empty directory, or into one it created itself, recognised by the marker
  file :data:`MARKER` (JSON: the command, whether its output is complete, the entries it wrote) that it writes
  first. In a directory of its own it replaces only the files it owns (:data:`OWNED` patterns and the entries
  the marker lists); any other file there stays. Nothing is ever removed from a directory fedfair did not create.
- A complete output (a finished run, a written dataset, ...) is replaced only with ``--overwrite``
  (certificates: ``--force``); bench directories and TensorBoard logdirs are collections that later calls add to.
- An advisory lock (``flock`` on :data:`LOCK` inside the directory, which names the holder's PID) makes a second
  writer to the same directory fail at once with a one-line error naming the other process; the kernel releases it
  when the process ends, however it ends.
- Staging directories (``.<name>.fedfair-staging-<pid>-<random>`` beside the output) are removed on any exit,
  SIGTERM / SIGHUP included; the leftovers of a SIGKILLed writer (its PID no longer alive) are removed by the
  next writer of the same output.

Every refusal is an :class:`OutDirError` with a one-line message naming the problem and the fix.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fnmatch
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

MARKER = ".fedfair-owned"
LOCK = ".fedfair-lock"
STAGING = ".fedfair-staging-"

# top-level regular files each command writes (fnmatch patterns); directories it writes are owned only when the
# marker lists them (recorded when the command completes)
OWNED: dict[str, tuple[str, ...]] = {
    "run": ("config.json", "status.json", "metrics.jsonl", "summary.json", "*.png", "*.svg", "*.pdf",
            "checkpoint.json", "checkpoint-*.npz", ".*.tmp"),
    "compare": ("table.md", "table.csv", "results.json", "scatter.png", "curves.png", "scatter.svg", "curves.svg",
                "scatter.pdf", "curves.pdf"),
    "tune": ("tune.json", "tune.md"),
    "bench": ("bench.json", "report.html"),
    "dataset": ("manifest.json", "DATASHEET.md", ".*.tmp"),
    "task-set": ("tasks.json", ".tasks.json.tmp"),
    "data-report": ("audit.csv", "pairs.csv", "report.md", "*.png", "*.svg", "*.pdf"),
    "auction": ("take_up.csv", "take_up_difference.png", "take_up_min.png"),
    "certificates": ("ca.crt", "ca.key", "server.pem", "server.key", "node-*.key", "node-*.pub"),
    "tensorboard": (),
}
WHAT = {"run": "run", "compare": "comparison (fedfair compare)", "tune": "search (fedfair tune)", "bench": "bench suite (fedfair bench)",
        "dataset": "dataset (fedfair data build / create)", "task-set": "task set (fedfair data tasks)",
        "data-report": "bias report (fedfair data report)", "auction": "auction simulation (fedfair auction)",
        "certificates": "set of certificates and keys (fedfair certificates)",
        "tensorboard": "TensorBoard export (fedfair tensorboard)"}
# outputs that later calls add to (never "complete"): a bench resumes, a logdir collects runs
COLLECTIONS = frozenset({"bench", "tensorboard"})


class OutDirError(FileExistsError, ValueError):
    """An output directory fedfair must not write (one line: the problem and the fix)."""


# ----- the marker ------------------------------------------------------------------------------------------------
def read_marker(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of a directory fedfair created, None when there is none (or it is not fedfair's)."""
    try:
        data = json.loads((Path(directory) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("fedfair") == "output directory" else None


def write_marker(directory: Path, content: Mapping[str, Any]) -> None:
    """Write the marker atomically."""
    tmp = directory / f"{MARKER}.tmp"
    tmp.write_text(json.dumps({"fedfair": "output directory", **content}, indent=1, sort_keys=True))
    os.replace(tmp, directory / MARKER)


def _internal(name: str) -> bool:
    """fedfair's own bookkeeping files: the marker (and its temporary copy while written) and the lock; a user's
    ``.fedfair-lock.old`` is the user's."""
    return name in (MARKER, LOCK, f"{MARKER}.tmp")


def owned(name: str, path: Path, marker: Mapping[str, Any] | None) -> bool:
    """Whether the entry ``name`` of a fedfair directory is fedfair's: listed in its marker, or a regular file
    matching its command's :data:`OWNED` patterns."""
    if marker is None:
        return False
    if name in marker.get("files", ()):
        return True
    return path.is_file() and not path.is_symlink() and any(
        fnmatch.fnmatchcase(name, p) for p in OWNED.get(str(marker.get("command")), ()))


def foreign_entries(directory: Path, marker: Mapping[str, Any] | None = None) -> list[str]:
    """The entries of ``directory`` fedfair did not write (sorted)."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [n for n in names if not _internal(n) and not owned(n, directory / n, marker)]


def _listing(names: list[str], at_most: int = 3) -> str:
    shown = ", ".join(names[:at_most])
    return shown + (f", ... {len(names) - at_most} more" if len(names) > at_most else "")


# ----- checks (creating nothing) ---------------------------------------------------------------------------------
def resolve(out: str | os.PathLike[str], flag: str = "--out") -> Path:
    """``out`` as an absolute path; a NUL character or a too-long path is a one-line error."""
    text = os.fspath(out)
    text = text if isinstance(text, str) else os.fsdecode(text)
    if "\x00" in text:
        raise OutDirError(f"{flag}: the path contains a NUL character; choose another {flag}")
    too_long = [part for part in Path(text).parts if len(os.fsencode(part)) > 255]
    if too_long or len(os.fsencode(text)) > 4000:
        raise OutDirError(f"{flag}: the path is too long ({len(text)} characters"
                          f"{', a part over 255 bytes' if too_long else ''}); choose a shorter {flag}")
    return Path(text).expanduser().resolve()


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def check(out: str | os.PathLike[str], command: str, *, overwrite: bool | None = False, resume: bool = False,
          flag: str = "--out", what: str = "", overwrite_flag: str = "--overwrite", _locked: bool = False) -> Path:
    """Before any work, creating nothing: ``out`` may be written by ``command`` under the policy; else an
    :class:`OutDirError` naming the problem and the fix. ``overwrite`` None: a complete output is not checked
    here (the caller's claim decides). Returns the resolved path."""
    path = resolve(out, flag)
    what = what or f"the output directory {flag}"
    if path.exists() and not path.is_dir():
        raise OutDirError(f"{flag} {path} is a file; choose a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutDirError(f"cannot write {what} {path} ({existing} is a file); choose another {flag}")
    if not _writable(existing):
        raise OutDirError(f"cannot write {what} {path} ({existing} is read-only); choose another {flag}")
    if not path.exists():
        if resume:
            raise OutDirError(f"{flag} {path}: no such directory; give the directory of an interrupted run")
        return path
    marker = read_marker(path)
    if resume and (marker is None or marker.get("command") != command):
        raise OutDirError(f"{flag} {path}: not a {WHAT[command]} directory fedfair wrote (no {MARKER}); "
                          f"give the directory of an interrupted run")
    if marker is None:
        foreign = foreign_entries(path)
        if foreign:
            raise OutDirError(f"{flag} {path} is not empty and holds files fedfair did not write "
                              f"({_listing(foreign)}): choose an empty or new directory")
    elif marker.get("command") != command:
        raise OutDirError(f"{flag} {path} holds a {WHAT.get(str(marker.get('command')), 'fedfair output')}, not a "
                          f"{WHAT[command]}; choose another {flag}")
    if not _locked:
        holder = lock_holder(path)
        if holder is not None:
            raise OutDirError(f"{flag} {path} is in use by another fedfair process ({holder}); wait for it to "
                              f"finish or choose another {flag}")
    if marker is not None and marker.get("complete") and overwrite is False and not resume \
            and command not in COLLECTIONS:
        raise OutDirError(f"{flag} {path} holds a complete {WHAT[command]}; pass {overwrite_flag} to replace "
                          f"fedfair's files in it (other files stay) or choose a new {flag}")
    return path


# ----- the lock --------------------------------------------------------------------------------------------------
_HELD: dict[str, list[Any]] = {}  # resolved directory -> [fd, count]: this process's locks (re-entrant)
_HELD_LOCK = threading.Lock()


def _describe(text: str) -> str:
    parts = text.split(maxsplit=1)
    if parts and parts[0].isdigit():
        return f"pid {parts[0]}" + (f": fedfair {parts[1].strip()}" if len(parts) > 1 else "")
    return "pid unknown"


def lock_holder(directory: Path) -> str | None:
    """'pid N: fedfair COMMAND' when another process holds the directory's lock, else None (creating nothing)."""
    if fcntl is None:
        return None
    key = str(directory)
    with _HELD_LOCK:
        if key in _HELD:
            return None
    try:
        fd = os.open(directory / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return _describe(os.pread(fd, 200, 0).decode(errors="replace"))
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _acquire(directory: Path, command: str, flag: str) -> bool:
    """Take (or re-enter) the directory's lock; True when this call created the lock file."""
    key = str(directory)
    with _HELD_LOCK:
        if key in _HELD:
            _HELD[key][1] += 1
            return False
        if fcntl is None:  # no advisory locks on this platform (Windows): the other checks still apply
            _HELD[key] = [None, 1]
            return False
        path = directory / LOCK
        created = not path.exists()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise OutDirError(f"cannot write {flag} {directory} ({err.strerror or err}); choose another {flag}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _describe(os.pread(fd, 200, 0).decode(errors="replace"))
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutDirError(f"{flag} {directory} is in use by another fedfair process ({holder}); wait for "
                                  f"it to finish or choose another {flag}") from None
            raise OutDirError(f"cannot lock {flag} {directory} ({err.strerror or err}); choose another {flag}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        _HELD[key] = [fd, 1]
        return created


def _release(directory: Path) -> None:
    key = str(directory)
    with _HELD_LOCK:
        held = _HELD.get(key)
        if held is None:
            return
        held[1] -= 1
        if held[1] <= 0:
            del _HELD[key]
            if held[0] is not None:
                os.close(held[0])  # closing the descriptor releases the flock


def holds(directory: str | os.PathLike[str]) -> bool:
    """Whether this process holds the lock of ``directory``."""
    with _HELD_LOCK:
        return str(Path(directory).expanduser().resolve()) in _HELD


# ----- claiming a directory --------------------------------------------------------------------------------------
class Claim:
    """A directory claimed by a command: locked until :meth:`release`, marked as fedfair's."""

    def __init__(self, path: Path, command: str, foreign: Iterable[str], fresh: bool = False, made: bool = False) -> None:
        self.path, self.command, self.foreign = path, command, set(foreign)
        self.fresh, self.made = fresh, made  # this claim marked the directory / created it
        self._released = False

    @property
    def marker(self) -> dict[str, Any]:
        return read_marker(self.path) or {"command": self.command}

    def done(self, **extra: Any) -> None:
        """Mark the output complete (collections: up to date) and list the entries this command wrote."""
        marker = self.marker
        names = [n for n in sorted(os.listdir(self.path)) if not _internal(n) and
                 (n not in self.foreign or owned(n, self.path / n, marker))]
        write_marker(self.path, {**marker, **extra, "command": self.command, "complete": True, "files": names,
                                 "finished": time.time()})

    def abandon(self) -> None:
        """After a failure before anything was written: a directory this claim marked (or created) and that holds
        nothing else is left as it was (unmarked, or removed); then release."""
        try:
            if self.fresh and all(_internal(n) for n in os.listdir(self.path)):
                for name in os.listdir(self.path):
                    (self.path / name).unlink()
                if self.made:
                    self.path.rmdir()
        except OSError:
            pass
        self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            _release(self.path)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:  # a claim dropped without release (an error path) lets go of its lock
        if self.__dict__.get("_released", True):
            return  # released (also: nothing to do at interpreter exit, when module globals may be gone)
        try:
            self.release()
        except Exception:  # noqa: BLE001
            pass


def clear(directory: Path, marker: Mapping[str, Any] | None, dirs: bool = False) -> list[str]:
    """Remove fedfair's own entries of ``directory`` (files; with ``dirs`` also the directories its marker lists);
    every other entry stays. Returns the names removed."""
    if marker is None:
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        path = directory / name
        if _internal(name) or not owned(name, path, marker):
            continue
        if path.is_dir() and not path.is_symlink():
            if not dirs:
                continue
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(name)
    return removed


def claim(out: str | os.PathLike[str], command: str, *, overwrite: bool = False, resume: bool = False,
          clear_files: bool = False, flag: str = "--out", what: str = "", overwrite_flag: str = "--overwrite") -> Claim:
    """Create or check ``out`` under the policy, lock it and mark it as ``command``'s; an :class:`OutDirError`
    (one line) when it must not be written. A previous output of this command is kept (``resume``) or, with
    ``clear_files``, its fedfair files are removed (a complete one only with ``overwrite``); files fedfair did not
    write always stay. Release the claim (or use it as a context manager) when done."""
    path = check(out, command, overwrite=overwrite, resume=resume, flag=flag, what=what, overwrite_flag=overwrite_flag)
    made = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutDirError(f"cannot create {flag} {path} ({err.strerror or err}); choose another {flag}") from None
    created_lock = False
    try:
        created_lock = _acquire(path, command, flag)
        # under the lock: what another writer may have done since the first check
        check(path, command, overwrite=overwrite, resume=resume, flag=flag, what=what, overwrite_flag=overwrite_flag,
              _locked=True)
        marker = read_marker(path)
        foreign = foreign_entries(path, marker)
        if marker is None:
            write_marker(path, {"command": command, "complete": False, "files": [], "created": time.time(),
                                "host": socket.gethostname(), "pid": os.getpid()})
        else:
            if clear_files and not resume:
                clear(path, marker)
            update = {"pid": os.getpid()}
            if (clear_files or overwrite) and not resume and command not in COLLECTIONS:
                update["complete"] = False  # an interrupted replacement is not the complete output it replaced
            write_marker(path, {**marker, **update})
    except OSError as err:
        _undo(path, made, created_lock)
        if isinstance(err, OutDirError):
            raise
        raise OutDirError(f"cannot write {flag} {path} ({err.strerror or err}); choose another {flag}") from None
    except BaseException:
        _undo(path, made, created_lock)
        raise
    return Claim(path, command, foreign, fresh=marker is None, made=made)


def _undo(path: Path, made: bool, created_lock: bool) -> None:
    """After a refused claim: nothing of ours is left in a directory we did not get."""
    _release(path)
    if created_lock and read_marker(path) is None:
        with contextlib.suppress(OSError):
            (path / LOCK).unlink()
    if made:
        with contextlib.suppress(OSError):
            path.rmdir()


def replaceable_file(path: str | os.PathLike[str], signature: str, flag: str = "") -> Path:
    """``path`` (a file fedfair regenerates inside a directory that may not be its own, e.g. DATASHEET.md) may be
    (re)written: it does not exist, its directory's marker owns it, or its text carries fedfair's ``signature``."""
    path = Path(path)
    if not path.exists():
        return path
    marker = read_marker(path.parent)
    if owned(path.name, path, marker):
        return path
    try:
        head = path.read_text(errors="replace")[:2000]
    except OSError:
        head = ""
    if path.is_file() and signature in head:
        return path
    raise OutDirError(f"{flag + ' ' if flag else ''}{path} was not written by fedfair; move it away to let fedfair "
                      f"write its own")


# ----- staging directories ---------------------------------------------------------------------------------------
_STAGING_NAME = re.compile(r"\.fedfair-staging-(\d+)-")
_ACTIVE: dict[str, bool] = {}  # staging directory -> whether its output existed (non-empty) when it was made
_ACTIVE_LOCK = threading.Lock()
_PREVIOUS: dict[int, Any] = {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staging_leftovers(out: Path) -> list[Path]:
    """Staging directories of ``out`` whose writer (the PID in their name) is no longer alive on this host."""
    found = []
    try:
        candidates = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}{STAGING}")]
    except OSError:
        return []
    for path in candidates:
        match = _STAGING_NAME.search(path.name[len(out.name) + 1:])
        if not match or not path.is_dir() or path.is_symlink():
            continue
        marker = read_marker(path)
        if marker is not None and marker.get("host") not in (None, socket.gethostname()):
            continue  # another machine's writer (a shared file system): its PID means nothing here
        if marker is None and any(path.iterdir()):
            continue  # not recognisably ours
        if not _alive(int(match.group(1))):
            found.append(path)
    return found


def clean_leftovers(out: str | os.PathLike[str]) -> list[Path]:
    """Remove the staging directories a killed writer of ``out`` left behind; the ones removed."""
    leftovers = staging_leftovers(Path(out).expanduser().resolve())
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


def _cleanup_active() -> None:
    with _ACTIVE_LOCK:
        paths = list(_ACTIVE)
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _on_signal(signum: int, frame: Any) -> None:
    _cleanup_active()
    previous = _PREVIOUS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        raise SystemExit(128 + signum)  # finally blocks run, locks are released


def _handle_signals(on: bool) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is None:
            continue
        try:
            if on and sig not in _PREVIOUS:
                _PREVIOUS[sig] = signal.signal(sig, _on_signal)
            elif not on and sig in _PREVIOUS:
                previous = _PREVIOUS.pop(sig)
                if signal.getsignal(sig) is _on_signal:  # a handler installed since stays
                    signal.signal(sig, previous)
        except (ValueError, OSError):  # not the main interpreter's thread, or an unsupported signal
            continue


atexit.register(_cleanup_active)


@contextlib.contextmanager
def staging(out: str | os.PathLike[str], command: str) -> Iterator[Path]:
    """A staging directory beside ``out`` (``.<name>.fedfair-staging-<pid>-<random>``) to build ``command``'s
    output in, then :func:`publish` it; removed however this ends (exception, exit, SIGTERM / SIGHUP). Leftovers of
    a killed writer of ``out`` are removed first."""
    out = Path(out).expanduser().resolve()
    clean_leftovers(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{STAGING}{os.getpid()}-", dir=out.parent))
    except OSError as err:
        raise OutDirError(f"cannot write {out} ({err.strerror or err}); choose another directory") from None
    existed = out.is_dir() and bool(os.listdir(out))
    with _ACTIVE_LOCK:
        first = not _ACTIVE
        _ACTIVE[str(tmp)] = existed
    if first:
        _handle_signals(True)
    try:
        write_marker(tmp, {"command": command, "complete": False, "files": [], "staging": True,
                           "host": socket.gethostname(), "pid": os.getpid(), "created": time.time()})
        yield tmp
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.pop(str(tmp), None)
            last = not _ACTIVE
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if last:
            _handle_signals(False)


def publish(tmp: Path, out: str | os.PathLike[str], command: str, last: Iterable[str] = ()) -> Path:
    """Put a finished staging directory's entries in place at ``out``.

    ``out`` missing or empty: the staging directory is renamed to it (atomic). ``out`` claimed by this process:
    fedfair's own entries of it are replaced by the new ones (``last`` moved last, e.g. the manifest readers
    look for), any other entry stays. ``out`` appeared complete while this one was built (a concurrent writer of a
    cache): theirs is kept and ours discarded. Anything else: an :class:`OutDirError`, with nothing removed."""
    out = Path(out).expanduser().resolve()
    names = [n for n in sorted(os.listdir(tmp)) if not _internal(n)]
    base = {**(read_marker(tmp) or {}), "command": command, "complete": True, "files": names, "finished": time.time()}
    base.pop("staging", None)
    write_marker(tmp, base)
    with _ACTIVE_LOCK:
        existed = _ACTIVE.get(str(tmp), False)
    if not holds(out):
        if out.is_dir() and not os.listdir(out):
            with contextlib.suppress(OSError):
                out.rmdir()
        try:
            os.rename(tmp, out)
            return out
        except OSError:
            if not out.exists():
                raise
        marker = read_marker(out)
        if not existed and marker is not None and marker.get("command") == command and marker.get("complete"):
            return out  # a concurrent writer finished first: keep its copy (ours is discarded with the staging)
        raise OutDirError(f"{out} exists and is not empty: write to a new directory (fedfair never replaces a "
                          f"directory it has not claimed)")
    marker = read_marker(out)
    if marker is None or marker.get("command") != command:
        raise OutDirError(f"{out} is not a {WHAT[command]} directory fedfair wrote; choose another directory")
    clash = [n for n in names if (out / n).exists() and not owned(n, out / n, marker)]
    if clash:  # a user's entry with one of our names: never replaced (checked before anything is removed)
        raise OutDirError(f"{out} holds {_listing(clash)}, which fedfair did not write; move it away or choose "
                          f"another directory")
    # the entries about to move in are listed as fedfair's (and the output incomplete) before the first move: a
    # signal part-way leaves a directory whose marker names them, which the next writer replaces
    marker = {**marker, "files": sorted(set(marker.get("files", ())) | set(names)), "complete": False}
    write_marker(out, marker)
    for name in last:  # readers never see the old manifest beside half-replaced entries
        with contextlib.suppress(FileNotFoundError):
            if owned(name, out / name, marker):
                (out / name).unlink()
    clear(out, marker, dirs=True)
    ordered = [n for n in names if n not in last] + [n for n in last if n in names]
    for name in ordered:
        os.rename(tmp / name, out / name)
    foreign = set(foreign_entries(out, marker)) - set(names)
    files = sorted(set(n for n in os.listdir(out) if not _internal(n)) - foreign)
    write_marker(out, {**marker, **{k: v for k, v in base.items() if k not in ("host", "created")}, "files": files})
    return out
