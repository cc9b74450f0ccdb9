"""O modelo de ruído: σ agrupado entre sementes, o intervalo qui-quadrado e o ruído da avaliação.

Oráculos: contas feitas à mão (com os quantis tabelados da qui-quadrado e da F) e sorteios com
σ conhecido — a cobertura do intervalo de σ tem de bater com o nível nominal.
"""

import math

import numpy as np
import pytest

from helpers.laws import fit

# Quantis tabelados (tabelas de qui-quadrado / F), não calculados pelo código testado.
CHI2_3 = {0.05: 0.3518, 0.95: 7.8147}
F_4_6 = {0.05: 1 / 6.1631, 0.95: 4.5337}  # F(4, 6); o quantil 5% é 1/F_0,95(6, 4)


# --- contas à mão -------------------------------------------------------------------------

def test_absolute_noise_by_hand():
    # grupo 1: média 2, SS = 1 + 0 + 1 = 2; grupo 2: média 5, SS = 1 + 1 = 2 → SS = 4, dof = 3
    m = fit.fit_noise_model([[1.0, 2.0, 3.0], [4.0, 6.0]], kind="absolute", level=0.9)
    assert m.kind == "absolute" and m.dof == 3 and m.n_groups == 2 and m.source == "sementes"
    assert m.sigma == pytest.approx(math.sqrt(4 / 3))
    lo, hi = m.sigma_ci
    assert lo == pytest.approx(math.sqrt(4 / CHI2_3[0.95]), rel=1e-3)
    assert hi == pytest.approx(math.sqrt(4 / CHI2_3[0.05]), rel=1e-3)


def test_relative_noise_is_on_log_loss():
    m = fit.fit_noise_model([np.exp([0.0, 0.1, 0.2]), 3 * np.exp([0.05, -0.05])], kind="relative")
    # ln: (0; 0,1; 0,2) → SS = 0,02; (0,05; −0,05) → SS = 0,005; dof = 3
    assert m.sigma == pytest.approx(math.sqrt(0.025 / 3))
    assert m.sigma_at(2.0) == pytest.approx(2.0 * m.sigma)
    assert np.allclose(m.sigma_at([1.0, 3.0]), [m.sigma, 3 * m.sigma])
    a = fit.NoiseModel("absolute", 0.05)
    assert a.sigma_at(7.0) == 0.05 and np.allclose(a.sigma_at([1.0, 2.0]), 0.05)


def test_evaluation_noise_by_hand():
    # d = (−0,2; 0,1): RMS = √((0,04 + 0,01)/2); σ do conjunto inteiro = RMS/2
    m = fit.evaluation_noise([2.0, 3.0], [2.2, 2.9], kind="absolute")
    assert m.sigma == pytest.approx(math.sqrt(0.025) / 2)
    assert m.dof == 2 and m.source == "avaliação"
    r = fit.evaluation_noise([2.0, 3.0], [2.0 * math.exp(0.02), 3.0], kind="relative")
    assert r.sigma == pytest.approx(math.sqrt(0.02**2 / 2) / 2)


def test_compare_noise_ratio_and_f_interval_by_hand():
    ev = fit.NoiseModel("relative", 0.002, dof=4, source="avaliação")
    seeds = fit.NoiseModel("relative", 0.01, dof=6)
    c = fit.compare_noise(ev, seeds, threshold=0.5, level=0.9)
    assert c.ratio == pytest.approx(0.2)
    assert c.ratio_ci[0] == pytest.approx(0.2 / math.sqrt(F_4_6[0.95]), rel=1e-3)
    assert c.ratio_ci[1] == pytest.approx(0.2 / math.sqrt(F_4_6[0.05]), rel=1e-3)
    assert c.small  # 0,2·√6,16 ≈ 0,497 < 0,5
    assert c.variance_share == pytest.approx(0.04 / 1.04)
    assert not fit.compare_noise(ev, seeds, threshold=0.45).small
    assert "pequeno" in c.describe() and "0,20" in c.describe()


# --- sorteios com σ conhecido ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_chi_square_interval_covers_the_true_sigma_at_the_nominal_rate(kind):
    rng = np.random.default_rng(0)
    sigma, trials, hits, estimates = 0.02, 2000, 0, []
    means = np.array([3.0, 2.5, 2.2, 2.0])
    for _ in range(trials):
        eps = sigma * rng.standard_normal((4, 3))
        groups = means[:, None] + eps if kind == "absolute" else means[:, None] * np.exp(eps)
        m = fit.fit_noise_model(list(groups), kind=kind, level=0.9)
        lo, hi = m.sigma_ci
        hits += lo <= sigma <= hi
        estimates.append(m.sigma**2)
    # 2000 sorteios: erro-padrão binomial de 0,67 pp; faixa de ±3 erros-padrão
    assert abs(hits / trials - 0.9) < 0.02
    assert np.mean(estimates) == pytest.approx(sigma**2, rel=0.03)  # σ̂² é não enviesado


