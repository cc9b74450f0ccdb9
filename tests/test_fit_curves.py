"""Curvas de treino (extrapolação, parada antecipada) e ganhos marginais da lei paramétrica.

Os oráculos são independentes do código testado: curvas sintéticas com E, k e α
conhecidos, o ganho marginal analítico de ``E + k·t^(-α)``, diferenças finitas da lei
``L(x, D)`` e a fórmula fechada da fronteira de Chinchilla.
"""

import numpy as np
import pytest

from helpers.laws import fit

# A lei da abordagem 3 publicada pelo Chinchilla (App. D.2), em parâmetros N com C = 6ND.
CHINCHILLA = fit.ParametricLossFit(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28, objective=0.0, n=0,
                                   delta=1e-3, flops_per_scale_token=6.0)


def _curve(t, E=1.8, k=40.0, alpha=0.3):
    return E + k * np.asarray(t, dtype=float) ** (-alpha)


def _trace(lrs, tokens, losses):
    return [{"step": i, "tokens": t, "lr": lr, "val_bpb": v} for i, (lr, t, v) in enumerate(zip(lrs, tokens, losses))]


# --- constant_lr_phase ----------------------------------------------------------------

def test_constant_phase_skips_step_zero_warmup_and_everything_after_the_first_drop():
    tokens = [0, 100, 200, 300, 400, 500, 600, 700]
    lrs = [0.0, 0.5e-3, 1e-3, 1e-3, 1e-3, 1e-3, 0.316e-3, 1e-3]  # a volta ao pico no fim não reabre a fase
    losses = [8.0, 4.0, 3.0, 2.8, 2.7, 2.65, 2.5, 2.4]
    t, l = fit.constant_lr_phase(_trace(lrs, tokens, losses))
    np.testing.assert_array_equal(t, [200, 300, 400, 500])
    np.testing.assert_array_equal(l, [3.0, 2.8, 2.7, 2.65])


def test_constant_phase_of_a_cosine_schedule_has_a_single_point_and_divergence_ends_it():
    cos = 1e-3 * (0.55 + 0.45 * np.cos(np.linspace(0, np.pi, 6)))
    t, _ = fit.constant_lr_phase(_trace([0.0, *cos], [0, 1, 2, 3, 4, 5, 6], [9, 5, 4, 3, 2.5, 2.2, 2.1]))
    assert t.tolist() == [1.0]
    t, _ = fit.constant_lr_phase(_trace([0.0, 1, 1, 1, 1], [0, 1, 2, 3, 4], [9, 5, 4, None, 3]))
    assert t.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("trace, fragment", [
    ([], "lista não vazia"),
    ([{"tokens": 1, "lr": 1.0}], "val_bpb"),
    ([{"tokens": 1, "lr": 0.0, "val_bpb": 3.0}], "taxa de pico"),
])
def test_constant_phase_errors(trace, fragment):
    with pytest.raises(ValueError, match=fragment):
        fit.constant_lr_phase(trace)


# --- fit_learning_curve e extrapolação -------------------------------------------------

