"""Split sets imported from elsewhere, so published numbers can be reproduced on their exact splits.

liqe   LIQE's ten splits (``<k>/<prefix>_{train,val,test}_clip.txt``): their train + val is our train
       and their test our test; with ``val_fraction > 0`` their val is kept as our validation part.
official  the dataset's own published split (one): a custom dataset's split_column, else the meta file's
       'official_split' column (FLIVE, newer pyiqa files) or KonIQ-10k's 'split' column (7058/1000/2015).
pyiqa  the split columns of pyiqa's meta CSV ('official_split', 'split' (0/1/2), 'ratio802_seed123_split_01', ...),
       one split per column, and pyiqa's split pickles in meta_info/ (dict k -> {'train'|'val'|'test': row indices}).
"""

from __future__ import annotations

import pickle

from bench.core.errors import SplitError
from bench.core.records import Split


def imported_splits(ds, split_set: str, val_fraction: float = 0.0, seed: int = 0) -> list[Split]:
    sources = getattr(ds, "_split_sources", None)
    name = ds.dataset.name
    if sources is None:
        raise SplitError(
            f"split set {split_set!r} is not available for {name!r} (a {ds.dataset.layout} dataset); "
            "use --split-set default."
        )
    if split_set == "liqe":
        return _liqe(ds, sources, val_fraction, seed)
    if split_set == "official":
        return [_official(ds, sources, val_fraction, seed)]
    return _pyiqa(ds, sources, val_fraction, seed)


def _split(ds, split_set, index, seed, train, val, test, source) -> Split:
    return Split(
        ds.dataset.name,
        ds.dataset.revision,
        split_set,
        index,
        seed,
        train=tuple(train),
        test=tuple(test),
        val=tuple(val),
        meta={"source": source},
    )


def _liqe(ds, sources, val_fraction, seed) -> list[Split]:
    from bench.data.datasets.liqe import Matcher

    splits = sources.get("liqe") or {}
    if not splits:
        raise SplitError(
            f"split set 'liqe' for {ds.dataset.name!r} needs LIQE's split files "
            "(IQA_Database/<db>/splits2/<k>/*_clip.txt): pass --labels DIR (the folder holding "
            "IQA_Database/) or put them under <data-root>/liqe/."
        )
    match = Matcher(ds.ids)
    out = []
    for i, k in enumerate(sorted(splits)):
        phases = {}
        for phase, rels in splits[k].items():
            ids = [match(r) for r in rels]
            if any(x is None for x in ids):
                miss = next(r for r, x in zip(rels, ids) if x is None)
                raise SplitError(
                    f"LIQE split {k} ({phase}) names {miss!r}, which is not in {ds.dataset.name!r} "
                    "(excluded or missing image?). Restore the image or use --split-set default."
                )
            phases[phase] = ids
        val = phases.get("val", [])
        train = phases["train"] if val_fraction > 0 else phases["train"] + val
        out.append(
            _split(
                ds,
                "liqe",
                i,
                seed,
                train,
                val if val_fraction > 0 else [],
                phases["test"],
                f"{sources.get('liqe_folder')}/{k}",
            )
        )
    return out


class _SafeUnpickler(pickle.Unpickler):
    """pyiqa's split pickles hold only dicts, lists and ints: refuse anything else."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a split file")


def _pyiqa(ds, sources, val_fraction, seed) -> list[Split]:
    rows = sources.get("pyiqa_rows") or []
    present = set(ds.ids)
    out = []
    columns = sorted({c for r in rows for c in r.splits})
    for col in columns:
        phases = {"train": [], "val": [], "test": []}
        for r in rows:
            if r.rel in present and col in r.splits:
                phases[r.splits[col]].append(r.rel)
        out.append(_phases_to_split(ds, len(out), seed, phases, val_fraction, f"column {col}"))
    order = sources.get("pyiqa_order") or []
    for pkl in sources.get("split_pickles") or []:
        try:
            with open(pkl, "rb") as fh:
                doc = _SafeUnpickler(fh).load()
        except Exception as exc:
            raise SplitError(f"cannot read pyiqa split file {pkl} ({exc}); remove it or restore it.") from None
        if not isinstance(doc, dict):
            raise SplitError(f"{pkl} is not a pyiqa split file (expected a dict of splits).")
        for k in sorted(doc):
            phases = {"train": [], "val": [], "test": []}
            for phase, idx in doc[k].items():
                for j in idx:
                    if not 0 <= int(j) < len(order):
                        raise SplitError(
                            f"{pkl}: split {k} {phase} index {j} is outside the meta file's "
                            f"{len(order)} rows: the split file belongs to another meta file."
                        )
                    if order[int(j)] in present:
                        phases.setdefault(phase, []).append(order[int(j)])
            out.append(_phases_to_split(ds, len(out), seed, phases, val_fraction, f"{pkl.name}[{k}]"))
    if not out:
        raise SplitError(
            f"split set 'pyiqa' for {ds.dataset.name!r}: its pyiqa meta file has no split columns and "
            "meta_info/ holds no split pickles. Use split_set='default' (or 'liqe')."
        )
    return out


# Columns holding a dataset's own (published) split, first found wins: pyiqa's 'official_split'
# (FLIVE, newer KonIQ/SPAQ files), KonIQ-10k's older 'split' (0/1/2 = its 7058/1000/2015 sets).
OFFICIAL_COLUMNS = ("official_split", "split")


def _official(ds, sources, val_fraction, seed) -> Split:
    """The one split a dataset's authors publish (a custom dataset's split_column, or the meta file's)."""
    phases = {"train": [], "val": [], "test": []}
    present = set(ds.ids)
    own = sources.get("official")
    if own:
        for rid, phase in own.items():
            if rid in present:
                phases[phase].append(rid)
        return _phases_to_split(
            ds, 0, seed, phases, val_fraction, sources.get("official_source") or "split column", split_set="official"
        )
    rows = sources.get("pyiqa_rows") or []
    column = next((c for c in OFFICIAL_COLUMNS if any(c in r.splits for r in rows)), None)
    if column is None:
        raise SplitError(
            f"split set 'official' for {ds.dataset.name!r}: the dataset defines no official split "
            f"(its metadata has no {' or '.join(map(repr, OFFICIAL_COLUMNS))} column; a custom "
            "dataset declares one with split_column). Use split_set='default'."
        )
    for r in rows:
        if r.rel in present and column in r.splits:
            phases[r.splits[column]].append(r.rel)
    return _phases_to_split(ds, 0, seed, phases, val_fraction, f"column {column}", split_set="official")


def _phases_to_split(ds, index, seed, phases, val_fraction, source, split_set="pyiqa") -> Split:
    if not phases.get("train") or not phases.get("test"):
        raise SplitError(f"{split_set} split {source} of {ds.dataset.name!r} has an empty train or test part.")
    val = phases.get("val", [])
    train = phases["train"] if val_fraction > 0 else phases["train"] + val
    return _split(ds, split_set, index, seed, train, val if val_fraction > 0 else [], phases["test"], source)


__all__ = ["imported_splits"]
