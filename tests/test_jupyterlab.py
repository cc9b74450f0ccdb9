"""O laboratório do capítulo 10 no JupyterLab de verdade, arrastado no Chromium como o leitor faria.

Um servidor ``jupyter lab`` sobe numa pasta temporária com uma cópia do notebook 10 (o salvamento
automático nunca toca o arquivo versionado); o Chromium abre o notebook, roda todas as células pelo
comando do próprio JupyterLab e então arrasta os controles do noUiSlider dos *widgets* e clica nas
caixas de marcar. Cada interação atravessa o caminho inteiro — navegador, protocolo de *widgets*,
kernel, ``explorer_state``, saída HTML — e os números que voltam à página são conferidos contra
:func:`helpers.presentation.quality_lab.explorer_state`, calculado aqui, em outro processo, com os
valores que a página mostra nos controles.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, drag, reader_env

NOTEBOOK = "10_qualidade_dos_dados.ipynb"
TIMEOUT_MS = 240_000  # rodar o notebook inteiro (~15 s sozinho; folga para a máquina ocupada)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """Um ``jupyter lab`` sem navegador, com *token*, numa pasta só com a cópia do notebook 10.

    As configurações do usuário ficam numa pasta temporária: sem notícias nem busca de versões
    (nada sai da máquina), sem a área de trabalho salva de outra sessão.
    """
    base = tmp_path_factory.mktemp("jupyterlab")
    root, settings = base / "notebooks", base / "settings" / "@jupyterlab" / "apputils-extension"
    root.mkdir()
    settings.mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**reader_env(), "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")}
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0"]
    if os.getuid() == 0:
        args.append("--allow-root")
    log = (base / "servidor.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("o JupyterLab não subiu:\n" + (base / "servidor.log").read_text(encoding="utf-8")[-4000:])
        time.sleep(0.5)
    yield {"url": url, "token": token, "port": port, "log": base / "servidor.log"}
    proc.terminate()  # o servidor desliga os kernels ao receber SIGTERM
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def payload():
    """Os dados do laboratório como a célula do notebook os monta (resultados versionados, 1000 réplicas)."""
    from helpers.chapters import cap10_specs, cap10_v2, cap10_v2_report as rep
    from helpers.engine import sweeps

    records = {n: sweeps.experiment_results(cap10_specs.spec_path(n).stem, recompute=False, quiet=True)
               for n in cap10_v2.STUDY if n != "limpo"}
    records["limpo"] = sweeps.experiment_results("cap08_isoflop_v2", recompute=False, quiet=True)
    q = cap10_v2.analysis(records, n_boot=1000)
    return rep.lab_payload(q, cap10_v2.clean_surface(q.fits))


ALL_RAN = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const kernel = nb && nb.sessionContext.session && nb.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  const cells = Array.from(nb.content.model.cells);
  return cells.every(c => c.type !== 'code' || c.executionCount !== null);
}"""

