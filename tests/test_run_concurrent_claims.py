"""Issue 32 item 6: two runs on one store share the work. A worker claims a cell (O_EXCL file) before computing
it; the other run defers that cell, computes the rest, then waits: every cell is computed once, and a claim whose
claimant died is taken over."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.results.store import ResultStore
from bench.run import claims

ROOT = Path(__file__).resolve().parents[1]
N_SPLITS = 6
RUN = [
    sys.executable, "-m", "bench", "run", "--protocol", "intra", "--method", "noop", "--data", "demo",
    "--datasets", "demo-a", "--splits", str(N_SPLITS), "--param", "noop.sleep_s=1.5", "--backend", "sequential",
    "--no-progress",
]  # fmt: skip


def finished(text: str) -> tuple[int, int]:
    """(computed here, finished by another run) from a run's last line."""
    line = [x for x in text.splitlines() if "cell(s) finished" in x][-1]
    other = re.search(r"(\d+) finished by another run", line)
    return int(re.search(r"(\d+) cell\(s\) finished", line).group(1)), int(other.group(1)) if other else 0


def test_two_runs_started_together_compute_each_cell_once(tmp_path, demo_cache):
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # the demo data and its splits exist before both start (as on a real store's second day)
    subprocess.run([*RUN, "--out", str(out), "--dry-run"], cwd=ROOT, env=env, check=True, capture_output=True)
    procs = [
        subprocess.Popen([*RUN, "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1].decode()[-2000:] for r in results]
    counts = [finished(r[0].decode()) for r in results]
    computed = sum(c for c, _ in counts)
    assert computed == N_SPLITS, counts  # each cell once, between the two runs
    assert all(here + other == N_SPLITS for here, other in counts), counts  # each run accounts for every cell
    assert all(here > 0 for here, _ in counts), counts  # the work was shared
    assert len(ResultStore(out).done_keys()) == N_SPLITS
    assert not list((out / "work").glob("*.claim")) if (out / "work").exists() else True


def test_a_claim_held_by_a_live_process_is_respected_and_a_dead_ones_is_taken_over(tmp_path):
    work = tmp_path / "work"
    held = claims.try_claim(work, "k1")
    assert isinstance(held, claims.Claim)
    other = claims.try_claim(work, "k1")  # the same process, a second attempt: the claim is live
    assert isinstance(other, claims.Holder) and other.pid == os.getpid()
    held.release()
    assert not claims.claim_path(work, "k1").exists()
    # a claimant that died (a finished child process's pid) on this host: stale, taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = claims.claim_path(work, "k2")
    path.write_text(json.dumps({"pid": int(dead.stdout), "host": claims._host(), "token": "t"}))
    taken = claims.try_claim(work, "k2")
    assert isinstance(taken, claims.Claim) and json.loads(path.read_text())["pid"] == os.getpid()
    taken.release()


def test_a_claim_without_heartbeat_goes_stale(tmp_path, monkeypatch):
    work = tmp_path / "work"
    path = claims.claim_path(work, "k3")
    work.mkdir()
    path.write_text(json.dumps({"pid": 1, "host": "another-host", "token": "t"}))  # alive elsewhere, maybe
    assert isinstance(claims.try_claim(work, "k3"), claims.Holder)
    old = time.time() - claims.stale_after() - 5
    os.utime(path, (old, old))  # no heartbeat for longer than the limit
    taken = claims.try_claim(work, "k3")
    assert isinstance(taken, claims.Claim)
    taken.release()
