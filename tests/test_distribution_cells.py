"""A method that predicts a score distribution, end to end: the cell stores KL / JS / W1 against the human
distribution (demo sets publish a per-image std; demo-b is a DMOS set), a method that predicts scores only
stores none, and the report shows them as optional columns ('–' where a cell has none)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.cli import main
from bench.core.distribution import ScoreDistribution, distribution_metrics
from bench.data.datasets import load_dataset
from bench.results.store import ResultStore

GAUSS = """
import numpy as np
from methods.base import Method, ScoreDistribution


class GaussLevels(Method):
    name = "gauss-levels"
    version = "1"
    trains = False

    def predict(self, images):
        # a real, data-dependent prediction: lower distortion level, better; wider for higher levels
        level = np.asarray([r.level or 0 for r in images.records], dtype=float)
        return ScoreDistribution(5.0 - 0.8 * level, 0.2 + 0.1 * level, (1.0, 5.0))
"""


def test_score_distribution_acts_as_its_means():
    d = ScoreDistribution([1.0, 2.0], [0.1, 0.2], (1.0, 5.0))
    assert np.asarray(d, dtype=np.float64).tolist() == [1.0, 2.0] and len(d) == 2
    with pytest.raises(ValueError, match="2 means but 1 stds"):
        ScoreDistribution([1.0, 2.0], [0.1])


def test_cells_store_distribution_metrics_and_reports_show_them(tmp_path, capsys):
    plugin = tmp_path / "gauss.py"
    plugin.write_text(GAUSS)
    out = tmp_path / "runs"
    rc = main(
        ["run", "--protocol", "intra", "--method", f"{plugin}:GaussLevels,noop", "--data", "demo", "--splits", "1"]
        + ["--out", str(out), "--no-progress"]
    )
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    records = {(r["method"], r["test_dataset"]): r for r in ResultStore(out).iter_results()}
    assert len(records) == 4
    for name in ("demo-a", "demo-b"):
        r = records[("gauss-levels", name)]
        ds = load_dataset(name)
        test = ds.subset([p[0] for p in ResultStore(out).load_predictions(r["key"])])
        level = np.asarray([x.level or 0 for x in test.records], dtype=float)
        raw = np.asarray([x.raw_score for x in test.records])
        human = raw if ds.dataset.raw_higher_is_better else sum(ds.dataset.raw_scale) - raw  # demo-b: DMOS
        want = distribution_metrics(
            human,
            [x.std for x in test.records],
            ds.dataset.raw_scale,
            5.0 - 0.8 * level,
            0.2 + 0.1 * level,
            (1.0, 5.0),
        )
        for k in ("kl", "js", "w1"):
            assert r["metrics"][k] == pytest.approx(want[k], rel=1e-9) and r["metrics"][k] > 0
        assert r["metrics"]["n_dist"] == len(test) and -1 <= r["metrics"]["srcc"] <= 1
        assert not {"kl", "js", "w1"} & set(records[("noop", name)]["metrics"])  # scores only: nothing
    rc = main(
        ["report", "--runs", str(out), "--format", "md", "--out", str(tmp_path / "rep"), "--metrics", "srcc,kl,w1"]
    )
    assert rc == 0, capsys.readouterr().err
    text = (tmp_path / "rep" / "report.md").read_text()
    table1 = text[text.index("Table 1") :]
    assert "KL" in table1 and "W1" in table1 and "JS" not in table1.split("\n\n")[1]
    row = next(line for line in table1.splitlines() if line.startswith("| Noop") or "noop" in line.lower())
    assert "–" in row
