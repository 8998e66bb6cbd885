"""Turn an HDF5/MPI-IO write failure into a message that says why it failed.

HDF5 reports a failed write as "file write failed" (h5py raises RuntimeError
or OSError without an errno); the system's reason (ENOSPC, EFBIG) is printed by
MPI-IO to stderr and lost to Python. This module looks at the file system and
the process limits after the fact to name the likely cause.
"""
from __future__ import annotations

import errno
import os
import resource

#: free bytes below which a failed write is blamed on a full file system
FULL_THRESHOLD = 16 << 20

_WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.EROFS}
_WRITE_TEXTS = ("write failed", "No space left", "File too large", "Disk quota", "flush")


def describe_write_failure(exc: BaseException, path) -> str | None:
    """A one-line diagnosis if ``exc`` is a failed write of ``path``, else None. Not collective."""
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    text = str(exc)
    if getattr(exc, "errno", None) not in _WRITE_ERRNOS and \
            not any(s in text for s in _WRITE_TEXTS):
        return None
    path = os.fspath(path)
    causes = []
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
        free = st.f_bavail * st.f_frsize
        if free < FULL_THRESHOLD:
            causes.append(f"No space left on device ({free} bytes free on the output file system)")
    except OSError:
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    if soft != resource.RLIM_INFINITY and size + (1 << 20) >= soft:
        causes.append(f"File too large: the process file-size limit (ulimit -f) is {soft} bytes")
    if not causes:
        causes.append("an I/O error of the file system (quota exceeded? file system unmounted?)")
    return f"cannot write {path} ({text}): " + "; ".join(causes)
