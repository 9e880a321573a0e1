"""Where each page of the site lives, and the names that become file names (never the raw name: a method may be
called ``a/b|<script>``)."""

from __future__ import annotations

import hashlib
import re


def slug(name: str) -> str:
    """A file-name-safe, unique and stable stem: readable part + 8 hex of the name's SHA-1."""
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "x"
    return f"{readable}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def method_page(method: str) -> str:
    return f"methods/{slug(method)}.html"


def dataset_page(dataset: str) -> str:
    return f"datasets/{slug(dataset)}.html"


def cell_page(key: str) -> str:
    return f"cells/{key}.html"


def preds_file(key: str) -> str:
    return f"cells/{key}.preds.csv"


def number_anchor(table_id: str, group: int, row: int, column: int) -> str:
    return f"n-{slug(table_id)}-{group}-{row}-{column}"


def table_anchor(table_id: str) -> str:
    return f"t-{slug(table_id)}"
