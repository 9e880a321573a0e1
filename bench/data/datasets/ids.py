"""Image ids: one spelling per file, so that a split can never put one image on both sides.

An id is the image's path relative to the dataset's image folder, '/'-separated and normalised
(``./a.bmp``, ``x/../a.bmp`` and ``a.bmp`` are all ``a.bmp``). A path that is absolute or climbs out of
the folder is refused: ids are stable across machines only inside the folder. ``same_files`` finds
records that reach one file under two different ids (a symlink, a hard link, a case-insensitive disk).
"""

from __future__ import annotations

import posixpath
import re

_DRIVE = re.compile(r"^[A-Za-z]:/")


class BadId(ValueError):
    """An id that cannot name a file inside the image folder; the message says why."""


def normalise_id(written: str) -> str:
    """The canonical id of a path as a metadata file writes it; BadId when it is absolute or escapes."""
    text = str(written).strip().replace("\\", "/")
    if not text:
        raise BadId("is empty")
    if text.startswith("/") or _DRIVE.match(text):
        raise BadId("is an absolute path; ids are paths relative to the image folder")
    rel = posixpath.normpath(text)
    if rel == ".":
        raise BadId("names the image folder itself, not an image")
    if rel == ".." or rel.startswith("../"):
        raise BadId("climbs out of the image folder with '..'")
    return rel


def file_identity(stat_result) -> tuple[int, int]:
    """What makes two paths the same file: (device, inode)."""
    return stat_result.st_dev, stat_result.st_ino
