"""The command line as a new user meets it across the commands: the documented command lines parse, the
options that name the same thing have the same name, and a run ends without warnings from the machinery."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from bench import cli
from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    ROOT / "Makefile",
    ROOT / "reports" / "examples" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
PLACEHOLDER = re.compile(r"\.\.\.|[<\[{]|\bNAME\b")  # usage patterns, not command lines


def documented_command_lines() -> list[tuple[str, str]]:
    lines = []
    for path in DOCS:
        text = path.read_text().replace("\\\n", " ")
        for m in re.finditer(r"python -m bench ([^`#;|\n]*)", text):
            cmd = re.sub(r"\$\(\w+\)|\$\w+", "x", m.group(1).replace("\\", "")).strip()
            if cmd and not PLACEHOLDER.search(cmd):
                lines.append((path.name, cmd))
    return lines


def test_building_the_cli_warns_nothing():
    """e.g. argparse's 'Nesting argument groups is deprecated' (a group handed to add_data_args)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cli.build_parser()


def test_every_documented_command_line_parses():
    lines = documented_command_lines()
    assert len(lines) >= 50, "the docs' command lines were not found"
    bad = []
    for where, cmd in lines:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                cli.build_parser().parse_args(shlex.split(cmd))
        except SystemExit as exc:
            if exc.code:
                bad.append(f"{where}: python -m bench {cmd}: {err.getvalue().strip().splitlines()[-1]}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("argv", [["run"], ["data", "splits"]])
def test_split_set_help_names_every_split_set(argv):
    from bench.data.splits import SPLIT_SETS

    sub = cli.build_parser()
    for name in argv:
        sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    action = next(a for a in sub._actions if "--split-set" in a.option_strings)
    assert all(s in action.help for s in SPLIT_SETS), action.help


def test_results_reads_the_store_from_runs_like_report_and_figures(tmp_path, demo_cache, capsys):
    out = tmp_path / "runs"
    assert (
        main(
            [
                "run",
                "--protocol",
                "intra",
                "--method",
                "noop",
                "--data",
                "demo",
                "--splits",
                "1",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert main(["results", "export", "--runs", str(out), "--to", str(tmp_path / "a.csv")]) == 0
    assert main(["results", "export", "--out", str(out), "--to", str(tmp_path / "b.csv")]) == 0  # old spelling
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert main(["results", "failures", "--runs", str(out)]) == 0
    assert "0 failed cell(s)" in capsys.readouterr().out


def test_a_run_in_worker_processes_leaves_no_leaked_semaphore(tmp_path, demo_cache):
    """tqdm's default lock in a loky worker is a named semaphore nothing released: Python warned of a
    'leaked semaphore' after every run (bench/runner.py gives worker bars a thread lock)."""
    from bench.data.datasets import load_dataset

    load_dataset("demo-a")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
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
            "1",
            "--out",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "1 cell(s) finished" in run.stdout
    assert "leaked" not in run.stderr and "resource_tracker" not in run.stderr, run.stderr


def test_run_summary_says_what_its_medians_are_over():
    from bench.run.summary import format_table

    def row(protocol):
        return {
            "protocol": protocol,
            "method": "m",
            "variant": "default",
            "train_dataset": "live",
            "test_dataset": "live",
            "fraction": None,
            "done": 1,
            "cells": 1,
            "srcc": 0.5,
            "plcc": 0.5,
            "plcc_logistic": 0.5,
            "krcc": 0.4,
            "rmse": 1.0,
        }

    assert "(median over splits;" in format_table([row("intra")])
    assert "(median over seeds; every image scored once;" in format_table([row("eval")])  # eval has no splits


def test_every_missing_weight_file_comes_with_where_to_get_it():
    """`bench methods` / `bench doctor` print each WeightSpec's hint as the fix: a URL (or the HF command)."""
    from methods import registry

    for name in registry.names():
        cls = registry.get_method(name)
        for preset in ("paper", "ci"):
            params = cls.make_params(preset if preset in cls.presets else None)
            for w in cls.required_weights(params, None):
                assert "https://" in w.hint or "huggingface-cli download" in w.hint, (name, preset, w.filename, w.hint)


def test_pyiqa_clip_urls_are_the_ones_pyiqa_downloads():
    pytest.importorskip("pyiqa")
    from pyiqa.archs.clip_model import _MODELS

    from methods.weights import OPENAI_CLIP_URLS, PYIQA_CLIP_FILES

    for backbone, filename in PYIQA_CLIP_FILES.items():
        assert OPENAI_CLIP_URLS[backbone] == _MODELS[backbone] and _MODELS[backbone].endswith("/" + filename)


def test_a_closed_pipe_ends_the_command_quietly():
    """`python -m bench protocols | head -5`: the reader goes away; no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "protocols"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the command prints anything (it imports first)
    err = proc.stderr.read()
    assert proc.wait(60) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_data_splits_takes_splits_like_run(demo_cache, capsys):
    import json

    assert main(["data", "splits", "demo-a", "--splits", "2", "--json"]) == 0
    new = json.loads(capsys.readouterr().out)
    assert len(new) == 2
    assert main(["data", "splits", "demo-a", "--n-splits", "2", "--json"]) == 0  # the old spelling
    assert json.loads(capsys.readouterr().out) == new
