"""The import rule holds: imports only go down the layers (function-level imports included), and the
simulators stay apart. ``lint-imports`` checks the contracts of ``[tool.importlinter]`` in pyproject.toml."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(pythonpath), "COLUMNS": "200"}
    return subprocess.run([str(LINT), "--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_imports_only_go_down_and_the_simulators_stay_apart() -> None:
    proc = lint(ROOT, ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 3 kept, 0 broken." in proc.stdout, proc.stdout


def test_every_module_sits_in_a_layer() -> None:
    """A module outside every layer is checked by nothing: each top-level module or package of tgflow is named
    in the layers contract (the simulators have contracts of their own)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["id"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.split("|")}
    top = {f"tgflow.{p.stem}" for p in (ROOT / "tgflow").iterdir()
           if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.stem not in ("__init__", "__main__", "sim")}
    assert top <= named, f"not in any layer of [tool.importlinter] layers: {sorted(top - named)}"


def test_an_upward_import_inside_a_function_breaks_the_layers(tmp_path: Path) -> None:
    """The check sees lazy imports: an activity reaching up into a use case fails it, naming the import."""
    shutil.copytree(ROOT / "tgflow", tmp_path / "tgflow", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    ops = tmp_path / "tgflow" / "activities" / "ops.py"
    ops.write_text(ops.read_text() + "\n\ndef _upward() -> None:\n    from tgflow.service import orders  # noqa: F401\n")
    proc = lint(tmp_path, tmp_path)
    assert proc.returncode != 0
    assert "Layers: imports only go down BROKEN" in proc.stdout, proc.stdout
    assert "tgflow.activities.ops -> tgflow.service.orders" in proc.stdout, proc.stdout


def test_workflow_and_schedule_ids_are_built_only_in_contracts_ids() -> None:
    """No f-string builds a workflow or schedule id outside ``tgflow/contracts/ids.py`` (the simulators aside)."""
    prefixes = ("order-export-", "order-queue-", "order-bulk-export-", "order-reconcile-", "drift-report-",
                "health-check-", "product-import-", "shipment-import-", "order-shipment-", "order-cancel-",
                "order-refund-", "order-adjust-", "export-request-")
    found = []
    for path in sorted((ROOT / "tgflow").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "tgflow/contracts/ids.py" or rel.startswith("tgflow/sim/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                if head.startswith(prefixes):
                    found.append(f"{rel}:{node.lineno}: {head}")
    assert not found, "ids built outside tgflow/contracts/ids.py:\n" + "\n".join(found)