def test_learning_curve_fit_recovers_known_parameters_exactly_without_noise():
    t = np.geomspace(2e5, 4e6, 8)
    r = fit.fit_learning_curve(t, _curve(t, E=1.8, k=40.0, alpha=0.3))
    assert r.E == pytest.approx(1.8, rel=1e-5)
    assert r.k == pytest.approx(40.0, rel=1e-4)
    assert r.alpha == pytest.approx(0.3, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_learning_curve_fit_reaches_the_same_optimum_as_the_generic_offset_fit(seed):
    """Mesmo modelo e mesmo objetivo de fit_power_law_offset, resolvido por outro caminho."""
    rng = np.random.default_rng(seed)
    t = np.linspace(2e5, 3e6, 8)
    y = _curve(t) * np.exp(0.005 * rng.standard_normal(t.size))
    fast = fit.fit_learning_curve(t, y)
    slow = fit.fit_power_law_offset(t, y, max_alpha=3.0)
    sse = lambda r: float(((np.log(y) - np.log(r.predict(t))) ** 2).sum())  # noqa: E731
    assert sse(fast) <= sse(slow) * (1 + 1e-6)
    np.testing.assert_allclose(fast.predict(t), slow.predict(t), rtol=1e-5)


def test_noisy_learning_curve_parameters_are_close_to_the_truth():
    rng = np.random.default_rng(7)
    t = np.geomspace(1e5, 1e8, 40)
    y = _curve(t, E=1.5, k=60.0, alpha=0.35) * np.exp(0.002 * rng.standard_normal(t.size))
    r = fit.fit_learning_curve(t, y)
    assert r.E == pytest.approx(1.5, abs=0.05)
    assert r.alpha == pytest.approx(0.35, abs=0.03)
    lo, hi = r.ci()["alpha"]
    assert lo < r.alpha < hi


def test_extrapolation_of_an_exact_curve_predicts_the_held_out_end():
    t = np.linspace(1e5, 1e6, 10)
    y = _curve(t)
    ex = fit.extrapolate_learning_curve(t, y, 2e6, n_fit=5)
    assert ex.n_fit == 5 and ex.fitted_until == t[4]
    assert ex.predicted == pytest.approx(float(_curve(2e6)), rel=1e-6)
    assert ex.relative_error(ex.predicted * 0.98) == pytest.approx(1 / 0.98 - 1)


def test_predicted_block_gain_is_the_analytic_difference():
    t = np.geomspace(1e5, 1e7, 6)
    r = fit.fit_learning_curve(t, _curve(t))
    np.testing.assert_allclose(fit.predicted_block_gain(r, t, 5e5), _curve(t) - _curve(t + 5e5), rtol=1e-5)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"n_fit": 3}, "n_fit"),
    ({"n_fit": 11}, "n_fit"),
    ({"n_fit": True}, "n_fit"),
])
def test_extrapolation_errors(kwargs, fragment):
    t = np.linspace(1e5, 1e6, 10)
    with pytest.raises(ValueError, match=fragment):
        fit.extrapolate_learning_curve(t, _curve(t), 2e6, **kwargs)


def test_curve_input_errors():
    t = np.linspace(1e5, 1e6, 6)
    with pytest.raises(ValueError, match="crescer estritamente"):
        fit.extrapolate_learning_curve(t[::-1], _curve(t), 2e6)
    with pytest.raises(ValueError, match="target_tokens"):
        fit.extrapolate_learning_curve(t, _curve(t), -1.0)
    with pytest.raises(ValueError, match="pelo menos 4"):
        fit.fit_learning_curve(t[:3], _curve(t[:3]))
    with pytest.raises(ValueError, match="max_alpha"):
        fit.fit_learning_curve(t, _curve(t), max_alpha=0)
    with pytest.raises(ValueError, match="> 0"):
        fit.fit_learning_curve(t, -_curve(t))
    with pytest.raises(ValueError, match="block_tokens"):
        fit.predicted_block_gain(fit.fit_learning_curve(t, _curve(t)), t, 0.0)
    with pytest.raises(ValueError, match="medida"):
        fit.extrapolate_learning_curve(t, _curve(t), 2e6).relative_error(float("nan"))


# --- parada antecipada -------------------------------------------------------------------

def test_early_stopping_stops_where_the_analytic_marginal_gain_crosses_the_threshold():
    E, k, alpha = 1.8, 40.0, 0.3
    t = np.linspace(1e5, 4e6, 40)
    block, fpt = 2e5, 3e4
    threshold = 2.5e-12  # perda por FLOP
    es = fit.early_stopping(t, _curve(t, E, k, alpha), block_tokens=block, threshold=threshold, flops_per_token=fpt)
    analytic = k * (t ** -alpha - (t + block) ** -alpha) / (block * fpt)
    expected = int(np.flatnonzero((analytic < threshold) & (np.arange(t.size) >= 3))[0])
    assert 3 < expected < t.size - 1  # o cruzamento cai no meio da curva
    assert es.stopped and es.stop_index == expected
    np.testing.assert_allclose(es.gain_per_cost, analytic[3:expected + 1], rtol=1e-4)
    assert es.tokens_at_stop == t[expected]
    assert es.saved_fraction == pytest.approx(1 - t[expected] / t[-1])
    y = _curve(t, E, k, alpha)
    assert es.loss_increase == pytest.approx(y[expected] - y[-1])
    assert es.relative_loss_increase == pytest.approx(y[expected] / y[-1] - 1)


