"""O laboratório de qualidade (cap. 10): as contas contra oráculos independentes (numpy, força bruta)
e o HTML estático arrastado num Chromium de verdade (fixture ``page`` do conftest.py)."""

import copy
import json
import math
import re

import numpy as np
import pytest

from helpers.presentation import quality_lab as ql
from conftest import drag, open_html, slider_box

# Uma superfície com D/N ≈ 30 perto de 1e11 FLOPs; a = β/(α+β) ≈ 0,492.
SURFACE = {"E": 0.8, "A": 33.0, "B": 50.0, "alpha": 0.32, "beta": 0.31}
A_STAR = SURFACE["beta"] / (SURFACE["alpha"] + SURFACE["beta"])
G = (SURFACE["alpha"] * SURFACE["A"] / (SURFACE["beta"] * SURFACE["B"])) ** (1 / (SURFACE["alpha"] + SURFACE["beta"]))
BUDGETS = [float(10 ** x) for x in np.linspace(10.5, 12.1, 5)]
NAMES = ["faixa1", "faixa2", "faixa3", "faixa4", "limpo", "diluido"]
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"]


def make_payload(seed: int = 0, k: int = 40) -> dict:
    """Seis corpora sintéticos; "limpo" fica exatamente sobre o ótimo da superfície (sem ruído)."""
    rng = np.random.default_rng(seed)
    corpora = []
    for i, name in enumerate(NAMES):
        exact = name == "limpo"
        lc = np.log10(BUDGETS) + (0 if exact else rng.normal(0, 0.01, 5))
        a = A_STAR if exact else 0.44 + 0.03 * i
        lm = math.log10(G) + A_STAR * math.log10(2e11) + a * (lc - math.log10(2e11)) + (0 if exact else 0.05 * i - 0.1)
        lm = lm + (0 if exact else rng.normal(0, 0.02, 5))
        corpora.append({"name": name, "label": f"{name} </script> & <teste>", "H": 0.15 + 0.1 * i, "color": COLORS[i],
                        "budgets": BUDGETS, "log10_m": lm.tolist(), "log10_c": lc.tolist(),
                        "boot_log10_m": (lm + rng.normal(0, 0.03, (k, 5))).tolist(),
                        "boot_log10_c": (lc + rng.normal(0, 0.01, (k, 5))).tolist(),
                        "a_book": float(np.polyfit(lc, lm, 1)[0])})
    return {"level": 0.9, "measured_range": [BUDGETS[0], BUDGETS[-1]], "anchor_budget": 2e11,
            "target_budget": 1e14, "surface": dict(SURFACE), "corpora": corpora}


PAYLOAD = make_payload()


def _corpus(name, payload=PAYLOAD):
    return next(c for c in payload["corpora"] if c["name"] == name)


def _loss(m, d, surface=SURFACE, rho=1.0):
    s = surface
    return s["E"] + s["A"] * m ** -s["alpha"] + s["B"] * (rho * d) ** -s["beta"]


def _grid_argmin(budget, rho=1.0, step=1e-4):
    """Força bruta: ``argmin_M L(M, ρ·C/M)`` numa grade fina de log10 M (independente da bissecção)."""
    u = np.arange(0.0, math.log10(budget), step)
    loss = _loss(10 ** u, budget / 10 ** u, rho=rho)
    i = int(np.argmin(loss))
    return u[i], float(loss[i])


SUBSETS = [None, [0, 1, 2, 3, 4], [1, 2, 3, 4], [0, 1, 2], [0, 2, 4], [1, 3]]


# --- as contas contra oráculos -------------------------------------------------------------

@pytest.mark.parametrize("subset", SUBSETS)
@pytest.mark.parametrize("name", ["faixa1", "faixa4", "limpo", "diluido"])
def test_refit_slope_and_intercept_match_polyfit(name, subset):
    c = _corpus(name)
    idx = list(range(5)) if subset is None else subset
    budgets = None if subset is None else [BUDGETS[j] for j in subset]
    for anchor in (2e11, BUDGETS[0], 7.7e11):
        r = ql.refit(PAYLOAD, name, budgets, anchor_budget=anchor)
        coef = np.polyfit(np.array(c["log10_c"])[idx], np.array(c["log10_m"])[idx], 1)
        assert r["a"] == pytest.approx(coef[0], rel=1e-9)
        assert r["log10_m_at_anchor"] == pytest.approx(np.polyval(coef, math.log10(anchor)), abs=1e-9)
        assert r["n_budgets"] == len(idx)


