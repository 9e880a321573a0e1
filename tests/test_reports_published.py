"""The paper's published numbers as data: exact spot checks, and (where ../shared is present) a full
comparison with the numbers printed in the paper's text."""

from __future__ import annotations

import re

import pytest

from methods import registry
from reports.names import ABLATION_TITLES, DATASET_TITLES
from reports.published import load_published


@pytest.fixture(scope="module")
def pub():
    return load_published()


def _value(pub, **where):
    hits = [p for p in pub if all(getattr(p, k) == v for k, v in where.items())]
    assert len(hits) == 1, (where, hits)
    return hits[0]


def test_counts_and_names(pub):
    per_table = {t: sum(p.table == t for p in pub) for t in range(1, 7)}
    assert per_table == {1: 120, 2: 12, 3: 18, 4: 20, 5: 36, 6: 32}
    for p in pub:
        assert p.method in registry.names(), p.method  # harness names, not the paper's
        assert p.train in DATASET_TITLES and p.test in DATASET_TITLES
        assert p.metric in ("plcc", "srcc") and 0 < p.value < 1
    assert {p.variant for p in pub if p.table == 4} == set(ABLATION_TITLES)


def test_spot_checks(pub):
    assert _value(pub, table=1, method="dacnn", test="bid", metric="srcc").value == 0.754
    assert _value(pub, table=1, method="dacnn", test="bid", metric="srcc").reproduced
    assert not _value(pub, table=1, method="dacnn", test="live", metric="srcc").reproduced
    assert _value(pub, table=1, method="mpiqe", test="kadid10k", metric="plcc").value == 0.944
    assert _value(pub, table=1, method="ilniqe", test="bid", metric="srcc").value == 0.548
    assert _value(pub, table=2, method="clipiqa+", test="koniq10k", metric="srcc").value == 0.895
    assert _value(pub, table=3, method="mpiqe", train="koniq10k", test="livec").value == 0.844
    assert _value(pub, table=3, method="paq2piq", train="live", test="csiq").value == 0.712
    assert not [p for p in pub if p.table == 3 and p.method in ("paq2piq", "tres") and p.train == "csiq"]
    assert _value(pub, table=4, variant="no-visual", test="livec", metric="srcc").value == 0.874
    assert _value(pub, table=5, method="hyperiqa", fraction=0.4, test="livec", metric="plcc").value == 0.849
    assert _value(pub, table=6, variant="visual_prompt_len=2", test="csiq", metric="srcc").value == 0.961
    assert _value(pub, table=6, variant="text_prompt_len=16", test="live", metric="plcc").value == 0.980


def _block(text: str, start: str, n_lines: int) -> list[str]:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(start))
    return lines[i + 1 : i + 1 + n_lines]


def _numbers(line: str) -> list[float]:
    line = re.sub(r"(\d\.\d{3})superscript\S*", r"\1", line)  # "0.759superscript0.7590.759^{\ast}"
    return [float(x) for x in re.findall(r"(?<![\w.])(?:0\.\d{3})(?![\d])", line)]


def test_tables_match_the_paper_text(pub, shared_dir):
    text = (shared_dir / "paper" / "mp-iqe-paper.txt").read_text()
    datasets = ["live", "csiq", "kadid10k", "livec", "bid", "koniq10k"]
    rows = _block(text, "Table 1:", 12)[2:]
    methods = ["ilniqe", "unique", "dbcnn", "metaiqa", "hyperiqa", "tres", "musiq", "dacnn", "liqe", "mpiqe"]
    for method, line in zip(methods, rows, strict=True):
        nums = _numbers(line)
        assert len(nums) == 12, line
        ours = [_value(pub, table=1, method=method, test=d, metric=m).value for d in datasets for m in ("plcc", "srcc")]
        assert ours == nums, method
    t4 = _block(text, "Table 4:", 7)[2:]
    for variant, line in zip(ABLATION_TITLES, t4, strict=True):
        ours = [
            _value(pub, table=4, variant=variant, test=d, metric=m).value
            for d in ("csiq", "livec")
            for m in ("plcc", "srcc")
        ]
        assert ours == _numbers(line), variant
    t6 = _block(text, "Table 6:", 10)[2:]
    variants = [f"text_prompt_len={n}" for n in (2, 4, 8, 16)] + [f"visual_prompt_len={n}" for n in (1, 2, 4, 8)]
    for variant, line in zip(variants, t6, strict=True):
        ours = [
            _value(pub, table=6, variant=variant, test=d, metric=m).value
            for d in ("live", "csiq")
            for m in ("plcc", "srcc")
        ]
        assert ours == _numbers(line)[-4:], variant
    t5 = _block(text, "Table 5:", 11)[2:]
    order = [(f, m) for f in (0.2, 0.4, 0.6) for m in ("vit-biqa", "hyperiqa", "mpiqe")]
    for (fraction, method), line in zip(order, t5, strict=True):
        ours = [
            _value(pub, table=5, method=method, fraction=fraction, test=d, metric=m).value
            for d in ("live", "livec")
            for m in ("plcc", "srcc")
        ]
        assert ours == _numbers(line)[-4:], (fraction, method)


def test_pyiqa_nr_numbers_join_the_eval_table():
    """pyiqa's published NR benchmark (with its source) appears beside a measured eval cell on the same dataset."""
    from reports.eval_table import eval_tables
    from reports.published import PYIQA_NR_SOURCE, load_pyiqa_nr
    from reports.source import to_result

    pub = {(p.method, p.test, p.metric): p.value for p in load_pyiqa_nr()}
    assert pub[("pyiqa:brisque", "livec", "srcc")] == pub[("brisque", "livec", "srcc")] == 0.3128
    assert pub[("pyiqa:clipiqa+", "koniq10k", "plcc")] == 0.909  # pyiqa's 1024x768 column
    assert pub[("pyiqa:clipiqa+", "koniq10k@512x384", "plcc")] == 0.8454  # its 512x384 one, kept apart
    assert ("pyiqa:tres", "livec", "srcc") in pub  # pyiqa's 'tres-koniq'
    assert ("pyiqa:qalign", "koniq10k@512x384", "srcc") not in pub  # empty cells stay empty
    cell = {
        "key": "k1",
        "protocol": "eval",
        "method": "brisque",
        "variant": "default",
        "train_dataset": "livec",
        "test_dataset": "livec",
        "split_set": "default",
        "split_index": 0,
        "split_hash": "h",
        "seed": 0,
        "metrics": {"srcc": 0.30, "plcc": 0.33, "krcc": 0.2},
        "params": {},
        "preset": "paper",
    }
    tables, _ = eval_tables([to_result(cell)])
    rows = {r.label: r for r in tables[0].rows}
    published = next(r for label, r in rows.items() if label.endswith("(pyiqa)"))
    assert published.published and published.cells[("livec", "livec", "srcc")].value == 0.3128
    assert any(PYIQA_NR_SOURCE in n for n in tables[0].notes)
