"""Splits: which image ids train, validate and test in one cell.

    make_splits(ds, protocol="intra", split_set="default", n_splits=10, test_fraction=0.2,
                val_fraction=0.0, seed=0, fractions=None, fraction_of="dataset", cache_dir=None)

Split sets: 'default' (ours: seeded, grouped by reference on synthetic datasets, by image
otherwise; distinct test sets while enough exist), 'liqe' (LIQE's 10 splits; their train+val is our train), 'pyiqa' (the split
columns of pyiqa's meta CSV). Efficiency: for each split, nested training subsets of
``fractions`` of the WHOLE dataset (``fraction_of='dataset'``, our reading of the paper) or of
the split's training part (``fraction_of='train'``), all tested on that split's test part.

Splits are persisted as JSON under the cache (with each split's content hash) and reloaded,
so later runs and other machines use identical splits; every make/load runs the leak check.
"""

from __future__ import annotations

import hashlib
import json

from bench.core.records import Split  # noqa: F401  (the value lives with the other data values; bench.data.splits.Split stays)

PROTOCOLS = ("intra", "efficiency")
SPLIT_SETS = ("default", "liqe", "pyiqa", "official")  # official: the dataset's own train/test split
EFFICIENCY_FRACTIONS = (0.2, 0.4, 0.6)
FORMAT_VERSION = 2  # 2: seeded splits redraw repeated test sets (older cached files are not reused)


def split_to_dict(split: Split) -> dict:
    d = {
        "index": split.index,
        "seed": split.seed,
        "fraction": split.fraction,
        "hash": split.hash,
        "train": list(split.train),
        "val": list(split.val),
        "test": list(split.test),
    }
    if split.meta:
        d["meta"] = split.meta
    return d


def make_splits(
    ds,
    protocol: str = "intra",
    split_set: str = "default",
    n_splits: int = 10,
    test_fraction: float = 0.2,
    val_fraction: float = 0.0,
    seed: int = 0,
    fractions=None,
    fraction_of: str = "dataset",
    cache_dir=None,
) -> list[Split]:
    """The splits of one protocol on one dataset (an ``ImageSet``); reloaded from the cache when made before."""
    from bench.core.errors import SplitError, did_you_mean

    if protocol not in PROTOCOLS:
        raise SplitError(did_you_mean(protocol, PROTOCOLS, "split protocol"))
    if split_set not in SPLIT_SETS:
        raise SplitError(did_you_mean(split_set, SPLIT_SETS, "split set"))
    if fraction_of not in ("dataset", "train"):
        raise SplitError(
            f"fraction_of={fraction_of!r}: use 'dataset' (share of the whole dataset, the default) "
            "or 'train' (share of the split's training part)."
        )
    if not 0.0 < test_fraction < 1.0 or not 0.0 <= val_fraction < 1.0 or test_fraction + val_fraction >= 1.0:
        raise SplitError(
            f"test_fraction={test_fraction}, val_fraction={val_fraction}: both must be in [0, 1) "
            "with test > 0 and test + val < 1 (e.g. 0.2 and 0.1 for 70/10/20)."
        )
    if n_splits < 1:
        raise SplitError(f"n_splits={n_splits}: need at least 1.")
    if seed < 0:
        raise SplitError(f"seed={seed}: use a seed >= 0.")
    if protocol == "efficiency":
        fractions = tuple(float(f) for f in (fractions or EFFICIENCY_FRACTIONS))
        if any(not 0.0 < f <= 1.0 for f in fractions):
            raise SplitError(f"fractions={fractions}: each must be in (0, 1].")
        fractions = tuple(sorted(set(fractions)))
    elif fractions:
        raise SplitError("fractions are only for protocol='efficiency'.")
    if len(ds) == 0:
        raise SplitError(f"dataset {ds.dataset.name!r} has no images to split.")

    params = {
        "format": FORMAT_VERSION,
        "dataset": ds.dataset.name,
        "revision": ds.dataset.revision,
        "protocol": protocol,
        "split_set": split_set,
        "seed": seed,
        "test_fraction": test_fraction,
        "val_fraction": val_fraction,
        "fractions": list(fractions) if fractions else None,
        "fraction_of": fraction_of if protocol == "efficiency" else None,
        "by": "reference" if ds.dataset.synthetic else "image",
    }
    if split_set == "default":
        params["n_splits"] = n_splits
    path = _cache_path(params, cache_dir)
    if path.is_file():
        splits = load_splits(path, ds)
        return splits

    if split_set == "default":
        base = _default_splits(ds, n_splits, seed, test_fraction, val_fraction)
    else:
        from bench.data.datasets.split_sets import imported_splits

        base = imported_splits(ds, split_set, val_fraction=val_fraction, seed=seed)
    meta = {k: params[k] for k in ("protocol", "by", "test_fraction", "val_fraction")}
    if protocol == "intra":
        splits = [Split(**{**_fields(b), "meta": {**meta, **b.meta}}) for b in base]
    else:
        splits = [s for b in base for s in _efficiency(ds, b, fractions, fraction_of, {**meta, **b.meta})]
    check_leaks(splits, ds)
    save_splits(splits, path, params)
    return splits


