"""Os notebooks contam a história: pouco código à vista, nenhuma célula só de contabilidade.

- no máximo 40% dos caracteres de cada notebook são código (o resto é prosa);
- nenhuma célula visível serve só para colar números (``glue``): a contabilidade fica no
  módulo do capítulo, e a célula que a chama leva a etiqueta ``hide-input`` (ou é removida);
- cada notebook nomeia, em prosa, o módulo de ``helpers`` que o calcula.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MAX_CODE_SHARE = 0.40
HIDDEN = {"hide-input", "remove-input", "remove-cell", "hide-cell"}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def code_share(cells: list[dict]) -> float:
    code = sum(len(_source(c)) for c in cells if c["cell_type"] == "code")
    total = sum(len(_source(c)) for c in cells)
    return code / total if total else 0.0


def visible_glue_cells(cells: list[dict]) -> list[int]:
    """Índices das células de código visíveis que chamam ``glue(``."""
    out = []
    for i, c in enumerate(cells):
        tags = set(c.get("metadata", {}).get("tags", []))
        if c["cell_type"] == "code" and re.search(r"\bglue\w*\(", _source(c)) and not tags & HIDDEN:
            out.append(i)
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_is_at_most_40_percent_of_the_notebook(path):
    share = code_share(_cells(path))
    assert share <= MAX_CODE_SHARE, f"{path.name}: {100 * share:.0f}% dos caracteres são código (máximo 40%)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_visible_cell_only_glues_numbers(path):
    assert visible_glue_cells(_cells(path)) == [], f"{path.name}: células visíveis com glue(...)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_names_the_module_that_computes_it(path):
    prose = "".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")
    assert re.search(r"helpers\.(chapters|model|engine|laws|presentation)\.\w+", prose), \
        f"{path.name}: a prosa não diz que módulo de helpers calcula o capítulo"


def test_the_checks_can_fail():
    md = {"cell_type": "markdown", "source": "texto", "metadata": {}}
    glue = {"cell_type": "code", "source": "glue('x', 1, display=False)", "metadata": {}}
    assert code_share([md, glue]) > 0.4
    assert visible_glue_cells([md, glue]) == [1]
    assert visible_glue_cells([md, dict(glue, metadata={"tags": ["hide-input"]})]) == []