def test_early_stopping_with_zero_threshold_never_stops_and_a_callable_threshold_is_used():
    t = np.linspace(1e5, 2e6, 20)
    y = _curve(t)
    es = fit.early_stopping(t, y, block_tokens=1e5, threshold=0.0)
    assert not es.stopped and es.stop_index == t.size - 1 and es.saved_fraction == 0.0
    assert es.decisions.tolist() == list(range(3, t.size - 1))
    # Um limiar que só "liga" depois de 1M tokens: para no primeiro ponto além disso.
    es = fit.early_stopping(t, y, block_tokens=1e5, threshold=lambda tok: 1.0 if tok > 1e6 else 0.0)
    assert es.stop_index == int(np.flatnonzero(t > 1e6)[0])
    assert es.thresholds[-1] == 1.0 and np.all(es.thresholds[:-1] == 0.0)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"block_tokens": 0.0, "threshold": 1.0}, "block_tokens"),
    ({"block_tokens": 1e5, "threshold": -1.0}, "threshold"),
    ({"block_tokens": 1e5, "threshold": "alto"}, "threshold"),
    ({"block_tokens": 1e5, "threshold": 1.0, "flops_per_token": 0.0}, "flops_per_token"),
    ({"block_tokens": 1e5, "threshold": 1.0, "min_points": 3}, "min_points"),
    ({"block_tokens": 1e5, "threshold": 1.0, "min_points": 99}, "min_points"),
])
def test_early_stopping_errors(kwargs, fragment):
    t = np.linspace(1e5, 2e6, 10)
    with pytest.raises(ValueError, match=fragment):
        fit.early_stopping(t, _curve(t), **kwargs)


# --- ganhos marginais da lei paramétrica -------------------------------------------------

@pytest.mark.parametrize("law", [
    CHINCHILLA,
    fit.ParametricLossFit(E=1.58, A=1107.0, alpha=0.67, B=87.2, beta=0.33, objective=0.0, n=0, delta=1e-3),
])
def test_marginal_gains_match_finite_differences_of_the_law(law):
    x, d = np.array([7e7, 1e9, 7e10]), np.array([2e9, 2e10, 1.4e12])
    if law.flops_per_scale_token == 1.0:
        x, d = np.array([5e4, 2e5, 7e5]), np.array([5e5, 3e6, 1e7])
    g = fit.marginal_gains(law, x, d)
    h = 1e-6
    fd_x = (law.predict(x * (1 + h), d) - law.predict(x * (1 - h), d)) / (2 * h * x)
    fd_d = (law.predict(x, d * (1 + h)) - law.predict(x, d * (1 - h))) / (2 * h * d)
    np.testing.assert_allclose(g.dloss_dscale, fd_x, rtol=1e-6)
    np.testing.assert_allclose(g.dloss_dtokens, fd_d, rtol=1e-6)
    np.testing.assert_allclose(g.loss, law.predict(x, d))
    # Ganho por FLOP: a queda da perda ao gastar 1 FLOP a mais numa só direção.
    f = law.flops_per_scale_token
    extra = 1e-6 * f * x * d  # FLOPs gastos
    drop_x = law.predict(x, d) - law.predict(x + extra / (f * d), d)
    drop_d = law.predict(x, d) - law.predict(x, d + extra / (f * x))
    np.testing.assert_allclose(g.gain_per_flop_scale, drop_x / extra, rtol=1e-5)
    np.testing.assert_allclose(g.gain_per_flop_tokens, drop_d / extra, rtol=1e-5)


