"""``digitlib drawings list | export | relabel ID LABELS | delete ID | held | accept ID | reject ID
| verify [--repair]``: collected drawings and the review queue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digitlib.cli.models import add_store_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("drawings", help="list, export, relabel and delete drawings")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="saved drawings, oldest first")
    add_store_argument(listing)
    listing.set_defaults(handler=run_list)

    export = actions.add_parser("export", help="write the labelled segments as a data set")
    export.add_argument(
        "--format",
        choices=("npz", "idx"),
        default="npz",
        help="npz: one file; idx: a folder with MNIST-style files",
    )
    export.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PATH",
        help="the .npz file, or the folder for idx",
    )
    add_store_argument(export)
    export.set_defaults(handler=run_export)

    relabel = actions.add_parser("relabel", help="replace a drawing's labels")
    relabel.add_argument("id", metavar="ID")
    relabel.add_argument("labels", metavar="LABELS", help="one per segment, e.g. 42 ('?' = other)")
    add_store_argument(relabel)
    relabel.set_defaults(handler=run_relabel)

    delete = actions.add_parser("delete", help="delete a drawing")
    delete.add_argument("id", metavar="ID")
    add_store_argument(delete)
    delete.set_defaults(handler=run_delete)

    importing = actions.add_parser(
        "import", help="save the drawings of a set written by 'drawings export --format npz'"
    )
    importing.add_argument("path", type=Path, metavar="PATH", help="the .npz set")
    add_store_argument(importing)
    importing.set_defaults(handler=run_import)

    held = actions.add_parser("held", help="the review queue: drawings held, and why")
    add_store_argument(held)
    held.set_defaults(handler=run_held)

    accept = actions.add_parser(
        "accept", help="accept a held drawing into the saved drawings (it is not learned here)"
    )
    accept.add_argument("id", metavar="ID")
    accept.add_argument("--labels", default=None, help="corrected labels, e.g. 42")
    add_store_argument(accept)
    accept.set_defaults(handler=run_accept)

    reject = actions.add_parser("reject", help="drop a held drawing: it is never learned")
    reject.add_argument("id", metavar="ID")
    add_store_argument(reject)
    reject.set_defaults(handler=run_reject)

    verify = actions.add_parser(
        "verify",
        help="find stored drawings a save would refuse now (NaN or Infinity in their strokes)",
    )
    verify.add_argument(
        "--repair",
        action="store_true",
        help="drop the non-finite points (the original metadata is kept under repaired/)",
    )
    add_store_argument(verify)
    verify.set_defaults(handler=run_verify)


def _drawings(args: argparse.Namespace, mode: str = "read"):
    """The drawing store of ``--store``: reading commands never create one and fail when it
    cannot be reached (a broken store is not an empty one); writing ones create a missing
    folder only when its parent exists."""
    from digitlib.store import DrawingStore, open_store

    return DrawingStore(open_store(args.store, mode=mode))


def _fail(error: Exception) -> int:
    print(f"digitlib drawings: error: {error}", file=sys.stderr)
    return 1


def run_list(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        records = _drawings(args).list()
    except StoreError as error:
        return _fail(error)
    for record in records:
        predicted = ""
        if isinstance(record.predictions, dict):
            reading = record.predictions.get("text", record.predictions.get("ensemble"))
            predicted = f"  predicted {reading}" if reading is not None else ""
        print(
            f"{record.id}  {record.text:<12} {record.created_at[:19]}  "
            f"session {record.session_id or '-'}{predicted}"
        )
    print(f"{len(records)} drawing(s)")
    return 0


def _extract_function():
    """``digitlib.image.segment.extract`` for drawings saved without their segments, if available."""
    try:
        from digitlib.image.segment import extract
    except ImportError:
        return None
    return extract


def run_export(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        result = _drawings(args).export(args.out, args.format, extract=_extract_function())
    except StoreError as error:
        return _fail(error)
    for drawing_id, reason in result.skipped:
        print(f"skipped {drawing_id}: {reason}", file=sys.stderr)
    print(f"wrote {result.count} examples to {', '.join(str(p) for p in result.paths)}")
    return 0


def run_relabel(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        record = _drawings(args, "write").relabel(args.id, args.labels)
    except StoreError as error:
        return _fail(error)
    print(f"{record.id}: labels now {record.text}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        _drawings(args, "write").delete(args.id)
    except StoreError as error:
        return _fail(error)
    print(f"deleted {args.id}")
    return 0


def run_held(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        records = _drawings(args).list_held()
    except StoreError as error:
        return _fail(error)
    for record in records:
        given = (
            (record.predictions or {}).get("given", "")
            if isinstance(record.predictions, dict)
            else ""
        )
        print(
            f"{record.id}  {record.text:<8} given {given or record.text:<8} "
            f"{record.created_at[:19]}  {record.reason}"
        )
    print(f"{len(records)} drawing(s) held for review")
    return 0


def run_accept(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        drawing = _drawings(args, "write").accept(args.id, labels=args.labels)
    except StoreError as error:
        return _fail(error)
    print(
        f"{drawing.record.id}: accepted as {drawing.record.text} (now a saved drawing; the "
        "dashboard's Data view or the next training learns from it)"
    )
    return 0


def run_reject(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        _drawings(args, "write").reject(args.id)
    except StoreError as error:
        return _fail(error)
    print(f"{args.id}: rejected; it is never learned")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    if not args.path.is_file():
        raise FileNotFoundError(f"{args.path}: no such file; expected a .npz set from export")
    try:
        result = _drawings(args, "write").import_set(args.path)
    except StoreError as error:
        return _fail(error)
    print(
        f"imported {result.count} drawing(s) from {args.path.name}"
        + (f"; {len(result.skipped)} imported before" if result.skipped else "")
    )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from digitlib.store import StoreError

    try:
        report = _drawings(args, "write" if args.repair else "read").verify(repair=args.repair)
    except StoreError as error:
        return _fail(error)
    for problem in report.problems:
        print(f"{problem.key}: {problem.problem}")
        done = "repaired" if problem.repaired else "--repair would change"
        for change in problem.changes:
            print(f"  {done}: {change}")
    repaired = sum(problem.repaired for problem in report.problems)
    print(
        f"checked {report.checked} drawing(s): {len(report.problems)} with problems"
        + (f", {repaired} repaired (originals kept under repaired/)" if repaired else "")
    )
    if report.ok:
        return 0
    if any(problem.repairable and not problem.repaired for problem in report.problems):
        print("run 'digitlib drawings verify --repair' to make these changes", file=sys.stderr)
    return 1
