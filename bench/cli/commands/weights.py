"""``bench weights fetch``: download every weight file some methods (or a study) need, once, verified.

    python -m bench weights fetch --study mpiqe-paper          # into the caches the harness reads
    python -m bench weights fetch dbcnn mpiqe --to wdir/        # a folder to copy to an offline cluster
    python -m bench weights fetch --study zero-shot --dry-run   # what would be fetched, and from where

Run it on a machine with internet. Files go where the harness looks first (pyiqa's cache
``<torch hub>/pyiqa``, torchvision's ``<torch hub>/checkpoints``, OpenAI CLIP's ``~/.cache/clip``), or flat
into ``--to DIR`` (then ``--weights-dir DIR`` on the offline machine), with a ``SHA256SUMS`` file. Each file
is checked against the SHA-256 the package records (``methods/weight_sha256.csv``; torchvision: the
prefix in the file name) and renamed into place only then; two fetches at once wait for each other.
``--base-url`` (or ``$BENCH_WEIGHTS_URL``): fetch every file as ``<base>/<file name>`` from a mirror.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "weights",
        help="fetch the weight files methods or a study need (online), verified",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="fetch")
    f = actions.add_parser("fetch", help="download weight files once, verify SHA-256, write atomically")
    f.add_argument("methods", nargs="*", metavar="METHOD", help="method names (python -m bench methods)")
    f.add_argument("--study", help="every method of a study (shipped name or file), with the study's presets")
    f.add_argument("--preset", default="paper", help="preset of the METHODs' parameters (default paper)")
    f.add_argument("--to", metavar="DIR", help="write the files flat into DIR (use as --weights-dir DIR)")
    f.add_argument(
        "--base-url",
        help="a mirror holding the files as <base>/<file name> (default: each file's source; also $BENCH_WEIGHTS_URL)",
    )
    f.add_argument(
        "--deadline",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="give up on a file not downloaded after this long (default 3600; the network timeout is per read)",
    )
    f.add_argument("--dry-run", action="store_true", help="list the files, their sources and hashes; fetch nothing")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=fetch)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _check_to(to: Path) -> None:
    """--to DIR is a folder this process can write (made if missing): checked before any download."""
    from bench.core.errors import BenchError
    from bench.results.store import StoreError, ensure_writable_dir

    if to.exists() and not to.is_dir():
        raise BenchError(f"--to {str(to)!r} is a file, not a folder: give a folder (made if missing), e.g. --to wdir/.")
    try:
        ensure_writable_dir(to, "--to")
    except StoreError as exc:
        raise BenchError(str(exc)) from None


def _targets(args) -> list:
    from bench.core.errors import BenchError
    from methods.weight_fetch import method_params

    pairs = method_params(args.methods, args.preset) if args.methods else []
    if args.study:
        from bench.study.planner import study_method_params
        from bench.study.spec import load_study

        pairs += study_method_params(load_study(args.study))
    if not pairs:
        raise BenchError(
            "name the methods (python -m bench weights fetch dbcnn mpiqe) or a study (--study mpiqe-paper)."
        )
    return pairs


def fetch(args) -> int:
    from bench.core.download import DEFAULT_DEADLINE_S, DownloadError, fetch_file
    from bench.core.errors import BenchError
    from methods.weight_fetch import download_url, files_for, is_hf_snapshot

    targets = _targets(args)
    files = files_for(targets)
    _warn_undeclared(targets)
    to = Path(args.to).expanduser() if args.to else None
    if to is not None and not args.dry_run:
        _check_to(to)
    deadline = args.deadline or DEFAULT_DEADLINE_S
    rows, failures = [], []
    for wf in files:
        if is_hf_snapshot(wf.url):  # a whole Hugging Face repository (Q-Align): the hub lists its files
            rows.append(snapshot_row(wf, to, args.dry_run))
            if rows[-1]["status"].startswith("FAILED"):
                failures.append(rows[-1])
            continue
        url = download_url(wf, args.base_url)
        dest = (to / wf.rel) if to else wf.cache_path
        row = {
            "file": wf.filename,
            "methods": wf.methods,
            "url": url,
            "dest": str(dest),
            "pin": wf.pin,
            "hash_source": wf.hash_source,
            "status": "",
            "sha256": "",
        }
        rows.append(row)
        if not url or dest is None:
            row["status"] = f"not fetchable here: {wf.hint}"
            failures.append(row)
            continue
        if to is None and wf.found and wf.found != dest:
            row.update(status=f"present at {wf.found}")
            continue
        if args.dry_run:
            row["status"] = "would fetch"
            continue
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            got = fetch_file(
                url, dest, sha256=wf.sha256 or None, sha256_prefix=wf.sha256_prefix or None, deadline_s=deadline
            )
            row.update(status=got.status, sha256=got.sha256)
        except DownloadError as exc:
            row["status"] = f"FAILED: {exc}"
            failures.append(row)
        except OSError as exc:  # the lock or the folder: the file system, named
            where = exc.filename or dest.parent
            row["status"] = f"FAILED: cannot write {where} ({exc.strerror or exc}); fetch into a folder you can write"
            failures.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            pin = {
                "sha256": "sha256 checked",
                "sha256-prefix": "sha256 prefix checked",
                "unpinned": "no published hash: sha256 recorded only",
            }[r["pin"]]
            print(
                f"{r['file']:40s} {r['status']}"
                + (f"  ({pin})" if r["sha256"] else "")
                + (f"  <- {r['url']}" if args.dry_run else "")
            )
        if args.dry_run:
            print(f"{sum(r['status'] == 'would fetch' for r in rows)} of {len(rows)} file(s) would be fetched")
        else:
            print(
                f"{len(rows) - len(failures)} of {len(rows)} file(s) in place"
                + (f" under {to}" if to else "")
                + ("; use --weights-dir " + str(to) + " on the offline machine" if to else "")
                + (
                    f" (and HF_HUB_CACHE={to / 'hf'} for the Hugging Face repositories)"
                    if to and any(is_hf_snapshot(wf.url) for wf in files)
                    else ""
                )
            )
    if to is not None and not args.dry_run:
        try:
            write_sums(to, [r for r in rows if r["sha256"]])
        except OSError as exc:
            raise BenchError(
                f"the weight files are under {to}, but {to / 'SHA256SUMS'} could not be written "
                f"({exc.strerror or exc}). Free space there and run the same command again (files already "
                "fetched are kept and checked, not downloaded again)."
            ) from None
    if failures:
        if all(r["status"].startswith("not fetchable") for r in failures):
            return 1
        raise BenchError(
            f"{len(failures)} weight file(s) failed; nothing partial was left. Run the same command "
            "again (files already fetched are kept and checked, not downloaded again)."
        )
    return 0


def snapshot_row(wf, to: Path | None, dry_run: bool) -> dict:
    """Fetch a whole Hugging Face model repository into the HF cache (or ``to/hf``, an HF cache folder for
    $HF_HUB_CACHE on the offline machine) with huggingface_hub's ``snapshot_download``: the hub lists the files
    (weight shards, tokenizer, processor) and huggingface_hub checks each download; no SHA-256 is published here."""
    from methods.weight_fetch import HF_SNAPSHOT
    from methods.weights import hf_hub_cache

    repo = wf.url[len(HF_SNAPSHOT) :]
    cache = (to / wf.rel) if to else hf_hub_cache()
    row = {
        "file": f"{repo} (repository)",
        "methods": wf.methods,
        "url": f"https://huggingface.co/{repo}",
        "dest": str(cache),
        "pin": "unpinned",
        "hash_source": "huggingface_hub snapshot_download",
        "status": "",
        "sha256": "",
    }
    if to is None and wf.found:
        row["status"] = f"present at {wf.found.parent}"
    elif dry_run:
        row["status"] = "would fetch"
    else:
        try:
            from huggingface_hub import snapshot_download

            path = snapshot_download(repo_id=repo, cache_dir=str(cache))
            row["status"] = f"fetched (snapshot {Path(path).name})"
        except Exception as exc:  # noqa: BLE001 -- any hub / network / disk failure is reported the same way
            row["status"] = f"FAILED: {type(exc).__name__}: {exc}"
    return row


def _warn_undeclared(targets: list) -> None:
    """A pyiqa metric without declared files: say so instead of a silent '0 of 0 file(s)'."""
    import sys

    from methods import registry

    for name in dict.fromkeys(n for n, _ in targets):
        _, cls, _ = registry.resolve(name)
        if getattr(cls, "kind", "") == "pyiqa-zero-shot" and not cls.required_weights(cls.make_params(), None):
            print(
                f"warning: {name}: its weight files are not declared (methods/pyiqa_zeroshot.py METRIC_WEIGHTS), so "
                "none is fetched here; pyiqa downloads them itself on first use, which an offline machine cannot.",
                file=sys.stderr,
            )


def write_sums(folder: Path, rows: list[dict]) -> None:
    """``SHA256SUMS`` (sha256sum format) of the files in ``folder``, merged with what is there, atomically."""
    from bench.core.download import file_lock
    from bench.core.files import atomic_write

    path = folder / "SHA256SUMS"
    with file_lock(folder / ".SHA256SUMS.lock"):
        sums = {}
        if path.exists():
            for line in path.read_text().splitlines():
                digest, _, name = line.partition("  ")
                if name:
                    sums[name] = digest
        sums.update({str(Path(r["dest"]).relative_to(folder)): r["sha256"] for r in rows})
        atomic_write(path, "".join(f"{d}  {n}\n" for n, d in sorted(sums.items())))
