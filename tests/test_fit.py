"""Ajustes de leis de potência: recuperar parâmetros conhecidos de dados sintéticos."""

import numpy as np
import pytest

from helpers.laws import fit


def test_exact_power_law_is_recovered_exactly():
    x = np.logspace(3, 9, 7)
    r = fit.fit_power_law(x, 0.2920 * x**0.3271)
    assert r.alpha == pytest.approx(0.3271, abs=1e-12)
    assert r.k == pytest.approx(0.2920, rel=1e-10)
    assert r.r2 == pytest.approx(1.0)
    np.testing.assert_allclose(r.predict([1e17]), 0.2920 * 1e17**0.3271, rtol=1e-9)


def test_noisy_fit_is_close_to_the_truth():
    # Uma única amostra pode ficar fora do IC de 95% (1 vez em 20); a cobertura é
    # testada abaixo. Aqui exigimos só a proximidade em unidades de erro-padrão.
    x = np.logspace(6, 10, 15)
    y = fit.synthetic_power_law(x, k=3.0, alpha=-0.3, noise=0.02, rng=0)
    r = fit.fit_power_law(x, y)
    assert abs(r.alpha + 0.3) < 4 * r.alpha_se
    assert 0 < r.alpha_se < 0.01


def test_interval_coverage_is_near_nominal():
    """Com ruído gaussiano em log y, o IC t de 95% deve cobrir o valor verdadeiro ~95% das vezes."""
    rng = np.random.default_rng(11)
    x = np.logspace(0, 2, 6)
    hits = 0
    trials = 600
    for _ in range(trials):
        y = fit.synthetic_power_law(x, k=2.0, alpha=0.5, noise=0.05, rng=rng)
        lo, hi = fit.fit_power_law(x, y).ci(0.95)["alpha"]
        hits += lo <= 0.5 <= hi
    assert 0.92 <= hits / trials <= 0.98


def test_prediction_interval_contains_new_observations():
    rng = np.random.default_rng(5)
    x = np.logspace(1, 3, 10)
    r = fit.fit_power_law(x, fit.synthetic_power_law(x, k=1.0, alpha=-0.5, noise=0.03, rng=rng))
    x_new = np.full(2000, 300.0)
    y_new = fit.synthetic_power_law(x_new, k=1.0, alpha=-0.5, noise=0.03, rng=rng)
    lo, hi = r.prediction_interval(x_new)
    inside = np.mean((y_new >= lo) & (y_new <= hi))
    assert inside > 0.85


def test_offset_power_law_recovers_known_parameters():
    x = np.logspace(6, 10, 20)
    y = fit.synthetic_power_law(x, k=400.0, alpha=-0.34, E=1.69, noise=0.001, rng=3)
    r = fit.fit_power_law_offset(x, y)
    assert r.E == pytest.approx(1.69, rel=0.03)
    assert r.alpha == pytest.approx(0.34, rel=0.03)
    assert r.k == pytest.approx(400.0, rel=0.15)
    np.testing.assert_allclose(r.predict(x), 1.69 + 400.0 * x**-0.34, rtol=5e-3)


def test_offset_fit_without_noise_is_exact():
    x = np.logspace(0, 4, 12)
    r = fit.fit_power_law_offset(x, 2.0 + 5.0 * x**-0.7)
    assert r.E == pytest.approx(2.0, rel=1e-5)
    assert r.k == pytest.approx(5.0, rel=1e-4)
    assert r.alpha == pytest.approx(0.7, rel=1e-5)


def test_pure_fit_on_data_with_a_floor_underestimates_the_exponent():
    x = np.logspace(8, 10, 10)
    y = 1.7 + 400.0 * x**-0.34
    assert -fit.fit_power_law(x, y).alpha < 0.2
    slope = -fit.local_slope(x, y)
    assert np.all(np.diff(slope) < 0)


@pytest.mark.parametrize(
    "x, y, fragment",
    [
        ([1, 2], [1, 2], "pelo menos 3 pontos"),
        ([1, 2, 3], [1, 2], "mesmo tamanho"),
        ([1, 2, 0], [1, 2, 3], "x\\[2\\] = 0.0"),
        ([1, 2, 3], [1, -2, 3], "y\\[1\\] = -2.0"),
        ([1, 2, 3], [1, np.nan, 3], "y deve ser finito"),
        ([5, 5, 5], [1, 2, 3], "todos os valores de x são iguais"),
        ([[1, 2, 3]], [[1, 2, 3]], "vetores 1D"),
    ],
)
def test_bad_input_errors(x, y, fragment):
    with pytest.raises(ValueError, match=fragment):
        fit.fit_power_law(x, y)


def test_offset_fit_needs_four_points():
    with pytest.raises(ValueError, match="pelo menos 4 pontos"):
        fit.fit_power_law_offset([1, 10, 100], [3, 2, 1.5])


def test_bad_confidence_level():
    r = fit.fit_power_law([1, 2, 4, 8], [1, 2, 4, 8.5])
    with pytest.raises(ValueError, match="nível de confiança"):
        r.ci(1.5)


def test_synthetic_generator_validation():
    with pytest.raises(ValueError, match="noise"):
        fit.synthetic_power_law([1.0, 2.0], k=1, alpha=1, noise=-0.1)


def test_steps_to_reach_interpolates_in_log_steps():
    steps = [0, 10, 100, 1000]
    losses = [5.0, 3.0, 2.0, 1.0]
    assert fit.steps_to_reach(steps, losses, 2.0) == pytest.approx(100.0)
    assert fit.steps_to_reach(steps, losses, 1.5) == pytest.approx(10**2.5)
    assert fit.steps_to_reach(steps, losses, 0.5) is None
    assert fit.steps_to_reach(steps, losses, 4.0) == 10.0


def test_critical_batch_recovers_known_parameters():
    batches = np.array([256, 512, 1024, 4096, 16384, 65536], dtype=float)
    s_min, b_crit = 300.0, 5000.0
    r = fit.fit_critical_batch(batches, s_min * (1 + b_crit / batches))
    assert r.s_min == pytest.approx(s_min) and r.b_crit == pytest.approx(b_crit) and r.r2 == pytest.approx(1.0)
    assert r.e_min == pytest.approx(s_min * b_crit)
    # Kaplan Eq. 5.1: (S/S_min − 1)(E/E_min − 1) = 1 em todo lote.
    s, e = r.steps(batches), r.tokens(batches)
    np.testing.assert_allclose((s / r.s_min - 1) * (e / r.e_min - 1), 1.0)


def test_critical_batch_rejects_wrong_shape():
    with pytest.raises(ValueError, match="parâmetros positivos"):
        fit.fit_critical_batch([100, 200, 400], [10, 20, 40])  # passos crescem com o lote
