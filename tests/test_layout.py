"""The package's layout holds: doors in ``digitlib.cli``, test support used by tests only.

Read from the source (``ast``), not by importing, so a module that is never imported is checked
too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import digitlib

PACKAGE = Path(digitlib.__file__).resolve().parent


def modules() -> dict[str, ast.Module]:
    """Every module of the package: dotted name -> its syntax tree."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = ast.parse(path.read_text(), filename=str(path))
    return found


def imported_names(tree: ast.Module, module: str) -> set[str]:
    """The absolute names of every module ``tree`` imports, anywhere in it (lazy imports in
    functions included)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".")[: -node.level]
                names.add(".".join([*base, node.module] if node.module else base))
            else:
                names.add(node.module or "")
    return names


def test_the_walk_sees_the_whole_package():
    found = modules()
    assert {"digitlib", "digitlib.cli", "digitlib.ops.cluster", "digitlib.recognize"} <= set(found)
    assert "digitlib.testing.voila_fixtures" in found
    # and it sees lazy imports inside functions:
    assert "digitlib.ops.seaweedfs" in imported_names(
        found["digitlib.ops.cluster"], "digitlib.ops.cluster"
    )


def test_no_production_module_imports_test_support():
    offenders = {
        name: sorted(n for n in imported_names(tree, name) if n.startswith("digitlib.testing"))
        for name, tree in modules().items()
        if not name.startswith("digitlib.testing")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_package_never_imports_the_benchmarks_or_the_tests():
    offenders = {
        name: sorted(
            n for n in imported_names(tree, name) if n.split(".")[0] in {"benchmarks", "tests"}
        )
        for name, tree in modules().items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_every_main_is_in_cli():
    """Command-line entry points live in ``digitlib.cli``; everything else is a library."""
    mains = sorted(
        name
        for name, tree in modules().items()
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "main"
    )
    assert "digitlib.cli" in mains
    assert [name for name in mains if not name.startswith("digitlib.cli")] == []


#: The rooms from the bottom up: a module may import its own room and the rooms below it, never
#: one above (docs/ARCHITECTURE.md draws the same picture). Rooms on one line are peers.
LAYERS = (
    ("config",),
    ("image",),
    ("drawings",),
    ("models",),
    ("store",),
    ("recognize", "preprocess", "segment"),  # the old flat names are aliases of image's modules
    ("training", "evaluation"),
    ("learn",),
    ("explore", "dashboard"),
    ("ops",),
    ("cli", "testing"),
)
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def room(module: str) -> str | None:
    """``digitlib.image.segment`` -> ``image``; None for the package itself and non-digitlib."""
    parts = module.split(".")
    return parts[1] if parts[0] == "digitlib" and len(parts) > 1 else None


def imports_outside_main_block(tree: ast.Module, module: str) -> set[str]:
    """``imported_names`` without the ``if __name__ == "__main__":`` blocks, which run a module
    as a program (a door may be reached that way) and are not imported by anyone."""
    kept = [
        node
        for node in tree.body
        if not (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        )
    ]
    return imported_names(ast.Module(body=kept, type_ignores=[]), module)


def test_every_room_has_its_place_in_the_layers():
    rooms = {room(name) for name in modules()} - {None}
    assert rooms <= set(RANK), sorted(rooms - set(RANK))


def test_no_module_imports_a_room_above_its_own():
    upward = sorted(
        f"{name} imports {imported}"
        for name, tree in modules().items()
        if room(name) is not None
        for imported in imports_outside_main_block(tree, name)
        if room(imported) in RANK and RANK[room(imported)] > RANK[room(name)]
    )
    assert upward == []
