"""Os exploradores: as contas (contra as leis publicadas) e o HTML estático num Chromium de verdade (Playwright)."""

import math

import pytest

from helpers.laws import deepseek
from helpers.presentation import widgets
from helpers.presentation.widgets import PowerLaw, allocation
from conftest import drag, open_html, slider_box


def test_allocation_with_deepseek_exponent_is_deepseek_law_everywhere():
    # Ancorada na Eq. 4 e com o mesmo expoente, a fronteira é a própria Eq. 4 em qualquer orçamento.
    for c in (1e17, 1e19, 3e21, 9.95e23):
        alloc = allocation(deepseek.M_EXP, c)
        assert alloc["M"] == pytest.approx(deepseek.m_opt(c), rel=1e-12)
        assert alloc["M"] * alloc["D"] == pytest.approx(c, rel=1e-12)


def test_every_exponent_passes_through_the_anchor_and_d_scales_with_b():
    c0, m0 = widgets.anchor()
    for a in (0.3, 0.45, 0.73):
        assert allocation(a, c0)["M"] == pytest.approx(m0, rel=1e-12)
        lo, hi = allocation(a, 1e20), allocation(a, 1e22)
        assert math.log(hi["D"] / lo["D"]) / math.log(100) == pytest.approx(1 - a, abs=1e-12)
        assert hi["tokens_per_param"] == pytest.approx(6 * hi["D"] / hi["M"])
    # maior a => mais modelo e menos dados acima do ponto fixo; o contrário abaixo
    assert allocation(0.7, 1e23)["M"] > allocation(0.4, 1e23)["M"]
    assert allocation(0.7, 1e17)["M"] < allocation(0.4, 1e17)["M"]


def test_published_models_budgets():
    models = {m["name"]: m for m in widgets.published_models()}
    # DeepSeek LLM, Tabela 3 / facts.md: 67B tem M = 4,973e11 a 4096 de contexto (C ≈ 9,95e23).
    assert models["67B"]["C"] == pytest.approx(9.95e23, rel=0.01)
    assert models["7B"]["D"] == 2e12


@pytest.mark.parametrize("a", [0, 1, -0.2, float("nan"), True, "0.5"])
def test_bad_exponent(a):
    with pytest.raises(ValueError, match="o expoente a deve estar em"):
        allocation(a, 1e20)


@pytest.mark.parametrize("c", [0, -1e20, float("inf")])
def test_bad_budget(c):
    with pytest.raises(ValueError, match="finito > 0"):
        allocation(0.5, c)


def test_unknown_book_law():
    with pytest.raises(ValueError, match="leis do livro desconhecidas"):
        widgets.power_law_rows({"perda": PowerLaw(1, 1)})


@pytest.mark.parametrize("value, text", [(1234.5, "1234"), (0.01234, "0,0123"), (4.973e11, "4,97e11"),
                                         (9.999e20, "1,00e21"), (2.5, "2,50")])
def test_number_format(value, text):
    assert widgets._fmt(value) == text


# --- o HTML estático, arrastado num navegador sem tela (fixtures browser e page: conftest.py) ---

def _open(page, tmp_path, body: str) -> None:
    open_html(page, tmp_path, body, "widgets.html")


_slider_box = slider_box


def _position(budget: float) -> float:
    """Onde fica ``budget`` no controle de orçamento (0 = ponta esquerda, 1 = direita)."""
    lo, hi = (math.log10(b) for b in widgets.BUDGET_RANGE)
    return (math.log10(budget) - lo) / (hi - lo)


def test_budget_range_covers_the_book_and_the_67b():
    lo, hi = widgets.BUDGET_RANGE
    assert lo <= 1e11 and hi >= 1e25  # os orçamentos do livro (10¹¹–10¹³) e o do 67B (~10²⁴)


@pytest.mark.parametrize("bad", [1e10, 1e26, float("nan"), "1e12", True])
def test_initial_budget_outside_the_range_is_rejected_in_portuguese(bad):
    for build in (widgets.quality_explorer_html, widgets.allocation_calculator_html):
        with pytest.raises(ValueError, match=r"initial_budget deve ser um número de FLOPs entre 1e\+11 e 1e\+25"):
            build(initial_budget=bad)


def test_static_calculator_opens_at_a_budget_the_book_measured(page, tmp_path):
    """A calculadora do capítulo 10 abre em 10¹² FLOPs sem ser cortada pela ponta do controle."""
    html = widgets.allocation_calculator_html(element_id="c0", initial_budget=1e12)
    _open(page, tmp_path, html)
    c = page.evaluate("+document.getElementById('c0').dataset.c")
    assert c == pytest.approx(1e12, rel=1e-6)
    assert float(page.evaluate("document.querySelector('#c0 .lde-out[data-key=\"lr\"][data-src=\"ds\"]')"
                               ".dataset.value")) == pytest.approx(deepseek.eta_opt(1e12), rel=1e-9)


