"""``bench methods``: every registered method, its kind, whether it trains, whether it can run here."""

from __future__ import annotations


def add_parser(sub) -> None:
    from bench.data.datasets import add_data_args

    p = sub.add_parser(
        "methods",
        help="list the methods (kind, trains, weights available here); NAME --recipe: what a method will train",
    )
    p.add_argument("name", nargs="?", help="one method (with --recipe)")
    p.add_argument("--weights-dir", help="also look for weight files in this folder")
    p.add_argument(
        "--preset",
        default=None,
        help="paper | demo | ci: check weights for that preset's parameters (default: the defaults); "
        "with --recipe: the preset whose recipe is shown (default paper)",
    )
    p.add_argument(
        "--recipe",
        action="store_true",
        help="the training recipe of NAME as it will run on --dataset: crops, resize, optimiser, "
        "schedule, steps, samples, test mode, loss, sources",
    )
    p.add_argument("--dataset", default="livec", help="with --recipe: the training dataset (default livec)")
    p.add_argument("--json", action="store_true", help="with --recipe: print JSON")
    p.add_argument(
        "--all",
        action="store_true",
        help="with --recipe --format md: every retrained baseline on every dataset (docs/RECIPES.md)",
    )
    p.add_argument(
        "--format",
        choices=("text", "json", "md"),
        default=None,
        help="with --recipe: text (default), json (= --json) or md (with --all: docs/RECIPES.md)",
    )
    p.add_argument("--output", default=None, help="with --recipe --all: write to this file instead of stdout")
    add_data_args(p)
    p.set_defaults(func=run)


def method_rows(weights_dir=None, preset=None) -> list[dict]:
    """One row per registered name; a module that fails to import is listed, not fatal."""
    from pathlib import Path

    from methods import registry

    rows = []
    for name in registry.names():
        row = {"name": name, "kind": "?", "trains": "?", "available": False, "why": "", "description": ""}
        try:
            cls = registry.get_method(name)
        except ModuleNotFoundError as exc:
            row["why"] = f"not installed in this checkout ({exc.name} missing)"
            rows.append(row)
            continue
        except Exception as exc:  # noqa: BLE001 -- one broken method must not hide the others
            row["why"] = f"import failed: {type(exc).__name__}: {exc}"
            rows.append(row)
            continue
        row.update(kind=cls.kind, trains="yes" if cls.trains else "no", description=cls.description)
        try:
            params = cls.make_params(preset if preset in cls.presets else None)
            ok, why = cls.availability(params, Path(weights_dir) if weights_dir else None)
        except Exception as exc:  # noqa: BLE001
            ok, why = False, f"{type(exc).__name__}: {exc}"
        row.update(available=ok, why="" if ok else why)
        rows.append(row)
    return rows


def run(args) -> int:
    from bench.run.planning import check_preset

    if args.recipe and args.all:
        from bench.cli.commands.recipe_doc import show_all

        return show_all(args)
    if args.recipe or args.name:
        from bench.cli.commands.recipe_view import show_recipe

        return show_recipe(args)
    check_preset(args.preset, [])  # a typo would silently check the defaults
    rows = method_rows(args.weights_dir, args.preset)
    head = ("method", "kind", "trains", "runs here", "notes")
    lines = [head] + [
        (r["name"], r["kind"], r["trains"], "yes" if r["available"] else "no", r["why"] or r["description"])
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head) - 1)]
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)) + "  " + line[-1])
    print("\nAny pyiqa no-reference metric also runs zero-shot as 'pyiqa:<name>'.")
    return 0
