"""Sub-commands of ``python -m bench`` (see ``bench.cli``)."""
