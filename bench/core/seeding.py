"""Seeds derived per cell: the same cell gets the same seed on every machine and every run."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np


def derive_seed(*parts) -> int:
    """A 31-bit seed from any JSON-able parts (order matters, Python's hash() is not used: it is salted)."""
    payload = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(payload.encode()).digest()[:4], "big") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python and numpy, and torch only when something already imported it (never import it here)."""
    import sys

    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
