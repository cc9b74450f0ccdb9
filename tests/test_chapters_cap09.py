"""O módulo do capítulo 9 (``helpers.chapters.cap09``): a previsão, o intervalo e as frases
que comparam as representações com o ruído, conferidos contra contas independentes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from helpers.chapters import cap08, cap09, common
from helpers.engine import sweeps
from helpers.laws import fit
from helpers.presentation.plots import fmt


@pytest.fixture(scope="module")
def real():
    iso_table = common.runs_table(sweeps.experiment_results("cap08_isoflop"))
    noise = common.seed_noise(common.runs_table(sweeps.experiment_results("cap07_hiperparametros")))
    target = sweeps.experiment_results("cap09_previsao")[0]
    return cap09.analysis(iso_table, noise, target, n_boot=200, n_boot_reps=50)


def test_prediction_and_interval_recomputed(real):
    ch = real
    key = f"loss@{ch.budget:g}"
    assert ch.predicted == pytest.approx(ch.iso.boot.estimate[key])
    assert ch.interval == fit.prediction_interval(ch.iso.boot.samples[key], noise_rel=ch.noise["rel_std"])
    assert ch.measured == ch.target["final_val_bpb"]
    assert ch.numbers["prev_dentro"] == ("dentro" if ch.interval[0] <= ch.measured <= ch.interval[1] else "fora")
    assert ch.numbers["prev_erro"] == fmt(100 * (ch.measured - ch.predicted) / ch.predicted, "+.1f")
    largest = max(p.budget for p in ch.iso.accepted)
    assert ch.numbers["prev_fator"] == fmt(ch.budget / largest, ".0f")


def test_representation_budget_is_scale_times_tokens(real):
    ch = real
    for rep, r in ch.reps.items():
        assert r["budget"] == pytest.approx(ch.target["flops_per_token"][rep] * ch.target["tokens"])


def test_noise_comparison_follows_the_table(real):
    ch = real
    errors = [round(r["error_pct"], 1) for r in ch.reps.values()]
    spread, noise = max(errors) - min(errors), round(100 * ch.noise["rel_std"], 1)
    assert ch.numbers["rep_faixa"] == fmt(spread, ".1f")
    assert ch.numbers["rep_vs_ruido"] == ("mais que" if spread > noise else "menos que")
    assert ch.numbers["rep_dentro"] == sum(r["interval"][0] <= ch.measured <= r["interval"][1]
                                           for r in ch.reps.values())


def test_noise_comparison_flips_when_the_errors_are_close(real):
    ch = real
    close = {k: dict(r, error_pct=2.0 + 0.1 * i) for i, (k, r) in enumerate(ch.reps.items())}
    numbers = cap09._numbers(ch.iso, ch.target, ch.noise, ch.budget, ch.predicted, ch.interval, ch.measured, close)
    assert numbers["rep_vs_ruido"] == "menos que"
    assert numbers["rep_sinal"] == "todas"
    far = {k: dict(r, error_pct=-5.0 + 5 * i) for i, (k, r) in enumerate(ch.reps.items())}
    numbers = cap09._numbers(ch.iso, ch.target, ch.noise, ch.budget, ch.predicted, ch.interval, ch.measured, far)
    assert numbers["rep_vs_ruido"] == "mais que"
    assert numbers["rep_sinal"] == "nem todas"
    assert "passa do dobro" in numbers["rep_conclusao"]


def test_predict_loss_needs_the_budget_in_the_fit(real):
    with pytest.raises(ValueError, match="predict_at"):
        cap09.predict_loss(real.iso, 1.234e15, 0.01)


def test_spec_writer_reproduces_the_committed_spec(tmp_path):
    out = tmp_path / "cap09.json"
    assert cap09.main(["spec", "--out", str(out)]) == 0
    committed = common.ROOT / "experiments" / "cap09_previsao.json"
    assert json.loads(out.read_text()) == json.loads(committed.read_text())
    assert cap09.PREDICTION_BUDGET == cap08.PREDICTION_BUDGET == 10 * cap08.ISOFLOP_BUDGETS[-1]


def test_figures_are_built_without_error(real):
    import matplotlib.pyplot as plt

    for plot in (cap09.plot_prediction, cap09.plot_target_curve):
        fig = plot(real)
        assert fig.axes
        plt.close(fig)
    assert dataclasses.is_dataclass(real)
