"""Private files: what a node keeps on disk is readable by its own account only.

Guarantees:
- ``restrict_umask`` makes every file and directory the process (and the nats-server and API
  processes it starts) creates from then on private: 0600 files, 0700 directories. SQLite gives
  its ``-wal`` and ``-shm`` files the mode of the database file, so those follow too.
- ``private_dir`` and ``private_file`` create with those modes from the start (never briefly
  readable by others, whatever the umask) and tighten an existing one.
- ``secure_data_dir`` tightens a data directory made by an older version or by hand, at start,
  and logs a warning with the number of entries it changed (paths only, never content).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("fedshare.storage")

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
# Group and other bits: any of them set means someone besides the node's account can get in.
LOOSE = stat.S_IRWXG | stat.S_IRWXO


def restrict_umask() -> int:
    """Make what this process creates from now on private; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def _tighten(path: Path, mode: int) -> bool:
    """Take group and other access away from ``path`` if it is ours and has any; a shared
    directory (sticky bit, like /tmp) or someone else's entry is left alone."""
    info = path.lstat()
    current = stat.S_IMODE(info.st_mode)
    if current & LOOSE == 0 or current & stat.S_ISVTX or info.st_uid != os.getuid():
        return False
    os.chmod(path, mode)
    return True


def _make_dir(path: Path) -> None:
    """Create ``path`` 0700 if missing; an existing directory is not ours to change."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def private_dir(path: Path) -> Path:
    """``path``, a directory of the node's own, as one only its owner can enter (created 0700,
    parents included; tightened if it exists)."""
    _make_dir(path)
    if _tighten(path, DIR_MODE):
        log.warning("tightened the mode of directory %s to 0700", path)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner can read (created empty 0600 if missing; its directory
    is created 0700 if missing, never changed if it exists: it may be shared)."""
    _make_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    _tighten(path, FILE_MODE)
    return path


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to a 0600 file (created with that mode, tightened if it existed)."""
    _make_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    _tighten(path, FILE_MODE)


def secure_data_dir(data_dir: Path) -> int:
    """Tighten ``data_dir`` and everything under it to 0700 directories and 0600 files; returns
    how many entries were looser (each one is a warning: someone else could have read them).
    Entries of other users and shared (sticky) directories such as /tmp are left alone."""
    if not data_dir.exists():
        private_dir(data_dir)
        return 0
    if data_dir.stat().st_mode & stat.S_ISVTX:
        log.warning("data directory %s is a shared directory; its modes are left alone", data_dir)
        return 0
    changed = 0
    for root, dirs, files in os.walk(data_dir):
        base = Path(root)
        changed += _tighten(base, DIR_MODE)
        for name in files:
            path = base / name
            if path.is_symlink() or not path.is_file():
                continue
            changed += _tighten(path, FILE_MODE)
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
    if changed:
        log.warning(
            "data directory %s: %d entries were readable by others; tightened to 0700/0600",
            data_dir,
            changed,
        )
    return changed
