"""Every test checks something, and no condition is short-circuited to true (issue #12).

A test that only calls code passes whatever the code returns, and an assertion whose condition
is joined by ``or`` to the constant true passes whatever the rest says. The suite is parsed
with ``ast`` (nothing is imported): a test function must assert, expect an exception
(``pytest.raises``, ``pytest.fail``, ``pytest.warns``), raise, or call a helper that does one of
these, directly or through other helpers. Helpers are found by name in ``tests/`` and
``scripts/`` (the reader fuzz calls ``scripts/fuzz_readers.py``'s
``run_readers``, which raises on an unexpected traceback).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "tests", ROOT / "scripts")
EXPECTING = {"raises", "fail", "warns", "deprecated_call"}

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@functools.cache
def _modules() -> tuple[tuple[Path, ast.Module], ...]:
    return tuple((path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
                 for folder in SOURCES for path in sorted(folder.rglob("*.py")))


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _checks_itself(function: FunctionNode) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Assert | ast.Raise):
            return True
        if isinstance(node, ast.Call):
            name = _called(node)
            if name in EXPECTING or name.startswith("assert"):
                return True
    return False


def _calls(function: FunctionNode) -> set[str]:
    return {_called(n) for n in ast.walk(function) if isinstance(n, ast.Call)} - {""}


def checking_helpers(functions: list[FunctionNode]) -> set[str]:
    """Names of the functions that check something, directly or through another one."""
    checking = {f.name for f in functions if _checks_itself(f)}
    calls = [(f.name, _calls(f)) for f in functions]
    grown = True
    while grown:
        grown = False
        for name, called in calls:
            if name not in checking and called & checking:
                checking.add(name)
                grown = True
    return checking


def _module_functions() -> list[FunctionNode]:
    """Module-level functions: the helpers a test may call (methods of fakes are not)."""
    return [node for _, tree in _modules() for node in tree.body
            if isinstance(node, FunctionNode)]


def _tests() -> list[tuple[Path, FunctionNode]]:
    return [(path, node) for path, tree in _modules() if path.name.startswith("test_")
            for node in ast.walk(tree)
            if isinstance(node, FunctionNode) and node.name.startswith("test")]


def test_every_test_function_checks_something() -> None:
    tests = _tests()
    checking = checking_helpers(_module_functions() + [f for _, f in tests])
    unchecked = [f"{path.relative_to(ROOT)}:{f.lineno} {f.name}" for path, f in tests
                 if f.name not in checking]
    assert unchecked == []


def test_no_condition_ends_in_or_true() -> None:
    found = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for path, tree in _modules() for node in ast.walk(tree)
             if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or)
             and any(isinstance(v, ast.Constant) and v.value is True for v in node.values)]
    assert found == []


def test_the_scan_tells_a_checking_test_from_an_empty_one() -> None:
    tree = ast.parse(
        "def helper(x):\n    assert x\n"
        "def indirect(x):\n    helper(x)\n"
        "def test_direct():\n    assert int('2') == 2\n"
        "def test_through_helpers():\n    indirect(1)\n"
        "def test_expects():\n    with pytest.raises(ValueError):\n        int('x')\n"
        "def test_empty():\n    int('1')\n")
    functions = [n for n in ast.walk(tree) if isinstance(n, FunctionNode)]
    assert checking_helpers(functions) == {"helper", "indirect", "test_direct",
                                           "test_through_helpers", "test_expects"}
