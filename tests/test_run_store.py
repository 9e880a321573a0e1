"""Cell keys and the results store: canonical keys, atomic files, concurrent writers."""

import json
import multiprocessing as mp
import threading
from dataclasses import replace

import pytest

from bench.results.cells import Cell, canonical_json
from bench.results.store import ResultStore, StoreError


def make_cell(**changes) -> Cell:
    base = Cell(
        protocol="intra",
        method="nss-svr",
        method_version="1",
        method_kind="native",
        variant="default",
        params={"alpha": 0.1, "n_scales": 2},
        preset="ci",
        train_dataset="demo-a",
        test_dataset="demo-a",
        train_revision="r1",
        test_revision="r1",
        split_set="default",
        split_index=0,
        split_hash="h0",
        fraction=None,
        seed=0,
        metric_settings={"logistic": "vqeg4"},
        harness_version="0.1.0",
    )
    return replace(base, **changes)


def record_for(cell: Cell, srcc=0.5) -> dict:
    return {
        **cell.record_fields(),
        "status": "done",
        "schema": 1,
        "metrics": {"srcc": srcc, "plcc": float("nan"), "flags": ["constant_predictions"]},
    }


def test_key_ignores_dict_order_and_informational_fields():
    a = make_cell()
    b = make_cell(params={"n_scales": 2, "alpha": 0.1}, preset="paper", method_kind="other")
    assert a.key == b.key and len(a.key) == 20


@pytest.mark.parametrize(
    "change",
    [
        {"params": {"alpha": 0.2, "n_scales": 2}},
        {"method_version": "2"},
        {"train_revision": "r2"},
        {"test_revision": "r2"},
        {"split_hash": "h1"},
        {"split_index": 1},
        {"fraction": 0.2},
        {"seed": 1},
        {"metric_settings": {"logistic": "none"}},
        {"harness_version": "0.2.0"},
        {"method": "noop"},
        {"protocol": "ablation"},
        {"variant": "full"},
        {"test_dataset": "demo-b"},
    ],
)
def test_key_changes_with_everything_that_changes_the_score(change):
    assert make_cell(**change).key != make_cell().key


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_write_read_roundtrip_with_nan_as_null(tmp_path):
    store = ResultStore(tmp_path / "runs", create=True)
    cell = make_cell()
    path = store.write_done(record_for(cell), [("a.png", 1.0, 0.5), ("b.png", 2.0, float("nan"))])
    assert path == tmp_path / "runs" / "cells" / cell.key[:2] / f"{cell.key}.json"
    rec = json.loads(path.read_text())  # strict JSON: NaN became null
    assert rec["metrics"]["plcc"] is None and rec["metrics"]["srcc"] == 0.5
    assert [r["key"] for r in store.iter_results()] == [cell.key]
    assert store.load_predictions(cell.key) == [("a.png", 1.0, 0.5), ("b.png", 2.0, None)]
    assert store.done_keys() == {cell.key} and store.is_done(cell.key)


def test_failure_never_counts_as_done_and_is_cleared_by_success(tmp_path):
    store = ResultStore(tmp_path, create=True)
    cell = make_cell()
    store.write_failed({**cell.record_fields(), "status": "failed", "traceback": "Traceback ..."})
    assert store.failed_keys() == {cell.key} and not store.is_done(cell.key)
    assert list(store.iter_results()) == []
    store.write_done(record_for(cell), [])
    assert store.failed_keys() == set() and store.is_done(cell.key)


def test_unwritable_out_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not writable.*--out"):
        ResultStore(blocker / "runs", create=True)


ROUNDS = 15


def _writer(out, worker, n_keys, rounds):
    store = ResultStore(out)
    for r in range(rounds):
        for k in range(n_keys):
            cell = make_cell(split_index=k)
            big = [(f"img{i}.png", float(i), float(worker * 1000 + r)) for i in range(300)]
            store.write_done({**record_for(cell, srcc=worker + r / 100), "filler": "x" * 5000}, big)


def test_two_concurrent_writers_never_leave_a_partial_file(tmp_path):
    out = tmp_path / "runs"
    ResultStore(out, create=True)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(out, w, 5, ROUNDS)) for w in (1, 2)]
    errors, reads = [], [0]
    stop = threading.Event()

    def reader():  # reads while both write: every file it sees must parse completely
        store = ResultStore(out)
        while not stop.is_set():
            try:
                for rec in store.iter_results():
                    assert rec["status"] == "done"
                    reads[0] += 1
                for key in store.done_keys():
                    rows = store.load_predictions(key)
                    assert len(rows) == 300
            except FileNotFoundError:
                pass
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    t = threading.Thread(target=reader)
    t.start()
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    stop.set()
    t.join()
    assert [p.exitcode for p in procs] == [0, 0]
    assert errors == [] and reads[0] > 0
    store = ResultStore(out)
    assert store.done_keys() == {make_cell(split_index=k).key for k in range(5)}
    assert not list(out.rglob("*.tmp"))  # no temporary left behind
    for rec in store.iter_results():  # last complete write wins: one writer's final round
        assert rec["metrics"]["srcc"] in (1 + (ROUNDS - 1) / 100, 2 + (ROUNDS - 1) / 100)


def test_a_damaged_result_file_is_named(tmp_path):
    store = ResultStore(tmp_path, create=True)
    cell = make_cell()
    store.write_done(record_for(cell), [])
    store.cell_path(cell.key).write_text('{"key": ')
    with pytest.raises(StoreError, match=f"{cell.key}.json is not valid JSON.*delete it"):
        list(store.iter_results())
