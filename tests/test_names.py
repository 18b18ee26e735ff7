"""No two classes in the package share a name (issue #12).

A class name says what the class is; two ``Endpoint`` or ``Target`` classes in different modules
made readers (and imports under aliases) guess which one a function takes. The test parses every
module with ``ast`` (no import, so it sees classes behind optional dependencies too) and lists each
name defined more than once with the places that define it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import ipamx_spy

PACKAGE = Path(ipamx_spy.__file__).parent


def class_definitions(root: Path) -> dict[str, list[str]]:
    """Map each class name to the ``module:line`` places under ``root`` that define it."""
    places: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                places[node.name].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return places


def shared_names(places: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: where for name, where in sorted(places.items()) if len(where) > 1}


def test_the_check_sees_a_shared_name(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("class Target:\n    pass\n", encoding="utf-8")
    (package / "sub" / "b.py").write_text(
        "def f():\n    class Target:\n        pass\n", encoding="utf-8"
    )
    (package / "sub" / "c.py").write_text("class Other:\n    pass\n", encoding="utf-8")
    assert shared_names(class_definitions(package)) == {
        "Target": ["pkg/a.py:1", "pkg/sub/b.py:2"]
    }


def test_no_two_classes_in_the_package_share_a_name() -> None:
    places = class_definitions(PACKAGE)
    assert len(places) > 100  # the walk found the package, not an empty directory
    shared = shared_names(places)
    assert shared == {}, "classes that share a name:\n" + "\n".join(
        f"  {name}: {', '.join(where)}" for name, where in shared.items()
    )