def _fields(s: Split) -> dict:
    return {
        "dataset": s.dataset,
        "revision": s.revision,
        "split_set": s.split_set,
        "index": s.index,
        "seed": s.seed,
        "train": s.train,
        "test": s.test,
        "val": s.val,
        "fraction": s.fraction,
    }


def _groups(records) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in records:
        groups.setdefault(r.group, []).append(r.id)
    return groups


def _default_splits(ds, n_splits: int, seed: int, test_fraction: float, val_fraction: float) -> list[Split]:
    """Seeded partitions of the groups (references on synthetic sets, images otherwise).

    Split ``i`` draws a permutation from its own seed (``1000 * seed + i``). When its test groups are a
    set an earlier split already tested on, it draws again from the same stream, so the splits are
    distinct as long as there are enough distinct test-group sets (C(groups, n_test)); only after every
    set was used does a new round start (on 7 references with one test reference: 7 distinct, then repeats).
    A split that is new on its first draw is the same as without this rule."""
    import math

    import numpy as np

    from bench.core.errors import SplitError

    groups = _groups(ds.records)
    keys = sorted(groups)  # independent of record order
    n = len(keys)
    n_test = max(1, int(round(test_fraction * n)))
    n_val = max(1, int(round(val_fraction * n))) if val_fraction > 0 else 0
    if n_test + n_val >= n:
        unit = "references" if ds.dataset.synthetic else "images"
        raise SplitError(
            f"dataset {ds.dataset.name!r} has only {n} {unit}: too few for a "
            f"{test_fraction:.0%} test / {val_fraction:.0%} validation split."
        )
    n_test_sets = math.comb(n, n_test)

    def ids(gs):
        return tuple(i for g in sorted(gs) for i in groups[g])

    used: set[frozenset] = set()
    out = []
    for index in range(n_splits):
        split_seed = seed * 1000 + index
        rng = np.random.default_rng(split_seed)
        if len(used) >= n_test_sets:  # every test-group set has been used: start a new round
            used.clear()
        while True:
            order = [keys[i] for i in rng.permutation(n)]
            test_g = frozenset(order[:n_test])
            if test_g not in used:
                break
        used.add(test_g)
        val_g, train_g = order[n_test : n_test + n_val], order[n_test + n_val :]
        out.append(
            Split(
                ds.dataset.name,
                ds.dataset.revision,
                "default",
                index,
                split_seed,
                train=ids(train_g),
                test=ids(test_g),
                val=ids(val_g),
            )
        )
    return out


def _efficiency(ds, base: Split, fractions, fraction_of: str, meta: dict) -> list[Split]:
    """Nested training subsets of one split: the first groups of one seeded order of its train part."""
    import numpy as np

    from bench.core.errors import SplitError

    by_id = {r.id: r for r in ds.records}
    groups: dict[str, list[str]] = {}
    for i in base.train:
        groups.setdefault(by_id[i].group, []).append(i)
    keys = sorted(groups)
    order = [keys[i] for i in np.random.default_rng([base.seed, 7]).permutation(len(keys))]
    total = len(ds) if fraction_of == "dataset" else len(base.train)
    out = []
    for f in fractions:
        target = f * total
        if target > len(base.train) + 1e-9:
            raise SplitError(
                f"efficiency fraction {f:.0%} of the {fraction_of} ({target:.0f} images) exceeds split "
                f"{base.index}'s training part ({len(base.train)} images); lower the fraction, lower "
                "test_fraction/val_fraction, or use fraction_of='train'."
            )
        chosen, count = [], 0
        for g in order:  # whole groups until the target is reached (nearest count)
            if count >= target:
                break
            n = len(groups[g])
            if chosen and abs(count + n - target) > abs(count - target):
                break
            chosen.append(g)
            count += n
        train = tuple(i for g in sorted(chosen) for i in groups[g])
        out.append(
            Split(
                base.dataset,
                base.revision,
                base.split_set,
                base.index,
                base.seed,
                train=train,
                test=base.test,
                val=base.val,
                fraction=f,
                meta={**meta, "fraction_of": fraction_of, "n_train_target": round(target)},
            )
        )
    return out


