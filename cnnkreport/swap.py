"""Replacing a whole folder (a site, a run) by a new one made beside it, so that a kill at any moment leaves either
the old folder or the new one in place, never neither.

On Linux both are swapped in one step (renameat2 with RENAME_EXCHANGE). Where that is not available the old folder
is first moved aside into `.<name>.old-*/<name>` and the new one renamed into place; a kill between the two renames
leaves the old folder there, and `recover` (called before every replace) moves it back.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step; False where the system or the file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def make_temp(path: Path) -> Path:
    """A new folder beside `path` to build its replacement in; its name carries this process's id, so that one left
    by a killed process can be told from one still in use."""
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def recover(path: Path) -> None:
    """Tidy up after a command that was killed while replacing `path`: put the old folder back if the kill came
    between the two renames, and delete the half-built replacements of processes that no longer run."""
    if not path.parent.is_dir():
        return
    if not path.exists():
        for old in sorted(path.parent.glob(f".{path.name}.old-*")):
            if (old / path.name).is_dir():
                os.replace(old / path.name, path)
                shutil.rmtree(old, ignore_errors=True)
                break
    for tmp in path.parent.glob(f".{path.name}.tmp-*-*"):
        pid = tmp.name[len(f".{path.name}.tmp-") :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(new: Path, path: Path) -> None:
    """Put folder `new` at `path`, replacing the folder there (if any), and delete the old one."""
    recover(path)
    if not path.exists():
        os.replace(new, path)
        return
    if _exchange(new, path):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old folder
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    os.replace(path, old / path.name)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)
