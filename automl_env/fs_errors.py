"""Why a file system call failed, in words a user can act on: the reason behind an ``OSError`` or behind
SQLite's "unable to open database file", which names neither the path nor the cause."""

from __future__ import annotations

import errno
import os
from pathlib import Path

_REASONS = {
    errno.EACCES: "permission denied: this user may not write there",
    errno.EPERM: "operation not permitted: this user may not write there",
    errno.EROFS: "the file system is read-only",
    errno.ENAMETOOLONG: "a name in the path is longer than the file system allows (255 bytes per name on most)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is there, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOSPC: "no space is left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.ENOENT: "a folder of the path does not exist",
}


def os_reason(error: OSError) -> str:
    """The reason of ``error`` (its errno in words, else its own text)."""
    return _REASONS.get(error.errno or 0, error.strerror or str(error))


def folder_problem(path: Path) -> str | None:
    """Why a file could not be created or opened for writing in ``path``'s folder, by looking (None: no reason
    found): the check behind SQLite's "unable to open database file"."""
    folder = path.parent
    for part in (path.name, *(p.name for p in path.parents if p.name)):
        if len(os.fsencode(part)) > 255:
            return _REASONS[errno.ENAMETOOLONG]
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if existing is not None and existing != folder:
        return None  # the folder can still be made; the caller's own error says more
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable (read-only file system or no write permission)"
    if path.is_dir():
        return f"{path} is a folder, not a file"
    return None
