"""O bootstrap paramétrico do pipeline inteiro e a calibração dos seus intervalos.

Oráculos: os ajustes já testados (``fit_hyperparameter_laws``, ``fit_isoflop``) nos mesmos
dados; pipelines feitos à mão que falham com motivo conhecido; e dados sintéticos de leis
conhecidas, em que o intervalo de 90% tem de cobrir a verdade numa fração compatível com 90% —
e deixar de cobrir quando o ruído do bootstrap é encolhido (ou inflado) de propósito.
"""

import numpy as np
import pytest

from helpers.laws import calibration as cal
from helpers.laws import fit


def _hyper_data(seed=0):
    truth = cal.HyperTruth()
    plan = cal.hyper_design(truth)
    losses, noise = cal.simulate_hyper(truth, plan, 0.007, np.random.default_rng(seed))
    return plan, losses, noise


def _isoflop_data(seed=0):
    truth = cal.IsoFlopTruth()
    plan = cal.isoflop_design(truth)
    losses, noise = cal.simulate_isoflop(truth, plan, 0.007, np.random.default_rng(seed))
    return plan, losses, noise


# --- os pipelines coincidem com os ajustes do livro -------------------------------------------

def test_hyper_pipeline_matches_fit_hyperparameter_laws():
    (c, lr, b), losses, _ = _hyper_data()
    losses = losses.copy()
    losses[3] = np.nan  # um treino que divergiu
    ref = fit.fit_hyperparameter_laws(c, lr, b, losses, tolerance=0.004, n_boot=10)
    p = fit.HyperPipeline(c, lr, b, tolerance=0.004, predict_at=(1e14,))
    out = p(losses)
    assert np.array_equal(p.selection(losses)[0], ref.selected)
    assert out["alpha_lr"] == pytest.approx(ref.lr.alpha) and out["k_lr"] == pytest.approx(ref.lr.k)
    assert out["alpha_batch"] == pytest.approx(ref.batch.alpha) and out["k_batch"] == pytest.approx(ref.batch.k)
    assert out["lr@1e+14"] == pytest.approx(float(ref.lr_opt(1e14)))


def test_isoflop_pipeline_matches_fit_isoflop():
    (c, n, d), losses, _ = _isoflop_data()
    ref = fit.fit_isoflop(c, n, d, losses, predict_at=(1e14,), n_boot=10)
    assert all(p.accepted for p in ref.profiles)
    out = fit.IsoFlopPipeline(c, n, d, predict_at=(1e14,))(losses)
    for k, v in ref.boot.estimate.items():
        assert out[k] == pytest.approx(v, rel=1e-9), k
    assert out["a"] + out["b"] == pytest.approx(1.0)  # D = C/(6N): a + b = 1 exatamente


def test_pipelines_reject_bad_designs():
    with pytest.raises(ValueError, match=r"budgets\[1\] = -1.0"):
        fit.HyperPipeline([1e11, -1.0], [1e-3, 1e-3], [256, 256])
    with pytest.raises(ValueError, match="2 orçamentos"):
        fit.HyperPipeline([1e11, 1e11, 1e11], [1e-3, 2e-3, 4e-3], [256, 256, 256])
    with pytest.raises(ValueError, match="tolerance"):
        fit.HyperPipeline([1e11, 1e12, 1e12], [1e-3, 1e-3, 2e-3], [256, 256, 256], tolerance=1.5)
    with pytest.raises(ValueError, match="3 orçamentos"):
        fit.IsoFlopPipeline([1e11, 1e11, 1e11], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="2 escalas distintas"):
        fit.IsoFlopPipeline([1, 1, 1, 2, 2, 2, 3, 3, 3], [1, 1, 2, 1, 2, 3, 1, 2, 3], np.ones(9))


# --- o bootstrap conta as falhas por motivo ---------------------------------------------------

