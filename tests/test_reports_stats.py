"""Ranks and the paired Wilcoxon test: agree with scipy, computed independently from the raw store."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import wilcoxon

from reports import stats
from reports.build import build_report

RUNS = Path(__file__).parent / "fixtures" / "reports" / "runs"


def test_dense_ranks_use_printed_values_and_share_ties():
    ranks = stats.dense_ranks({"a": 0.9004, "b": 0.9001, "c": 0.85, "d": 0.80, "e": None})
    assert ranks == {"a": 1, "b": 1, "c": 2}
    assert stats.dense_ranks({"a": 0.5}) == {"a": 1}
    assert stats.dense_ranks({}) == {}


def test_spreads():
    v = [0.1, 0.2, 0.4, 0.8, 1.0]
    assert stats.spread(v, "iqr") == pytest.approx(np.percentile(v, 75) - np.percentile(v, 25))
    assert stats.spread(v, "minmax") == pytest.approx(0.9)
    assert stats.spread(v, "none") is None
    assert stats.spread_bounds(v, "minmax") == (0.1, 1.0)
    with pytest.raises(ValueError):
        stats.spread(v, "sd")


def test_paired_wilcoxon_matches_scipy_and_edge_cases():
    rng = np.random.default_rng(3)
    for n in (6, 8, 10):
        a = rng.normal(0.9, 0.01, n)
        b = a - rng.normal(0.004, 0.006, n)
        best = {("s", i): float(x) for i, x in enumerate(a)}
        other = {("s", i): float(x) for i, x in enumerate(b)}
        other[("only-here", 0)] = 0.1  # unpaired: must not enter the test
        n_paired, p = stats.paired_wilcoxon(best, other)
        assert n_paired == n
        assert p == pytest.approx(wilcoxon(a, b).pvalue)
    assert stats.paired_wilcoxon({1: 0.5, 2: 0.6}, {1: 0.5, 2: 0.6}) == (2, 1.0)  # identical
    assert stats.paired_wilcoxon({1: 0.5}, {2: 0.5}) == (0, None)  # nothing shared


def test_table1_marks_agree_with_scipy_on_the_raw_store():
    """Recompute every Table 1 mark straight from the JSON files with scipy, independently of reports."""
    newest: dict[tuple, dict] = {}
    for path in RUNS.glob("cells/*/*.json"):
        c = json.loads(path.read_text())
        if c["status"] != "done" or c["protocol"] != "intra":
            continue
        k = (c["method"], c["test_dataset"], c["split_hash"])
        if k not in newest or c["finished_at"] > newest[k]["finished_at"]:
            newest[k] = c
    per = defaultdict(dict)  # (method, dataset, metric) -> {split: value}
    for (method, ds, split), c in newest.items():
        for metric in ("srcc", "plcc"):
            if c["metrics"][metric] is not None:
                per[(method, ds, metric)][split] = c["metrics"][metric]

    table = build_report(RUNS, ["intra"]).tables[0]
    checked = 0
    for col in table.columns:
        ds, _, metric = col.key
        column = {m: v for (m, d, mt), v in per.items() if d == ds and mt == metric}
        best = max(column, key=lambda m: np.median(list(column[m].values())))
        for row in table.rows:
            stat = row.cells.get(col.key)
            if stat is None or row.method == best:
                continue
            shared = sorted(set(column[best]) & set(column[row.method]))
            p = wilcoxon([column[best][s] for s in shared], [column[row.method][s] for s in shared]).pvalue
            assert stat.n_paired == len(shared)
            assert stat.p_value == pytest.approx(p)
            assert (stat.mark == "≈") == (p >= 0.05), (row.label, col.key, p)
            checked += 1
    assert checked >= 10
    assert any(r.cells.get(c.key) and r.cells[c.key].mark == "≈" for r in table.rows for c in table.columns)