def test_refit_with_all_budgets_is_the_books_estimate():
    for c in PAYLOAD["corpora"]:
        assert ql.refit(PAYLOAD, c["name"])["a"] == pytest.approx(c["a_book"], rel=1e-9)
    assert ql.refit(PAYLOAD, "limpo")["a"] == pytest.approx(A_STAR, rel=1e-9)  # vértices exatos da superfície


@pytest.mark.parametrize("level", [0.9, 0.8, 0.5])
@pytest.mark.parametrize("subset", [None, [1, 2, 3, 4], [0, 2, 4]])
def test_interval_is_the_quantile_of_replicate_slopes(level, subset):
    payload = dict(PAYLOAD, level=level)
    idx = list(range(5)) if subset is None else subset
    for name in ("faixa2", "diluido"):
        c = _corpus(name)
        slopes = [np.polyfit(np.array(bc)[idx], np.array(bm)[idx], 1)[0]
                  for bc, bm in zip(c["boot_log10_c"], c["boot_log10_m"])]
        lo, hi = np.quantile(slopes, [(1 - level) / 2, (1 + level) / 2])
        r = ql.refit(payload, name, None if subset is None else [BUDGETS[j] for j in subset])
        assert r["ci"][0] == pytest.approx(lo, rel=1e-9) and r["ci"][1] == pytest.approx(hi, rel=1e-9)
        assert r["ci"][0] < r["ci"][1]


def test_two_budgets_give_a_slope_without_interval_and_fewer_give_nothing():
    two = ql.refit(PAYLOAD, "faixa3", [BUDGETS[1], BUDGETS[4]])
    c = _corpus("faixa3")
    expected = (c["log10_m"][4] - c["log10_m"][1]) / (c["log10_c"][4] - c["log10_c"][1])
    assert two["a"] == pytest.approx(expected, rel=1e-9) and two["n_budgets"] == 2
    assert all(math.isnan(v) for v in two["ci"])
    for budgets in ([BUDGETS[2]], []):
        r = ql.refit(PAYLOAD, "faixa3", budgets)
        assert math.isnan(r["a"]) and math.isnan(r["log10_m_at_anchor"]) and all(math.isnan(v) for v in r["ci"])
        assert r["n_budgets"] == len(budgets)
        assert math.isnan(ql.planning_cost(PAYLOAD, 0.5, 1e14, budgets=budgets)["cost_bpb"])


@pytest.mark.parametrize("rho", [0.05, 0.1, 0.37, 0.8, 1.0])
def test_dilution_shift_is_a_log_rho_and_matches_brute_force(rho):
    dil = ql.diluted_frontier(PAYLOAD, rho)
    a = ql.refit(PAYLOAD, "limpo")["a"]
    assert dil["a"] == a and dil["shift"] == pytest.approx(a * math.log10(rho), rel=1e-12, abs=1e-15)
    # a superfície com D → ρD, minimizada numa grade fina: o ótimo desce a·log10 ρ décadas, em qualquer orçamento
    for budget in (2e11, 1e14):
        clean, diluted = _grid_argmin(budget)[0], _grid_argmin(budget, rho)[0]
        assert diluted - clean == pytest.approx(dil["shift"], abs=1e-3)
    assert dil["log10_m_at_anchor"] == pytest.approx(_grid_argmin(2e11, rho)[0], abs=1e-3)
    # a inclinação da fronteira diluída é a mesma: entre 2e11 e 1e14 ela sobe a·3,7 décadas
    rise = _grid_argmin(1e14, rho)[0] - _grid_argmin(2e11, rho)[0]
    assert rise == pytest.approx(a * math.log10(1e14 / 2e11), abs=2e-3)


