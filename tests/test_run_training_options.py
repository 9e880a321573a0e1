"""`bench run`'s training options: --val-fraction, --select-on, --cross-train, --fraction-of (demo data)."""

from __future__ import annotations

import pytest

from bench.results.cells import Cell
from bench.results.store import ResultStore
from bench.run.backends import run_tasks
from bench.run.execute import WorkerConfig
from bench.run.planning import plan
from protocols import Options, ProtocolError


@pytest.fixture(scope="module")
def demo(demo_cache):
    from bench.data.datasets import load_dataset

    return {n: load_dataset(n) for n in ("demo-a", "demo-b")}


def _plan(protocol, method="mpiqe", params=None, **options):
    return plan(
        protocol, [method], Options(data="demo", **options), preset="ci", param_overrides={method: params or {}}
    )


def _run(tasks, out):
    summary = run_tasks(tasks, ResultStore(out), WorkerConfig(out=str(out)), backend="sequential", progress=False)
    assert summary.failed == 0, [f["error"] for f in summary.failures]
    return {r["key"]: r for r in ResultStore(out).iter_results()}


def test_cross_train_full_trains_on_every_image_of_a_once_per_seed(demo, tmp_path):
    split = _plan("cross", n_splits=3)
    full = _plan("cross", cross_train="full", n_splits=3, seeds=(0, 1), params={"epochs": 1, "n_crops": 1})
    assert len(split) == 6 and len(full) == 4  # 2 pairs x 2 seeds, --splits ignored
    for task in full:
        assert set(task.train_ids) == set(demo[task.cell.train_dataset].ids) and task.val_ids == ()
        assert task.test_ids is None and task.cell.training_options == {"cross_train": "full"}
    assert not {t.key for t in full} & {t.key for t in split}
    one = [t for t in full if t.cell.train_dataset == "demo-b" and t.cell.seed == 0]
    (rec,) = _run(one, tmp_path / "runs").values()
    assert rec["n_train"] == len(demo["demo-b"]) and rec["training_options"] == {"cross_train": "full"}
    assert "split=all" in Cell(**{k: rec[k] for k in Cell.__dataclass_fields__}).label()


def test_val_fraction_and_select_on_val_reach_the_method_and_the_record(demo, tmp_path):
    tasks = _plan("intra", datasets=("demo-a",), n_splits=1, val_fraction=0.15, select_on="val", params={"epochs": 2})
    (task,) = tasks
    assert task.val_ids and not set(task.val_ids) & set(task.train_ids)
    assert task.test_ids and not set(task.val_ids) & set(task.test_ids)  # selection never sees test images
    assert task.cell.training_options == {"val_fraction": 0.15, "select_on": "val"}
    default = _plan("intra", datasets=("demo-a",), n_splits=1, params={"epochs": 2})[0]
    assert default.cell.training_options == {} and "training_options" not in default.cell.identity()
    assert default.key != task.key
    (rec,) = _run(tasks, tmp_path / "runs").values()
    assert rec["n_val"] == len(task.val_ids)
    assert len(rec["history"]) == 2 and all("val_srcc" in row for row in rec["history"])
    srcc = [row["val_srcc"] if row["val_srcc"] is not None else -2 for row in rec["history"]]
    assert rec["selected_epoch"] == srcc.index(max(srcc)) + 1
    assert rec["effective_losses"]["scene"] == 1.0


def test_fraction_of_train_takes_shares_of_the_training_part(demo):
    of_data = _plan("efficiency", method="nss-svr", datasets=("demo-a",), n_splits=1, fractions=(0.5,))
    of_train = _plan(
        "efficiency", method="nss-svr", datasets=("demo-a",), n_splits=1, fractions=(0.5,), fraction_of="train"
    )
    assert len(of_train[0].train_ids) < len(of_data[0].train_ids)
    assert of_train[0].cell.training_options == {"fraction_of": "train"} and of_train[0].key != of_data[0].key


@pytest.mark.parametrize("fraction_of", ["dataset", "train"])
def test_efficiency_training_subsets_nest_and_share_the_test_part(demo, fraction_of):
    tasks = _plan(
        "efficiency",
        method="nss-svr",
        datasets=("demo-a",),
        n_splits=2,
        fractions=(0.2, 0.4, 0.6),
        fraction_of=fraction_of,
    )
    by_split: dict[int, list] = {}
    for t in tasks:
        by_split.setdefault(t.cell.split_index, []).append(t)
    assert sorted(by_split) == [0, 1]
    for split in by_split.values():
        split.sort(key=lambda t: t.cell.fraction)
        assert [t.cell.fraction for t in split] == [0.2, 0.4, 0.6]
        sets = [set(t.train_ids) for t in split]
        assert sets[0] < sets[1] < sets[2]  # nested, strictly growing
        assert len({t.test_ids for t in split}) == 1 and not sets[2] & set(split[0].test_ids)


@pytest.mark.parametrize(
    "protocol,options,message",
    [
        ("intra", {"select_on": "val"}, "--val-fraction"),
        ("intra", {"cross_train": "full"}, "cross protocol"),
        ("cross", {"cross_train": "full", "val_fraction": 0.1}, "no validation"),
        ("cross", {"fraction_of": "train"}, "efficiency"),
        ("intra", {"val_fraction": 1.5}, r"in \[0, 1\)"),
        ("intra", {"select_on": "best"}, "select-on"),
    ],
)
def test_bad_training_options_are_refused_before_any_data_is_split(protocol, options, message):
    with pytest.raises(ProtocolError, match=message):
        _plan(protocol, **options)


def test_run_summary_prints_the_notes_methods_recorded(tmp_path, capsys):
    from bench.cli.commands.run import _print_method_notes

    tasks = _plan("cross", n_splits=1)[:2]
    store = ResultStore(tmp_path)
    for task, notes in zip(tasks, (["livec: no scene labels, scene alignment loss (L_scene) off"], [])):
        record = {**task.cell.record_fields(), "status": "done", "schema": 1, "notes": notes, "metrics": {"srcc": 0.5}}
        store.write_done(record, [("a.png", 1.0, 0.5)])
    _print_method_notes(tasks, store)
    out = capsys.readouterr().out
    assert "notes recorded by the methods (1)" in out and "L_scene) off  (1 cell)" in out
