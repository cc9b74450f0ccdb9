"""Capítulo 7 — leis de escala para hiperparâmetros (DeepSeek LLM §3.1).

A tolerância da região quase ótima a partir do ruído medido e as leis ``η_opt(C)`` e
``B_opt(C)`` ajustadas na grade de taxa × lote de ``results/cap07_hiperparametros.jsonl``.
Os capítulos 4, 8 e 10 tiram daqui a taxa e o lote dos seus treinos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..laws import deepseek, fit
from ..presentation.plots import (COLORS, fmt, format_si, markdown_table, new_figure, plot_basin_page, plot_fit_band,
                                  plot_hyper_grid)
from .common import ROOT, runs_table, seed_noise

__all__ = ["HYPER_RESULTS", "DEEPSEEK_TOLERANCE", "near_optimal_tolerance", "hyperparameter_laws", "chapter7_laws",
           "Chapter7", "analysis", "plot_basin", "plot_grids", "plot_laws"]

#: Os resultados da grade de hiperparâmetros.
HYPER_RESULTS = ROOT / "results" / "cap07_hiperparametros.jsonl"


def near_optimal_tolerance(rel_std: float, k: float = 2.0) -> float:
    """A tolerância da região quase ótima: ``max(0,25%, k · σ_rel)``.

    Com ruído entre sementes σ_rel, a diferença entre dois treinos tem desvio
    ``√2 · σ_rel``; ``k = 2`` deixa entrar quem não se distingue do melhor com ~1,4
    desvios da diferença. O 0,25% do DeepSeek só vale quando o ruído é bem menor.
    """
    if not (math.isfinite(rel_std) and rel_std >= 0):
        raise ValueError(f"rel_std deve ser finito e ≥ 0; recebi {rel_std}.")
    return max(0.0025, k * rel_std)

def hyperparameter_laws(table: dict[str, np.ndarray], *, tolerance: float, n_boot: int = 1000,
                        seed: int = 0) -> fit.HyperparameterLaws:
    """As leis η_opt(C) e B_opt(C) da grade (só a semente 0, para não pesar as repetições)."""
    grid = table["seed"] == 0
    return fit.fit_hyperparameter_laws(table["budget"][grid], table["lr"][grid], table["batch"][grid],
                                       table["loss"][grid], tolerance=tolerance, n_boot=n_boot, seed=seed)

def chapter7_laws(records: list[dict], *, n_boot: int = 1000) -> tuple[fit.HyperparameterLaws, dict]:
    """As leis do capítulo 7 com a tolerância justificada pelo ruído medido (ver :func:`near_optimal_tolerance`)."""
    table = runs_table(records)
    noise = seed_noise(table)
    tol = near_optimal_tolerance(noise["rel_std"])
    return hyperparameter_laws(table, tolerance=tol, n_boot=n_boot), noise


# --- o que o notebook mostra -------------------------------------------------------

#: O limiar do DeepSeek (§3.1), contra o qual o ruído medido é comparado.
DEEPSEEK_TOLERANCE = 0.0025


@dataclass(frozen=True)
class Chapter7:
    """Tudo o que o capítulo 7 mostra: os treinos, o ruído, as leis, as tabelas e os números.

    ``tables`` tem as tabelas em Markdown (``orcamentos``, ``ruido``, ``leis``); ``numbers``
    tem o texto de cada número colado na prosa (``{glue:text}`nome```), com a vírgula decimal.
    """

    table: dict[str, np.ndarray] = field(repr=False)
    noise: dict
    tolerance: float
    laws: fit.HyperparameterLaws = field(repr=False)
    budgets: np.ndarray
    tables: dict[str, str] = field(repr=False)
    numbers: dict[str, object]

    @property
    def grid(self) -> np.ndarray:
        """Máscara dos treinos da grade (semente 0), os que entram nas leis."""
        return self.table["seed"] == 0

    def budget_mask(self, budget: float) -> np.ndarray:
        """Os treinos da grade de um orçamento, entre os da grade (a indexação de ``laws.selected``)."""
        return self.table["budget"][self.grid] == budget


def _budget_table(table: dict[str, np.ndarray]) -> str:
    rows = []
    for c in np.unique(table["budget"]):
        idx = table["budget"] == c
        grid = idx & (table["seed"] == 0)
        rows.append([format_si(c, 3), f"({int(table['n_layer'][idx][0])}, {int(table['d_model'][idx][0])})",
                     format_si(table["M"][idx][0], 3),
                     " · ".join(fmt(v, ".2g") for v in np.unique(table["lr"][grid])),
                     " · ".join(fmt(v, ",.0f") for v in np.unique(table["batch"][grid])),
                     int(idx.sum()), int(table["diverged"][idx].sum()), fmt(table["wall_time_s"][idx].sum() / 60, ".1f")])
    return markdown_table(["C (FLOPs)", "(n_layer, d)", "M (FLOPs/token)", "taxas", "lotes (tokens)", "treinos",
                           "divergiram", "min"], rows)


def _noise_table(table: dict[str, np.ndarray]) -> str:
    keys = np.stack([table[k] for k in ("budget", "lr", "batch")], axis=1)
    rows = []
    for key in np.unique(keys[table["seed"] > 0], axis=0):
        idx = np.all(keys == key, axis=1) & np.isfinite(table["loss"])
        v = table["loss"][idx]
        rows.append([format_si(key[0], 3), fmt(key[1], ".2g"), fmt(key[2], ",.0f"),
                     " · ".join(fmt(x, ".3f") for x in v), fmt(np.ptp(v), ".3f"),
                     fmt(100 * v.std(ddof=1) / v.mean(), ".2f")])
    return markdown_table(["C", "taxa", "lote", "bpb (sementes 0, 1, 2)", "amplitude", "desvio (%)"], rows)


def _laws_table(laws: fit.HyperparameterLaws) -> str:
    rows = []
    for name, law, boot, ds_k, ds_a in (("η_opt", laws.lr, laws.lr_boot, deepseek.ETA_COEF, deepseek.ETA_EXP),
                                         ("B_opt (tokens)", laws.batch, laws.batch_boot, deepseek.BATCH_COEF,
                                          deepseek.BATCH_EXP)):
        lo, hi = boot.ci("alpha")
        rows.append([name, fmt(law.alpha, "+.3f"), f"[{fmt(lo, '+.3f')}, {fmt(hi, '+.3f')}]", fmt(ds_a, "+.4f"),
                     fmt(law.k, ".3g"), fmt(ds_k, ".4f")])
    return markdown_table(["lei", "expoente (este livro)", "IC 95% (bootstrap)", "expoente (DeepSeek)",
                           "coeficiente (este livro)", "coeficiente (DeepSeek)"], rows)


def _contains(interval: tuple[float, float], value: float) -> str:
    return "contém" if interval[0] <= value <= interval[1] else "não contém"


def _ratio(values: np.ndarray) -> float:
    return float(values.max() / values.min())


def _numbers(table, noise, tolerance, laws, budgets) -> dict[str, object]:
    grid = table["seed"] == 0
    sel, best = laws.selected, laws.best
    c0 = budgets[0]
    idx0 = grid & (table["budget"] == c0)
    in0 = idx0[grid]
    spread = table["loss"][idx0][np.isfinite(table["loss"][idx0])]
    n = {
        "cap07_treinos": int(table["loss"].size),
        "cap07_minutos": fmt(table["wall_time_s"].sum() / 60, ".0f"),
        "ruido_rel": fmt(100 * noise["rel_std"], ".2f"),
        "ruido_abs": fmt(noise["abs_std"], ".3f"),
        "ruido_razao": fmt(noise["rel_std"] / DEEPSEEK_TOLERANCE, ".1f"),
        "tolerancia": fmt(100 * tolerance, ".1f"),
        "bacia_quase": int(sel[in0].sum()),
        "bacia_total": int(idx0.sum()),
        "bacia_div": int(table["diverged"][idx0].sum()),
        "bacia_melhor": fmt(np.nanmin(spread), ".3f"),
        "bacia_pior": fmt(np.nanmax(spread), ".3f"),
    }
    # A largura da bacia no menor orçamento: o fator entre a maior e a menor taxa (e lote) quase ótimas.
    lr0, b0 = table["lr"][grid][sel & in0], table["batch"][grid][sel & in0]
    n["bacia_fator_taxa"] = fmt(_ratio(lr0), ".0f")
    n["bacia_fator_lote"] = fmt(_ratio(b0), ".0f")
    n["bacia_lote_melhor"] = fmt(float(table["batch"][grid][best & in0][0]), ",.0f")
    n["bacia_lote_min"] = fmt(float(table["batch"][idx0].min()), ",.0f")
    steps0 = table["steps"][idx0]
    n["bacia_passos_min"] = fmt(float(steps0.min()), ",.0f")
    n["bacia_passos_max"] = fmt(float(steps0.max()), ",.0f")
    n["bacia_lote_maior"] = fmt(float(table["batch"][idx0][np.argmin(steps0)]), ",.0f")
    at1024 = idx0 & (table["batch"] == 1024)
    n["bacia_passos_1024"] = fmt(float(table["steps"][at1024][0]), ",.0f") if at1024.any() else "—"
    # Orçamentos cujo melhor treino caiu no menor lote da grade (região quase ótima na borda).
    edge = []
    for c in budgets:
        idx = grid & (table["budget"] == c)
        if table["batch"][grid][best & idx[grid]][0] == table["batch"][idx].min():
            edge.append(format_si(c, 3))
    n["borda_orcamentos"] = " e ".join(edge) if edge else "nenhum"
    top = grid & (table["budget"] == budgets[-1])
    n["topo_quase"] = int(sel[top[grid]].sum())
    n["topo_total"] = int(top.sum())
    # As leis e a comparação com a Eq. 1 no meio da faixa.
    lr_ci, b_ci = laws.lr_boot.ci("alpha"), laws.batch_boot.ci("alpha")
    mid = float(np.sqrt(budgets[0] * budgets[-1]))
    lr_mid, lr_mid_ds = float(laws.lr_opt(mid)), float(deepseek.eta_opt(mid))
    b_mid, b_mid_ds = float(laws.batch_opt(mid)), float(deepseek.batch_opt(mid))
    n.update({
        "lr_alpha": fmt(laws.lr.alpha, "+.3f"), "lr_lo": fmt(lr_ci[0], "+.3f"), "lr_hi": fmt(lr_ci[1], "+.3f"),
        "b_alpha": fmt(laws.batch.alpha, "+.3f"), "b_lo": fmt(b_ci[0], "+.3f"), "b_hi": fmt(b_ci[1], "+.3f"),
        "n_quase": int(sel.sum()),
        "c_meio": format_si(mid, 3),
        "lr_meio": fmt(lr_mid, ".2g"), "lr_meio_ds": fmt(lr_mid_ds, ".2g"), "lr_razao": fmt(lr_mid_ds / lr_mid, ".1f"),
        "b_meio": fmt(b_mid, ",.0f"), "b_meio_ds": fmt(b_mid_ds, ",.0f"),
        "lr_contem": _contains(lr_ci, deepseek.ETA_EXP),
        "b_contem": _contains(b_ci, deepseek.BATCH_EXP),
    })
    # Frases de comparação escolhidas pelos números.
    n["b_razao"] = fmt(b_mid_ds / b_mid, ".1f")
    n["b_lote_vs_ds"] = "menores" if b_mid < b_mid_ds else "maiores"
    n["b_expoente_vs_ds"] = "maior" if laws.batch.alpha > deepseek.BATCH_EXP else "menor"
    n["b_cresce"] = "mais" if laws.batch.alpha > deepseek.BATCH_EXP else "menos"
    n["lr_vs_ds"] = "abaixo" if lr_mid < lr_mid_ds else "acima"
    n["lr_zero"] = ("compatível com zero" if lr_ci[0] <= 0 <= lr_ci[1]
                    else ("negativo" if lr_ci[1] < 0 else "positivo") + ", com intervalo que exclui o zero")
    n["lr_cai"] = ("não cai com o orçamento" if lr_ci[1] >= 0 else "cai com o orçamento")
    best_loss = [float(np.nanmin(table["loss"][grid & (table["budget"] == c)])) for c in budgets]
    n["perda_primeiro"], n["perda_ultimo"] = fmt(best_loss[0], ".1f"), fmt(best_loss[-1], ".1f")
    shapes = [f"({int(table['n_layer'][table['budget'] == c][0])}, {int(table['d_model'][table['budget'] == c][0])})"
              for c in budgets]
    n["formas"] = ", ".join(f"{s} em {format_si(c, 3)}" for s, c in zip(shapes, budgets))
    factors = []
    for c in budgets:
        m = sel & (table["budget"][grid] == c)
        factors += [_ratio(table["lr"][grid][m]), _ratio(table["batch"][grid][m])]
    n["fator_min"], n["fator_max"] = fmt(min(factors), ".0f"), fmt(max(factors), ".0f")
    # Exercício 2: as leis só pelos melhores de cada orçamento.
    c_best = table["budget"][grid][best]
    n["lr_alpha_melhores"] = fmt(fit.fit_power_law(c_best, table["lr"][grid][best]).alpha, "+.3f")
    n["b_alpha_melhores"] = fmt(fit.fit_power_law(c_best, table["batch"][grid][best]).alpha, "+.3f")
    return n


def analysis(table: dict[str, np.ndarray], *, noise: dict | None = None,
             laws: fit.HyperparameterLaws | None = None, n_boot: int = 1000) -> Chapter7:
    """As tabelas e os números do capítulo 7 a partir da tabela dos treinos (:func:`runs_table`).

    ``noise`` e ``laws`` podem vir prontos (o notebook os calcula à vista); sem eles, são
    calculados aqui com :func:`near_optimal_tolerance` e :func:`hyperparameter_laws`.
    """
    noise = seed_noise(table) if noise is None else noise
    tolerance = near_optimal_tolerance(noise["rel_std"]) if laws is None else laws.tolerance
    laws = hyperparameter_laws(table, tolerance=tolerance, n_boot=n_boot) if laws is None else laws
    budgets = np.unique(table["budget"][table["seed"] == 0])
    tables = {"orcamentos": _budget_table(table), "ruido": _noise_table(table), "leis": _laws_table(laws)}
    return Chapter7(table=table, noise=noise, tolerance=tolerance, laws=laws, budgets=budgets, tables=tables,
                    numbers=_numbers(table, noise, tolerance, laws, budgets))


# --- figuras -------------------------------------------------------------------------

def _math(text: str) -> str:
    """Um número já formatado (vírgula decimal) dentro de mathtext: ``0,064`` → ``0{,}064``."""
    return text.replace(",", "{,}")


def _grid_panel(ax, ch: Chapter7, budget: float, *, colorbar: bool, annotate: bool):
    g = ch.grid
    idx = g & (ch.table["budget"] == budget)
    m = ch.budget_mask(budget)
    plot_hyper_grid(ax, ch.table["lr"][idx], ch.table["batch"][idx], ch.table["loss"][idx],
                    near=ch.laws.selected[m], best=ch.laws.best[m], colorbar=colorbar)
    if not annotate:
        for t in list(ax.texts):
            t.remove()
    ax.tick_params(labelsize=9.5)
    return idx


def plot_basin(ch: Chapter7):
    """A grade do menor orçamento, colorida pela perda (o papel da Fig. 2a do DeepSeek)."""
    c = ch.budgets[0]
    idx, m = ch.grid & (ch.table["budget"] == c), ch.budget_mask(c)
    return plot_basin_page(ch.table["lr"][idx], ch.table["batch"][idx], ch.table["loss"][idx],
                           near=ch.laws.selected[m], best=ch.laws.best[m],
                           title=f"$C$ = {format_si(c, 3)} FLOPs: a bacia de taxa × lote")


def plot_grids(ch: Chapter7):
    """As grades de todos os orçamentos, duas por linha, sem os números nos quadrados."""
    nrows = (len(ch.budgets) + 1) // 2
    # Na largura do texto (mostrada a 100%): os rótulos de 9,5 pt da taxa ficam legíveis, inclinados.
    fig, axes = new_figure(ncols=2, nrows=nrows, width=7.0, height=3.6 * nrows)
    for ax, c in zip(np.ravel(axes), ch.budgets):
        idx = _grid_panel(ax, ch, c, colorbar=False, annotate=False)
        ax.set_title(f"$C$ = {format_si(c, 3)}, modelo ({int(ch.table['n_layer'][idx][0])}, "
                     f"{int(ch.table['d_model'][idx][0])})", fontsize=10.5)
        ax.set(xlabel="taxa máxima", ylabel="lote (tokens)")
        ax.tick_params(axis="x", labelrotation=40)
    for ax in np.ravel(axes)[len(ch.budgets):]:
        ax.set_visible(False)
    return fig


def plot_laws(ch: Chapter7):
    """Os pontos quase ótimos, as leis ajustadas com a faixa bootstrap e a Eq. 1 do DeepSeek."""
    g, sel, best = ch.grid, ch.laws.selected, ch.laws.best
    budgets = ch.table["budget"][g]
    c_grid = np.logspace(np.log10(ch.budgets[0]) - 0.15, np.log10(ch.budgets[-1]) + 0.15, 60)
    fig, (ax_lr, ax_b) = new_figure(ncols=2, width=8.0, height=4.6)
    for ax, values, law, boot, ds, name in (
        (ax_lr, ch.table["lr"][g], ch.laws.lr, ch.laws.lr_boot, deepseek.eta_opt, "taxa de aprendizado ótima"),
        (ax_b, ch.table["batch"][g], ch.laws.batch, ch.laws.batch_boot, deepseek.batch_opt, "lote ótimo (tokens)"),
    ):
        # Espalhados de leve na horizontal, para não se esconderem uns atrás dos outros.
        jitter = np.exp(0.04 * np.random.default_rng(0).standard_normal(sel.sum()))
        ax.scatter(budgets[sel] * jitter, values[sel], color=COLORS["cinza"], alpha=0.45, s=22, label="quase ótimos")
        ax.scatter(budgets[best], values[best], marker="*", s=110, color=COLORS["vermelho"], zorder=4,
                   label="melhor do orçamento")
        samples = np.array([k * c_grid**a for k, a in zip(boot.samples["k"], boot.samples["alpha"])])
        plot_fit_band(ax, c_grid, *np.quantile(samples, [0.025, 0.975], axis=0), color=COLORS["azul"])
        ax.plot(c_grid, law.predict(c_grid), color=COLORS["azul"],
                label=f"ajuste: ${_math(fmt(law.k, '.3g'))}\\,C^{{{_math(fmt(law.alpha, '.3f'))}}}$")
        ax.plot(c_grid, ds(c_grid), "--", color=COLORS["laranja"], label="DeepSeek, Eq. 1")
        ax.set(xscale="log", yscale="log", xlabel="$C$ (FLOPs, convenção $M$)", ylabel=name)
        ax.legend(fontsize=10.5)
    ax_lr.set_title(r"$\eta_\mathrm{opt}(C)$")
    ax_b.set_title(r"$B_\mathrm{opt}(C)$")
    return fig
