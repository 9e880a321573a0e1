"""The README's two set-up commands are the ones CI runs, and the Makefile behind them is idempotent."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    cmds = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    return {c.split()[1]: c for c in cmds}


def test_readme_two_commands_and_ci_runs_the_test_one():
    cmds = _readme_commands()
    assert set(cmds) == {"demo", "test"}, cmds
    ci = [
        line.strip()
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert ci[-1] == cmds["test"], "the last command of .ci/run must be the README's test command"
    # the Test section of the README names the same command
    test_section = (ROOT / "README.md").read_text().split("## Test", 1)[1]
    assert cmds["test"] in test_section


def _make_n(tmp_path: Path, *args: str) -> str:
    out = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}", f"PYTHON={sys.executable}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_setup_installs_pins_once_and_follows_the_torch_choice(tmp_path):
    first = _make_n(tmp_path, "test")
    assert "-m venv" in first and "torch==2.14.1 torchvision==0.29.1" in first and "setuptools<81" in first
    assert "-m pytest -q" in first
    if sys.version_info[:2] == (3, 11):  # the known-good versions are held on the Python they were tested with
        assert "-c constraints-py311.txt" in first
    # after a successful install the stamp holds the install spec: nothing is installed again
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    stamp = venv / ".biqa-installed"
    spec = "torch==2.14.1 torchvision==0.29.1 " + ("constraints-py311.txt" if sys.version_info[:2] == (3, 11) else "")
    stamp.write_text(spec + "\n")
    again = _make_n(tmp_path, "test")
    assert "pip install" not in again and "-m pytest -q" in again
    # a different torch build (a GPU user's CUDA wheels) reinstalls, with that index
    cuda = _make_n(tmp_path, "test", "TORCH_INDEX_URL=file:///wheels/cu999")
    assert "--index-url file:///wheels/cu999" in cuda and "pip install" in cuda
    demo = _make_n(tmp_path, "demo")
    assert "-m bench run --protocol cross --method mpiqe --data demo" in demo and "-m bench report" in demo