def test_failures_are_counted_by_reason_never_dropped_silently():
    calls = {"n": 0}

    def pipeline(losses):
        calls["n"] += 1
        if calls["n"] == 1:
            return {"m": float(np.mean(losses))}  # os dados observados
        if losses[0] > 2.0 + 0.01:
            raise fit.PipelineFailure("primeiro ponto alto demais")
        if losses[1] > 2.0 + 0.01:
            return None
        return {"m": float(np.mean(losses))}

    noise = fit.NoiseModel("absolute", 0.01)
    r = fit.parametric_bootstrap(pipeline, [2.0, 2.0, 2.0], noise, n_boot=4000, seed=0, max_drop_rate=0.5)
    # P(ε > 1σ) ≈ 15,9%: a primeira regra derruba ~15,9%, a segunda ~15,9% dos que sobram
    assert set(r.failures) == {"primeiro ponto alto demais", "o pipeline devolveu None"}
    assert r.failures["primeiro ponto alto demais"] / 4000 == pytest.approx(0.159, abs=0.02)
    assert r.drop_rate == pytest.approx(1 - 0.841**2, abs=0.02)
    assert r.samples["m"].size == 4000 - r.n_failed
    assert r.centre == "observado" and r.method == "percentile"
    assert "réplicas falharam" in r.describe_failures() and "," in r.describe_failures()
    with pytest.raises(ValueError, match="réplicas falharam demais"):
        calls["n"] = 0
        fit.parametric_bootstrap(pipeline, [2.0, 2.0, 2.0], noise, n_boot=1000, max_drop_rate=0.1)


def test_isoflop_vertex_leaving_the_range_fails_the_replicate_with_its_reason():
    truth = cal.IsoFlopTruth()
    c, n, d = cal.isoflop_design(truth)
    small = c == c.min()
    n = n.copy()
    n[small] = truth.n_opt(c.min()) * 10 ** (0.2 * (np.arange(small.sum()) - 6.5))  # vértice perto da borda
    d = c / (6 * n)
    rng = np.random.default_rng(0)
    losses = truth.loss(n, d) * np.exp(0.007 * rng.standard_normal(n.size))
    p = fit.IsoFlopPipeline(c, n, d)
    r = fit.parametric_bootstrap(p, losses, fit.NoiseModel("relative", 0.02), n_boot=400, seed=0, max_drop_rate=1.0)
    assert r.failures, "com o vértice perto da borda, algumas réplicas têm de sair da faixa"
    first = "vértice fora da faixa medida no orçamento 1e+11"
    assert all(k.startswith(("vértice fora da faixa medida no orçamento ", "parábola sem mínimo no orçamento "))
               for k in r.failures), r.failures
    assert max(r.failures, key=r.failures.get) == first, r.failures
    assert r.samples["a"].size == 400 - r.n_failed and 0 < r.drop_rate < 0.5
    cut = ~small | (n < truth.n_opt(c.min()) / 2)  # sem o lado direito: o vértice sai da faixa
    with pytest.raises(ValueError, match="falha nos próprios dados observados: vértice fora"):
        fit.parametric_bootstrap(fit.IsoFlopPipeline(c[cut], n[cut], d[cut]), losses[cut],
                                 fit.NoiseModel("relative", 0.007), n_boot=50)


def test_bootstrap_modes_and_intervals():
    (c, lr, b), losses, noise = _hyper_data()
    p = fit.HyperPipeline(c, lr, b, predict_at=(1e14,))
    r = fit.parametric_bootstrap(p, losses, noise, n_boot=300, seed=1)
    assert r.centre == "superfície" and r.method == "pivot" and r.targets is not None
    lo, hi = r.ci("alpha_lr")
    assert lo < r.estimate["alpha_lr"] < hi
    assert r.ci("alpha_lr", method="percentile") != (lo, hi)
    assert set(r.intervals()) == set(p.names) and r.std("alpha_lr") > 0
    s = fit.parametric_bootstrap(p, losses, noise, n_boot=100, smooth=p.smooth)
    assert s.centre == "suavizado" and s.method == "percentile"
    with pytest.raises(ValueError, match="alvos"):
        s.ci("alpha_lr", method="pivot")
    with pytest.raises(ValueError, match="quantidade desconhecida 'x'"):
        r.ci("x")
    iso = fit.parametric_bootstrap(fit.IsoFlopPipeline(*_isoflop_data()[0]), _isoflop_data()[1], noise, n_boot=100)
    assert iso.centre == "suavizado" and iso.method == "percentile"


