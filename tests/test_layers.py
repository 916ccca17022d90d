"""The layers hold: the import-linter contracts in pyproject.toml (drawn in
docs/architecture.md) are kept, and no import cycle exists anywhere in the product,
counting imports made inside functions (grimp reads those too)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "kiosk", "central", "firmware_config")
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT_IMPORTS, "--no-cache", "--no-logo", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_are_kept() -> None:
    r = lint_imports()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout and "6 kept" in r.stdout, r.stdout


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    """The check reads the real code: a contract the code breaks (screens may not even
    import the UiServices protocol) fails, naming the import."""
    config = tmp_path / "broken.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["kiosk"]\n\n'
                      '[[tool.importlinter.contracts]]\nname = "screens without ui_services"\n'
                      'type = "forbidden"\nsource_modules = ["kiosk.screens"]\n'
                      'forbidden_modules = ["kiosk.ui_services"]\n')
    r = lint_imports("--config", str(config))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "BROKEN" in r.stdout and "kiosk.screens.base -> kiosk.ui_services" in r.stdout, r.stdout


def cycles(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    lines = []
    for a in component:
        for b in sorted(graph.find_modules_directly_imported_by(a)):
            if b in component:
                at = [d["line_number"] for d in graph.get_import_details(importer=a, imported=b)]
                lines.append(f"  {a} -> {b} (line {', '.join(map(str, at))})")
    return "\n".join(lines)


def test_no_import_cycles() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    found = cycles(graph, graph.modules)
    assert not found, "import cycles:\n" + "\n\n".join(describe(graph, c) for c in found)


def test_the_cycle_check_sees_imports_inside_functions(tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclepkg import a\n    return a\n")
    (pkg / "c.py").write_text("from cyclepkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclepkg", cache_dir=None)
    assert cycles(graph, graph.modules) == [["cyclepkg.a", "cyclepkg.b"]]
