"""Verified, atomic, concurrency-safe file downloads (``bench weights fetch``; torch-free).

``fetch_file(url, dest, sha256=..., sha256_prefix=...)``: downloads ``url`` into a temporary file in
``dest``'s folder, checks the length the server announced and the SHA-256 (the full digest or a
published prefix), then renames it into place, so ``dest`` is either absent or complete and verified.
An exclusive lock (``.<name>.lock`` beside it, ``fcntl.flock``) makes a second process or thread wait; it then finds
the file present and verified and downloads nothing. A file already at ``dest`` is hashed: kept when it
matches, refused (never overwritten) when it does not.

A download has an overall deadline (``deadline_s``, default ``DEFAULT_DEADLINE_S``; the socket timeout only
bounds one read, so a mirror trickling a byte a second would never end), a SIGTERM while it runs removes the
``.part`` file before the process ends, a file with no published hash (*unpinned*) whose name says its format
(``.mat``, ``.pth``, ``.pt``, ``.safetensors``) must start like one (an HTML error page served with status 200 is
refused), and the file is installed with the permissions the umask gives (``mkstemp`` makes it 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.core.errors import BenchError

CHUNK = 1 << 20
DEFAULT_DEADLINE_S = 3600.0  # one file: 1 GB (CLIP ViT-L/14 is 0.9 GB) at 0.3 MB/s still fits


class DownloadTerminated(BaseException):
    """SIGTERM arrived during a download (raised from the handler so the .part file is removed)."""


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
    url: str,
    dest: Path,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    timeout: float = 60.0,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
) -> Fetched:
    """``deadline_s``: the whole transfer's limit in seconds (None or 0: none)."""
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
            with _terminate_cleanly(), os.fdopen(fd, "wb") as out:
                digest, _ = _stream(url, out, timeout, deadline_s)
                _write(out, b"", sync=True)
            expected = _check(digest, sha256, sha256_prefix)
            if expected:
                raise DownloadError(
                    f"{url}: the downloaded file's SHA-256 is {digest}, not the published "
                    f"{expected}; nothing was written to {dest}. Try again (a proxy or mirror may "
                    "serve another file)."
                )
            if kind == "unpinned":  # nothing to compare with: at least the format its name promises
                problem = format_problem(tmp, dest.name)
                if problem:
                    raise DownloadError(
                        f"{url}: {problem}; nothing was written to {dest}. Check the address (or the mirror given "
                        "by BENCH_WEIGHTS_URL / --base-url): it serves something else under this name."
                    )
            os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600, as any other file the user writes
            os.replace(tmp, dest)
        except DownloadTerminated:
            tmp.unlink(missing_ok=True)
            raise SystemExit(128 + signal.SIGTERM) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return Fetched(dest, digest, "downloaded", kind)


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    with _UMASK_LOCK:  # reading the umask means setting it: briefly, under a lock
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """SIGTERM raises DownloadTerminated here (in the main thread only: Python runs handlers there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise DownloadTerminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# what a file of each weight format starts with (an HTML page or a JSON error is none of them)
_MAGIC = {
    ".mat": (b"MATLAB ",),  # MAT v5 / v7.3: a 128-byte text header 'MATLAB 5.0 MAT-file...'
    ".pth": (b"PK\x03\x04", b"\x80"),  # torch.save: a zip archive (torch >= 1.6) or a pickle (protocol 2+)
    ".pt": (b"PK\x03\x04", b"\x80"),  # also TorchScript (OpenAI CLIP): a zip archive
}


def format_problem(path: Path, name: str) -> str | None:
    """Why the file at ``path`` is not the format ``name``'s suffix says, or None (also for other suffixes)."""
    suffix = Path(name).suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(16)
    if suffix == ".safetensors":
        ok = len(head) > 8 and head[8:9] == b"{"  # 8-byte header length, then the JSON header
        return None if ok else f"{name} does not start like a safetensors file ({_looks_like(head)})"
    magic = _MAGIC.get(suffix)
    if magic is None or head.startswith(magic):
        return None
    return f"{name} does not start like a {suffix} file ({_looks_like(head)})"


def _looks_like(head: bytes) -> str:
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        return "it is an HTML/XML page, e.g. a login or error page"
    if text.startswith((b"{", b"[")):
        return "it is JSON text, e.g. an error message"
    return f"it starts with {head[:8]!r}" if head else "it is empty"


class WriteFailed(DownloadError):
    """The download's own file could not be written (disk full, read-only): not the network's fault."""


def _write(out, chunk: bytes, sync: bool = False) -> None:
    try:
        out.write(chunk)
        if sync:
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise WriteFailed(
            f"cannot write {out.name} ({exc.strerror or exc}): free space there, or fetch into another folder "
            "(--to DIR); nothing was kept."
        ) from None


def _stream(url: str, out, timeout: float, deadline_s: float | None = None) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    request = urllib.request.Request(url, headers={"User-Agent": "biqa-bench"})
    end = time.monotonic() + deadline_s if deadline_s else None
    try:
        with urllib.request.urlopen(request, timeout=timeout if end is None else min(timeout, deadline_s)) as resp:
            announced = resp.headers.get("Content-Length")
            while True:
                # read1: whatever has arrived (read(CHUNK) would wait for a whole chunk of a trickling mirror)
                chunk = resp.read1(CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                _write(out, chunk)
                n += len(chunk)
                if end is not None and time.monotonic() > end:
                    raise DownloadError(
                        f"{url}: not finished after {deadline_s:g} s ({n} bytes received"
                        + (f" of {announced}" if announced else "")
                        + "); nothing was kept. A slow mirror? Try another (--base-url), or allow longer "
                        "with --deadline SECONDS."
                    )
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