@pytest.mark.parametrize("target", [1e12, 1e17, 1e23])
@pytest.mark.parametrize("a_plan", [0.3, 0.45, 0.62, 0.8])
def test_planning_cost_matches_brute_force_grid(a_plan, target):
    out = ql.planning_cost(PAYLOAD, a_plan, target, reference="faixa2", anchor_budget=3e11)
    coef = np.polyfit(_corpus("faixa2")["log10_c"], _corpus("faixa2")["log10_m"], 1)
    m_plan = 10 ** np.polyval(coef, math.log10(3e11)) * (target / 3e11) ** a_plan
    assert out["m_plan"] == pytest.approx(m_plan, rel=1e-9)
    assert out["d_plan"] == pytest.approx(target / m_plan, rel=1e-9)
    assert out["loss_plan"] == pytest.approx(_loss(m_plan, target / m_plan), rel=1e-12)
    u_best, loss_grid = _grid_argmin(target)
    assert out["m_best"] == pytest.approx(G * target ** A_STAR, rel=1e-9)  # o ótimo analítico
    assert math.log10(out["m_best"]) == pytest.approx(u_best, abs=1e-4)
    assert out["loss_best"] <= loss_grid + 1e-15
    assert out["cost_bpb"] == pytest.approx(out["loss_plan"] - loss_grid, abs=1e-9)
    assert out["cost_pct"] == pytest.approx(100 * out["cost_bpb"] / out["loss_best"], rel=1e-12)
    assert out["cost_bpb"] > 0


def test_cost_is_zero_when_the_plan_is_the_optimum_and_never_negative():
    # "limpo" está sobre o ótimo e a_plan = β/(α+β): o plano É o ótimo, em qualquer âncora e alvo
    for anchor, target in ((2e11, 1e14), (BUDGETS[0], 1e25), (BUDGETS[-1], 1e11)):
        out = ql.planning_cost(PAYLOAD, A_STAR, target, reference="limpo", anchor_budget=anchor)
        assert out["m_plan"] == pytest.approx(out["m_best"], rel=1e-9)
        assert 0 <= out["cost_bpb"] <= 1e-13 and 0 <= out["cost_pct"] <= 1e-11
    rng = np.random.default_rng(1)
    for _ in range(40):
        out = ql.planning_cost(PAYLOAD, rng.uniform(0.05, 0.95), 10 ** rng.uniform(11, 25),
                               reference=str(rng.choice(NAMES)), anchor_budget=10 ** rng.uniform(10.5, 12.1))
        assert out["cost_bpb"] >= 0 and out["cost_pct"] >= 0 and out["loss_plan"] >= out["loss_best"]


def test_tokens_per_param_along_the_refitted_frontier():
    for name in ("faixa1", "limpo"):
        coef = np.polyfit(_corpus(name)["log10_c"][1:], _corpus(name)["log10_m"][1:], 1)
        for budget in (2e11, 1e14, 1e21):
            m = 10 ** np.polyval(coef, math.log10(budget))
            got = ql.tokens_per_param(PAYLOAD, name, budget, budgets=BUDGETS[1:], anchor_budget=5e11)
            assert got == pytest.approx((budget / m) / (m / 6), rel=1e-9)
    # sobre o ótimo da superfície, a ≈ 0,49 < 0,5: D/N cresce devagar com o orçamento
    assert ql.tokens_per_param(PAYLOAD, "limpo", 1e21) > ql.tokens_per_param(PAYLOAD, "limpo", 1e12)


def test_explorer_state_is_the_sum_of_the_pure_functions():
    st = ql.explorer_state(PAYLOAD, corpora=["faixa1", "diluido"], budgets=BUDGETS[:4], reference="faixa3",
                           a_plan=0.61, anchor_budget=1e11, rho=0.2, target_budget=1e20)
    assert {k.split(":")[1] for k in st if ":" in k} == {"faixa1", "diluido"}
    r = ql.refit(PAYLOAD, "diluido", BUDGETS[:4], anchor_budget=1e11)
    assert st["a:diluido"] == r["a"] and (st["ci_lo:diluido"], st["ci_hi:diluido"]) == r["ci"]
    assert st["tokens_per_param:faixa1"] == ql.tokens_per_param(PAYLOAD, "faixa1", 1e20, budgets=BUDGETS[:4],
                                                                 anchor_budget=1e11)
    cost = ql.planning_cost(PAYLOAD, 0.61, 1e20, reference="faixa3", anchor_budget=1e11, budgets=BUDGETS[:4])
    assert all(st[k] == v for k, v in cost.items())
    assert st["shift"] == ql.diluted_frontier(PAYLOAD, 0.2, reference="faixa3", anchor_budget=1e11,
                                              budgets=BUDGETS[:4])["shift"]
    assert st["a_surface"] == pytest.approx(A_STAR)


