"""Fixtures compartilhadas: um corpus minúsculo, um cache isolado, o livro construído e o navegador."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Nos processos do pytest-xdist (``make test`` roda 2 numa máquina de 2 núcleos), cada processo
# — e cada kernel de notebook, build do livro ou subprocesso que ele abrir, que herdam o
# ambiente — usa 1 *thread* do PyTorch/OpenMP. Com o padrão (uma *thread* por núcleo em cada
# processo), as *threads* de processos vizinhos disputam os núcleos e os testes de treino
# ficam de 5 a 10 vezes mais lentos. Quem quiser outro valor define OMP_NUM_THREADS antes.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

ROOT = Path(__file__).resolve().parents[1]

# O Chromium do Debian (``make chromium``); o Playwright nunca baixa um navegador próprio.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _shared_tmp(tmp_path_factory) -> Path:
    """Pasta temporária comum a todos os processos do pytest-xdist (a da sessão sem ele)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """Uma pasta com 60 "documentos" de texto sintético (determinístico, ~200 kB)."""
    root = tmp_path_factory.mktemp("corpus")
    rng = random.Random(0)
    words = "def class return import self data model loss token layer batch lista valor".split()
    for i in range(60):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(300)]
        (root / f"doc{i:03d}.txt").write_text(f"# documento {i}\n" + "\n".join(lines), encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Cada execução dos testes usa um cache de tokens próprio (nunca o do usuário).

    Com o pytest-xdist, os processos dividem o mesmo cache (as escritas são atômicas), para
    que o corpus não seja tokenizado uma vez por processo.
    """
    cache = _shared_tmp(tmp_path_factory) / "cache-tokens"
    monkeypatch.setenv("LEIS_DE_ESCALA_CACHE", str(cache))
    return cache


# --- o livro construído ------------------------------------------------------------------

def reader_env() -> dict[str, str]:
    """O ambiente deste processo sem ``PYTEST_CURRENT_TEST``, para os kernels rodarem como os do leitor.

    Com essa variável, o ``ipykernel`` deixa de capturar a saída escrita direto nos descritores 1 e 2
    ("o pytest já captura"); os notebooks dos testes rodam num processo à parte e devem ver o
    mesmo kernel que o ``make book`` e o JupyterLab. Pela mesma razão, esses processos recebem
    ``stdin=subprocess.DEVNULL``: sob o ``pytest-xdist``, a entrada do processo do teste é o canal
    do ``execnet`` com o processo principal, e nenhum filho deve herdá-la.
    """
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


def build_book(source: Path, config: Path, toc: Path, out: Path) -> subprocess.CompletedProcess:
    """O comando do ``make book`` (``book/construir.py``, o ``jupyter-book build`` em paralelo), saída em ``out``."""
    return subprocess.run(
        [sys.executable, str(ROOT / "book" / "construir.py"), str(source), "--config", str(config), "--toc", str(toc),
         "--path-output", str(out), "--builder", "html", "-W", "-n", "--keep-going"],
        cwd=source, capture_output=True, text=True, timeout=900, env=reader_env(), stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """O livro inteiro construído uma única vez por execução (executando os notebooks).

    Os testes que o usam ficam no grupo ``livro`` do pytest-xdist (um processo só); a trava de
    arquivo garante, mesmo assim, que dois processos nunca o construam duas vezes: o segundo
    espera e reaproveita a build (ou a falha) do primeiro. Com ``LEIS_DE_ESCALA_LIVRO`` apontando
    para uma build pronta (``_build/html`` do ``make book``), os testes a usam sem construir de
    novo — mas aí os avisos daquela build não são conferidos.
    """
    from filelock import FileLock

    reuse = os.environ.get("LEIS_DE_ESCALA_LIVRO")
    if reuse:  # uma build já feita (ex.: LEIS_DE_ESCALA_LIVRO=_build/html depois do make book)
        html = Path(reuse).resolve()
        assert (html / "index.html").exists(), f"LEIS_DE_ESCALA_LIVRO={reuse!r} não tem index.html"
        return html
    out = _shared_tmp(tmp_path_factory) / "livro"
    status = out / "build.json"
    with FileLock(str(out) + ".lock"):
        if not status.exists():
            out.mkdir(parents=True, exist_ok=True)
            result = build_book(ROOT, ROOT / "book" / "_config.yml", ROOT / "book" / "_toc.yml", out)
            status.write_text(json.dumps({"returncode": result.returncode, "log": result.stdout + result.stderr}),
                              encoding="utf-8")
    info = json.loads(status.read_text(encoding="utf-8"))
    log = info["log"]
    assert info["returncode"] == 0, f"a build do livro falhou (avisos contam como erro):\n{log[-6000:]}"
    assert "WARNING:" not in log, log[-6000:]
    return out / "_build" / "html"


# --- o navegador ---------------------------------------------------------------------------

def chromium_executable() -> str:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium não encontrado em /usr/bin/chromium: o make test o instala (pacote 'chromium' do Debian).")


@pytest.fixture(scope="module")
def browser():
    """Um Chromium sem tela, dirigido pelo Playwright (API síncrona).

    Um por módulo de testes, fechado ao fim dele: a API síncrona do Playwright deixa um laço
    asyncio próprio no processo enquanto está aberta, e os notebooks executados depois no mesmo
    processo do xdist (nbmake, RECALCULAR) chegaram a ficar minutos parados com ela aberta.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """Uma aba de 1280 × 900 que recusa (e registra em ``page.blocked``) todo pedido à rede."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def refuse(route):
        blocked.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^(https?|wss?|ftp)://"), refuse)
    tab = context.new_page()
    tab.blocked = blocked
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.js_errors = errors
    yield tab
    context.close()


# --- arrastar controles numa página (os testes dos exploradores) -----------------------------

def open_html(page, tmp_path, body: str, name: str = "pagina.html") -> None:
    """Grava ``body`` numa página HTML mínima em ``tmp_path`` e a abre em ``page``."""
    path = tmp_path / name
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}</body></html>",
                    encoding="utf-8")
    page.goto(path.as_uri())


def slider_box(page, root: str, role: str) -> tuple[float, float, float, float]:
    """A caixa (x, y, largura, altura) do controle ``data-role=role`` dentro de ``#root``."""
    box = page.locator(f'#{root} [data-role="{role}"]').bounding_box()
    return box["x"], box["y"], box["width"], box["height"]


def drag(page, x0: float, y0: float, x1: float, y1: float, steps: int = 8) -> None:
    """Pressiona o botão em (x0, y0), arrasta até (x1, y1) e solta — como uma pessoa."""
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=steps)
    page.mouse.up()
