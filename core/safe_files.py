"""Opening files that someone else may have put there (a shared runs directory, a data folder,
an image to classify): never block on a FIFO, never read a device forever, never write through a
link out of the directory a run owns.

Only the standard library; core/ modules import it freely (it imports nothing of theirs).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotRegular(OSError):
    """A path that should be a regular file is a FIFO, a device, a socket or a directory; or a
    file is larger than its reader will take. Its text is the one line to show."""


#: Where a run's own files should be, a link would send a write somewhere else.
LINK_REFUSED = "is a link; a run directory's own files may not be links (remove it)"


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def require_regular(path: Path, what: str = "a file") -> os.stat_result:
    """``path``'s stat (links followed) when it is a regular file; NotRegular naming what it is
    instead (checked before opening: opening a FIFO blocks until a writer comes)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(f"{path} is {kind_of(st.st_mode)}, not {what}")
    return st


def read_regular(path: Path, limit: int, what: str = "a file") -> bytes:
    """A regular file's bytes, at most ``limit`` of them: opened without blocking (a FIFO put
    there between the check and the open still cannot hang us), checked on the open descriptor,
    and read no further than ``limit`` (a file that grows, or /proc, cannot exhaust memory)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(f"{path} is {kind_of(st.st_mode)}, not {what}")
        if st.st_size > limit:
            raise NotRegular(
                f"{path} is {st.st_size:,} bytes: too large for {what} (at most {limit:,})"
            )
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise NotRegular(f"{path} is larger than {limit:,} bytes: too large for {what}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def open_nofollow(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a link at ``path`` itself (O_NOFOLLOW) and anything but a
    regular file (O_NONBLOCK: a FIFO does not block the open), as a RunDirError-ready line."""
    try:
        fd = os.open(
            path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), mode
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW's answer to a link
            raise NotRegular(f"{path} {LINK_REFUSED}") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegular(f"{path} is {kind_of(st.st_mode)}, not a file a run writes")
    os.set_blocking(fd, True)
    return fd


def links_among(directory: Path, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` inside ``directory`` are links (or, for a name that must be a plain
    file or folder, something else a write would follow), each as one line."""
    found = []
    for name in names:
        path = directory / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            found.append(f"{path} {LINK_REFUSED}")
        elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            found.append(f"{path} is {kind_of(st.st_mode)}, not a file a run writes")
    return found