def test_evaluation_noise_recovers_the_full_sample_sigma():
    rng = np.random.default_rng(1)
    truth = rng.uniform(2, 3, 4000)
    half_sd = 0.01
    a = truth + half_sd * rng.standard_normal(truth.size)
    b = truth + half_sd * rng.standard_normal(truth.size)
    m = fit.evaluation_noise(a, b, kind="absolute")
    assert m.sigma == pytest.approx(half_sd / math.sqrt(2), rel=0.03)
    assert np.std((a + b) / 2 - truth) == pytest.approx(m.sigma, rel=0.05)


def test_draw_perturbs_with_the_right_spread_and_keeps_nan():
    rng = np.random.default_rng(2)
    base = np.full(40000, 2.0)
    base[0] = np.nan
    rel = fit.NoiseModel("relative", 0.01).draw(base, rng)
    assert np.isnan(rel[0]) and rel.shape == base.shape
    assert np.std(np.log(rel[1:] / 2.0)) == pytest.approx(0.01, rel=0.03)
    ab = fit.NoiseModel("absolute", 0.05).draw(base[1:], rng)
    assert np.std(ab - 2.0) == pytest.approx(0.05, rel=0.03)
    # um σ por réplica (primeiro eixo)
    two = fit.NoiseModel("absolute", 1.0).draw(np.zeros((2, 20000)), rng, sigma=[0.0, 0.1])
    assert np.all(two[0] == 0) and np.std(two[1]) == pytest.approx(0.1, rel=0.05)


def test_draw_sigma_spreads_like_the_measurement():
    m = fit.NoiseModel("relative", 0.01, dof=10)
    s = m.draw_sigma(100000, rng=3)
    assert np.mean(s**2) == pytest.approx(0.01**2 * 10 / 8, rel=0.02)  # E[1/χ²(ν)] = 1/(ν − 2)
    lo, hi = m.sigma_ci
    assert np.mean((s >= lo) & (s <= hi)) == pytest.approx(0.9, abs=0.01)
    assert np.all(fit.NoiseModel("relative", 0.01).draw_sigma(5) == 0.01)


def test_scaled_and_describe():
    m = fit.fit_noise_model([[2.0, 2.02, 1.98], [2.5, 2.52]], kind="relative")
    s = m.scaled(0.5)
    assert s.sigma == pytest.approx(m.sigma / 2) and s.sigma_ci[1] == pytest.approx(m.sigma_ci[1] / 2)
    text = m.describe()
    assert "relativo" in text and "," in text and "3 graus de liberdade" in text
    assert "sem incerteza" in fit.NoiseModel("absolute", 0.1).describe()
    assert m.with_level(0.5).sigma_ci[1] < m.sigma_ci[1]


# --- entradas ruins --------------------------------------------------------------------------

@pytest.mark.parametrize("groups, match", [
    ([[2.0]], "grupo 0 tem 1 perda"),
    ([[2.0, 2.1], [1.0, -1.0]], r"grupo 1, perda \[1\] = -1.0"),
    ([[2.0, float("nan")]], "grupo 0"),
    ([], "lista não vazia"),
    ([np.ones((2, 2))], "vetor 1D"),
])
def test_fit_noise_model_rejects_bad_groups(groups, match):
    with pytest.raises(ValueError, match=match):
        fit.fit_noise_model(groups)


def test_bad_kind_level_and_sigma():
    with pytest.raises(ValueError, match="'absolute' ou 'relative'.*'rel'"):
        fit.fit_noise_model([[1.0, 2.0]], kind="rel")
    with pytest.raises(ValueError, match=r"\(0, 1\).*1.5"):
        fit.fit_noise_model([[1.0, 2.0]], level=1.5)
    with pytest.raises(ValueError, match=r"\[0, ∞\).*-0.1"):
        fit.NoiseModel("relative", -0.1)
    with pytest.raises(ValueError, match="dof"):
        fit.NoiseModel("relative", 0.1, dof=-1)
    with pytest.raises(ValueError, match="mesmo tamanho"):
        fit.evaluation_noise([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"half_b\[0\] = 0.0"):
        fit.evaluation_noise([1.0], [0.0])
    with pytest.raises(ValueError, match="mesmo tipo"):
        fit.compare_noise(fit.NoiseModel("absolute", 0.1, dof=2), fit.NoiseModel("relative", 0.1, dof=2))
    with pytest.raises(ValueError, match="dof ≥ 1"):
        fit.compare_noise(fit.NoiseModel("relative", 0.1), fit.NoiseModel("relative", 0.1, dof=2))
