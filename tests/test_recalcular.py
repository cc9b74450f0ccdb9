"""Os notebooks experimentais rodam também no modo RECALCULAR (varreduras em miniatura).

O nbmake executa cada notebook no modo padrão, que lê ``results/``. Aqui trocamos
``RECALCULAR = False`` por ``True`` e executamos de novo: o notebook inteiro tem de
funcionar com os registros que o próprio código acabou de produzir.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FLAG = "RECALCULAR = False"
CANDIDATES = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if FLAG in p.read_text(encoding="utf-8"))


def test_experimental_notebooks_declare_the_flag():
    assert CANDIDATES, "nenhum notebook com RECALCULAR encontrado"


@pytest.mark.parametrize("path", CANDIDATES, ids=lambda p: p.stem)
def test_notebook_runs_in_miniature_mode(path, monkeypatch):
    monkeypatch.delenv("LEIS_DE_ESCALA_CACHE")  # o corpus padrão usa o cache do usuário (persistente)
    nb = nbformat.read(path, as_version=4)
    flagged = [c for c in nb.cells if c.cell_type == "code" and FLAG in c.source]
    assert len(flagged) == 1
    flagged[0].source = flagged[0].source.replace(FLAG, "RECALCULAR = True")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
