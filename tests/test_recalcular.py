"""Os notebooks experimentais rodam também no modo RECALCULAR (varreduras em miniatura).

O nbmake executa cada notebook no modo padrão, que lê ``results/``. Aqui trocamos
``RECALCULAR = False`` por ``True`` e executamos de novo: o notebook inteiro tem de
funcionar com os registros que o próprio código acabou de produzir.

Cada notebook roda num processo Python **novo** (o cliente do nbclient e o seu kernel), não no
processo do xdist: em rodadas da suíte inteira, o cliente dentro do processo do xdist chegou a
ficar ~10 min parado com o kernel ocioso (depois de outros testes terem usado laços asyncio no
mesmo processo). Num processo próprio, com prazo, uma espera dessas vira uma falha clara.
"""

#: Prazo de um notebook em miniatura (o mais lento leva ~70 s sozinho).
DEADLINE_S = 420
CLIENT = """
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", shutdown_kernel="immediate",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import reader_env
from helpers.engine.specs import expand, load_spec

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPERIMENTS = NOTEBOOKS.parent / "experiments"
FLAG = "RECALCULAR = False"
CANDIDATES = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if FLAG in p.read_text(encoding="utf-8"))


def test_experimental_notebooks_declare_the_flag():
    assert CANDIDATES, "nenhum notebook com RECALCULAR encontrado"


#: As varreduras que cada notebook roda em miniatura no modo RECALCULAR. O teste abaixo confere
#: que são exatamente essas (e que os registros saíram certos); ``test_sweeps`` roda em miniatura,
#: sozinhas, só as especificações que nenhum notebook recalcula — sem treinar tudo duas vezes.
RECOMPUTED_BY = {
    "04_atencao_gqa": {"cap04_uptraining", "cap04_profundidade"},
    "05_treinando_um_modelo": {"cap05_agendas"},
    "06_lote_e_contexto": {"cap06_lote", "cap06_contexto_v2", "cap06_lote_critico"},
    "07_leis_hiperparametros": {"cap07_hiperparametros_v2"},
    "08_isoflop": {"cap08_isoflop_v2"},
    "09_previsao": {"cap09_previsao_v2"},
    "10_qualidade_dos_dados": {f"cap10_qualidade_v2_{c}" for c in ("faixa1", "faixa2", "faixa3", "faixa4", "diluido")}
    | {"cap08_isoflop_v2"},
}
RECOMPUTED_SPECS = set().union(*RECOMPUTED_BY.values())


def mini_sweeps_in(folder: Path) -> dict[str, list[dict]]:
    """As varreduras em miniatura que ``experiment_results(recompute=True)`` gravou em ``folder``.

    Cada uma fica em ``folder/NOME-xxxx/NOME.jsonl`` (``tempfile.mkdtemp(prefix="NOME-")``).
    """
    found = {}
    for out in folder.glob("*/*.jsonl"):
        if out.parent.name.startswith(out.stem + "-"):
            found[out.stem] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]
    return found


def test_mini_sweep_finder(tmp_path):
    (tmp_path / "cap05_agendas-abc123").mkdir()
    (tmp_path / "cap05_agendas-abc123" / "cap05_agendas.jsonl").write_text('{"a": 1}\n', encoding="utf-8")
    (tmp_path / "outra").mkdir()
    (tmp_path / "outra" / "cap06_lote.jsonl").write_text('{"a": 2}\n', encoding="utf-8")
    assert mini_sweeps_in(tmp_path) == {"cap05_agendas": [{"a": 1}]}


def test_every_notebook_with_the_flag_is_mapped():
    assert {p.stem for p in CANDIDATES} == set(RECOMPUTED_BY)


@pytest.mark.parametrize("path", CANDIDATES, ids=lambda p: p.stem)
def test_notebook_runs_in_miniature_mode(path, monkeypatch, tmp_path):
    monkeypatch.delenv("LEIS_DE_ESCALA_CACHE")  # o corpus padrão usa o cache do usuário (persistente)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # o kernel herda: as miniaturas ficam aqui
    nb = nbformat.read(path, as_version=4)
    flagged = [c for c in nb.cells if c.cell_type == "code" and FLAG in c.source]
    assert len(flagged) == 1
    flagged[0].source = flagged[0].source.replace(FLAG, "RECALCULAR = True")
    work = tmp_path / "notebook"
    work.mkdir()
    nbformat.write(nb, work / path.name)
    # sessão própria: no prazo estourado, o grupo inteiro (cliente e kernel) é encerrado
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, str(work / path.name), str(NOTEBOOKS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=reader_env(), stdin=subprocess.DEVNULL)
    try:
        _, err = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{path.stem} em miniatura passou de {DEADLINE_S} s")
    assert proc.returncode == 0, err[-3000:]
    ran = mini_sweeps_in(tmp_path)
    assert set(ran) == RECOMPUTED_BY[path.stem]
    for name, records in ran.items():
        spec = load_spec(EXPERIMENTS / f"{name}.json")
        assert spec.description and spec.mini, name
        assert len(records) == len(expand(spec, mini=True)), name
        assert all(r["status"] in ("ok", "diverged") and r["mini"] for r in records), name
