"""O módulo do capítulo 8 (``helpers.chapters.cap08``): escada, perfis, representações,
abordagem 3 e as frases de comparação, conferidos contra contas independentes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.chapters import cap08, common
from helpers.laws import deepseek
from helpers.model.flops import deepseek_m, six_n1
from helpers.presentation.plots import fmt, format_si


@pytest.fixture(scope="module")
def real():
    table, note = cap08.isoflop_table()
    assert note == ""
    return table, cap08.analysis(table, n_boot=100, n_boot_reps=50, n_boot_a3=10)


def test_attention_share_by_hand():
    # (1, 16), contexto 128: M = 72·1·16² + 12·1·16·128 = 18.432 + 24.576 = 43.008 FLOPs/token.
    assert cap08.ladder_m()[0] == pytest.approx(43008)
    assert cap08.attention_share(1, 16, 43008) == pytest.approx(24576 / 43008)


def test_ladder_table_ratios_come_from_the_flops_module():
    text = cap08.ladder_table()
    for i in range(len(cap08.SIZE_LADDER)):
        cfg = cap08.ladder_config(i)
        assert fmt(six_n1(cfg) / deepseek_m(cfg, 128), ".2f") in text.splitlines()[2 + i]


def test_table_matches_the_raw_records(real):
    table, ch = real
    recs = common.records(cap08.ISOFLOP_RESULTS)
    assert ch.numbers["iso_treinos"] == len(recs)
    small = min(r["train"]["budget_flops"] for r in recs)
    biggest = max((r for r in recs if r["train"]["budget_flops"] == small), key=lambda r: r["flops_per_token"]["M"])
    assert ch.numbers["passos_maior_menor"] == fmt(biggest["steps"], ",.0f")


def test_profile_counts_and_interval_words(real):
    _, ch = real
    assert ch.numbers["iso_aceitos"] + ch.numbers["iso_rejeitados"] == len(ch.budgets)
    lo, hi = ch.iso.boot.ci("a")
    assert ch.numbers["iso_contem"] == ("contém" if lo <= 0.5243 <= hi else "não contém")
    assert ch.numbers["iso_linhas_t4"] == sum(lo <= r.a <= hi for r in deepseek.TABLE4)
    m_opt = [p.scale_opt for p in ch.iso.accepted]
    assert (ch.numbers["mopt_min"], ch.numbers["mopt_max"]) == (format_si(min(m_opt), 2), format_si(max(m_opt), 2))


def test_representation_words_follow_the_exponents(real):
    _, ch = real
    a_m, a_6n1 = ch.reps["M"].a, ch.reps["6N1"].a
    assert ch.numbers["a_6n1_vs_m"] == ("maior" if a_6n1 > ch.iso.a else "menor")
    assert a_m == pytest.approx(ch.iso.a)  # mesmo ajuste pontual, com menos reamostragens
    disp = {k: r.loss_law.residual_std for k, r in ch.reps.items()}
    assert ch.numbers["rep_menor_dispersao"] == cap08.REPRESENTATIONS[min(disp, key=disp.get)]


def test_approach3_residual_counts_recomputed(real):
    table, ch = real
    ok = np.isfinite(table["loss"])
    worse = 0
    for c in ch.budgets:
        idx = ok & (table["budget"] == c)
        j = np.argmax(table["M"][idx])
        pred = ch.a3.predict(table["M"][idx][j], table["tokens"][idx][j])
        worse += table["loss"][idx][j] > pred * np.exp(0.01)
    assert ch.numbers["braco_pior_n"] == worse
    a3_ci, iso_ci = ch.a3.boot.ci("a"), ch.iso.boot.ci("a")
    overlap = a3_ci[0] <= iso_ci[1] and iso_ci[0] <= a3_ci[1]
    assert ch.numbers["a3_vs_iso"] == ("se sobrepõe ao" if overlap else "não se sobrepõe ao")


def test_spec_writer_reproduces_the_committed_spec(tmp_path):
    out = tmp_path / "cap08.json"
    assert cap08.main(["spec", "--out", str(out)]) == 0
    committed = common.ROOT / "experiments" / "cap08_isoflop.json"
    assert json.loads(out.read_text()) == json.loads(committed.read_text())


def test_figures_are_built_without_error(real):
    import matplotlib.pyplot as plt

    _, ch = real
    for plot in (cap08.plot_profiles, cap08.plot_allocation, cap08.plot_approach3):
        fig = plot(ch)
        assert fig.axes
        plt.close(fig)