@pytest.mark.parametrize("compute", [1e18, 5.76e23, 1e26])
def test_balanced_allocation_is_the_closed_form_frontier_and_the_minimum_at_fixed_compute(compute):
    x, d = fit.balanced_allocation(CHINCHILLA, compute)
    assert x == pytest.approx(float(CHINCHILLA.scale_opt(compute)), rel=1e-9)
    assert 6 * x * d == pytest.approx(compute, rel=1e-12)
    assert fit.marginal_gains(CHINCHILLA, x, d).ratio == pytest.approx(1.0, rel=1e-9)
    best = CHINCHILLA.predict(x, d)
    for f in (0.8, 0.95, 1.05, 1.25):
        assert CHINCHILLA.predict(x * f, d / f) > best


def test_model_too_large_prefers_data_and_too_small_prefers_model():
    x, d = fit.balanced_allocation(CHINCHILLA, 1e22)
    assert fit.marginal_gains(CHINCHILLA, 3 * x, d / 3).ratio < 1 < fit.marginal_gains(CHINCHILLA, x / 3, 3 * d).ratio


def test_successive_doublings_shrink_by_two_to_the_minus_exponent():
    x, d = 1e9, 2e10
    m = fit.successive_doublings(CHINCHILLA, x, d, vary="scale", n=4)
    np.testing.assert_allclose(m["gain"][2:] / m["gain"][1:-1], 2 ** -CHINCHILLA.alpha, rtol=1e-10)
    np.testing.assert_allclose(m["compute"], 6 * x * d * 2.0 ** np.arange(5))
    t = fit.successive_doublings(CHINCHILLA, x, d, vary="tokens", n=4)
    np.testing.assert_allclose(t["gain"][2:] / t["gain"][1:-1], 2 ** -CHINCHILLA.beta, rtol=1e-10)
    both = fit.successive_doublings(CHINCHILLA, x, d, vary="both", n=2)
    np.testing.assert_allclose(both["compute"], 6 * x * d * 4.0 ** np.arange(3))
    # Os termos são aditivos: dobrar os dois ganha a soma dos ganhos de cada um.
    np.testing.assert_allclose(both["gain"], m["gain"][:3] + t["gain"][:3], rtol=1e-12)
    assert m["gain"][0] == 0.0 and m["loss"][0] == pytest.approx(CHINCHILLA.predict(x, d))


def test_marginal_gain_errors():
    with pytest.raises(ValueError, match="scale"):
        fit.marginal_gains(CHINCHILLA, 0.0, 1e9)
    with pytest.raises(ValueError, match="tokens"):
        fit.marginal_gains(CHINCHILLA, 1e9, [1e9, -1.0])
    with pytest.raises(ValueError, match="compute"):
        fit.balanced_allocation(CHINCHILLA, float("inf"))
    with pytest.raises(ValueError, match="vary"):
        fit.successive_doublings(CHINCHILLA, 1e9, 1e10, vary="camadas")
    with pytest.raises(ValueError, match="n deve"):
        fit.successive_doublings(CHINCHILLA, 1e9, 1e10, vary="scale", n=0)


# --- figura -------------------------------------------------------------------------------

def test_plot_curve_extrapolation_draws_used_points_held_out_points_and_the_extrapolation():
    import matplotlib

    matplotlib.use("Agg")
    from helpers.presentation.plots import new_figure, plot_curve_extrapolation

    t = np.linspace(1e5, 1e6, 8)
    y = _curve(t)
    law = fit.fit_learning_curve(t[:5], y[:5])
    fig, ax = new_figure()
    plot_curve_extrapolation(ax, t, y, law, n_fit=5, until=2e6, label="treino")
    cheios, vazados = ax.collections
    assert len(cheios.get_offsets()) == 5 and len(vazados.get_offsets()) == 3
    solid, dashed = ax.lines
    assert solid.get_xdata().max() == pytest.approx(t[4]) and dashed.get_xdata().max() == pytest.approx(2e6)
    np.testing.assert_allclose(dashed.get_ydata(), law.predict(dashed.get_xdata()))
    assert dashed.get_linestyle() == "--"
    with pytest.raises(ValueError, match="n_fit"):
        plot_curve_extrapolation(ax, t, y, law, n_fit=0)
    with pytest.raises(ValueError, match="mesmo tamanho"):
        plot_curve_extrapolation(ax, t, y[:-1], law, n_fit=3)
    matplotlib.pyplot.close(fig)
