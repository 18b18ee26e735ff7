"""The protocol authority imports only the standard library: import-linter's contract (in
pyproject) holds, and it names every other module of the package and every package ipamx-spy
depends on (runtime and test extras)."""

from __future__ import annotations

import ast
import importlib.metadata
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import ipamx_spy
import ipamx_spy.dockerd

ROOT = Path(__file__).resolve().parent.parent


def _contract() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["source_modules"] == ["ipamx_spy.dockerd"])


def test_lint_imports_keeps_the_contract() -> None:
    command = shutil.which("lint-imports")
    assert command is not None, "import-linter is in the [test] extras: pip install -e '.[test]'"
    result = subprocess.run([command, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout or "0 broken" in result.stdout


def test_the_contract_forbids_every_other_module_of_the_package() -> None:
    forbidden = set(_contract()["forbidden_modules"])
    siblings = {f"ipamx_spy.{m.name}" for m in pkgutil.iter_modules(ipamx_spy.__path__)
                if m.name != "dockerd"}
    assert siblings - forbidden == set()


def _requirement_names() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]
    return [re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in requirements]


def test_the_contract_forbids_every_dependency() -> None:
    forbidden = set(_contract()["forbidden_modules"])
    imported_as: dict[str, set[str]] = {}
    for module, distributions in importlib.metadata.packages_distributions().items():
        if not module.startswith("_") and "__" not in module:
            for distribution in distributions:
                imported_as.setdefault(distribution.lower().replace("_", "-"), set()).add(module)
    installed = {name: imported_as[name.lower().replace("_", "-")] for name in _requirement_names()
                 if name.lower().replace("_", "-") in imported_as}
    assert "grpcio" in installed and installed["grpcio"] == {"grpc"}  # the mapping works
    allowed = sorted(name for name, modules in installed.items() if not modules & forbidden)
    assert allowed == []


def test_dockerd_modules_import_only_the_standard_library() -> None:
    folder = Path(ipamx_spy.dockerd.__file__).parent
    outside: list[str] = []
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            outside += [f"{path.name}: {n}" for n in names
                        if n.split(".")[0] not in sys.stdlib_module_names
                        and n.split(".")[0] != "__future__"]
    assert outside == []
