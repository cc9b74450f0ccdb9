"""Os módulos do capítulo 11: números e frases conferidos contra curvas sintéticas e contas feitas aqui."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.chapters import cap11, cap11_alocacao
from helpers.chapters.cap04 import DEPTH_WIDTH_SHAPES, depth_config
from helpers.chapters.common import ROOT
from helpers.laws import fit
from helpers.presentation.plots import fmt


def _raw(name):
    lines = (ROOT / "results" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in (json.loads(x) for x in lines if x.strip()) if not r.get("mini")]


def _synthetic_record(drop=0.95, total=1e6, points=20):
    """Uma curva exatamente ``E + k·t^(-α)`` com taxa constante até 80% e a perda final ``drop`` × a lei."""
    law = lambda t: 1.2 + 40.0 * t ** -0.4  # noqa: E731
    trace = [{"tokens": 0, "lr": 0.0, "val_bpb": 5.0}]
    for i in range(1, points + 1):
        tok = total * i / points
        lr = 1e-3 if tok <= 0.8 * total * (1 + 1e-9) else 3.16e-4
        trace.append({"tokens": tok, "lr": lr, "val_bpb": law(tok) if lr == 1e-3 else law(tok) * drop})
    return {"trace": trace, "tokens": total, "final_val_bpb": law(total) * drop}, law


def test_extrapolation_errors_on_an_exact_law():
    record, law = _synthetic_record()
    errors = cap11.extrapolation_errors(record, 0.95, (0.4, 0.6))
    for f in (0.4, 0.6):
        plateau, raw, corrected = errors[f]
        assert abs(plateau) < 1e-3  # a lei exata prevê o fim da fase constante
        assert raw == pytest.approx(100 * (1 / 0.95 - 1), rel=1e-3)  # sem as quedas, erra para cima
        assert abs(corrected) < 1e-3  # o fator de queda certo corrige
    # sem os pontos antes de 20%, com 40% sobram menos pontos
    cut = cap11.extrapolation_errors(record, 0.95, (0.4,), start=0.2)
    assert cut[0.4][0] == pytest.approx(0, abs=1e-3)


def test_block_gain_of_a_convex_curve_shrinks_with_the_block():
    record, _ = _synthetic_record()
    t, l = fit.constant_lr_phase(record["trace"])
    tau = 0.002 / (0.1 * t[-1])
    stops = [fit.early_stopping(t, l, block_tokens=b * t[-1], threshold=tau).stop_index for b in (0.05, 0.2)]
    assert stops[1] <= stops[0]  # bloco maior: ganho médio menor, a regra dispara antes (ou junto)


@pytest.fixture(scope="module")
def inputs():
    return cap11.load_inputs()


@pytest.fixture(scope="module")
def sections(inputs):
    ext = cap11.extrapolation_study(inputs)
    fr = cap11.frontier_stopping(inputs)
    mg = cap11_alocacao.marginal_gains_study(fr, inputs.noise)
    dr = cap11_alocacao.doublings_study(mg)
    return {"ext": ext, "fr": fr, "mg": mg, "dr": dr, "es": cap11.threshold_stopping(inputs),
            "fail": cap11.schedule_failures(inputs), "pw": cap11_alocacao.depth_width_study(inputs.noise)}


def test_drop_factor_from_the_raw_schedule_runs(inputs):
    runs = [r for r in _raw("cap05_agendas") if r["train"]["seed"] == 0 and r["train"]["budget_flops"] == 3e12
            and r["train"]["tokenizer"]["kind"] == "bytes"]
    final = {r["train"]["schedule"]: r["final_val_bpb"] for r in runs}
    assert inputs.drop_factor == pytest.approx(final["multistep"] / final["constant"])


def test_extrapolation_numbers_and_words(inputs, sections):
    n = sections["ext"].numbers
    assert n["iso_n"] == len(_raw("cap08_isoflop"))
    assert 0 < n["ext_n40"] <= n["ext_n50"] <= n["iso_n"]
    assert (n["ext_bruto_quantos"] == "todos os") == (n["ext_bruto_pos"] == n["ext_n50"])
    s50 = sections["ext"].data["summary"][0.5]
    assert n["ext_plat_vs_ruido"] == ("abaixo do" if s50["plateau_med"] < 100 * inputs.noise["rel_std"] else "acima do")


def test_stopping_counts_the_runs_in_the_files(sections):
    expected = (len(_raw("cap08_isoflop")) + sum(r["train"]["schedule"] != "cosine" for r in _raw("cap05_agendas"))
                + len(_raw("cap06_lote")) + len(_raw("cap06_contexto")) + len(_raw("cap09_previsao")))
    n = sections["es"].numbers
    assert n["es_n"] == expected
    assert n["es_parados_1"] <= n["es_parados_2"] <= n["es_parados_4"]  # limiar mais exigente, menos paradas
    for key in ("1", "2", "4"):
        pred, real = (float(n[f"es_{w}_{key}"].replace(",", ".")) for w in ("prev", "real"))
        assert (n[f"es_sub_{key}"] == "subestimava") == (pred < real)


def test_frontier_rule_partition(sections):
    n = sections["fr"].numbers
    assert n["fr_esq"] + n["fr_dir"] == n["fr_parados"]
    assert n["fr_n_esq"] + n["fr_n_dir"] == sections["ext"].numbers["iso_n"]
    left_rate, right_rate = n["fr_esq"] / n["fr_n_esq"], n["fr_dir"] / n["fr_n_dir"]
    assert (n["fr_previa"] == "o que o argumento do envelope previa") == (left_rate > right_rate)


def test_failure_words_follow_the_errors(sections):
    n = sections["fail"].numbers
    err = {k: float(n[f"f_err_{k}"].replace(",", ".")) for k in ("c0", "c20", "c30", "ms", "dobro", "dobro20")}
    assert (n["f_c20_cmp"] == "cai") == (abs(err["c20"]) < abs(err["c0"]))
    assert (n["f_ms_cmp"] == "parece melhor") == (abs(err["ms"]) < abs(err["c0"]))
    assert (n["f_dobro20_cmp"] == "melhor") == (abs(err["dobro20"]) < abs(err["dobro"]))


def test_marginal_gains_and_ratio_point(sections):
    mg = sections["mg"]
    a3, top = mg.data["a3"], mg.data["iso"].accepted[-1]
    m2 = cap11_alocacao.ratio_point(a3, top.budget, 2.0)
    g = fit.marginal_gains(a3, m2, top.budget / m2)
    assert float(g.ratio) == pytest.approx(2.0, rel=1e-6)
    # por definição, g_M/g_D = αA·M^-α / (βB·D^-β)
    d2 = top.budget / m2
    assert float(g.ratio) == pytest.approx(a3.alpha * a3.A * m2**-a3.alpha / (a3.beta * a3.B * d2**-a3.beta), rel=1e-9)
    ratio_max = float(fit.marginal_gains(a3, top.scale_opt, top.tokens_opt).ratio)
    assert mg.numbers["mg_ratio_max"] == fmt(ratio_max, ".2f")
    assert (mg.numbers["mg_lado_max"] == "modelo demais") == (ratio_max < 1)
    assert (mg.numbers["ex4_lado"].startswith("à esquerda")) == (m2 < top.scale_opt)
    with pytest.raises(ValueError, match="ratio"):
        cap11_alocacao.ratio_point(a3, top.budget, -1.0)


def test_doublings_shrink_geometrically(sections):
    dr, a3 = sections["dr"], sections["mg"].data["a3"]
    n = dr.numbers
    assert n["dr_razao_M"] == fmt(2 ** -a3.alpha, ".2f")
    mid = dr.data["mid"]
    # só o modelo: a k-ésima dobra rende A·M^-α·(1 − 2^-α)·2^(-α(k−1)), conta feita aqui
    gain = lambda k: a3.A * mid.scale_opt**-a3.alpha * (1 - 2**-a3.alpha) * 2 ** (-a3.alpha * (k - 1))  # noqa: E731
    assert n["dr_M1"] == fmt(gain(1), ".3f") and n["dr_M3"] == fmt(gain(3), ".3f")


def test_depth_width_best_shape_from_the_raw_runs(inputs, sections):
    groups = {}
    for r in _raw("cap04_profundidade"):
        key = (r["model"]["num_hidden_layers"], r["model"]["hidden_size"])
        if key in DEPTH_WIDTH_SHAPES and r["model"]["intermediate_size"] == depth_config(*key).intermediate_size:
            groups.setdefault(key, []).append(r["final_val_bpb"])
    means = {k: np.mean(v) for k, v in groups.items()}
    best = min(means, key=means.get)
    assert sections["pw"].numbers["pw_melhor"] == f"({best[0]}, {best[1]})"
    assert sections["pw"].numbers["pw_fundo"] == "(16, 16)" and sections["pw"].numbers["pw_largo"] == "(1, 64)"


def _smallest_displayed_pt(fig) -> float:
    import matplotlib.text

    from helpers.presentation import plots

    fig.canvas.draw()
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    return min(t.get_fontsize() for t in texts) * plots.displayed_scale(fig)


def test_figures_are_legible_at_page_width(inputs, sections):
    import matplotlib.pyplot as plt

    from helpers.presentation import plots

    mg = sections["mg"]
    figs = [cap11.plot_extrapolation_examples(inputs), cap11.plot_schedule_fits(sections["fail"]),
            cap11.plot_longer_run(sections["fail"]), cap11.plot_frontier_stops(sections["fr"]),
            cap11_alocacao.plot_data_doubling(cap11_alocacao.data_doubling_study(mg, sections["dr"]))]
    for fig in figs:
        assert _smallest_displayed_pt(fig) >= plots.MIN_READABLE_PT - 1e-6
        plt.close(fig)