def test_smoothers_reproduce_their_own_fit():
    (c, n, d), losses, _ = _isoflop_data()
    p = fit.IsoFlopPipeline(c, n, d)
    sm = p.smooth(losses)
    assert p(sm)["a"] == pytest.approx(p(losses)["a"])  # a parábola de uma parábola é ela mesma
    (c, lr, b), losses, _ = _hyper_data()
    h = fit.HyperPipeline(c, lr, b)
    truth = cal.HyperTruth().loss(c, lr, b)
    # a bacia ponderada acompanha a verdade perto do ótimo melhor que o ruído (0,7%)
    near = truth <= np.repeat(np.minimum.reduceat(truth[h.order], h.starts), h.counts)[np.argsort(h.order)] * 1.02
    assert np.abs(np.log(h.smooth(truth) / truth))[near].max() < 0.002


def test_bootstrap_rejects_bad_arguments():
    noise = fit.NoiseModel("relative", 0.01)
    with pytest.raises(ValueError, match="n_boot deve ser um inteiro ≥ 10; recebi 5"):
        fit.parametric_bootstrap(lambda v: {"m": 1.0}, [1.0, 2.0], noise, n_boot=5)
    with pytest.raises(ValueError, match="NoiseModel"):
        fit.parametric_bootstrap(lambda v: {"m": 1.0}, [1.0, 2.0], 0.01)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        fit.parametric_bootstrap(lambda v: {"m": 1.0}, [1.0, 2.0], noise, level=90)
    with pytest.raises(ValueError, match="smooth"):
        fit.parametric_bootstrap(lambda v: {"m": 1.0}, [1.0, 2.0], noise, smooth="sim")


# --- a calibração: cobre ~90% e pode falhar -----------------------------------------------------

REPS = 100


@pytest.mark.parametrize("design", ["isoflop", "hyper"])
def test_intervals_cover_the_truth_at_the_nominal_rate(design):
    lo, hi = cal.binomial_band(REPS)  # 99% das coberturas de um método calibrado caem aqui
    report = cal.coverage(design, reps=REPS, n_boot=200, seed=1)
    for q in report.quantities.values():
        assert lo <= q.coverage <= hi, (q.name, q.coverage, (lo, hi))
    assert report.mean_drop_rate < 0.02 and not report.failed_estimates


@pytest.mark.parametrize("design", ["isoflop", "hyper"])
def test_the_check_fails_when_the_bootstrap_is_too_narrow_or_too_wide(design):
    lo, hi = cal.binomial_band(REPS)
    narrow = cal.coverage(design, reps=REPS, n_boot=200, seed=1, boot_noise_scale=0.3)
    assert all(q.coverage < lo for q in narrow.quantities.values())
    wide = cal.coverage(design, reps=REPS, n_boot=200, seed=1, boot_noise_scale=3.0)
    assert all(q.coverage > hi for q in wide.quantities.values())


def test_truths_of_the_synthetic_laws():
    t = cal.IsoFlopTruth()
    c = 1e12
    n = np.logspace(3, 7, 20001)
    best = n[np.argmin(t.loss(n, c / (6 * n)))]
    assert best == pytest.approx(float(t.n_opt(c)), rel=1e-3)
    assert t.a == pytest.approx(0.32 / 0.62) and t.a + t.b == pytest.approx(1.0)
    h = cal.HyperTruth()
    assert h.loss(c, h.lr_opt(c), h.batch_opt(c)) < h.loss(c, 2 * h.lr_opt(c), h.batch_opt(c))
    assert h.loss(c, 2 * h.lr_opt(c), h.batch_opt(c)) > h.loss(c, h.lr_opt(c) / 2, h.batch_opt(c))  # assimétrica


# --- linha de comando ----------------------------------------------------------------------------

def test_cli_prints_coverage_in_portuguese(capsys):
    assert cal.main(["--design", "hyper", "--reps", "5", "--n-boot", "50", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "alpha_lr" in out and "alpha_batch" in out and "cobertura" in out
    assert "erro-padrão binomial" in out and "meia-largura mediana" in out
    assert "0,70%" in out and "." not in out.split("cobertura")[1].split("%")[0]


@pytest.mark.parametrize("argv, match", [
    (["--reps", "0"], "--reps deve ser um inteiro ≥ 1"),
    (["--design", "chinchilla"], "opção inválida"),
    (["--n-boot", "abc"], "--n-boot deve ser um inteiro ≥ 10"),
    (["--sigma", "2"], "--sigma deve ser um número"),
    (["--nada"], "argumentos desconhecidos"),
])
def test_cli_bad_arguments_exit_2_with_one_line(argv, match, capsys):
    assert cal.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("erro: ") and match in err
    assert "Traceback" not in err
