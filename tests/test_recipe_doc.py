"""docs/RECIPES.md is written from the recipe objects the engine runs: it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from bench.cli import main
from bench.cli.commands.recipe_doc import COMMAND, render_markdown, retrained_methods

DOC = Path(__file__).resolve().parents[1] / "docs" / "RECIPES.md"


def test_committed_recipes_doc_is_what_the_command_writes(capsys):
    assert main(["methods", "--recipe", "--all", "--format", "md"]) == 0
    written = capsys.readouterr().out
    assert written == render_markdown()
    assert DOC.read_text() == written, f"docs/RECIPES.md is stale: regenerate it with `{COMMAND}`"


def test_every_retrained_baseline_has_a_section_per_dataset():
    text = DOC.read_text()
    names = {cls.name for cls in retrained_methods()}
    assert {"hyperiqa", "unique", "clipiqa+", "clipiqa+-pyiqa", "metaiqa", "liqe", "dacnn", "vit-biqa"} <= names
    for name in names:
        section = text.split(f"## `{name}` ")[1].split("\n## ")[0]
        for dataset in ("livec", "koniq10k", "kadid10k"):
            assert f"\n| {dataset} | " in section, (name, dataset)
        assert "Sources:" in section and "Optimiser and schedule:" in section


def test_md_format_needs_all(capsys):
    assert main(["methods", "hyperiqa", "--recipe", "--format", "md"]) != 0
    assert "add --all" in capsys.readouterr().err


def test_output_writes_the_file(tmp_path, capsys):
    out = tmp_path / "RECIPES.md"
    assert main(["methods", "--recipe", "--all", "--format", "md", "--output", str(out)]) == 0
    assert out.read_text() == render_markdown() and "wrote" in capsys.readouterr().out
