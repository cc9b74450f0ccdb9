"""Capítulo 1: os números e as frases de ``helpers.chapters.cap01`` contra contas independentes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from helpers.chapters import cap01
from helpers.laws import fit, literature


def test_halving_matches_hand_computation():
    # 2^(-0,076) = 0,9487; ln 0,5 / ln 0,9487 = 13,16 duplicações; 2^13,16 ≈ 9139
    assert cap01.halving(0.076) == {"fator_dobra": "0,949", "dobras_metade": "13,2", "vezes_metade": "9.139"}
    assert cap01.halving(1.0)["dobras_metade"] == "1,0"


def test_kaplan_table_quotes_the_published_constants():
    table = cap01.kaplan_table()
    assert "0,076" in table and "8,8×10¹³" in table and "3,1×10⁸" in table


def test_recovery_phrase_follows_the_interval():
    x = np.logspace(6, 10, 12)
    y = fit.synthetic_power_law(x, k=3.0, alpha=-0.3, noise=0.02, rng=1)
    r = fit.fit_power_law(x, y)
    assert cap01.recovery_table(r, k=3.0, alpha=-0.3)[1]["recupera_frase"].startswith("os dois")
    # uma "verdade" longe dos dois intervalos muda a frase
    assert cap01.recovery_table(r, k=30.0, alpha=-0.9)[1]["recupera_frase"].startswith("nenhum")


def test_few_points_reproduces_a_direct_loop():
    study = cap01.few_points((3, 6), repeats=50, seed=5)
    rng = np.random.default_rng(5)
    for n in (3, 6):
        xs = np.logspace(6, 7.5, n)
        alphas = [fit.fit_power_law(xs, fit.synthetic_power_law(xs, k=3.0, alpha=-0.3, noise=0.02, rng=rng)).alpha
                  for _ in range(50)]
        np.testing.assert_allclose(study.estimates[n], alphas)
    # com 3 pontos o quantil t tem 1 grau de liberdade: o intervalo é muito mais largo
    assert study.widths[3] > 2.5 * study.widths[6]


def test_floor_study_numbers_and_phrases():
    s = cap01.floor_study()
    values = list(s.window_exponents.values())
    assert all(b < a for a, b in zip(values, values[1:])) and max(values) < 0.34
    assert s.numbers["janela_frase"].startswith("cai de década em década")
    truth = 1.7 + 400 * 1e12**-0.34
    assert s.numbers["erro_puro"] == f"{s.pure.predict(1e12) / truth - 1:.0%}".replace(".", ",")
    assert s.numbers["erro_puro_sentido"] == "para baixo"
    ci = s.offset.ci()
    inside = [ci[p][0] <= t <= ci[p][1] for p, t in (("E", 1.7), ("k", 400.0), ("alpha", 0.34))]
    assert s.numbers["wald_cobre"].startswith("nenhum" if not any(inside) else "os três" if all(inside) else "só")


def test_batch_fit_agrees_with_the_library_draw_by_draw():
    x = np.logspace(6, 8, 21)
    rng = np.random.default_rng(11)
    Y = (1.7 + 400 * x**-0.34) * np.exp(0.005 * rng.standard_normal((6, x.size)))
    theta, cov, grad = cap01.fit_offset_batch(x, Y, (1.7, 400.0, 0.34))
    assert np.all(grad < 1e-6)
    for i in range(Y.shape[0]):
        ref = fit.fit_power_law_offset(x, Y[i])
        np.testing.assert_allclose(theta[i], [ref.E, np.log(ref.k), ref.alpha], rtol=1e-6)
        np.testing.assert_allclose(np.sqrt(np.diag(cov[i])), [ref.se["E"], ref.se["log_k"], ref.se["alpha"]],
                                   rtol=1e-4)


def test_wald_coverage_is_close_to_nominal_for_small_noise():
    x = np.logspace(6, 8, 21)
    cov = cap01.wald_coverage(x, E=1.7, k=400.0, alpha=0.34, noise=0.005, draws=2000, seed=3)
    assert cov.used == cov.draws
    assert abs(cov.coverage["alpha"] - 0.95) < 3 * cov.std_error
    assert cap01.coverage_verdict(cov)["wald_veredito"] == "honestos"


def test_wald_coverage_detects_a_wrong_interval():
    """Um intervalo de nível 50% chamado de 95% tem de aparecer como "otimista"."""
    x = np.logspace(6, 8, 21)
    cov = cap01.wald_coverage(x, E=1.7, k=400.0, alpha=0.34, noise=0.005, draws=2000, level=0.5, seed=3)
    assert abs(cov.coverage["alpha"] - 0.5) < 0.05
    wrong = cap01.Coverage(0.95, cov.draws, cov.used, cov.coverage, float(np.sqrt(0.95 * 0.05 / cov.used)),
                           cov.all_miss, cov.alpha_hat)
    assert cap01.coverage_verdict(wrong)["wald_veredito"] == "otimistas"


def test_chinchilla_local_exponent_is_closer_to_kaplan():
    out = cap01.chinchilla_local_exponent()
    c = literature.CHINCHILLA
    n = np.logspace(6, 9.5, 50)
    slope = -stats.linregress(np.log(n), np.log(c["E"] + c["A"] / n ** c["alpha"])).slope
    assert out["expoente_chinchilla_reta"] == f"{slope:.3f}".replace(".", ",")
    assert out["expoente_mais_perto"] == "de Kaplan"


@pytest.mark.parametrize("plot", ["plot_three_laws", "plot_kaplan"])
def test_figures_build(plot):
    import matplotlib.pyplot as plt

    fig = getattr(cap01, plot)()
    assert fig.axes
    plt.close(fig)
