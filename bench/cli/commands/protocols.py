"""``bench protocols``: the protocols, their defaults and how to override them."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("protocols", help="list the protocols and their defaults")
    p.add_argument("name", nargs="?", help="show one protocol in full (its variants too)")
    p.set_defaults(func=run)


def describe(proto, full: bool = False) -> str:
    lines = [f"{proto.name}  ({proto.paper}): {proto.description}"]
    if getattr(proto, "eval_only", False):
        lines.append(
            "  datasets:  every dataset found (--datasets)   no splits, no training: every image scored "
            "once; --checkpoint FILE scores with a trained cell's weights"
        )
        lines.append("  --data demo: demo-a, demo-b")
        return "\n".join(lines)
    if proto.pairs:
        lines.append("  pairs:     " + ", ".join(f"{a}->{b}" for a, b in proto.pairs) + "   (--train A --test B)")
    else:
        lines.append("  datasets:  " + ", ".join(proto.datasets) + "   (--datasets)")
    lines.append(
        f"  splits:    {proto.n_splits} x {round((1 - proto.test_fraction) * 100)}/{round(proto.test_fraction * 100)}"
        f"   (--splits, --test-fraction, --split-set)   aggregate: {proto.aggregate}"
    )
    if proto.fractions:
        lines.append("  fractions: " + ", ".join(f"{f:g}" for f in proto.fractions) + "   (--fractions)")
    for method, variants in proto.variants.items():
        if full:
            lines.append(f"  variants of {method}:")
            lines.extend(f"    {v.label:24s} {v.overrides or '(defaults)'}  {v.description}" for v in variants)
        else:
            lines.append(f"  variants of {method}: " + ", ".join(v.label for v in variants) + "   (--variants)")
    if proto.pairs:
        lines.append(
            "  training:  --cross-train split (default: the training part of each of A's splits, median over "
            "them) | full (all of A, one run per seed, as most baselines' Table 3 numbers were made)"
        )
    if proto.fractions:
        lines.append(
            "  fraction of: --fraction-of dataset (default: shares of the whole dataset, test part fixed) | "
            "train (shares of each split's training part)"
        )
    lines.append(
        "  selection: last epoch (default); --val-fraction F --select-on val: best validation SRCC (never test)"
    )
    lines.append("  --data demo: " + ("demo-a->demo-b, demo-b->demo-a" if proto.pairs else "demo-a, demo-b"))
    return "\n".join(lines)


def run(args) -> int:
    import protocols

    if args.name:
        print(describe(protocols.get(args.name), full=True))
        return 0
    print("\n\n".join(describe(protocols.get(n)) for n in protocols.names()))
    return 0
