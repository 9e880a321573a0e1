"""The report's user-fixable errors (printed by the CLI without a traceback)."""

from bench.core.errors import BenchError


class ReportError(BenchError):
    """The results store, an option or the published numbers cannot make a report."""
