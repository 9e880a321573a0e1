"""`bench methods NAME --recipe` text view: consecutive phases that differ only in lr are shown as one;
the JSON (the recipe's data) keeps every phase."""

from __future__ import annotations

import copy
import json

from bench.cli import main
from bench.cli.commands.recipe_view import lr_runs, render
from methods.registry import get_method


def resolved(name: str, dataset: str = "livec", n: int = 930) -> dict:
    cls = get_method(name)
    recipe = cls.recipe(cls.make_params("paper"), dataset, n)
    return {**recipe, "n_train_images_source": "test", "preset": "paper"}


def phase_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  phase ")]


def test_dacnn_per_epoch_phases_are_one_line_with_the_whole_lr_table():
    recipe = resolved("dacnn")
    assert len(recipe["optimizer"]) == recipe["epochs"] > 1  # one phase per epoch in the data
    text = render(recipe)
    lines = phase_lines(text)
    assert lines == [
        f"  phase epochs 1-{recipe['epochs']} ({recipe['epochs']} phases, each a new optimiser): "
        "adam batch 16, wd 0, frozen backbone"
    ]
    per_epoch = [lr for s in recipe["schedule"] for lr in s["lr_per_epoch"]["head"]]
    assert f"    lr head: {lr_runs(per_epoch)}" in text.splitlines()
    assert render(recipe) == text and len(recipe["optimizer"]) == recipe["epochs"]  # display only: data unchanged


def test_phases_that_differ_in_more_than_lr_stay_apart():
    text = render(resolved("dbcnn"))  # head-only SGD, then all layers with Adam
    assert [line.split(":")[0] for line in phase_lines(text)] == ["  phase head", "  phase all"]
    recipe = resolved("dacnn")
    changed = copy.deepcopy(recipe)
    changed["optimizer"][5]["weight_decay"] = 1e-4  # epoch 6 differs in weight decay: three runs
    labels = [line.split(":")[0] for line in phase_lines(render(changed))]
    assert labels == [
        "  phase epochs 1-5 (5 phases, each a new optimiser)",
        "  phase epoch 6",
        f"  phase epochs 7-{recipe['epochs']} ({recipe['epochs'] - 6} phases, each a new optimiser)",
    ]


def test_json_keeps_every_phase(capsys):
    assert main(["methods", "dacnn", "--recipe", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [o["phase"] for o in data["optimizer"]] == [f"epoch {e}" for e in range(1, data["epochs"] + 1)]
