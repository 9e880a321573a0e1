"""``python -m bench``: one entry point, one module per sub-command.

Each sub-command lives in its own module exposing ``add_parser(subparsers)`` (which
sets ``func`` on its parser). Modules are imported to build ``--help`` so they must
import nothing heavy at top level (torch, pandas, pyiqa come inside ``func``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from bench.core.errors import BenchError

# sub-command -> module providing add_parser(); order is the order in --help
COMMANDS = {
    "data": "bench.cli.commands.data",
    "run": "bench.cli.commands.run",
    "study": "bench.cli.commands.study",
    "methods": "bench.cli.commands.methods",
    "protocols": "bench.cli.commands.protocols",
    "results": "bench.cli.commands.results",
    "perf": "bench.cli.commands.perf",
    "doctor": "bench.cli.commands.doctor",
    "weights": "bench.cli.commands.weights",
    "figures": "bench.cli.commands.figures",
    "report": "reports.cli",
}


def build_parser() -> argparse.ArgumentParser:
    from bench import __version__

    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark blind image quality assessment methods: same splits, same metrics, one command.",
    )
    parser.add_argument("--version", action="version", version=f"biqa-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a command whose module is not there yet
            if exc.name != module:
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        rc = args.func(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`bench protocols | head`): no traceback. stdout now points at /dev/null, so
        # the interpreter's last flush does not raise again (Python docs, signal: "Note on SIGPIPE")
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a killed writer
    return int(rc or 0)
