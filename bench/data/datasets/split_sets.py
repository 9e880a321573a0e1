"""Split sets imported from elsewhere, so published numbers can be reproduced on their exact splits.

liqe   LIQE's ten splits (``<k>/<prefix>_{train,val,test}_clip.txt``): their train + val is our train
       and their test our test; with ``val_fraction > 0`` their val is kept as our validation part.
official  the dataset's own published split (one): a custom dataset's split_column, else the meta file's
       'official_split' column (FLIVE, newer pyiqa files) or KonIQ-10k's 'split' column (7058/1000/2015).
pyiqa  the split columns of pyiqa's meta CSV ('official_split', 'split' (0/1/2), 'ratio802_seed123_split_01', ...),
       one split per column, and pyiqa's split pickles in meta_info/ (dict k -> {'train'|'val'|'test': row indices}).
       A split with a 'val' part and no (or an empty) 'test' part is pyiqa's train/test split: pyiqa's option files
       evaluate on 'val' (livechallenge_seed123.pkl, spaq_seed123.pkl, live_123.pkl ...), so 'val' is its test part.
       Identical splits (the same split hash: KonIQ-10k's 'split' column and koniq10k_official.pkl) appear once;
       the split kept lists the sources dropped in its meta ``duplicates``.
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
    return drop_duplicate_splits(out)


def drop_duplicate_splits(splits: list[Split]) -> list[Split]:
    """Each distinct split once (by its content hash), renumbered; the one kept names the sources it stands for,
    so a median over the set does not weigh one split twice."""
    from dataclasses import replace

    kept: dict[str, Split] = {}
    for s in splits:
        first = kept.get(s.hash)
        if first is None:
            kept[s.hash] = s
        else:
            dup = [*first.meta.get("duplicates", []), s.meta["source"]]
            kept[s.hash] = replace(first, meta={**first.meta, "duplicates": dup})
    return [replace(s, index=i) for i, s in enumerate(kept.values())]


def dropped_duplicates(splits) -> list[str]:
    """'koniq10k_official.pkl[1] (the same split as column split)': one line per split dropped as a copy."""
    found: dict[str, str] = {}
    for s in splits:
        for d in s.meta.get("duplicates", []):
            found[d] = s.meta.get("source", "?")
    return [f"{d} (the same split as {src})" for d, src in found.items()]


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
    if column is None and sources.get("official_missing"):
        raise SplitError(f"split set 'official' for {ds.dataset.name!r}: {sources['official_missing']}")
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
    if split_set == "pyiqa" and not phases.get("test") and phases.get("val"):
        # pyiqa's own splits: train + val, evaluated on val (its option files' 'phase: val')
        phases = {"train": phases.get("train", []), "val": [], "test": phases["val"]}
        source = f"{source} (its 'val' part is the test part: pyiqa evaluates on val)"
    if not phases.get("train") or not phases.get("test"):
        raise SplitError(f"{split_set} split {source} of {ds.dataset.name!r} has an empty train or test part.")
    val = phases.get("val", [])
    train = phases["train"] if val_fraction > 0 else phases["train"] + val
    return _split(ds, split_set, index, seed, train, val if val_fraction > 0 else [], phases["test"], source)


def duplicate_note(splits, split_set: str, dataset: str) -> str:
    """One line for `run --dry-run` and `data splits`: how many identical splits the set dropped, and which."""
    dropped = dropped_duplicates(splits)
    if not dropped:
        return ""
    n = len(dropped)
    return (
        f"split set {split_set!r} of {dataset}: {n} duplicate split{'s' if n > 1 else ''} dropped "
        f"(each distinct split counts once): {'; '.join(dropped)}"
    )


__all__ = ["imported_splits", "drop_duplicate_splits", "dropped_duplicates", "duplicate_note"]