# --- erros em português ------------------------------------------------------------------

def _bad(path, value):
    def mutate(p):
        target = p
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return p
    return mutate


BAD_PAYLOADS = [
    (_bad(["level"], 1.2), r"level \(nível do intervalo\) deve ser um número em \(0, 1\); recebi 1\.2"),
    (_bad(["level"], True), r"level .* recebi True"),
    (_bad(["measured_range"], [1e12, 1e11]), r"measured_range\[1\] deve ser um orçamento finito maior que"),
    (_bad(["anchor_budget"], 1e13), r"anchor_budget deve ser um número entre 3,16e10 e 1,26e12 FLOPs; recebi 10000000000000\.0"),
    (_bad(["target_budget"], 1e30), r"target_budget deve ser um número entre 1,00e11 e 1,00e25 FLOPs"),
    (_bad(["surface", "alpha"], -0.1), r"surface\.alpha deve ser um número finito > 0; recebi -0\.1"),
    (_bad(["surface", "beta"], KeyError), r"surface sem o parâmetro obrigatório 'beta'"),
    (_bad(["corpora"], []), r"corpora deve ser uma lista não vazia"),
    (_bad(["corpora", 0, "budgets", 2], -1.0), r"corpora\[0\]\.budgets\[2\] deve ser um orçamento finito > 0"),
    (_bad(["corpora", 0, "budgets"], BUDGETS[:2]), r"corpora\[0\]\.budgets deve ter pelo menos 3 orçamentos; recebi 2"),
    (_bad(["corpora", 2, "budgets"], BUDGETS[::-1]), r"corpora\[2\]\.budgets deve estar em ordem estritamente crescente"),
    (_bad(["corpora", 1, "budgets"], [b * 2 for b in BUDGETS]), r"corpora\[1\]\.budgets deve ser igual aos orçamentos"),
    (_bad(["corpora", 1, "log10_m"], [1.0] * 4), r"corpora\[1\]\.log10_m deve ser uma lista de 5 números"),
    (_bad(["corpora", 3, "log10_c", 0], float("nan")), r"corpora\[3\]\.log10_c\[0\] deve ser um número finito"),
    (_bad(["corpora", 0, "boot_log10_m"], [[1.0] * 5] * 5), r"boot_log10_m deve ter entre 10 e 200 réplicas.*recebi 5"),
    (_bad(["corpora", 0, "boot_log10_c"], [[1.0] * 5] * 11), r"boot_log10_m e boot_log10_c devem ter o mesmo número"),
    (_bad(["corpora", 4, "name"], "faixa1"), r"os nomes dos corpora devem ser únicos"),
    (_bad(["corpora", 4, "name"], "lim po"), r"corpora\[4\]\.name deve ter de 1 a 40 letras"),
    (_bad(["corpora", 0, "color"], "blue"), r"corpora\[0\]\.color deve ser uma cor '#rrggbb'; recebi 'blue'"),
    (_bad(["corpora", 0, "a_book"], KeyError), r"corpora\[0\] sem o campo obrigatório 'a_book'"),
    (_bad(["reference"], "sujo"), r"reference deve ser um dos corpora .*recebi 'sujo'"),
    (_bad(["rho"], 0.01), r"rho \(diluição\) deve ser um número entre 0,0500 e 1,00; recebi 0\.01"),
]


@pytest.mark.parametrize("mutate, message", BAD_PAYLOADS)
def test_bad_payload_is_rejected_in_portuguese(mutate, message):
    bad = mutate(copy.deepcopy(PAYLOAD))
    for call in (ql.check_payload, ql.quality_lab_html, lambda p: ql.refit(p, "faixa1")):
        with pytest.raises(ValueError, match=message):
            call(bad)


def test_payload_that_is_not_a_dict():
    with pytest.raises(ValueError, match="payload deve ser um dicionário"):
        ql.check_payload([1, 2])


