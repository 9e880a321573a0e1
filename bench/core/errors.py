"""Errors a user can act on. The CLI prints them as one message (exit code 2), no traceback.

Every message names the thing that is wrong and the fix.
"""


class BenchError(Exception):
    """Base class of user-fixable errors."""


class DatasetError(BenchError):
    """A dataset is missing, incomplete or malformed."""


class SplitError(BenchError):
    """A split is invalid (leak, wrong revision, bad fraction)."""


class WeightsMissing(BenchError):
    """A method's weight file is not on disk (offline)."""


def did_you_mean(name: str, choices, what: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"unknown {what} {name!r}.{hint} Known: {', '.join(sorted(choices))}."


class RunError(BenchError):
    """A run cannot start as asked (bench.runner: planning, backends)."""
