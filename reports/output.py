"""Writing report and export files safely: the folder is checked first, every file goes to a temporary
name in its target folder and is moved into place with ``os.replace``, so a full disk, a read-only folder
or an over-long name leaves no empty or half-written file behind, and the error is one clear line."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reports.errors import ReportError


def explain(exc: OSError, path: Path, option: str) -> ReportError:
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        fix = f"give a shorter {option}"
    elif exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", -1):
        fix = f"free some space or give {option} on another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"give {option} a folder you can write"
    else:
        fix = f"check the path or give another {option}"
    return ReportError(f"cannot write {path}: {why}; {fix}.")


def ensure_writable(folder: Path, option: str = "--out") -> None:
    """Create ``folder`` and prove a file can be written there, before anything is computed or written."""
    folder = Path(folder)
    probe = folder / f".write-probe.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise explain(exc, folder, option) from None


@contextmanager
def atomic_path(path: Path, option: str = "--out") -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (same suffix); on success it replaces ``path``, on any error
    it is removed and an ``OSError`` becomes a ``ReportError`` naming the file and the fix."""
    path = Path(path)
    tmp = path.with_name(f".{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise explain(exc, path, option) from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def write_text(path: Path, text: str, option: str = "--out") -> Path:
    with atomic_path(path, option) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
