"""Floor 3, the run: protocols x methods -> cells -> stored results.

planning (plan, select), execute (one cell in a worker), devices, backends (joblib, Dask, Slurm), jobs, workers,
slurm, summary (the table `bench run` prints), threads (a cell's CPU threads). Imports methods, protocols and the
floors below; never reports or the CLI. ``bench.runner`` re-exports the public names for older imports.
"""
