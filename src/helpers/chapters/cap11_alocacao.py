"""Capítulo 11 — otimizando o treino com leis de escala: para onde vai o próximo FLOP.

A segunda metade do capítulo (a primeira, sobre as curvas de um treino, está em
:mod:`helpers.chapters.cap11`):

- :func:`marginal_gains_study` — a abordagem 3 ajustada aos treinos IsoFLOP, o equilíbrio
  ``g_M = g_D`` em cada orçamento e quanto custa escolher um ou outro ótimo;
- :func:`doublings_study` — dobrar o modelo, os dados ou os dois, pela lei, contra a fronteira;
- :func:`data_doubling_study` e :func:`plot_data_doubling` — os mesmos formatos com mais
  dados nos treinos reais, e o número de Kaplan (App. B.4) pela nossa superfície;
- :func:`depth_width_study` — a tabela de profundidade × largura do capítulo 4;
- :func:`ratio_point` — o tamanho em que ``g_M/g_D`` vale um número dado (exercício 4).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ..engine import sweeps
from ..laws import fit
from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure
from .cap04 import depth_table
from .cap11 import Inputs, Section

__all__ = ["marginal_gains_study", "doublings_study", "data_doubling_study", "plot_data_doubling",
           "depth_width_study", "ratio_point"]

#: As formas ``(n_layer, d)`` da figura "mais dados, o mesmo modelo".
DOUBLING_SHAPES = ((2, 32), (3, 48), (4, 64))


def marginal_gains_study(frontier: Section, noise: dict) -> Section:
    """A abordagem 3 nos treinos IsoFLOP e o equilíbrio dos ganhos por FLOP em cada orçamento.

    ``frontier`` é a seção de :func:`helpers.chapters.cap11.frontier_stopping` (que já tem a
    tabela e o ajuste IsoFLOP).
    """
    iso_table, iso = frontier.data["iso_table"], frontier.data["iso"]
    ok = np.isfinite(iso_table["loss"])
    a3 = fit.fit_approach3(iso_table["M"][ok], iso_table["tokens"][ok], iso_table["loss"][ok], n_boot=0)
    rows, ratios, penalties = [], [], []
    for p in iso.accepted:
        m_bal, d_bal = fit.balanced_allocation(a3, p.budget)
        g = fit.marginal_gains(a3, p.scale_opt, p.tokens_opt)
        pen_a3 = float(a3.predict(p.scale_opt, p.tokens_opt) - a3.predict(m_bal, d_bal))
        pen_iso = float(p.predict(m_bal) - p.loss_opt)
        ratios.append(float(g.ratio))
        penalties.append((pen_a3, pen_iso))
        rows.append([format_si(p.budget, 3), format_si(p.scale_opt, 3), format_si(m_bal, 3),
                     fmt(p.scale_opt / m_bal, ".2f"), fmt(float(g.ratio), ".2f"), fmt(pen_a3, ".3f"),
                     fmt(pen_iso, ".3f")])
    table = markdown_table(
        ["C (FLOPs)", "M_opt IsoFLOP", "M com g_M = g_D (abordagem 3)", "razão", "g_M / g_D no ótimo IsoFLOP",
         "custo do ótimo IsoFLOP pela abordagem 3 (bpb)", "custo do equilíbrio pela parábola (bpb)"], rows)
    top = iso.accepted[-1]
    pen_pct = 100 * max(penalties[-1]) / top.loss_opt
    noise_pct = 100 * noise["rel_std"]
    numbers = {
        "mg_E": fmt(a3.E, ".2f"), "mg_alpha": fmt(a3.alpha, ".2f"), "mg_beta": fmt(a3.beta, ".2f"),
        "mg_ratio_min": fmt(ratios[0], ".2f"), "mg_ratio_max": fmt(ratios[-1], ".2f"),
        "mg_fator_max": fmt(top.scale_opt / fit.balanced_allocation(a3, top.budget)[0], ".1f"),
        "mg_pen_max": fmt(max(penalties[-1]), ".3f"), "mg_pen_pct": fmt(pen_pct, ".1f"),
        # frases de comparação
        "mg_lado_max": "modelo demais" if ratios[-1] < 1 else "modelo de menos",
        "mg_pen_vs_ruido": ("abaixo do ruído entre sementes" if pen_pct < noise_pct else
                            "da ordem do ruído entre sementes" if pen_pct <= 2 * noise_pct else
                            "acima de duas vezes o ruído entre sementes"),
    }
    # Exercício 4: onde g_M/g_D = 2 no maior orçamento.
    m2 = ratio_point(a3, top.budget, 2.0)
    numbers.update({"ex4_M": format_si(m2, 3), "ex4_vertice": format_si(top.scale_opt, 3),
                    "ex4_lado": "à esquerda (um modelo menor)" if m2 < top.scale_opt else "à direita (um modelo maior)"})
    return Section(table=table, numbers=numbers, data={"a3": a3, "iso": iso, "iso_table": iso_table})


def ratio_point(law: fit.ParametricLossFit, compute: float, ratio: float) -> float:
    """A escala ``M`` com ``f·M·D = compute`` em que ``g_M / g_D = ratio`` (a razão cai com ``M``)."""
    if not (np.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio deve ser finito e > 0; recebi {ratio!r}.")
    c = compute / law.flops_per_scale_token

    def h(log_m):
        return float(np.log(fit.marginal_gains(law, np.exp(log_m), c / np.exp(log_m)).ratio)) - np.log(ratio)

    return float(np.exp(optimize.brentq(h, np.log(c) - 60, np.log(c) - 1e-6, xtol=1e-12)))


def doublings_study(marginal: Section) -> Section:
    """Três dobras seguidas do modelo, dos dados e dos dois, a partir do ótimo IsoFLOP do orçamento do meio."""
    a3, iso, iso_table = marginal.data["a3"], marginal.data["iso"], marginal.data["iso_table"]
    mid = iso.accepted[len(iso.accepted) // 2]
    c0 = mid.scale_opt * mid.tokens_opt
    series = {v: fit.successive_doublings(a3, mid.scale_opt, mid.tokens_opt, vary=v, n=3)
              for v in ("scale", "tokens", "both")}
    rows = []
    for k in range(4):
        row = [f"2^{k}" if k else "partida"]
        for v in ("scale", "tokens", "both"):
            d = series[v]
            row.append(f"{fmt(d['loss'][k], '.3f')} ({fmt(-d['gain'][k], '+.3f')})" if k else fmt(d["loss"][k], ".3f"))
        front = [float(a3.loss_opt(c0 * 2.0**j)) for j in range(k + 1)]
        row.append(f"{fmt(front[-1], '.3f')} ({fmt(front[-1] - front[-2], '+.3f')})" if k else fmt(front[-1], ".3f"))
        rows.append(row)
    table = markdown_table(
        ["dobras", "só o modelo (C × 2)", "só os dados (C × 2)", "os dois (C × 4)", "fronteira (C × 2, bem gasto)"],
        rows)
    sm, tk = series["scale"]["gain"], series["tokens"]["gain"]
    budgets = np.unique(iso_table["budget"])
    front1 = float(a3.loss_opt(c0) - a3.loss_opt(2 * c0))
    numbers = {
        "dr_C": format_si(c0, 3), "dr_M1": fmt(sm[1], ".3f"), "dr_M3": fmt(sm[3], ".3f"),
        "dr_D1": fmt(tk[1], ".3f"), "dr_D3": fmt(tk[3], ".3f"),
        "dr_razao_M": fmt(2 ** -a3.alpha, ".2f"), "dr_razao_D": fmt(2 ** -a3.beta, ".2f"),
        "dr_piso_M": fmt(a3.E + a3.B / mid.tokens_opt**a3.beta, ".2f"),
        "dd_passo": fmt(float(np.exp(np.mean(np.diff(np.log(budgets))))), ".2f"),
        "dr_front1": fmt(front1, ".3f"),
        # "só os dados" acompanha a fronteira se a primeira dobra rende ao menos 90% do que ela rende
        "dr_acompanha": "acompanhe" if tk[1] >= 0.9 * front1 else "não acompanhe",
    }
    return Section(table=table, numbers=numbers, data={"c0": c0, "mid": mid})


def data_doubling_study(marginal: Section, doublings: Section) -> Section:
    """Os formatos treinados em orçamentos crescentes (mais dados, o mesmo modelo), medidos e previstos."""
    a3, t = marginal.data["a3"], marginal.data["iso_table"]
    ok = np.isfinite(t["loss"])
    series, dev, numbers = [], [], {}
    for n, d in DOUBLING_SHAPES:
        idx = ok & (t["n_layer"] == n) & (t["d_model"] == d)
        order = np.argsort(t["tokens"][idx])
        toks, losses, m = t["tokens"][idx][order], t["loss"][idx][order], t["M"][idx][0]
        series.append(((n, d), toks, losses, m))
        dev.append(100 * (a3.predict(m, toks) / losses - 1))
        if (n, d) == DOUBLING_SHAPES[1]:
            numbers["dd_forma"] = f"({n}, {d})"
            numbers["dd_ganhos"] = ", ".join(fmt(s, ".3f") for s in -np.diff(losses))
    dev = np.abs(np.concatenate(dev))
    numbers.update({"dd_dev_med": fmt(np.median(dev), ".1f"), "dd_dev_max": fmt(dev.max(), ".1f")})
    # Kaplan (App. B.4): quanta computação a mais um modelo 0,6× ou 2,2× o ótimo precisa para a mesma perda.
    c0 = doublings.data["c0"]
    m_star, l_star = float(a3.scale_opt(c0)), float(a3.loss_opt(c0))
    for factor, key in ((0.6, "kp_06"), (2.2, "kp_22")):
        m_f = factor * m_star
        d_f = (a3.B / (l_star - a3.E - a3.A / m_f**a3.alpha)) ** (1 / a3.beta)
        numbers[key] = fmt(100 * (m_f * d_f / c0 - 1), ".0f")
    return Section(numbers=numbers, data={"series": series, "a3": a3})


def plot_data_doubling(section: Section):
    """Perda medida e prevista pela abordagem 3 para três formatos, contra os *tokens* de treino."""
    a3 = section.data["a3"]
    fig, ax = new_figure(width=7.0, height=4.4)
    for ((n, d), toks, losses, m), color in zip(section.data["series"],
                                                (COLORS["verde"], COLORS["azul"], COLORS["vermelho"])):
        grid = np.geomspace(toks.min() / 1.3, toks.max() * 1.3, 80)
        ax.scatter(toks, losses, color=color, zorder=3, label=f"({n}, {d}) medido")
        ax.plot(grid, a3.predict(m, grid), color=color, lw=1.2, label=f"({n}, {d}) abordagem 3")
    ax.set(xscale="log", xlabel="tokens de treino $D$", ylabel="bits por byte (validação)",
           title="Mais dados, o mesmo modelo: medido e previsto")
    ax.legend(fontsize=10.5, ncols=2)
    return fig


def depth_width_study(noise: dict) -> Section:
    """A família largura × profundidade do capítulo 4: a tabela e as formas empatadas com a melhor."""
    rows_all = depth_table(sweeps.experiment_results("cap04_profundidade"))
    family = [row for row in rows_all if row["family"] in ("largura", "ambas")]
    rows = [[f"({row['n_layer']}, {row['d_model']})", format_si(row["twelve_l_d2"], 3), format_si(row["N"], 3),
             format_si(row["flops_per_token"], 3), format_si(row["tokens"], 3),
             f"{fmt(row['loss_mean'], '.3f')} ± {fmt(row['loss_std'], '.3f')}", row["seeds"],
             fmt(row["tokens_per_s"] / 1e3, ".1f")] for row in family]
    table = markdown_table(
        ["(n_layer, d)", "12·n_layer·d²", "N real", "FLOPs/token medidos", "tokens no orçamento",
         "bpb final (média ± desvio)", "sementes", "mil tokens/s (CPU)"], rows)
    best = min(family, key=lambda row: row["loss_mean"])
    deepest = max(family, key=lambda row: row["n_layer"])
    widest = min(family, key=lambda row: row["n_layer"])
    shape = lambda row: f"({row['n_layer']}, {row['d_model']})"  # noqa: E731
    near = [row for row in family if row["loss_mean"] <= best["loss_mean"] * (1 + 2 * noise["rel_std"])]
    numbers = {"pw_melhor": shape(best), "pw_fundo": shape(deepest), "pw_largo": shape(widest),
               "pw_pior_pct": fmt(100 * (deepest["loss_mean"] / best["loss_mean"] - 1), ".1f"),
               "pw_tokens_pct": fmt(100 * (1 - deepest["tokens"] / widest["tokens"]), ".0f"),
               "pw_vazao": fmt(widest["tokens_per_s"] / deepest["tokens_per_s"], ".1f"),
               "pw_empatados": ", ".join(shape(row) for row in near)}
    return Section(table=table, numbers=numbers)
