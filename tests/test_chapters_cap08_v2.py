"""O capítulo 8 no protocolo v2 (``helpers.chapters.cap08_v2``) contra oráculos independentes.

Os registros são **sintéticos**: uma lei conhecida ``L(M, D) = E + A/M^α + B/D^β`` (escala em
M, ``C = M·D``, logo ``a = β/(α+β)`` exatamente) nas janelas da escada v2 em torno do vértice
verdadeiro, nos 6 orçamentos v2, com ruído multiplicativo de ``σ`` conhecido; as sementes novas
da grade de hiperparâmetros têm o mesmo ``σ``. As contas de conferência (interpolação dos
parâmetros, subconjuntos da robustez, vértices) são refeitas aqui à mão, sem o módulo.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers.chapters import cap08_v2 as C8
from helpers.chapters import protocol_v2_specs as S
from helpers.engine.runs import flops_per_token, planned_steps
from helpers.engine.specs import expand, parse_spec
from helpers.laws.fit.noise import fit_noise_model
from helpers.model.flops import count_params
from helpers.presentation.plots import fmt

SIGMA = 0.006


class Truth:
    """``L(M, D) = E + A/M^α + B/D^β``; o vértice com ``C = M·D`` fixo é ``G·C^a``."""

    E, A, B, alpha, beta = 1.0, 37.6, 50.0, 0.30, 0.32

    @property
    def a(self) -> float:
        return self.beta / (self.alpha + self.beta)

    def loss(self, m, d):
        return self.E + self.A * m ** -self.alpha + self.B * d ** -self.beta

    def m_opt(self, c):
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        return g * c ** self.a


TRUTH = Truth()


def _batch(c: float) -> int:
    return max(64, int(round(0.292 * c ** 0.3271 / 64)) * 64)


def _record(p, loss: float, rng, *, mini: bool = False) -> dict:
    par = count_params(p.model)
    half = loss * math.exp(0.001 * rng.standard_normal())
    return {"run_id": p.run_id, "status": "ok", "mini": mini, "final_val_bpb": float(loss),
            "flops_per_token": {k: flops_per_token(p.model, p.train.seq_len, k) for k in ("M", "6N1", "6N2")},
            "parameters": {"total": par.total, "non_embedding": par.non_embedding},
            "tokens": planned_steps(p.model, p.train) * p.train.batch_size_tokens,
            "steps": planned_steps(p.model, p.train), "wall_time_s": 60.0,
            "evaluation": {"final": {"tokens": 524288, "documents_total": 58, "documents_touched": 55,
                                     "halves_bpb": [half, 2 * loss - half]}},
            "model": {"num_hidden_layers": p.model.num_hidden_layers, "hidden_size": p.model.hidden_size}}


def _isoflop(rng, *, truth=TRUTH, sigma=SIGMA):
    """A especificação v2 (janelas em torno do vértice de ``TRUTH``) e os registros: perdas de ``truth``
    com ruído multiplicativo ``σ``; na miniatura, o menor modelo vence (como nos treinos curtos)."""
    spec = parse_spec(S.isoflop_spec(lambda c: 3e-3, _batch, TRUTH.m_opt), "sintético")
    recs = []
    for p in expand(spec):
        mean = truth.loss(flops_per_token(p.model, p.train.seq_len, "M"),
                          planned_steps(p.model, p.train) * p.train.batch_size_tokens)
        recs.append(_record(p, mean * math.exp(sigma * rng.standard_normal()), rng))
    for p in expand(spec, mini=True):
        recs.append(_record(p, 3.0 + 1e-7 * flops_per_token(p.model, p.train.seq_len, "M"), rng, mini=True))
    return spec, recs


def _hyper(rng, *, sigma=SIGMA, seeds=(1, 2, 3)):
    """A grade v2 (4 × 4 por orçamento) com sementes novas numa configuração de cada orçamento;
    perdas de ruído ``σ`` em torno de uma constante (só o ruído importa aqui)."""
    spec = S.hyper_spec(lambda c: 3e-3, _batch, TRUTH.m_opt)
    per = S.GRID_POINTS ** 2
    spec["runs"] += [{**spec["runs"][k * per + 5], "train.seed": s} for k in range(5) for s in seeds]
    spec = parse_spec(spec, "grade sintética")
    recs = [_record(p, 2.5 * math.exp(sigma * rng.standard_normal()), rng) for p in expand(spec)]
    return spec, recs


# --- oráculos: as contas refeitas à mão, a partir dos registros ------------------------------------

def _table(spec, recs, scale: str = "M") -> dict[str, np.ndarray]:
    """Orçamento, escala, tokens, perda e forma de cada treino, direto dos registros (sem o módulo)."""
    planned = {p.run_id: p for p in expand(spec)}
    t = {k: [] for k in ("budget", "scale", "tokens", "loss", "n_layer", "M", "N_total")}
    for r in recs:
        if r["mini"]:
            continue
        p = planned[r["run_id"]]
        for k, v in (("budget", p.train.budget_flops), ("scale", r["flops_per_token"][scale]), ("tokens", r["tokens"]),
                     ("loss", r["final_val_bpb"]), ("n_layer", p.model.num_hidden_layers),
                     ("M", r["flops_per_token"]["M"]), ("N_total", r["parameters"]["total"])):
            t[k].append(v)
    return {k: np.asarray(v, dtype=float) for k, v in t.items()}


def _vertex(t, c):
    """``(log10 escala*, log10 D*)`` da parábola de um orçamento (``np.polyfit``)."""
    i = t["budget"] == c
    u = np.log10(t["scale"][i])
    c2, c1, _ = np.polyfit(u, t["loss"][i], 2)
    us = -c1 / (2 * c2)
    d1, d0 = np.polyfit(u, np.log10(t["tokens"][i]), 1)
    return us, d0 + d1 * us


def _hand_a(t, budgets) -> float:
    pts = np.array([_vertex(t, c) for c in budgets])
    return float(np.polyfit(pts[:, 0] + pts[:, 1], pts[:, 0], 1)[0])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    spec8, recs8 = _isoflop(rng)
    spec7, recs7 = _hyper(rng)
    return spec8, recs8, spec7, recs7


@pytest.fixture(scope="module")
def chapter(data):
    return C8.analysis(*data, n_boot=200, n_boot_robust=60, n_boot_reps=60, n_boot_a3=10, coverage_reps=10,
                       coverage_n_boot=20)


@pytest.fixture(scope="module")
def mini(data):
    return C8.analysis(*data, mini=True, mini_hyper=True, n_boot=50, n_boot_robust=20, n_boot_reps=20, n_boot_a3=0)


# --- as leis ------------------------------------------------------------------------------------------

def test_recovers_the_known_exponent_within_its_interval(chapter, data):
    lo, hi = chapter.main.ci("a")
    assert lo <= TRUTH.a <= hi and abs(chapter.main.value("a") - TRUTH.a) < 0.03
    assert chapter.main.value("a") + chapter.main.value("b") == pytest.approx(1, abs=0.01)
    budgets = sorted({p.train.budget_flops for p in expand(data[0])})
    assert chapter.main.value("a") == pytest.approx(_hand_a(_table(*data[:2]), budgets), abs=1e-9)
    n = chapter.numbers
    assert (n["a"], n["a_lo"], n["a_hi"]) == (fmt(chapter.main.value("a"), ".3f"), fmt(lo, ".3f"), fmt(hi, ".3f"))
    assert n["a"] in chapter.tables["expoentes"] and f"[{n['a_lo']}; {n['a_hi']}]" in chapter.tables["expoentes"]
    assert n["boot_n"] == 200 and n["boot_frase"].startswith(chapter.main.boot.describe_failures())
    assert n["boot_taxa"] == fmt(100 * chapter.main.boot.drop_rate, ".1f") and "abaixo do limite" in n["boot_frase"]


def test_noise_model_comes_from_the_fresh_seeds_only(chapter, data):
    spec7, recs7 = data[2], data[3]
    planned = {p.run_id: p for p in expand(spec7)}
    groups = {}
    for r in recs7:
        p = planned[r["run_id"]]
        if p.train.seed != 0:
            groups.setdefault(p.train.budget_flops, []).append(math.log(r["final_val_bpb"]))
    ss = sum(((np.array(g) - np.mean(g)) ** 2).sum() for g in groups.values())
    dof = sum(len(g) - 1 for g in groups.values())
    assert chapter.noise.sigma == pytest.approx(math.sqrt(ss / dof)) and chapter.noise.dof == dof == 10
    assert chapter.numbers["ruido_fonte"].startswith("medido em 5 grupos")
    assert chapter.noise.sigma == pytest.approx(fit_noise_model([np.exp(g) for g in groups.values()]).sigma)
    # o ruído da avaliação: RMS(ln a − ln b)/2 nas duas metades
    ha = np.array([r["evaluation"]["final"]["halves_bpb"] for r in data[1] if not r["mini"]])
    sigma_eval = math.sqrt(np.mean(np.log(ha[:, 0] / ha[:, 1]) ** 2)) / 2
    assert chapter.numbers["aval_sigma"] == fmt(100 * sigma_eval, ".2f")
    assert chapter.numbers["aval_veredito"] == "pequeno"  # σ_aval ≈ 0,1% contra σ_sementes ≈ 0,6%


def test_comparison_words_flip_with_the_values(chapter, monkeypatch):
    lo, hi = chapter.main.ci("a")
    half = (hi - lo) / 2

    def laws():
        return C8._numbers_laws(chapter.main, chapter.robustness, chapter.coverage, S.PREDICTION_BUDGET_V2)
    name = C8.PUBLISHED_A["deepseek"][0]
    monkeypatch.setitem(C8.PUBLISHED_A, "deepseek", (name, lo - 0.01, None))
    assert (laws()["contem_deepseek"], laws()["a_vs_deepseek"]) == ("não contém", "maior")
    monkeypatch.setitem(C8.PUBLISHED_A, "deepseek", (name, hi + 0.01, None))
    assert (laws()["contem_deepseek"], laws()["a_vs_deepseek"]) == ("não contém", "menor")
    monkeypatch.setitem(C8.PUBLISHED_A, "deepseek", (name, (lo + hi) / 2, None))
    assert laws()["contem_deepseek"] == "contém"
    assert chapter.numbers["contem_kaplan"] == "não contém" and chapter.numbers["a_vs_kaplan"] == "menor"
    monkeypatch.setattr(C8, "TARGET_HALF_WIDTH", half - 1e-3)
    assert laws()["a_meta"] == "não atinge"
    monkeypatch.setattr(C8, "TARGET_HALF_WIDTH", half + 1e-3)
    assert laws()["a_meta"] == "atinge"
    monkeypatch.setattr(C8, "MAX_DROP_RATE", chapter.main.boot.drop_rate / 2)
    assert "acima do limite" in laws()["boot_frase"]

    def more():
        return C8._numbers_more(chapter.rows, chapter.design, chapter.main, chapter.reps, chapter.a3,
                                chapter.residuals, chapter.tpp)
    tot = [t["tpp_total"] for t in chapter.tpp]
    for ref, word in ((min(tot) / 2, "acima de"), (2 * max(tot), "abaixo de"), (np.median(tot), "dos dois lados de")):
        monkeypatch.setattr(C8, "CHINCHILLA_TOKENS_PER_PARAM", ref)
        assert more()["tpp_vs_chinchilla"] == word


# --- as bordas ----------------------------------------------------------------------------------------

def test_edge_check_counts_sizes_on_each_side_of_the_vertex(chapter, data):
    t = _table(*data[:2])
    assert len(chapter.reports) == 6
    for c, report in chapter.reports:
        us, _ = _vertex(t, c)
        u = np.log10(t["scale"][t["budget"] == c])
        assert report.sides == (int((u < us).sum()), int((u > us).sum()))
        assert min(report.sides) >= S.MIN_EACH_SIDE and report.status == "interior"
    assert chapter.numbers["bordas_veredito"].startswith("nenhum vértice está na borda")
    assert chapter.tables["bordas"].count("| interior |") == 6


def test_an_off_centre_law_is_reported_at_the_edge_not_raised(data):
    shifted = Truth()
    shifted.A = TRUTH.A * 2 ** (TRUTH.alpha + TRUTH.beta)  # vértice verdadeiro 2× acima do centro das janelas
    spec8, recs8 = _isoflop(np.random.default_rng(5), truth=shifted)
    ch = C8.analysis(spec8, recs8, data[2], data[3], n_boot=50, n_boot_robust=20, n_boot_reps=20, n_boot_a3=0)
    t = _table(spec8, recs8)
    for c, report in ch.reports:  # vértices ainda interiores, mas com menos de 3 tamanhos acima
        u = np.log10(t["scale"][t["budget"] == c])
        above = int((u > _vertex(t, c)[0]).sum())
        assert report.sides[1] == above < S.MIN_EACH_SIDE and report.status == "edge"
    assert ch.numbers["bordas_interiores"] == 0 and ch.numbers["bordas_veredito"].startswith("6 dos 6")
    assert ch.tables["bordas"].count("toca a borda superior") == 6
    boot = ch.main.boot  # o ajuste sai, e as réplicas cujo vértice sai da faixa são contadas
    assert boot.n_failed > 0 and ch.numbers["boot_taxa"] == fmt(100 * boot.drop_rate, ".1f")
    assert "vértice fora da faixa medida" in ch.numbers["boot_frase"]


# --- robustez, tokens por parâmetro, representações, abordagem 3 -------------------------------------

def test_robustness_rows_use_the_right_subsets(chapter, data):
    t, r = _table(*data[:2]), chapter.rows
    budgets = np.unique(r["budget"])
    robust = {f.label: f for f in chapter.robustness}
    assert len(chapter.robustness) == budgets.size + 3
    for c in budgets:
        f = robust[f"sem o orçamento {C8.format_si(c, 3)}"]
        assert set(np.unique(r["budget"][f.mask])) == set(budgets) - {c} and f.mask.sum() == 40
        assert f.value() == pytest.approx(_hand_a(t, [b for b in budgets if b != c]), abs=1e-9)
    trimmed = robust["janelas aparadas (sem o menor e o maior tamanho)"].mask
    for c in budgets:
        i = r["budget"] == c
        kept = r["M"][i & trimmed]
        assert kept.size == 6 and kept.min() > r["M"][i].min() and kept.max() < r["M"][i].max()
    one = robust["sem os modelos de 1 camada"]
    assert not (r["n_layer"][one.mask] == 1).any()
    deep = {k: v[t["n_layer"] > 1] for k, v in t.items()}
    interior = []
    for c in budgets:  # sem o braço esquerdo, um orçamento pode perder o vértice interior: sai, e a tabela diz
        u = np.log10(deep["scale"][deep["budget"] == c])
        curved = np.polyfit(u, deep["loss"][deep["budget"] == c], 2)[0] > 0
        if u.size >= 3 and curved and u.min() <= _vertex(deep, c)[0] <= u.max():
            interior.append(c)
    assert set(np.unique(r["budget"][one.mask])) == set(interior)
    assert one.mask.sum() == ((r["n_layer"] > 1) & np.isin(r["budget"], interior)).sum()
    assert one.value() == pytest.approx(_hand_a(deep, interior), abs=1e-9)
    assert f"| sem os modelos de 1 camada | {len(interior)}/6 |" in chapter.tables["robustez"]
    best = [np.flatnonzero(t["budget"] == c)[np.argmin(t["loss"][t["budget"] == c])] for c in budgets]
    lm, lc = np.log(t["M"][best]), np.log(t["M"][best] * t["tokens"][best])
    argmin = robust["argmin (o melhor tamanho medido, sem parábola)"]
    assert argmin.value() == pytest.approx(np.polyfit(lc, lm, 1)[0], abs=1e-9)
    lo, hi = chapter.main.ci("a")
    outside = sum(not lo <= f.value() <= hi for f in chapter.robustness)
    assert chapter.numbers["rob_fora"] == outside
    assert chapter.tables["robustez"].count("\n") == len(chapter.robustness) + 2


def test_tokens_per_parameter_by_hand_on_one_budget(chapter, data):
    t = _table(*data[:2])
    c = sorted(set(t["budget"]))[2]
    us, ld = _vertex(t, c)
    ladder = [(i, float(m)) for i, m in enumerate(S.ladder_m_v2())]
    lo = max((i, m) for i, m in ladder if m <= 10 ** us)
    hi = min((i, m) for i, m in ladder if m > 10 ** us)
    n_lo, n_hi = (count_params(S.ladder_config_v2(i)).total for i in (lo[0], hi[0]))
    w = (us * math.log(10) - math.log(lo[1])) / (math.log(hi[1]) - math.log(lo[1]))
    n_star = math.exp(math.log(n_lo) + w * (math.log(n_hi) - math.log(n_lo)))
    row = next(x for x in chapter.tpp if x["budget"] == c)
    assert row["N_total"] == pytest.approx(n_star, rel=1e-9)
    assert row["tpp_total"] == pytest.approx(10 ** ld / n_star, rel=1e-9)
    assert fmt(row["tpp_total"], ".3g") in chapter.tables["tokens_por_parametro"]
    assert row["tpp_nonemb"] > row["tpp_total"]  # N sem embedding é menor


def test_representations_refit_with_each_scale(chapter, data):
    budgets = sorted({p.train.budget_flops for p in expand(data[0])})
    d_opt = {}
    for key in ("M", "6N1", "6N2"):
        t = _table(*data[:2], scale=key)
        assert chapter.reps[key].value("a") == pytest.approx(_hand_a(t, budgets), abs=1e-9)
        d_opt[key] = [10 ** _vertex(t, c)[1] for c in budgets]
    spread = [100 * (max(v) / min(v) - 1) for v in zip(*d_opt.values())]
    n = chapter.numbers
    assert (n["spread_pequeno"], n["spread_grande"]) == (fmt(spread[0], ".0f"), fmt(spread[-1], ".0f"))
    assert n["spread_cmp"] == ("maior" if spread[0] > spread[-1] else "menor")
    a1, a2 = chapter.reps["6N1"].value("a"), chapter.reps["6N2"].value("a")
    assert n["a_6n1_vs_6n2"] == ("maior" if a1 > a2 else "menor")


def test_approach3_recovers_the_surface(chapter):
    a3 = chapter.a3
    assert abs(a3.alpha - TRUTH.alpha) < 0.05 and abs(a3.beta - TRUTH.beta) < 0.05 and abs(a3.a - TRUTH.a) < 0.02
    lo, hi = chapter.main.ci("a")
    assert chapter.numbers["a3_dentro"] == ("dentro" if lo <= a3.a <= hi else "fora")
    assert chapter.numbers["a3_a"] == fmt(a3.a, ".3f") and chapter.numbers["a3_a"] in chapter.tables["abordagem3"]


def test_coverage_on_this_design_uses_the_approach3_surface(chapter):
    cov = chapter.coverage
    assert cov.reps == 10 and cov.quantities["a"].truth == pytest.approx(chapter.a3.a)
    assert chapter.numbers["cobertura"] == fmt(100 * cov.quantities["a"].coverage, ".1f")
    assert chapter.numbers["cobertura_veredito"] in ("dentro", "fora")


# --- miniatura, figuras e entradas ruins ---------------------------------------------------------------

def test_miniature_reports_edges_and_missing_laws_without_raising(chapter, mini):
    assert mini.mini and mini.numbers["fonte"].startswith("a miniatura")
    assert mini.numbers["n_orcamentos"] == 3 and all(r.status == "edge" for _, r in mini.reports)
    assert mini.main.boot is None and mini.numbers["a"] == "—" and "não houve bootstrap" in mini.numbers["boot_frase"]
    assert mini.numbers["ruido_fonte"].startswith("suposto")
    assert set(mini.numbers) == set(chapter.numbers) and set(mini.tables) == set(chapter.tables)
    assert all(isinstance(v, (str, int)) for v in chapter.numbers.values())
    assert "," in chapter.numbers["a"] and "." not in chapter.numbers["a"]


@pytest.mark.parametrize("plot", ["plot_profiles", "plot_allocation", "plot_representations", "plot_approach3"])
def test_plots_render_in_both_modes(chapter, mini, plot):
    import matplotlib.pyplot as plt

    for ch in (chapter, mini):
        fig = getattr(C8, plot)(ch)
        fig.canvas.draw()
        assert fig.axes and all(ax.get_xlabel() for ax in fig.axes)
        plt.close(fig)


def test_bad_inputs_name_the_value(data):
    with pytest.raises(ValueError, match="n_boot deve ser um inteiro ≥ 10; recebi 5"):
        C8.analysis(*data, n_boot=5)
    with pytest.raises(ValueError, match="n_boot_a3"):
        C8.analysis(*data, n_boot_a3=3)
    spec8, recs8 = data[0], [dict(r, status="diverged") for r in data[1]]
    with pytest.raises(ValueError, match="nenhum treino"):
        C8.analysis(spec8, recs8, data[2], data[3])