def test_ipywidgets_calculator_opens_at_the_initial_budget():
    ui = widgets.allocation_calculator(initial_budget=1e12)
    sliders = [c for c in ui.children if type(c).__name__ == "FloatLogSlider"]
    assert sliders and sliders[0].value == pytest.approx(1e12)


def test_static_explorer_follows_a_drag(page, tmp_path):
    html = widgets.quality_explorer_html(element_id="q1", initial_budget=1e21)
    _open(page, tmp_path, html)
    read = ("(() => { const r = document.getElementById('q1'); const o = {a: +r.dataset.a, c: +r.dataset.c};"
            " r.querySelectorAll('.lde-out').forEach(e => o[e.dataset.key] = +e.dataset.value); return o; })()")
    before = page.evaluate(read)
    assert before["a"] == pytest.approx(deepseek.TABLE4[3].a)
    assert before["M"] == pytest.approx(allocation(before["a"], before["c"])["M"], rel=1e-9)
    # arrasta o controle de a do meio para perto da ponta direita
    x, y, w, h = _slider_box(page, "q1", "a")
    drag(page, x + w / 2, y + h / 2, x + 0.9 * w, y + h / 2)
    after = page.evaluate(read)
    assert after["a"] > before["a"] + 0.1
    expected = allocation(after["a"], after["c"])
    for key in ("M", "D", "N", "tokens_per_param", "b"):
        assert after[key] == pytest.approx(expected[key], rel=1e-9), key
    assert after["M"] > before["M"]  # 1e21 está acima do ponto fixo: a maior => modelo maior
    # e o orçamento, arrastado para a esquerda
    x, y, w, h = _slider_box(page, "q1", "logc")
    drag(page, x + w * _position(1e21), y + h / 2, x + 0.05 * w, y + h / 2)
    moved = page.evaluate(read)
    assert moved["c"] < 1e13
    assert moved["D"] == pytest.approx(allocation(moved["a"], moved["c"])["D"], rel=1e-9)
    assert page.evaluate("document.getElementById('q1').querySelector('svg').innerHTML.length") > 500
    assert not page.js_errors and not page.blocked


def test_static_calculator_follows_a_drag(page, tmp_path):
    book = {"lr": PowerLaw(0.5, -0.1), "M": PowerLaw(0.02, 0.55)}
    html = widgets.allocation_calculator_html(book, element_id="c1", initial_budget=1e20)
    _open(page, tmp_path, html)
    read = ("(() => { const r = document.getElementById('c1'); const o = {c: +r.dataset.c};"
            " r.querySelectorAll('.lde-out').forEach(e => o[e.dataset.key + ':' + e.dataset.src] = e.dataset.value);"
            " return o; })()")
    x, y, w, h = _slider_box(page, "c1", "logc")
    drag(page, x + w * _position(1e20), y + h / 2, x + 0.8 * w, y + h / 2)
    out = page.evaluate(read)
    c = out["c"]
    assert c > 1e22
    assert float(out["lr:ds"]) == pytest.approx(deepseek.eta_opt(c), rel=1e-9)
    assert float(out["batch:ds"]) == pytest.approx(deepseek.batch_opt(c), rel=1e-9)
    assert float(out["D:ds"]) == pytest.approx(deepseek.d_opt(c), rel=1e-9)
    assert float(out["lr:book"]) == pytest.approx(book["lr"](c), rel=1e-9)
    assert float(out["M:book"]) == pytest.approx(book["M"](c), rel=1e-9)
    assert out["batch:book"] == ""  # lei que o livro não ajustou: nada inventado
    assert not page.js_errors


def test_static_calculator_model_times_tokens_mode(page, tmp_path):
    html = widgets.allocation_calculator_html(element_id="c2")
    _open(page, tmp_path, html)
    # escolhe o modo "modelo M × tokens D" no seletor, como um leitor faria
    page.locator('#c2 [data-role="mode"]').select_option("MD")
    x, y, w, h = _slider_box(page, "c2", "logd")
    drag(page, x + w * (12.3 - 6) / 8, y + h / 2, x + 0.25 * w, y + h / 2)
    out = page.evaluate("(() => { const r = document.getElementById('c2'); const o = {c: +r.dataset.c, m: +r.dataset.m,"
                        " d: +r.dataset.d}; r.querySelectorAll('.lde-out').forEach(e => o[e.dataset.key + ':' +"
                        " e.dataset.src] = e.dataset.value); return o; })()")
    assert out["d"] < 1e10  # o controle de D foi arrastado para a esquerda
    assert out["c"] == pytest.approx(out["m"] * out["d"], rel=1e-12)
    assert float(out["M:ds"]) == pytest.approx(deepseek.m_opt(out["c"]), rel=1e-9)
    assert not page.js_errors