BAD_CALLS = [
    (lambda: ql.refit(PAYLOAD, "sujo"), r"corpus deve ser um dos corpora \['faixa1'.*recebi 'sujo'"),
    (lambda: ql.refit(PAYLOAD, "limpo", [1e9]), r"budgets deve conter orçamentos medidos distintos.*1000000000\.0 \(não"),
    (lambda: ql.refit(PAYLOAD, "limpo", [BUDGETS[0]] * 2), r"\(repetido\)"),
    (lambda: ql.refit(PAYLOAD, "limpo", "todos"), r"budgets deve ser uma lista de orçamentos medidos"),
    (lambda: ql.refit(PAYLOAD, "limpo", anchor_budget=1e9), r"anchor_budget deve ser um número entre 3,16e10"),
    (lambda: ql.planning_cost(PAYLOAD, 1.2, 1e14), r"a_plan deve ser um expoente em \(0, 1\); recebi 1\.2"),
    (lambda: ql.planning_cost(PAYLOAD, 0.5, 1e5), r"target_budget deve ser um número entre 1,00e11 e 1,00e25"),
    (lambda: ql.diluted_frontier(PAYLOAD, 0.0), r"rho \(diluição\) deve ser um número entre 0,0500 e 1,00; recebi 0\.0"),
    (lambda: ql.diluted_frontier(PAYLOAD, 2), r"recebi 2\."),
    (lambda: ql.tokens_per_param(PAYLOAD, "limpo", -1), r"budget deve ser um orçamento finito > 0 \(FLOPs\); recebi -1"),
    (lambda: ql.explorer_state(PAYLOAD, a_plan=0.9), r"a_plan deve ser um número entre 0,300 e 0,800"),
    (lambda: ql.explorer_state(PAYLOAD, corpora=["x"]), r"corpus deve ser um dos corpora"),
    (lambda: ql.quality_lab_html(PAYLOAD, element_id="a b"), r"element_id deve ter de 1 a 40 letras"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS)
def test_bad_argument_is_rejected_in_portuguese(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- o HTML estático num Chromium sem tela ---------------------------------------------------

def _open(page, tmp_path, body: str) -> None:
    open_html(page, tmp_path, body, "laboratorio.html")


_slider_box = slider_box


def drag_slider(page, role: str, to: float) -> None:
    """Arrasta o controle ``role`` de onde ele está até a fração ``to`` da largura."""
    el = page.locator(f'#lab [data-role="{role}"]')
    el.scroll_into_view_if_needed()  # o mouse só alcança o que está na tela
    frac = el.evaluate("e => (e.value - e.min) / (e.max - e.min)")
    x, y, w, h = _slider_box(page, "lab", role)
    drag(page, x + w * frac, y + h / 2, x + w * to, y + h / 2)


READ = """(() => { const r = document.getElementById('lab'), o = {};
  r.querySelectorAll('.lde-out').forEach(e => o[e.dataset.key] = e.dataset.value);
  const svg = r.querySelector('svg');
  return {data: {...r.dataset}, out: o, svg: svg.innerHTML, circles: svg.querySelectorAll('circle').length,
          hollow: svg.querySelectorAll('circle[fill="#fff"]').length, lines: svg.querySelectorAll('polyline').length,
          message: r.querySelector('[data-role="message"]').textContent}; })()"""


def check_page(page, payload=PAYLOAD) -> dict:
    """Os ``data-value`` da página contra :func:`explorer_state` com os controles que a página diz ter."""
    got = page.evaluate(READ)
    d = got["data"]
    expected = ql.explorer_state(payload, corpora=[n for n in d["corpora"].split(",") if n],
                                 budgets=json.loads(d["budgets"]), reference=d["reference"], a_plan=float(d["a"]),
                                 anchor_budget=float(d["anchor"]), rho=float(d["rho"]),
                                 target_budget=float(d["target"]))
    finite = {k for k, v in expected.items() if math.isfinite(v)}
    assert {k for k, v in got["out"].items() if v != ""} == finite
    for key in finite:
        assert float(got["out"][key]) == pytest.approx(expected[key], rel=1e-9, abs=1e-14), key
    assert not page.js_errors and not page.blocked
    return {**got, "expected": expected}


def test_static_lab_is_self_contained_and_opens_with_the_python_numbers(page, tmp_path):
    html = ql.quality_lab_html(PAYLOAD, element_id="lab")
    assert not re.search(r"(src|href)\s*=|https?://|@import|fetch\(|XMLHttpRequest", html)
    markup = html.split("<script>")[0]
    assert "&lt;teste&gt;" in markup and "<teste>" not in markup  # os rótulos vão escapados
    assert html.count("</script>") == 1  # nem o rótulo com </script> fecha o script antes da hora
    _open(page, tmp_path, html)
    got = check_page(page)
    d = got["data"]
    assert float(d["a"]) == pytest.approx(round(ql.refit(PAYLOAD, "limpo")["a"], 3))
    assert float(d["anchor"]) == pytest.approx(2e11, rel=1e-12) and float(d["target"]) == pytest.approx(1e14)
    assert d["reference"] == "limpo" and d["corpora"].split(",") == NAMES
    assert got["circles"] == 6 * 5 and got["hollow"] == 0 and got["message"] == ""
    assert got["lines"] == 6 + 2  # uma reta por corpus, a fronteira à mão e a diluída
    for key in ("C (FLOPs)", "M_opt (FLOPs por token)", "faixa medida", "H = 0,150 · a = ",
                "faixa4 &lt;/script&gt; &amp; &lt;teste&gt;"):
        assert key in got["svg"], key
    a, lo, hi = (got["expected"][f"{k}:faixa1"] for k in ("a", "ci_lo", "ci_hi"))
    legend = f"a = {a:.2f} [{lo:.2f}; {hi:.2f}]".replace(".", ",")
    assert legend in got["svg"]


def test_static_lab_follows_drags_of_every_slider(page, tmp_path):
    _open(page, tmp_path, ql.quality_lab_html(PAYLOAD, element_id="lab"))
    before = check_page(page)
    draws = int(before["data"]["draws"])

    drag_slider(page, "a", 0.95)  # a da fronteira à mão
    after_a = check_page(page)
    assert float(after_a["data"]["a"]) > float(before["data"]["a"]) + 0.2
    assert float(after_a["out"]["m_plan"]) > float(before["out"]["m_plan"])  # 1e14 está muito acima da âncora
    assert float(after_a["out"]["cost_bpb"]) > float(before["out"]["cost_bpb"])
    assert after_a["svg"] != before["svg"] and int(after_a["data"]["draws"]) > draws

    drag_slider(page, "rho", 0.1)  # diluição forte
    after_rho = check_page(page)
    rho = float(after_rho["data"]["rho"])
    assert rho < 0.15
    assert float(after_rho["out"]["shift"]) == pytest.approx(float(after_rho["out"]["a_ref"]) * math.log10(rho),
                                                             rel=1e-9)
    assert after_rho["out"]["a_ref"] == after_a["out"]["a_ref"]  # a inclinação não muda
    assert after_rho["svg"] != after_a["svg"]

    drag_slider(page, "anchor", 0.1)  # âncora perto do menor orçamento medido
    after_anchor = check_page(page)
    assert float(after_anchor["data"]["anchor"]) < 6e10
    assert after_anchor["out"]["a:faixa2"] == after_rho["out"]["a:faixa2"]  # só o intercepto muda
    assert after_anchor["out"]["log10_m_anchor:faixa2"] != after_rho["out"]["log10_m_anchor:faixa2"]
    assert after_anchor["svg"] != after_rho["svg"]

    drag_slider(page, "target", 0.9)  # orçamento-alvo perto de 1e24
    after_target = check_page(page)
    assert float(after_target["data"]["target"]) > 1e22
    assert float(after_target["out"]["tokens_per_param:limpo"]) != float(after_anchor["out"]["tokens_per_param:limpo"])
    assert int(after_target["data"]["draws"]) >= draws + 4


def test_static_lab_refits_when_corpora_and_budgets_are_toggled(page, tmp_path):
    _open(page, tmp_path, ql.quality_lab_html(PAYLOAD, element_id="lab"))
    page.locator('#lab [data-role="corpus"][data-name="faixa2"]').click()
    off = check_page(page)
    assert "faixa2" not in off["data"]["corpora"] and off["out"]["a:faixa2"] == "" and off["circles"] == 5 * 5
    assert off["lines"] == 5 + 2

    page.locator('#lab [data-role="budget"][data-index="0"]').click()
    four = check_page(page)
    assert json.loads(four["data"]["budgets"]) == BUDGETS[1:]
    assert float(four["out"]["a:limpo"]) == pytest.approx(ql.refit(PAYLOAD, "limpo", BUDGETS[1:])["a"], rel=1e-9)
    assert four["out"]["n_budgets:faixa1"] == "4" and four["svg"] != off["svg"]
    assert four["hollow"] == 5 and four["lines"] == 5 + 2  # o vértice fora do ajuste fica vazio

    page.locator('#lab [data-role="budget"][data-index="4"]').click()
    page.locator('#lab [data-role="budget"][data-index="2"]').click()
    two = check_page(page)
    assert two["out"]["ci_lo:faixa1"] == "" and two["out"]["a:faixa1"] != ""
    assert two["message"] == ql.MESSAGES["two"]

    page.locator('#lab [data-role="budget"][data-index="1"]').click()
    one = check_page(page)
    assert one["out"]["a:faixa1"] == "" and one["out"]["cost_bpb"] == "" and one["message"] == ql.MESSAGES["few"]
    assert "polyline" not in one["svg"] and one["circles"] == 5 * 5

    page.locator('#lab [data-role="budget"][data-index="1"]').click()
    page.locator('#lab [data-role="corpus"][data-name="faixa2"]').click()
    page.locator('#lab [data-role="reference"]').select_option("faixa4")
    back = check_page(page)
    assert back["data"]["reference"] == "faixa4" and back["circles"] == 6 * 5 and back["message"] == ql.MESSAGES["two"]


def test_static_lab_cost_is_zero_when_the_slider_is_the_surface_optimum(page, tmp_path):
    """Com α = β, o ótimo da superfície tem a = 0,5 — um valor do controle; "limpo" está sobre o ótimo."""
    surface = dict(SURFACE, alpha=0.31, beta=0.31)
    g = (surface["A"] / surface["B"]) ** (1 / 0.62)
    payload = make_payload(3)
    limpo = _corpus("limpo", payload)
    limpo["log10_m"] = [math.log10(g) + 0.5 * x for x in limpo["log10_c"]]
    payload.update(surface=surface, target_budget=1e20)
    _open(page, tmp_path, ql.quality_lab_html(payload, element_id="lab"))
    got = check_page(page, payload)
    assert float(got["data"]["a"]) == 0.5
    assert 0 <= float(got["out"]["cost_bpb"]) <= 1e-13 and 0 <= float(got["out"]["cost_pct"]) <= 1e-11
    assert float(got["out"]["m_plan"]) == pytest.approx(g * 1e20 ** 0.5, rel=1e-9)
    assert float(got["out"]["m_best"]) == pytest.approx(g * 1e20 ** 0.5, rel=1e-9)


# --- o widget do notebook ------------------------------------------------------------------

def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def test_ipywidgets_lab_builds_and_refits_when_a_checkbox_changes():
    ui = ql.quality_lab(PAYLOAD)
    ctl = ui.lab_controls
    assert {f"corpus:{n}" for n in NAMES} | {f"budget:{j}" for j in range(5)} <= ctl.keys()
    assert _same(ui.lab_state, ql.explorer_state(PAYLOAD))
    ctl["budget:0"].value = False
    assert ui.lab_state["a:faixa3"] == ql.refit(PAYLOAD, "faixa3", BUDGETS[1:])["a"]
    assert ui.lab_state["ci_hi:faixa3"] == ql.refit(PAYLOAD, "faixa3", BUDGETS[1:])["ci"][1]
    ctl["corpus:faixa3"].value = False
    assert "a:faixa3" not in ui.lab_state
    ctl["a"].value = 0.7
    ctl["target"].value = 1e20
    assert _same(ui.lab_state, ql.explorer_state(PAYLOAD, corpora=[n for n in NAMES if n != "faixa3"],
                                                 budgets=BUDGETS[1:], a_plan=0.7, target_budget=1e20))