def check_leaks(splits, ds=None) -> None:
    """Refuse splits whose test part shares an image, or a reference, with train or validation."""
    from bench.core.errors import SplitError

    group_of = {r.id: r.group for r in ds.records} if ds is not None else {}
    for s in splits:
        if ds is not None and s.revision != ds.dataset.revision:
            raise SplitError(
                f"split {s.split_set}/{s.index} of {s.dataset!r} was made for dataset revision {s.revision}, "
                f"but the loaded data has revision {ds.dataset.revision}: remake it "
                f"(`python -m bench data splits {s.dataset}`) or load the data it was made for."
            )
        if ds is not None:
            unknown = [i for i in (*s.train, *s.val, *s.test) if i not in group_of]
            if unknown:
                raise SplitError(
                    f"split {s.split_set}/{s.index} of {s.dataset!r} names {len(unknown)} image(s) "
                    f"not in the dataset, e.g. {unknown[:3]}: remake the split."
                )
        for a_name, a in (("train", s.train), ("val", s.val)):
            both = set(a) & set(s.test)
            if both:
                raise SplitError(
                    f"split {s.split_set}/{s.index} of {s.dataset!r} leaks: {len(both)} image(s) in "
                    f"both {a_name} and test, e.g. {sorted(both)[:3]}."
                )
            if ds is not None:
                shared = {group_of[i] for i in a} & {group_of[i] for i in s.test}
                shared -= {i for i in (*a, *s.test)}  # image-level groups were caught above
                if shared:
                    raise SplitError(
                        f"split {s.split_set}/{s.index} of {s.dataset!r} leaks content: {a_name} and test share "
                        f"{len(shared)} reference(s), e.g. {sorted(shared)[:3]}. Synthetic datasets must be "
                        "split by reference; remake the split with `python -m bench data splits`."
                    )
        if len(set(s.train)) != len(s.train) or len(set(s.test)) != len(s.test):
            raise SplitError(f"split {s.split_set}/{s.index} of {s.dataset!r} lists an image twice.")


def _cache_path(params: dict, cache_dir):
    from pathlib import Path

    from bench.data.datasets.common import cache_root

    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir else cache_root() / "splits"
    name = f"{params['split_set']}-{params['protocol']}-{key}.json"
    return root / params["dataset"] / params["revision"] / name


def save_splits(splits, path, params: dict | None = None) -> None:
    """Write splits as one JSON file (atomically) with each split's content hash and a set hash."""
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    first = splits[0]
    doc = {
        "format": FORMAT_VERSION,
        "dataset": first.dataset,
        "revision": first.revision,
        "split_set": first.split_set,
        "params": params or {},
        "set_hash": splits_hash(splits),
        "splits": [split_to_dict(s) for s in splits],
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)
    os.replace(tmp, path)


def load_splits(path, ds=None) -> list[Split]:
    """Read splits written by ``save_splits``; verifies hashes and runs the leak check."""
    from pathlib import Path

    from bench.core.errors import SplitError

    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        splits = [
            Split(
                doc["dataset"],
                doc["revision"],
                doc["split_set"],
                d["index"],
                d["seed"],
                train=tuple(d["train"]),
                test=tuple(d["test"]),
                val=tuple(d.get("val", ())),
                fraction=d.get("fraction"),
                meta=d.get("meta", {}),
            )
            for d in doc["splits"]
        ]
        stored = [d.get("hash") for d in doc["splits"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SplitError(f"cannot read split file {path}: {exc}. Delete it and remake the splits.") from None
    for s, h in zip(splits, stored):
        if h is not None and h != s.hash:
            raise SplitError(
                f"split file {path} was modified: split {s.index} hash {s.hash} != stored {h}. "
                "Delete it and remake the splits."
            )
    check_leaks(splits, ds)
    return splits


def splits_hash(splits) -> str:
    """One hash for a whole split set (order of splits matters, order of ids does not)."""
    payload = json.dumps([[s.index, s.fraction, s.hash] for s in splits], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
