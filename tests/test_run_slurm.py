"""--backend slurm against a real single-node Slurm (slurm-wlm + munge) that this test starts and stops.

Skips, saying why, where the OS packages are not installed (`apt-get install slurm-wlm munge`), where it
cannot run the daemons (slurmd needs root), or without dask-jobqueue. The option checks run everywhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.results.store import ResultStore

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _why_not() -> str | None:
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()]
    if missing:
        return f"Slurm/munge not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs; this test starts its own daemons"
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        return "dask-jobqueue not installed: pip install 'biqa-bench[slurm]'"
    return None


def _exe(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """munged, slurmctld and slurmd on this machine, in a private folder, on free ports; SLURM_CONF set."""
    why = _why_not()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("slurm")
    for d in ("state", "spool", "log", "munge"):
        (root / d).mkdir()
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    sock = root / "munge" / "munge.socket"
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=biqatest",
                f"SlurmctldHost={host}(127.0.0.1)",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                f"AuthInfo=socket={sock}",
                "CredType=cred/munge",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "MpiDefault=none",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "ReturnToService=2",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory=3000 State=UNKNOWN",
                "PartitionName=biqa Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    _exe("munged"),
                    "-F",
                    "--force",
                    f"--socket={sock}",
                    f"--key-file={key}",
                    f"--pid-file={root / 'munge' / 'munged.pid'}",
                    f"--log-file={root / 'munge' / 'munged.log'}",
                    f"--seed-file={root / 'munge' / 'munged.seed'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        )
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.1)
        for daemon in ("slurmctld", "slurmd"):
            procs.append(
                subprocess.Popen(
                    [_exe(daemon), "-D", "-f", str(conf)],
                    env=env,
                    stdout=open(root / "log" / f"{daemon}.out", "w"),
                    stderr=subprocess.STDOUT,
                )
            )
        for _ in range(100):  # the node registers within seconds
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout
            if out.strip() in ("idle", "mix", "alloc"):
                break
            time.sleep(0.2)
        else:
            logs = "".join(
                (root / "log" / f).read_text()[-2000:]
                for f in ("slurmctld.log", "slurmd.log")
                if (root / "log" / f).is_file()
            )
            pytest.fail(f"the test's Slurm did not come up (sinfo: {out.strip()!r}); logs:\n{logs}")
        yield {"root": root, "env": env}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_cells_run_as_slurm_jobs(slurm, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", slurm["env"]["SLURM_CONF"])
    out = tmp_path / "runs"
    t0 = time.perf_counter()
    rc = main(
        [
            "run",
            "--protocol",
            "intra",
            "--method",
            "nss-svr",
            "--data",
            "demo",
            "--datasets",
            "demo-a",
            "--splits",
            "2",
            "--preset",
            "ci",
            "--backend",
            "slurm",
            "--jobs",
            "2",
            "--slurm-gpus",
            "0",
            "--slurm-cpus",
            "1",
            "--slurm-memory",
            "1GB",
            "--slurm-time",
            "00:10:00",
            "--slurm-partition",
            "biqa",
            "--slurm-start-timeout",
            "120",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err + f"\nslurm logs: {slurm['root'] / 'log'}"
    records = list(ResultStore(out).iter_results())
    assert len(records) == 2 and all(r["backend"] == "slurm" for r in records)
    jobs = {r["slurm_job_id"] for r in records}  # set inside the worker, from Slurm's environment
    assert jobs and all(j.isdigit() for j in jobs)
    assert all(r["pid"] != os.getpid() for r in records)
    logs = list((out / "slurm-logs").iterdir())
    assert any(j in p.name for j in jobs for p in logs), [p.name for p in logs]
    ctld = (slurm["root"] / "log" / "slurmctld.log").read_text()
    assert all(f"JobId={j}" in ctld for j in jobs)
    print(f"slurm: 2 cells in {time.perf_counter() - t0:.1f} s on jobs {sorted(jobs)}")
    # the jobs are cancelled when the run ends
    for _ in range(50):
        queue = subprocess.run(["squeue", "-h", "-o", "%i"], env=slurm["env"], capture_output=True, text=True).stdout
        if not set(queue.split()) & jobs:
            break
        time.sleep(0.2)
    assert not set(queue.split()) & jobs


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--slurm-time", "4h"], "--slurm-time '4h'"),
        (["--slurm-memory", "lots"], "--slurm-memory 'lots'"),
        (["--slurm-gpus", "2", "--slurm-cpus", "1"], "--slurm-cpus 1: at least one core per job and per GPU worker"),
        (["--slurm-sbatch", "constraint=a100"], "an sbatch option such as --constraint=a100"),
    ],
)
def test_slurm_options_are_checked_before_anything_runs(tmp_path, capsys, argv, expected):
    pytest.importorskip("dask_jobqueue")
    rc = main(
        [
            "run",
            "--protocol",
            "intra",
            "--method",
            "nss-svr",
            "--data",
            "demo",
            "--backend",
            "slurm",
            "--out",
            str(tmp_path),
            *argv,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and expected in err


def test_slurm_options_need_the_slurm_backend(tmp_path, capsys):
    rc = main(
        [
            "run",
            "--protocol",
            "intra",
            "--method",
            "nss-svr",
            "--data",
            "demo",
            "--slurm-partition",
            "gpu",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 2 and "--slurm-partition is for --backend slurm" in capsys.readouterr().err


def test_job_script_asks_one_gpu_per_worker(tmp_path):
    pytest.importorskip("dask_jobqueue")
    from bench.run.slurm import make_cluster

    cluster = make_cluster(
        {
            "partition": "gpu",
            "gpus": 2,
            "cpus": 8,
            "memory": "32GB",
            "time": "08:00:00",
            "sbatch": ("--constraint=a100",),
            "log_dir": str(tmp_path),
        },
        jobs=1,
    )
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in (
        "#SBATCH -p gpu",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --constraint=a100",
        "#SBATCH -t 08:00:00",
    ):
        assert line in script, script
    assert "--nworkers 2" in script and "--nthreads 1" in script
