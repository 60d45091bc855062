"""The layers as a layout: cli -> core -> system, arrows only down, no import cycles.

`herodev_shell.errors` is the one leaf every layer may use (errors carry exit codes up).
Every import counts, including those inside functions (kept there for start-up time only).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "herodev_shell"
RANK = {"system": 0, "core": 1, "cli": 2}
LEAVES = {"herodev_shell", "herodev_shell.errors", "herodev_shell.__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("herodev_shell"):
            for alias in node.names:  # `from herodev_shell.core import sessions` imports a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("herodev_shell"))
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def test_every_module_is_in_a_layer() -> None:
    stray = sorted(m for m in MODULES if layer(m) is None and m not in LEAVES)
    assert stray == []


def test_arrows_point_down_only() -> None:
    upward = []
    for module, path in MODULES.items():
        mine = layer(module)
        for target in imports_of(path):
            theirs = layer(target)
            if mine and theirs and RANK[theirs] > RANK[mine]:
                upward.append(f"{module} -> {target}")
            if module == "herodev_shell.errors" and target != module:
                upward.append(f"{module} -> {target} (the leaf imports nothing of ours)")
    assert upward == []


def test_no_import_cycles() -> None:
    graph = {m: {t for t in imports_of(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert cycles == []