ERRORS = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const out = [];
  for (const c of nb.content.model.cells) {
    if (c.type !== 'code') continue;
    for (const o of c.toJSON().outputs) if (o.output_type === 'error') out.push(o.ename + ': ' + o.evalue);
  }
  return out;
}"""

WIDGET = ".lde-quality-lab"  # a classe do VBox do laboratório (quality_lab.quality_lab)


@pytest.fixture(scope="module")
def lab(browser, lab_server):
    """O notebook 10 aberto no JupyterLab com todas as células rodadas; a aba fica aberta no módulo."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    local = re.compile(rf"^(https?|wss?)://(127\.0\.0\.1|localhost):{lab_server['port']}/")

    def only_local(route):
        if local.match(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route(re.compile(r"^(https?|wss?|ftp)://"), only_local)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{lab_server['url']}/lab/tree/{NOTEBOOK}?token={lab_server['token']}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
    page.wait_for_function("""() => { const s = window.jupyterapp.shell.currentWidget.sessionContext.session;
                              return s && s.kernel && s.kernel.status === 'idle'; }""", timeout=90_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(f'{WIDGET} .lde-out[data-key="cost_bpb"]', timeout=TIMEOUT_MS)
    page.wait_for_function(ALL_RAN, timeout=TIMEOUT_MS)
    page.blocked, page.js_errors = blocked, errors
    yield page
    context.close()


def dom_state(page) -> dict[str, float]:
    """Os números que a saída do *widget* mostra agora, pela chave (``nan`` onde a página escreve "—")."""
    pairs = page.eval_on_selector_all(f"{WIDGET} .lde-out",
                                      "els => els.map(e => [e.dataset.key, e.dataset.value, e.textContent])")
    state = {}
    for key, value, text in pairs:
        state[key] = float(value) if value else math.nan
        assert value or text == "—", (key, text)
    return state


def assert_matches(page_state: dict, expected: dict) -> None:
    """A página tem todas as chaves do estado e nenhuma a mais; cada número igual a 1e-9 (relativo)."""
    keys = {k for k in page_state if not math.isnan(page_state[k])}
    assert keys == {k for k, v in expected.items() if math.isfinite(v)}
    for k in keys:
        assert page_state[k] == pytest.approx(expected[k], rel=1e-9, abs=1e-12), k


def slider(page, label: str):
    return page.locator(f"{WIDGET} .widget-slider", has=page.locator(".widget-label", has_text=label))


def read(box) -> float:
    """O número que o controle ``box`` mostra, depois de trazê-lo à tela.

    Fora da tela o JupyterLab não desenha as células (``content-visibility``); de volta a ela, a
    leitura do noUiSlider pode levar um instante para ser reescrita: espera até 10 s por um texto.
    """
    box.scroll_into_view_if_needed()
    text = box.locator(".widget-readout")
    deadline = time.monotonic() + 10
    while not text.inner_text().strip() and time.monotonic() < deadline:
        time.sleep(0.1)
    return float(text.inner_text())


def readout(page, label: str) -> float:
    return read(slider(page, label))


def drag_handle(page, label: str, dx: float) -> None:
    handle = slider(page, label).locator(".noUi-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    drag(page, x, y, x + dx, y)


def wait_for_change(page, key: str, before: float) -> None:
    """Espera o kernel redesenhar a saída (o número ``key`` muda) e voltar a ficar ocioso."""
    page.wait_for_function(
        """([sel, before]) => { const e = document.querySelector(sel);
             return e && e.dataset.value !== before; }""",
        arg=[f'{WIDGET} .lde-out[data-key="{key}"]', repr(before) if math.isfinite(before) else ""],
        timeout=60_000)
    page.wait_for_function(ALL_RAN, timeout=60_000)


def test_notebook_runs_in_jupyterlab_without_errors_or_network(lab):
    assert lab.evaluate(ERRORS) == []
    assert lab.js_errors == []
    assert lab.blocked == [], lab.blocked[:5]
    assert lab.locator(f"{WIDGET} .noUi-handle").count() == 4  # a, âncora, ρ, orçamento-alvo


def test_lab_opens_with_the_numbers_of_explorer_state(lab, payload):
    from helpers.presentation import quality_lab

    assert readout(lab, "a da fronteira") == pytest.approx(quality_lab.explorer_state(payload)["a_ref"], abs=5e-4)
    assert_matches(dom_state(lab), quality_lab.explorer_state(payload, a_plan=readout(lab, "a da fronteira")))


def test_dragging_a_recomputes_the_planning_cost_in_the_kernel(lab, payload):
    from helpers.presentation import quality_lab

    a0, before = readout(lab, "a da fronteira"), dom_state(lab)
    drag_handle(lab, "a da fronteira", 60)
    wait_for_change(lab, "cost_bpb", before["cost_bpb"])
    a1 = readout(lab, "a da fronteira")
    assert a1 > a0 + 0.02  # o arrasto para a direita aumentou a
    after = dom_state(lab)
    assert_matches(after, quality_lab.explorer_state(payload, a_plan=a1))
    assert after["cost_bpb"] >= 0 and after["cost_bpb"] != before["cost_bpb"]
    assert after["a_ref"] == before["a_ref"]  # o a da fronteira medida não depende do controle


def test_unchecking_a_budget_refits_every_corpus(lab, payload):
    from helpers.presentation import quality_lab

    budgets = quality_lab.check_payload(payload)["budgets"]
    box = lab.locator(f"{WIDGET} .widget-checkbox").filter(has_text="FLOPs").first
    label = box.inner_text().strip()
    before = dom_state(lab)
    box.locator("input").click()
    wait_for_change(lab, "a_ref", before["a_ref"])
    after = dom_state(lab)
    kept = budgets[1:]
    assert label.startswith(quality_lab._fmt(budgets[0]))
    assert_matches(after, quality_lab.explorer_state(payload, budgets=kept, a_plan=readout(lab, "a da fronteira")))
    n = len(budgets)
    assert {after[k] for k in after if k.startswith("n_budgets:")} == {n - 1}
    box.locator("input").click()  # de volta a todos, para os testes seguintes
    wait_for_change(lab, "a_ref", after["a_ref"])
    assert dom_state(lab)["a_ref"] == before["a_ref"]


def test_dragging_rho_moves_the_intercept_not_the_slope(lab):
    before = dom_state(lab)
    drag_handle(lab, "diluição", -50)
    wait_for_change(lab, "shift", before["shift"])
    after, rho = dom_state(lab), readout(lab, "diluição")
    assert rho < 0.5
    # a leitura do controle tem 3 algarismos: log10 ρ com erro de até ~1e-3 década
    assert after["shift"] == pytest.approx(after["a_ref"] * math.log10(rho), abs=1e-3)
    assert after["dil_log10_m_anchor"] == pytest.approx(after["ref_log10_m_anchor"] + after["shift"], abs=1e-12)
    assert after["a_ref"] == before["a_ref"] and after["ref_log10_m_anchor"] == before["ref_log10_m_anchor"]


def test_calculator_follows_the_budget_slider_in_the_kernel(lab):
    """A calculadora do fim do capítulo: arrastar C refaz a tabela com as leis do livro e as do DeepSeek."""
    from html.parser import HTMLParser

    from helpers.chapters import cap10_v2_report as rep
    from helpers.presentation import widgets

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts = []

        def handle_data(self, data):
            self.parts.append(data)

    calc = lab.locator(".lde-calculator")
    table = calc.locator(".jp-OutputArea-output table")
    label = calc.locator(".widget-slider", has=lab.locator(".widget-label", has_text="C (FLOPs)"))

    def expected(budget: float) -> str:
        parser = Text()
        parser.feed(widgets._calculator_table(widgets.power_law_rows(rep.calculator_laws()), budget))
        return re.sub(r"\s+", "", "".join(parser.parts))

    def shown() -> str:
        return re.sub(r"\s+", "", calc.locator(".jp-OutputArea-output").last.inner_text())

    assert read(label) == 1e12  # abre num orçamento medido
    assert shown() == expected(1e12)
    before = table.inner_text()
    handle = label.locator(".noUi-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    drag(lab, x, y, x + 40, y)
    lab.wait_for_function("([sel, before]) => { const t = document.querySelector(sel); return t && t.innerText !== before; }",
                          arg=[".lde-calculator .jp-OutputArea-output table", before], timeout=60_000)
    # o controle anda em passos de 0,05 década: o valor exato é 10 elevado ao múltiplo de 0,05 mais próximo
    step = round(math.log10(read(label)) / 0.05)
    assert step * 0.05 > 12.2
    assert shown() == expected(10 ** (step * 0.05))

