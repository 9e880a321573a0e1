"""``--backend slurm``: cells run on Dask workers that Slurm starts (dask-jobqueue's ``SLURMCluster``).

    python -m bench run --protocol intra --method mpiqe --backend slurm --jobs 8 \\
        --slurm-partition gpu --slurm-gpus 1 --slurm-cpus 8 --slurm-memory 32GB --slurm-time 08:00:00 \\
        --out /shared/runs

``--jobs N`` Slurm jobs are submitted; each holds ``--slurm-gpus`` GPUs (``--gres=gpu:G``) and runs one Dask
worker per GPU, one cell at a time (one thread), so every worker has one GPU (CUDA_VISIBLE_DEVICES from
Slurm; the runner's GPU claim picks one per worker process). The scheduler runs in this process: keep it
alive for the run. Results are written by this process into ``--out``; the workers write scratch,
checkpoints and the score caches under it too, so ``--out`` must be on a filesystem the nodes share.
Imports of dask-jobqueue happen here only, when the backend is used.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from bench.core.errors import BenchError

TIME_RE = re.compile(r"^(\d+-)?\d{1,3}(:\d{2}){0,2}$")  # Slurm: MM, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]
MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B|[KMGT])$", re.I)
DEFAULTS = {
    "partition": None,
    "account": None,
    "gpus": 1,
    "cpus": 4,
    "memory": "16GB",
    "time": "04:00:00",
    "sbatch": (),
    "interface": None,
    "python": None,
    "log_dir": None,
    "start_timeout": 600.0,
}


class SlurmError(BenchError):
    """The Slurm backend cannot start as asked."""


def add_slurm_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("slurm (--backend slurm, through dask-jobqueue)")
    g.add_argument("--slurm-partition", help="partition (sbatch -p); default: the cluster's default partition")
    g.add_argument("--slurm-account", help="account to charge (sbatch -A)")
    g.add_argument(
        "--slurm-gpus",
        type=int,
        default=DEFAULTS["gpus"],
        help="GPUs per job (--gres=gpu:N), one worker per GPU; 0 for CPU-only jobs (default 1)",
    )
    g.add_argument("--slurm-cpus", type=int, default=DEFAULTS["cpus"], help="CPU cores per job (default 4)")
    g.add_argument("--slurm-memory", default=DEFAULTS["memory"], help="memory per job, e.g. 32GB (default 16GB)")
    g.add_argument("--slurm-time", default=DEFAULTS["time"], help="wall time per job, e.g. 08:00:00 (default 04:00:00)")
    g.add_argument(
        "--slurm-sbatch",
        action="append",
        default=[],
        metavar="LINE",
        help="extra sbatch directive, e.g. --slurm-sbatch=--constraint=a100 (repeatable)",
    )
    g.add_argument("--slurm-interface", help="network interface the workers reach the scheduler on (e.g. ib0)")
    g.add_argument("--slurm-python", help="python on the nodes (default: this interpreter, same path)")
    g.add_argument(
        "--slurm-start-timeout",
        type=float,
        default=DEFAULTS["start_timeout"],
        help="seconds to wait for the first worker before giving up (default 600)",
    )


def options_from_args(args) -> dict | None:
    """The Slurm options of parsed arguments (None unless --backend slurm)."""
    if getattr(args, "backend", None) != "slurm":
        given = [
            f for f in ("slurm_partition", "slurm_account", "slurm_interface", "slurm_python") if getattr(args, f, None)
        ] + (["slurm_sbatch"] if getattr(args, "slurm_sbatch", None) else [])
        if given:
            raise SlurmError(
                f"--{given[0].replace('_', '-')} is for --backend slurm (the backend is "
                f"{getattr(args, 'backend', None)!r})."
            )
        return None
    return {
        "partition": args.slurm_partition,
        "account": args.slurm_account,
        "gpus": args.slurm_gpus,
        "cpus": args.slurm_cpus,
        "memory": args.slurm_memory,
        "time": args.slurm_time,
        "sbatch": tuple(args.slurm_sbatch),
        "interface": args.slurm_interface,
        "python": args.slurm_python,
        "log_dir": str(Path(args.out).absolute() / "slurm-logs"),
        "start_timeout": args.slurm_start_timeout,
    }


def check(options: dict) -> None:
    """Before planning: bad values, no dask-jobqueue, no sbatch -> one error each, with the fix."""
    o = {**DEFAULTS, **(options or {})}
    if not isinstance(o["gpus"], int) or o["gpus"] < 0:
        raise SlurmError(f"--slurm-gpus {o['gpus']}: 0 or more GPUs per job.")
    if not isinstance(o["cpus"], int) or o["cpus"] < max(1, o["gpus"]):
        raise SlurmError(
            f"--slurm-cpus {o['cpus']}: at least one core per job and per GPU worker ({max(1, o['gpus'])})."
        )
    if not MEMORY_RE.match(str(o["memory"])):
        raise SlurmError(f"--slurm-memory {o['memory']!r}: a size such as 16GB or 64000MB.")
    if not TIME_RE.match(str(o["time"])):
        raise SlurmError(f"--slurm-time {o['time']!r}: Slurm's format, e.g. 04:00:00 or 1-12:00:00.")
    bad = [line for line in o["sbatch"] if not str(line).startswith("-")]
    if bad:
        raise SlurmError(
            f"--slurm-sbatch {bad[0]!r}: an sbatch option such as --constraint=a100 "
            "(written --slurm-sbatch=--constraint=a100)."
        )
    if o["start_timeout"] <= 0:
        raise SlurmError("--slurm-start-timeout must be positive.")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        raise SlurmError("--backend slurm needs dask-jobqueue: pip install 'biqa-bench[slurm]'.") from None
    if shutil.which("sbatch") is None:
        raise SlurmError(
            "--backend slurm: no `sbatch` on PATH. Run from a Slurm login node (or load the "
            "cluster's slurm module); with a Dask cluster of your own use --backend dask --scheduler."
        )


def make_cluster(options: dict, jobs: int):
    """The SLURMCluster (not yet scaled): one worker per GPU, one thread (cell) per worker."""
    from dask_jobqueue import SLURMCluster

    o = {**DEFAULTS, **options}
    workers = max(1, o["gpus"])
    directives = [f"--gres=gpu:{o['gpus']}"] if o["gpus"] else []
    directives += list(o["sbatch"])
    if o["log_dir"]:
        Path(o["log_dir"]).mkdir(parents=True, exist_ok=True)
    return SLURMCluster(
        queue=o["partition"],
        account=o["account"],
        cores=workers,
        processes=workers,
        job_cpu=o["cpus"],
        memory=str(o["memory"]).replace(" ", ""),
        walltime=o["time"],
        job_extra_directives=directives,
        interface=o["interface"],
        python=o["python"] or sys.executable,
        log_directory=o["log_dir"],
        job_name="biqa-bench",
        scheduler_options={"dashboard_address": None},
    )


@contextmanager
def slurm_client(options: dict, jobs: int):
    """A Dask client on a SLURMCluster of ``jobs`` jobs; waits (bounded) for the first worker."""
    from dask.distributed import Client

    check(options)
    o = {**DEFAULTS, **options}
    cluster = make_cluster(o, jobs)
    try:
        cluster.scale(jobs=jobs)
        client = Client(cluster)
        try:
            try:
                client.wait_for_workers(1, timeout=o["start_timeout"])
            except (TimeoutError, OSError) as exc:
                raise SlurmError(
                    f"no Slurm worker started within {o['start_timeout']:g} s ({type(exc).__name__}). "
                    f"Check the jobs with `squeue --me` and their logs in {o['log_dir']}; partition, account, "
                    "GPU or time limits the cluster refuses keep them pending. Job script:\n" + cluster.job_script()
                ) from None
            yield client
        finally:
            client.close()
    finally:
        cluster.close()
