"""A casa em andares: o grafo de importações de ``helpers`` não tem ciclos nem importações para cima.

As camadas, de baixo para cima (ver ``src/helpers/__init__.py``): model → engine → laws →
presentation → chapters. Um módulo importa só da própria camada e das de baixo. O grafo é lido
do código-fonte (``ast``), inclusive das importações feitas dentro de funções: uma importação
tardia não torna aceitável um ciclo.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "helpers"
LAYERS = ("model", "engine", "laws", "presentation", "chapters")
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """``{módulo: {módulos de helpers que ele importa}}``; ``from pacote import sub`` conta como ``pacote.sub``."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules:  # helpers.x.y.Nome -> helpers.x.y
                    t = t.rpartition(".")[0]
                if t.startswith("helpers") and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def layer_of(module: str) -> int | None:
    """O andar de um módulo; o pacote raiz (só a documentação e a versão) fica abaixo de todos."""
    if module == "helpers":
        return -1
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Um ciclo do grafo (lista de módulos, o primeiro repetido no fim), ou ``None``."""
    color = dict.fromkeys(graph, 0)
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        color[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            # um pacote importa seus submódulos (re-exportação): não é ciclo com eles
            if v.startswith(u + ".") or u.startswith(v + "."):
                continue
            if color.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if color.get(v) == 0 and (c := visit(v)):
                return c
        stack.pop()
        color[u] = 2
        return None

    for u in sorted(graph):
        if color[u] == 0 and (c := visit(u)):
            return c
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    bad = []
    for u, vs in graph.items():
        lu = layer_of(u)
        for v in vs:
            lv = layer_of(v)
            if lu is None or lv is None or lv > lu:
                bad.append((u, v))
    return sorted(bad)


GRAPH = import_graph(_modules())


def test_every_module_sits_in_a_layer():
    assert len(GRAPH) > 20 and all(layer_of(m) is not None for m in GRAPH), \
        sorted(m for m in GRAPH if layer_of(m) is None)
    assert GRAPH["helpers"] == set(), "o pacote raiz não importa nada (ele fica abaixo de todas as camadas)"


def test_no_import_cycles():
    assert find_cycle(GRAPH) is None, " → ".join(find_cycle(GRAPH))


def test_no_upward_imports():
    assert upward_imports(GRAPH) == []


def test_corpus_degradations_are_engine_and_spec_writing_is_chapters():
    assert "helpers.engine.degradations" in GRAPH["helpers.engine.data"]
    writers = {m for m, p in _modules().items() if "def write_spec" in p.read_text(encoding="utf-8")}
    assert writers == {"helpers.chapters.common"}


@pytest.mark.parametrize("name", sorted(_modules()))
def test_modules_are_small(name):
    n = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{name} tem {n} linhas (> {MAX_LINES}): provavelmente guarda duas responsabilidades"


# --- o próprio detector, em grafos feitos à mão (para que o teste possa falhar) ---

def test_detector_finds_a_cycle_and_an_upward_import():
    g = {"helpers.model.a": {"helpers.engine.b"}, "helpers.engine.b": {"helpers.model.a"}}
    assert find_cycle(g) in (["helpers.model.a", "helpers.engine.b", "helpers.model.a"],
                             ["helpers.engine.b", "helpers.model.a", "helpers.engine.b"])
    assert upward_imports(g) == [("helpers.model.a", "helpers.engine.b")]
    assert find_cycle({"helpers.laws.x": {"helpers.model.y"}, "helpers.model.y": set()}) is None


def test_detector_reads_relative_and_late_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "helpers"
    (pkg / "model").mkdir(parents=True)
    (pkg / "engine").mkdir()
    for f in ("__init__.py", "model/__init__.py", "engine/__init__.py"):
        (pkg / f).write_text("")
    (pkg / "model" / "a.py").write_text("def f():\n    from ..engine.b import g\n")
    (pkg / "engine" / "b.py").write_text("from ..model import a\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    g = import_graph(_modules())
    assert g["helpers.model.a"] == {"helpers.engine.b"} and g["helpers.engine.b"] == {"helpers.model.a"}
    assert find_cycle(g) and upward_imports(g) == [("helpers.model.a", "helpers.engine.b")]
