"""Verified, atomic, concurrency-safe file downloads (``bench weights fetch``; torch-free).

``fetch_file(url, dest, sha256=..., sha256_prefix=...)``: downloads ``url`` into a temporary file in
``dest``'s folder, checks the length the server announced and the SHA-256 (the full digest or a
published prefix), then renames it into place, so ``dest`` is either absent or complete and verified.
An exclusive lock (``.<name>.lock`` beside it, ``fcntl.flock``) makes a second process or thread wait; it then finds
the file present and verified and downloads nothing. A file already at ``dest`` is hashed: kept when it
matches, refused (never overwritten) when it does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.core.errors import BenchError

CHUNK = 1 << 20


class DownloadError(BenchError):
    """A download failed or did not verify; nothing was left at the destination."""


@dataclass
class Fetched:
    path: Path
    sha256: str
    status: str  # 'downloaded' | 'present' (already there and verified)
    verified: str  # 'sha256' | 'sha256-prefix' | 'unpinned' (no published hash to compare with)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock on ``path`` (created if needed), across processes and threads (flock per open file)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _check(digest: str, sha256: str | None, sha256_prefix: str | None) -> str | None:
    """None when it matches; else what was expected."""
    if sha256 and digest != sha256.lower():
        return sha256.lower()
    if sha256_prefix and not digest.startswith(sha256_prefix.lower()):
        return sha256_prefix.lower() + "..."
    return None


def _kind(sha256: str | None, sha256_prefix: str | None) -> str:
    return "sha256" if sha256 else "sha256-prefix" if sha256_prefix else "unpinned"


def fetch_file(
    url: str, dest: Path, sha256: str | None = None, sha256_prefix: str | None = None, timeout: float = 60.0
) -> Fetched:
    dest = Path(dest)
    kind = _kind(sha256, sha256_prefix)
    with file_lock(dest.with_name(f".{dest.name}.lock")):
        if dest.exists():
            digest = sha256_of(dest)
            expected = _check(digest, sha256, sha256_prefix)
            if expected:
                raise DownloadError(
                    f"{dest} exists but its SHA-256 is {digest}, not {expected}: a damaged or "
                    f"different file. Remove it and run `python -m bench weights fetch` again."
                )
            return Fetched(dest, digest, "present", kind)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest, _ = _stream(url, out, timeout)
                out.flush()
                os.fsync(out.fileno())
            expected = _check(digest, sha256, sha256_prefix)
            if expected:
                raise DownloadError(
                    f"{url}: the downloaded file's SHA-256 is {digest}, not the published "
                    f"{expected}; nothing was written to {dest}. Try again (a proxy or mirror may "
                    "serve another file)."
                )
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return Fetched(dest, digest, "downloaded", kind)


def _stream(url: str, out, timeout: float) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    request = urllib.request.Request(url, headers={"User-Agent": "biqa-bench"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            announced = resp.headers.get("Content-Length")
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                out.write(chunk)
                n += len(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(
            f"{url}: HTTP {exc.code} {exc.reason}. Check the address (or the mirror given by "
            "BENCH_WEIGHTS_URL / --base-url)."
        ) from None
    except http.client.IncompleteRead as exc:
        raise DownloadError(
            f"{url}: the transfer stopped after {len(exc.partial) + n} bytes "
            f"({exc.expected} more expected); nothing was kept. Run the same command again."
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(
            f"{url}: {getattr(exc, 'reason', exc)}. No internet here? Run `python -m bench weights "
            "fetch --to DIR` on a machine with internet and copy DIR over (--weights-dir DIR)."
        ) from None
    if announced is not None and n != int(announced):
        raise DownloadError(f"{url}: received {n} of {announced} bytes; nothing was kept. Run the same command again.")
    return h.hexdigest(), n
