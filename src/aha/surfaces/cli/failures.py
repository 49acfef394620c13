"""What the command line says when the machine, not the user, stops a command: a full disk, a file it may not write,
DuckDB out of memory, a damaged database file. One red line naming what failed and the fix instead of a traceback
(exit 1); any other exception is a defect of aha's and keeps its traceback.
"""

from __future__ import annotations

import errno

from aha.store.connection import DAMAGED_FIX

FULL = (errno.ENOSPC, errno.EDQUOT)
REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)
AFTER = ("What the command had not committed was rolled back; once that is fixed, run the same command again (an "
         "import stores no row twice).")


def _damage(text: str) -> str | None:
    """What is wrong with a damaged database file, from DuckDB's words, or None. A block whose checksum fails comes
    as a bare `duckdb.Error` wherever it is first read (at connect, or deep in a report); a file cut short as an
    IOException that "permissions" and "run it again" never fix."""
    if text.startswith("Corrupt database file"):
        return "a block's contents are not what DuckDB wrote there"
    if "Could not read enough bytes from file" in text:
        return "it is shorter than DuckDB wrote it (a copy or download stopped early, or a disk that filled)"
    return None


def explained(exc: BaseException) -> str | None:
    """The one line for `exc` when it is one of these failures, else None."""
    if isinstance(exc, OSError) and exc.errno in FULL:
        return f"the disk is full: cannot write {exc.filename or 'a file'}. Free space on that disk and run it again."
    if isinstance(exc, OSError) and exc.errno in REFUSED:
        return (f"cannot write {exc.filename or 'a file'}: {exc.strerror}. Choose another path, or fix its "
                "permissions.")
    kind = type(exc).__name__
    if not type(exc).__module__.startswith("_duckdb") and not type(exc).__module__.startswith("duckdb"):
        return None
    text = " ".join(str(exc).split())
    if damage := _damage(text):
        return f"the database file is damaged ({text}): {damage}. {DAMAGED_FIX}"
    if kind == "IOException":
        if "No space left" in text or "Disk quota" in text:
            return (f"the disk is full ({text}). Free space on the disk holding --db (and its <db>.tmp spill "
                    f"directory), then run the command again. {AFTER}")
        if "File too large" in text:
            return (f"the store cannot grow ({text}: a file-size limit, `ulimit -f`, or the file system's largest "
                    f"file). Raise the limit or choose --db on another file system. {AFTER}")
        return f"the store could not be read or written ({text}). Check the disk and the file's permissions. {AFTER}"
    if kind == "OutOfMemoryException":
        return (f"DuckDB ran out of memory ({text}). Give it more with AHA_MEMORY_LIMIT (e.g. AHA_MEMORY_LIMIT=80%), "
                f"or free disk space beside --db for it to spill to. {AFTER}")
    return None
