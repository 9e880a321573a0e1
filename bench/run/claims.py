"""A worker claims a cell before computing it, so two runs on one results store share the work.

``OUT/work/<key>.claim`` is created with ``O_CREAT | O_EXCL`` (atomic on POSIX and NFSv3+): exactly one worker
of all the runs on the store gets it. It holds the claimant's pid, host and a token; a thread touches its mtime
every ``HEARTBEAT_S`` while the cell runs. Another worker that finds it defers the cell (``execute_task`` answers
``'claimed'``); its run computes its other cells, then waits for the deferred ones (``wait_for``): a cell the
claimant finished counts as finished by another run, one it gave up (a failure, a kill) is run here.

A claim is *stale*, and taken over, when its claimant cannot still be computing: a process on this host that
is gone, or no heartbeat for ``stale_after()`` seconds (``$BENCH_CLAIM_STALE_S``, default 600: a claimant on
another host, or a frozen one). Taking over renames the stale file away first (one rename wins), so two
workers never both take it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HEARTBEAT_S = 30.0
STALE_ENV = "BENCH_CLAIM_STALE_S"
DEFAULT_STALE_S = 600.0
SUFFIX = ".claim"


def stale_after() -> float:
    try:
        return max(2 * HEARTBEAT_S, float(os.environ.get(STALE_ENV, DEFAULT_STALE_S)))
    except ValueError:
        return DEFAULT_STALE_S


def claim_path(work: Path, key: str) -> Path:
    return Path(work) / f"{key}{SUFFIX}"


def _host() -> str:
    return socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Holder:
    """Who holds a claim, as read from its file (``pid`` 0 when the file is unreadable)."""

    pid: int
    host: str
    token: str
    age_s: float  # seconds since the last heartbeat

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.pid else "another run"


def read_holder(path: Path) -> Holder | None:
    """The claim's holder; None when there is no claim file."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
        return Holder(int(data.get("pid") or 0), str(data.get("host") or ""), str(data.get("token") or ""), age)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, AttributeError):  # being written this instant, or damaged: by its age
        return Holder(0, "", "", age)


def is_stale(holder: Holder) -> bool:
    if holder.age_s > stale_after():
        return True
    return bool(holder.pid) and holder.host == _host() and not _alive(holder.pid)


class Claim:
    """A held claim: keeps its heartbeat going until ``release``."""

    def __init__(self, path: Path, token: str):
        self.path, self.token = path, token
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name=f"claim {path.name}", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Stop the heartbeat; remove the file if it is still this claim's (not one that took it over)."""
        self._stop.set()
        release_file(str(self.path), self.token)

    def hand_off(self) -> dict:
        """Stop the heartbeat, keep the file: the parent releases it once the result is stored (else another
        run could find the cell neither claimed nor done in between, and compute it again)."""
        self._stop.set()
        return {"path": str(self.path), "token": self.token}


def release_file(path: str, token: str) -> None:
    """Remove the claim file at ``path`` if it still holds ``token``."""
    holder = read_holder(Path(path))
    if holder is not None and holder.token == token:
        try:
            Path(path).unlink()
        except FileNotFoundError:
            pass


def try_claim(work: Path, key: str) -> Claim | Holder:
    """This process's claim on ``key``, or the live holder of it."""
    path = claim_path(work, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    body = json.dumps({"pid": os.getpid(), "host": _host(), "token": token, "claimed_at": time.time()})
    for _ in range(10):  # a few rounds of take-over races at most
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read_holder(path)
            if holder is None:
                continue  # released meanwhile: try again
            if not is_stale(holder):
                return holder
            aside = path.with_name(f"{path.name}.stale.{token}")
            try:
                os.rename(path, aside)  # only one taker's rename finds the file
            except FileNotFoundError:
                continue
            aside.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        return Claim(path, token)
    return read_holder(path) or Holder(0, "", "", 0.0)


def clear_dead(work: Path, keys) -> None:
    """Remove the claims on ``keys`` whose claimant process on this host is gone (a worker that died)."""
    for key in keys:
        path = claim_path(work, key)
        holder = read_holder(path)
        if holder is not None and holder.pid and holder.host == _host() and not _alive(holder.pid):
            release_file(str(path), holder.token)


def sweep(work: Path) -> None:
    """Remove every stale claim in ``work`` (left by a killed run; a live claimant's are kept)."""
    try:
        names = [e.name for e in os.scandir(work) if e.name.endswith(SUFFIX)]
    except OSError:
        return
    for name in names:
        path = Path(work) / name
        holder = read_holder(path)
        if holder is not None and is_stale(holder):
            release_file(str(path), holder.token)


def held_elsewhere(work: Path, key: str) -> Holder | None:
    """The live holder of ``key``'s claim, or None (no claim, or a stale one)."""
    holder = read_holder(claim_path(work, key))
    return None if holder is None or is_stale(holder) else holder


def wait_for(work: Path, keys: list[str], is_done, poll_s: float = 1.0, on_wait=None) -> tuple[list[str], list[str]]:
    """Wait until each of ``keys`` is done or no longer claimed by a live holder (one that finished, failed or
    died). Returns (done by the holder, to run here)."""
    announced = False
    while True:
        held = [k for k in keys if not is_done(k) and held_elsewhere(work, k) is not None]
        if not held:
            break
        if on_wait and not announced:
            on_wait(held, held_elsewhere(work, held[0]))
            announced = True
        time.sleep(poll_s)
    done = [k for k in keys if is_done(k)]
    return done, [k for k in keys if k not in done]
