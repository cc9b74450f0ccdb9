"""Capítulo 10 v2: o deslocamento pareado de log M_opt e a inclinação de a em H, contra leis conhecidas."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from helpers.chapters import cap10_specs as Q
from helpers.chapters.cap10_v2 import PairedShift, slope_vs_h
from helpers.laws.fit.calibrated import IsoFlopPipeline, parametric_bootstrap
from helpers.laws.fit.noise import NoiseModel

# Uma superfície L = E + A/M^α + B/(ρD)^β: M_opt ∝ ρ^a C^a com a = β/(α+β), exatamente.
E, A, B, ALPHA, BETA = 1.2, 60.0, 40.0, 0.34, 0.28
A_TRUE = BETA / (ALPHA + BETA)
BUDGETS = np.logspace(10.5, 12.1, 5)


def _m_opt(c, rho):
    # d/dM [A M^-α + B ρ^-β (C/M)^-β] = 0  →  M^(α+β) = (αA / (βB ρ^-β)) C^β
    return ((ALPHA * A) / (BETA * B * rho ** -BETA) * c ** BETA) ** (1 / (ALPHA + BETA))


def _design(rho, centre_rho=1.0):
    """8 tamanhos por orçamento, 0,15 década entre eles, centrados no vértice de ``centre_rho``."""
    b, m = [], []
    for c in BUDGETS:
        u0 = math.log10(_m_opt(c, centre_rho))
        for k in range(-4, 4):
            b.append(c)
            m.append(10 ** (u0 + 0.15 * (k + 0.5)))
    b, m = np.array(b), np.array(m)
    d = b / m
    return b, m, d, E + A * m ** -ALPHA + B * (rho * d) ** -BETA


def test_paired_shift_recovers_the_dilution_law_without_noise():
    x, r = _design(0.5), _design(1.0)
    pipe = PairedShift(IsoFlopPipeline(*x[:3]), IsoFlopPipeline(*r[:3]))
    est = pipe(np.concatenate([x[3], r[3]]))
    truth = A_TRUE * math.log10(0.5)
    assert est["shift"] == pytest.approx(truth, abs=0.01)
    for c in BUDGETS:
        assert est[f"shift@{c:g}"] == pytest.approx(truth, abs=0.015)
    assert est["delta_a"] == pytest.approx(0.0, abs=0.01)
    assert est["a_r"] == pytest.approx(A_TRUE, abs=0.02)


def test_paired_shift_interval_covers_the_truth_under_noise():
    x, r = _design(0.5), _design(1.0)
    pipe = PairedShift(IsoFlopPipeline(*x[:3]), IsoFlopPipeline(*r[:3]))
    noise = NoiseModel("relative", 0.004, dof=10, n_groups=5, source="sementes")
    rng = np.random.default_rng(3)
    truth, hits, hits_a, n = A_TRUE * math.log10(0.5), 0, 0, 40
    for _ in range(n):
        obs = np.concatenate([x[3], r[3]]) * (1 + 0.004 * rng.standard_normal(x[3].size * 2))
        boot = parametric_bootstrap(pipe, obs, noise, n_boot=200, seed=int(rng.integers(1 << 30)), max_drop_rate=1.0)
        lo, hi = boot.ci("shift")
        hits += lo <= truth <= hi
        lo, hi = boot.ci("delta_a")
        hits_a += lo <= 0 <= hi
    # 90% nominal; com 40 réplicas, ≥ 29 acertos exclui uma cobertura real abaixo de ~60%
    assert hits >= 29 and hits_a >= 29


def test_paired_shift_needs_the_same_budgets():
    x, r = _design(0.5), _design(1.0)
    keep = x[0] < BUDGETS[-1]
    with pytest.raises(ValueError, match="mesmos orçamentos"):
        PairedShift(IsoFlopPipeline(*(v[keep] for v in x[:3])), IsoFlopPipeline(*r[:3]))


def test_slope_vs_h_is_the_least_squares_slope_with_a_sample_interval():
    rng = np.random.default_rng(0)
    h = np.array([0.16, 0.21, 0.24, 0.27])
    a = 0.6 - 0.5 * h
    fits = []
    for hi, ai in zip(h, a):
        boot = SimpleNamespace(samples={"a": ai + 0.01 * rng.standard_normal(500)})
        fit = SimpleNamespace(boot=boot, value=lambda name="a", ai=ai: ai)
        fits.append(SimpleNamespace(common=fit, own=None, h_train=hi))
    out = slope_vs_h(fits)
    assert out["slope"] == pytest.approx(-0.5, abs=1e-9)
    lo, hi = out["ci"]
    assert lo < -0.5 < hi and hi - lo < 0.5
    assert math.isnan(slope_vs_h(fits[:2])["slope"])


def test_corpus_names_round_trip_through_records():
    for name, corpus in Q.CORPORA_V2.items():
        rec = {"run_id": "x", "train": {"corpus": {"kind": "python", **corpus}}}
        assert Q.corpus_of(rec) == name
    with pytest.raises(ValueError, match="fora do estudo"):
        Q.corpus_of({"run_id": "x", "train": {"corpus": {"degradation": "ruido", "degradation_level": 0.1}}})


def test_committed_specs_are_the_isoflop_runs_with_only_the_corpus_changed():
    iso = json.loads(Q.ISOFLOP_SPEC.read_text(encoding="utf-8"))
    want = [r for r in iso["runs"] if r["train.budget_flops"] <= Q.MAX_BUDGET]
    for name in Q.CORPORA_V2:
        if name == "limpo":
            continue
        spec = json.loads(Q.spec_path(name).read_text(encoding="utf-8"))
        assert spec["base"] == iso["base"] and spec["refine"] == iso["refine"]
        runs = [{k: v for k, v in r.items() if k != "train.corpus"} for r in spec["runs"]]
        assert runs[:len(want)] == want  # depois deles, só os degraus que o refine acrescentou
        ladder = [list(v) for v in iso["refine"]["ladder"]["values"]]
        budgets = {r["train.budget_flops"] for r in want}
        for extra in runs[len(want):]:
            assert extra["train.budget_flops"] in budgets
            assert [extra["model.num_hidden_layers"], extra["model.hidden_size"]] in ladder
        assert all(r["train.corpus"] == Q.CORPORA_V2[name] for r in spec["runs"])
        assert len({spec["runs"][i]["train.budget_flops"] for i in spec["mini_runs"]}) == 3
    diluted = json.loads(Q.spec_path("diluido").read_text(encoding="utf-8"))["description"]
    assert "Previsão escrita antes dos treinos" in diluted and "Δlog₁₀ M_opt" in diluted


def test_spec_command_refuses_bad_input_with_one_line(capsys):
    assert Q.main(["spec"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("erro:") and err.count("\n") == 1
    with pytest.raises(SystemExit):
        Q.main(["spec", "--corpus", "lixo"])


def test_seeds_repeat_the_best_size_of_the_small_budgets_once():
    from helpers.engine.results_store import load_results

    spec = json.loads(Q.spec_path("faixa1").read_text(encoding="utf-8"))
    spec["runs"] = [r for r in spec["runs"] if r.get("train.seed", 0) == 0]
    recs = load_results(Q.results_path("faixa1"))
    out, added = Q.add_seeds(spec, recs)
    assert len(added) == 3 * len(Q.SEED_BUDGETS)
    new = out["runs"][len(spec["runs"]):]
    assert sorted({r["train.seed"] for r in new}) == [1, 2, 3]
    by_id = {r["run_id"]: r for r in recs}
    from helpers.engine.specs import expand, parse_spec

    planned = expand(parse_spec(spec, "x"))
    for c in Q.SEED_BUDGETS:
        group = [(p, o) for p, o in zip(planned, spec["runs"]) if abs(o["train.budget_flops"] - c) < 1e3]
        best = min(group, key=lambda po: by_id[po[0].run_id]["final_val_bpb"])[1]
        assert [r for r in new if r["train.budget_flops"] == best["train.budget_flops"]] == [
            {**best, "train.seed": s} for s in (1, 2, 3)]
    assert Q.add_seeds(out, recs)[1] == []  # rodar de novo não duplica
    with pytest.raises(ValueError, match="sem resultado"):
        Q.add_seeds(spec, recs[:5])


def test_coverage_in_this_design_uses_the_dilution_truth_and_checks_its_arguments():
    import math

    from helpers.chapters import cap10_v2

    q = cap10_v2.analysis(n_boot=50, corpora=("limpo", "diluido"))
    cov = cap10_v2.shift_coverage(q, n_sets=40, n_boot=50)
    assert cov["truth"]["shift"] == pytest.approx(cov["a_true"] * math.log10(0.5))
    assert cov["truth"]["delta_a"] == 0.0
    assert cov["n_sets"] == 40 and all(0 <= c <= 1 for c in cov["coverage"].values())
    # com 8 tamanhos em torno do vértice, a parábola quase não erra: o viés do desenho é pequeno
    assert abs(cov["bias"]["shift"]) < 0.02 and abs(cov["bias"]["delta_a"]) < 0.02
    # 95% nominais; com 40 conjuntos, menos de 30 acertos indicaria um intervalo muito estreito
    assert all(c >= 30 / 40 for c in cov["coverage"].values())
    for bad in ({"n_sets": 3}, {"n_boot": 2.5}, {"rho": 0.0}, {"rho": 1.5}):
        with pytest.raises(ValueError, match="deve"):
            cap10_v2.shift_coverage(q, **bad)
