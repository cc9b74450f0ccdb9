"""O módulo do capítulo 7 (``helpers.chapters.cap07``): tabelas, números e frases de comparação.

Os números colados na prosa são conferidos contra contas independentes — nos resultados
versionados e numa grade sintética em que a resposta certa é conhecida (e em que as frases
de comparação têm de virar).
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.chapters import cap07, common
from helpers.laws import deepseek, fit
from helpers.presentation.plots import fmt, format_si


@pytest.fixture(scope="module")
def real():
    table = common.runs_table(common.records(cap07.HYPER_RESULTS))
    return table, cap07.analysis(table, n_boot=100)


def test_counts_and_noise_match_the_raw_results(real):
    table, ch = real
    recs = common.records(cap07.HYPER_RESULTS)
    assert ch.numbers["cap07_treinos"] == len(recs)
    assert ch.numbers["cap07_minutos"] == fmt(sum(r["wall_time_s"] for r in recs) / 60, ".0f")
    assert ch.tolerance == pytest.approx(max(0.0025, 2 * ch.noise["rel_std"]))
    assert ch.numbers["tolerancia"] == fmt(100 * ch.tolerance, ".1f")
    assert ch.numbers["ruido_razao"] == fmt(ch.noise["rel_std"] / 0.0025, ".1f")


def test_basin_numbers_recomputed_from_the_smallest_grid(real):
    table, ch = real
    c0 = table["budget"][table["seed"] == 0].min()
    idx = (table["seed"] == 0) & (table["budget"] == c0)
    near = fit.near_optimal(table["loss"][idx], ch.tolerance)
    assert ch.numbers["bacia_total"] == int(idx.sum())
    assert ch.numbers["bacia_quase"] == int(near.sum())
    assert ch.numbers["bacia_fator_taxa"] == fmt(table["lr"][idx][near].max() / table["lr"][idx][near].min(), ".0f")
    assert ch.numbers["bacia_fator_lote"] == fmt(table["batch"][idx][near].max() / table["batch"][idx][near].min(),
                                                 ".0f")
    best = np.nanargmin(table["loss"][idx])
    assert ch.numbers["bacia_lote_melhor"] == fmt(table["batch"][idx][best], ",.0f")
    # Passos: C / (M · lote) — a conta do capítulo 3, feita à mão.
    m = table["M"][idx][0]
    assert float(ch.numbers["bacia_passos_1024"].replace(".", "")) == pytest.approx(c0 / (m * 1024), abs=1)


def test_edge_budgets_are_those_whose_best_run_sits_on_the_smallest_batch(real):
    table, ch = real
    edge = []
    for c in ch.budgets:
        idx = (table["seed"] == 0) & (table["budget"] == c)
        if table["batch"][idx][np.nanargmin(table["loss"][idx])] == table["batch"][idx].min():
            edge.append(format_si(c, 3))
    assert ch.numbers["borda_orcamentos"] == (" e ".join(edge) if edge else "nenhum")


def test_comparison_words_follow_the_numbers(real):
    _, ch = real
    mid = float(np.sqrt(ch.budgets[0] * ch.budgets[-1]))
    ours, theirs = float(ch.laws.batch_opt(mid)), float(deepseek.batch_opt(mid))
    assert ch.numbers["b_lote_vs_ds"] == ("menores" if ours < theirs else "maiores")
    assert ch.numbers["b_razao"] == fmt(theirs / ours, ".1f")
    assert ch.numbers["b_expoente_vs_ds"] == ("maior" if ch.laws.batch.alpha > 0.3271 else "menor")
    lo, hi = ch.laws.lr_boot.ci("alpha")
    assert (ch.numbers["lr_zero"] == "compatível com zero") == (lo <= 0 <= hi)
    assert ch.numbers["lr_contem"] == ("contém" if lo <= -0.125 <= hi else "não contém")
    assert ch.numbers["lr_vs_ds"] == ("abaixo" if ch.laws.lr_opt(mid) < deepseek.eta_opt(mid) else "acima")


def test_tables_have_one_row_per_budget_and_per_repeated_config(real):
    table, ch = real
    assert ch.tables["orcamentos"].count("\n") == 1 + np.unique(table["budget"]).size
    repeated = np.unique(np.stack([table[k] for k in ("budget", "lr", "batch")], 1)[table["seed"] > 0], axis=0)
    assert ch.tables["ruido"].count("\n") == 1 + len(repeated)


def _synthetic_table(batch_exp: float, lr_exp: float) -> dict[str, np.ndarray]:
    """Grade taxa × lote em 3 orçamentos com ótimo em B = 2·C^batch_exp e η = 0,01·(C/1e11)^lr_exp."""
    rows = {k: [] for k in ("budget", "lr", "batch", "loss", "seed", "n_layer", "d_model", "M", "6N1", "6N2", "N",
                            "tokens", "steps", "diverged", "wall_time_s")}
    for c in (1e11, 1e12, 1e13):
        b_opt, lr_opt = 2 * c**batch_exp, 0.01 * (c / 1e11) ** lr_exp
        for lr in lr_opt * 2.0 ** np.arange(-3, 4):
            for b in b_opt * 2.0 ** np.arange(-3, 4):
                for seed in ((0, 1, 2) if (lr == lr_opt and b == b_opt) else (0,)):
                    loss = 3 * (1 + 0.02 * np.log2(lr / lr_opt) ** 2 + 0.02 * np.log2(b / b_opt) ** 2)
                    loss *= 1 + 0.0004 * (seed - 1)
                    for k, v in (("budget", c), ("lr", lr), ("batch", b), ("loss", loss), ("seed", seed),
                                 ("n_layer", 2), ("d_model", 32), ("M", 1e5), ("6N1", 6e4), ("6N2", 8e4),
                                 ("N", 1e4), ("tokens", c / 1e5), ("steps", c / 1e5 / b), ("diverged", False),
                                 ("wall_time_s", 1.0)):
                        rows[k].append(v)
    return {k: np.asarray(v, dtype=bool if k == "diverged" else float) for k, v in rows.items()}


@pytest.mark.parametrize("batch_exp, word", [(0.5, "maior"), (0.2, "menor")])
def test_synthetic_grid_recovers_the_law_and_flips_the_sentence(batch_exp, word):
    ch = cap07.analysis(_synthetic_table(batch_exp, -0.1), n_boot=50)
    assert ch.laws.batch.alpha == pytest.approx(batch_exp, abs=0.02)
    assert ch.laws.lr.alpha == pytest.approx(-0.1, abs=0.02)
    assert ch.numbers["b_expoente_vs_ds"] == word
    assert ch.numbers["b_cresce"] == ("mais" if word == "maior" else "menos")
    assert ch.numbers["lr_cai"] == "cai com o orçamento"
    assert ch.tolerance == 0.0025  # ruído sintético de 0,04%: vale o limiar do DeepSeek


def test_figures_are_built_without_error(real):
    import matplotlib.pyplot as plt

    _, ch = real
    for plot in (cap07.plot_basin, cap07.plot_grids, cap07.plot_laws):
        fig = plot(ch)
        assert fig.axes
        plt.close(fig)
