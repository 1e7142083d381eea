"""``digitlib models list | verify | rollback MODEL VERSION | seed | export``: model versions
and the inference files that read with them."""

from __future__ import annotations

import argparse
import sys


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="store URL: s3://bucket/prefix, file:///path or a folder "
        "(default: $DIGITLIB_STORE, else data/store)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list, verify and roll back stored model versions"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="versions of each model, the current one marked *")
    listing.add_argument("--model", help="only this model (numpy_fnn, fnn, cnn)")
    listing.add_argument("--json", action="store_true", help="print the versions as JSON")
    add_store_argument(listing)
    listing.set_defaults(handler=run_list)

    verify = actions.add_parser(
        "verify", help="check size and sha256 of every version; exit 1 if any is bad"
    )
    verify.add_argument("--model", help="only this model")
    add_store_argument(verify)
    verify.set_defaults(handler=run_verify)

    rollback = actions.add_parser("rollback", help="make an earlier good version current again")
    rollback.add_argument("model", metavar="MODEL", help="numpy_fnn, fnn or cnn")
    rollback.add_argument("version", metavar="VERSION", type=int, help="version number, e.g. 3")
    add_store_argument(rollback)
    rollback.set_defaults(handler=run_rollback)

    promote = actions.add_parser(
        "promote",
        help="make a saved (evaluated) version current, e.g. one written by train --distributed",
    )
    promote.add_argument("model", metavar="MODEL", help="numpy_fnn, fnn or cnn")
    promote.add_argument("version", metavar="VERSION", type=int, help="version number, e.g. 4")
    add_store_argument(promote)
    promote.set_defaults(handler=run_promote)

    seed = actions.add_parser(
        "seed", help="copy the shipped models/ checkpoints in as version 1 where none exists"
    )
    seed.add_argument("--model", help="only this model")
    add_store_argument(seed)
    seed.set_defaults(handler=run_seed)

    export = actions.add_parser(
        "export",
        help="write the inference file (.infer.npz) of each .keras checkpoint in a folder "
        "(what reading uses; make train does this)",
    )
    export.add_argument(
        "--models", default=None, metavar="DIR", help="folder of checkpoints (default: models/)"
    )
    export.set_defaults(handler=run_export)


def _registry(args: argparse.Namespace, mode: str = "read"):
    """The registry of ``--store``: see ``digitlib.cli.drawings._drawings`` for ``mode``."""
    from digitlib.store import ModelRegistry, open_store

    return ModelRegistry(open_store(args.store, mode=mode))


def _fail(error: Exception) -> int:
    print(f"digitlib models: error: {error}", file=sys.stderr)
    return 1


def _accuracy(metrics: dict, name: str) -> str:
    """The version's validation accuracy, from what its manifest recorded ('' if none)."""
    after = ((metrics.get("validation") or {}).get(name) or {}).get("after")
    value = after if isinstance(after, int | float) else metrics.get("accuracy")
    return f"{100 * value:.2f}%" if isinstance(value, int | float) else ""


def run_list(args: argparse.Namespace) -> int:
    import json

    from digitlib.store import StoreError

    try:
        registry = _registry(args)
        names = [args.model] if args.model else registry.names()
        listing = {name: (registry.current(name), registry.history(name)) for name in names}
    except StoreError as error:
        return _fail(error)
    if args.json:
        print(
            json.dumps(
                {
                    "store": registry.store.url,
                    "models": {
                        name: {
                            "current": current,
                            "versions": [manifest.to_dict() for manifest in history],
                        }
                        for name, (current, history) in listing.items()
                    },
                },
                indent=1,
            )
        )
        return 0
    print(f"store: {registry.store.url}")
    if not names:
        print("no model versions yet (digitlib models seed copies the shipped ones in)")
    for name, (current, history) in listing.items():
        print(f"{name}: current {'none' if current is None else f'{current:06d}'}")
        print("    version  created              size         parent  made by          accuracy")
        for manifest in history:
            mark = "*" if manifest.version == current else " "
            parent = "-" if manifest.parent is None else f"{manifest.parent:06d}"
            print(
                f"  {mark} {manifest.version:06d}  {manifest.created_at[:19].replace('T', ' ')}  "
                f"{manifest.size / 1e6:7.2f} MB  {parent:>6}  {manifest.produced_by[:15]:<15}  "
                f"{_accuracy(manifest.metrics, name)}".rstrip()
            )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        report = _registry(args).verify(args.model)
    except StoreError as error:
        return _fail(error)
    print(report)
    if not report.ok:
        print(f"{len(report.problems)} bad version(s); loading skips them", file=sys.stderr)
        return 1
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        promotion = _registry(args, "write").rollback(args.model, args.version)
    except StoreError as error:
        return _fail(error)
    previous = "none" if promotion.previous is None else f"{promotion.previous:06d}"
    print(f"{args.model}: current is now {promotion.version:06d} (was {previous})")
    return 0


def run_promote(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        registry = _registry(args, "write")
        current = registry.current(args.model)
        promotion = registry.promote(
            args.model, args.version, expected_current=current, note="digitlib models promote"
        )
    except (StoreError, ValueError) as error:
        return _fail(error)
    previous = "none" if promotion.previous is None else f"{promotion.previous:06d}"
    print(f"{args.model}: current is now {promotion.version:06d} (was {previous})")
    return 0


def run_seed(args: argparse.Namespace) -> int:
    from digitlib.config import MODEL_NAMES
    from digitlib.store import StoreError

    try:
        registry = _registry(args, "write")
        for name in [args.model] if args.model else MODEL_NAMES:
            manifest = registry.seed(name)
            if manifest is None:
                print(f"{name}: already has versions; left as is")
            else:
                print(f"{name}: seeded version {manifest.version:06d} from the shipped file")
    except StoreError as error:
        return _fail(error)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from digitlib.config import SHIPPED_MODELS_DIR
    from digitlib.models.inference import export_checkpoint

    folder = Path(args.models) if args.models else SHIPPED_MODELS_DIR
    checkpoints = sorted(folder.glob("*.keras"))
    if not checkpoints:
        raise FileNotFoundError(f"{folder}: no .keras checkpoints to export")
    for checkpoint in checkpoints:
        target = export_checkpoint(checkpoint)
        print(f"{checkpoint.stem}: {target} ({target.stat().st_size / 1e6:.2f} MB)")
    return 0
