"""Capítulo 11 — otimizando o treino com leis de escala: as curvas de um treino.

As análises da primeira metade do capítulo, sobre curvas já treinadas (nada é treinado aqui):

- :func:`load_inputs` — os treinos IsoFLOP, os de agenda, o fator de queda e o ruído entre
  sementes que todas as seções usam (:class:`Inputs`);
- :func:`extrapolation_errors` — os erros das previsões de um treino feitas com o começo
  da sua curva; :func:`extrapolation_study` e :func:`other_sweeps_study` aplicam-na aos
  treinos IsoFLOP e aos outros treinos do livro;
- :func:`schedule_failures` — onde a extrapolação falha, nos treinos de agenda;
- :func:`threshold_stopping` e :func:`frontier_stopping` — a parada pelo ganho marginal, com
  limiares fixos e com o limiar da fronteira ótima;
- :func:`plot_extrapolation_examples`, :func:`plot_schedule_fits`, :func:`plot_longer_run` e
  :func:`plot_frontier_stops` — as figuras.

Cada estudo devolve uma :class:`Section`: a tabela em Markdown, os números e frases que o
texto cola (``glue``) e os dados das figuras. A segunda metade (ganhos marginais, dobras,
profundidade × largura) está em :mod:`helpers.chapters.cap11_alocacao`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine import sweeps
from ..laws import fit
from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure, plot_curve_extrapolation, plot_isoflop
from .cap08 import isoflop_fit
from .common import runs_table, seed_noise

__all__ = ["FRACTIONS", "Inputs", "Section", "load_inputs", "extrapolation_errors", "extrapolation_study",
           "other_sweeps_study", "schedule_failures", "threshold_stopping", "frontier_stopping",
           "plot_extrapolation_examples", "plot_schedule_fits", "plot_longer_run", "plot_frontier_stops",
           "leave_one_out_drop", "block_size_stopping", "exercise_numbers"]

#: As frações da curva usadas nos ajustes da tabela de extrapolação.
FRACTIONS = (0.4, 0.5, 0.6, 0.7)
#: As outras varreduras do livro com a agenda em degraus (o mesmo protocolo, com 60% da curva).
OTHER_SWEEPS = {"cap10_qualidade": "qualidade dos dados (GPU)", "cap04_uptraining": "uptraining (só os do zero)",
                "cap06_lote": "lote", "cap06_contexto": "contexto", "cap05_agendas": "agendas",
                "cap09_previsao": "previsão"}
#: Os limiares fixos da parada (bpb por bloco de 10% da fase constante) e os seus nomes no texto.
THRESHOLDS = ((0.04, "4"), (0.02, "2"), (0.01, "1"))


@dataclass(frozen=True)
class Inputs:
    """O que as seções do capítulo compartilham.

    ``drop_factor`` é a razão entre a perda final da agenda em degraus e a da taxa
    constante no capítulo 5 (mesmo modelo, mesma semente); ``noise`` o ruído entre sementes
    da grade do capítulo 7 (:func:`helpers.chapters.common.seed_noise`).
    """

    iso_records: list
    agendas: list
    by_schedule: dict
    drop_factor: float
    noise: dict


@dataclass(frozen=True)
class Section:
    """Uma seção do capítulo: a tabela (Markdown), os números colados no texto e os dados das figuras."""

    table: str = ""
    numbers: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict, repr=False)


def load_inputs() -> Inputs:
    """Lê os resultados versionados que o capítulo analisa."""
    iso_records = sweeps.experiment_results("cap08_isoflop")
    agendas = sweeps.experiment_results("cap05_agendas")
    by_schedule = {r["train"]["schedule"]: r
                   for r in sweeps.select_runs(agendas, seed=0, budget_flops=3e12, tokenizer={"kind": "bytes"})}
    drop_factor = by_schedule["multistep"]["final_val_bpb"] / by_schedule["constant"]["final_val_bpb"]
    noise = seed_noise(runs_table(sweeps.experiment_results("cap07_hiperparametros")))
    return Inputs(iso_records=iso_records, agendas=agendas, by_schedule=by_schedule, drop_factor=drop_factor,
                  noise=noise)


def _n_until(t: np.ndarray, tokens: float) -> int:
    """Quantos pontos da curva estão até ``tokens`` (com folga de arredondamento)."""
    return int(np.sum(t <= tokens * (1 + 1e-9)))


def extrapolation_errors(record, drop_factor, fractions=FRACTIONS, *, start=0.0):
    """Erros relativos (%) das previsões de um treino feitas com cada fração da curva.

    Para cada fração ``f``: ajusta ``L = E + k·t^(-α)`` nos pontos da fase constante até
    ``f`` do treino (a partir de ``start``) e devolve três erros: no fim da fase constante,
    no final sem correção e no final com o fator de queda.
    """
    t, l = fit.constant_lr_phase(record["trace"])
    keep = t >= start * record["tokens"] * (1 - 1e-9)
    t, l = t[keep], l[keep]
    total, final = record["tokens"], record["final_val_bpb"]
    out = {}
    for f in fractions:
        n = _n_until(t, f * total)
        if n < 4 or n >= t.size:
            continue
        ex = fit.extrapolate_learning_curve(t, l, t[-1], n_fit=n)
        at_end = float(ex.fit.predict(total))
        out[f] = (100 * ex.relative_error(l[-1]), 100 * (at_end / final - 1),
                  100 * (at_end * drop_factor / final - 1))
    return out


def _med_max(x) -> str:
    x = np.abs(np.asarray(x))
    return f"{fmt(np.median(x), '.1f')} / {fmt(x.max(), '.1f')}"


def _below_above(x: float, ref: float) -> str:
    return "abaixo do" if x < ref else "acima do"


def extrapolation_study(inp: Inputs) -> Section:
    """A tabela de extrapolação nos treinos IsoFLOP, com 40% a 70% da curva."""
    errors = [extrapolation_errors(r, inp.drop_factor) for r in inp.iso_records]
    rows, summary = [], {}
    for f in FRACTIONS:
        e = np.array([x[f] for x in errors if f in x])
        plateau, raw, corrected = np.abs(e[:, 0]), e[:, 1], np.abs(e[:, 2])
        summary[f] = dict(n=len(e), plateau_med=np.median(plateau), plateau_max=plateau.max(), raw_med=np.median(raw),
                          corr_med=np.median(corrected), corr_max=corrected.max())
        rows.append([f"{fmt(100 * f, '.0f')}%", len(e), f"{fmt(0.8 / f, '.2f')}×", _med_max(plateau),
                     fmt(np.median(raw), "+.1f"), _med_max(corrected)])
    table = markdown_table(
        ["curva usada", "treinos", "horizonte até 80%", "fim da fase constante: erro mediano / máximo (%)",
         "final, sem correção: erro mediano (%)", "final, com o fator de queda: mediano / máximo (%)"], rows)
    s50, s70 = summary[0.5], summary[0.7]
    noise_pct = 100 * inp.noise["rel_std"]
    positive = int(sum(x[0.5][1] > 0 for x in errors if 0.5 in x))
    n50 = sum(0.5 in x for x in errors)
    numbers = {
        "ext_fator_queda": fmt(100 * (1 - inp.drop_factor), ".1f"),
        "ext_ruido": fmt(noise_pct, ".1f"),
        "ext_n40": summary[0.4]["n"],
        "iso_n": len(inp.iso_records),
        "ext_plat_med50": fmt(s50["plateau_med"], ".1f"),
        "ext_plat_max50": fmt(s50["plateau_max"], ".1f"),
        "ext_plat_med70": fmt(s70["plateau_med"], ".1f"),
        "ext_plat_max70": fmt(s70["plateau_max"], ".1f"),
        "ext_plat_max40": fmt(summary[0.4]["plateau_max"], ".1f"),
        "ext_bruto50": fmt(s50["raw_med"], "+.1f"),
        "ext_bruto_pos": positive,
        "ext_corr_med50": fmt(s50["corr_med"], ".1f"),
        "ext_corr_max50": fmt(s50["corr_max"], ".1f"),
        # frases de comparação
        "ext_plat_vs_ruido": _below_above(s50["plateau_med"], noise_pct),
        "ext_bruto_quantos": "todos os" if positive == n50 else f"{positive} dos",
        "ext_corr_cai": "cai" if s50["corr_med"] < abs(s50["raw_med"]) else "não cai",
    }
    numbers["ext_n50"] = n50
    # Exercício 1: sem os pontos antes de 20% do treino.
    cut = [extrapolation_errors(r, inp.drop_factor, (0.5,), start=0.2) for r in inp.iso_records]
    e = np.abs(np.array([x[0.5][0] for x in cut if 0.5 in x]))
    numbers.update({"ex1_n": int(e.size), "ex1_med": fmt(np.median(e), ".1f"), "ex1_max": fmt(e.max(), ".1f"),
                    "ex1_cmp": "melhora" if np.median(e) < s50["plateau_med"] else "piora"})
    return Section(table=table, numbers=numbers, data={"errors": errors, "summary": summary})


def leave_one_out_drop(inp: Inputs, fraction: float = 0.5) -> dict[str, float]:
    """Exercício 2: o fator de queda estimado nos próprios treinos IsoFLOP, deixando de fora o previsto.

    Para cada treino, o fator é a mediana de ``final / previsto sem correção`` dos outros.
    Devolve o erro mediano e o máximo (%) do final corrigido assim.
    """
    raw = np.array([x[fraction][1] for x in (extrapolation_errors(r, 1.0, (fraction,)) for r in inp.iso_records)
                    if fraction in x])
    ratio = 1 / (1 + raw / 100)  # final / previsto
    errs = []
    for i in range(ratio.size):
        factor = np.median(np.delete(ratio, i))
        errs.append(100 * ((1 + raw[i] / 100) * factor - 1))
    errs = np.abs(np.array(errs))
    return {"n": int(errs.size), "median": float(np.median(errs)), "max": float(errs.max())}


def other_sweeps_study(inp: Inputs, fraction: float = 0.6) -> Section:
    """O mesmo protocolo, com 60% da curva, nos outros treinos do livro com a agenda em degraus e do zero."""
    rows, pooled = [], []
    for name, label in OTHER_SWEEPS.items():
        records = [r for r in sweeps.experiment_results(name) if r["status"] == "ok"
                   and r["train"]["schedule"] == "multistep" and not r["train"].get("init_from")
                   and r is not inp.by_schedule.get("multistep")]
        e = np.array([x[fraction] for x in (extrapolation_errors(r, inp.drop_factor, (fraction,)) for r in records)
                      if fraction in x])
        pooled.append(e)
        rows.append([f"`{name}` — {label}", len(e), _med_max(e[:, 0]), fmt(np.median(e[:, 1]), "+.1f"),
                     _med_max(e[:, 2])])
    pooled = np.concatenate(pooled)
    table = markdown_table(
        ["varredura", "treinos", "fim da fase constante: mediano / máximo (%)", "final, sem correção: mediano (%)",
         "final, com o fator de queda: mediano / máximo (%)"], rows)
    numbers = {
        "out_n": len(pooled),
        "out_plat_med": fmt(np.median(np.abs(pooled[:, 0])), ".1f"),
        "out_plat_max": fmt(np.abs(pooled[:, 0]).max(), ".1f"),
        "out_corr_med": fmt(np.median(np.abs(pooled[:, 2])), ".1f"),
        "out_corr_max": fmt(np.abs(pooled[:, 2]).max(), ".1f"),
        "out_acima_ruido": fmt(100 * np.mean(np.abs(pooled[:, 2]) > 2 * 100 * inp.noise["rel_std"]), ".0f"),
    }
    return Section(table=table, numbers=numbers, data={"pooled": pooled})


def plot_extrapolation_examples(inp: Inputs):
    """Três treinos do maior orçamento IsoFLOP: ajuste na metade da curva, extrapolação e quedas."""
    largest = max(r["train"]["budget_flops"] for r in inp.iso_records)
    examples = sorted(sweeps.select_runs(inp.iso_records, budget_flops=largest), key=lambda r: r["flops_per_token"]["M"])
    examples = [examples[0], examples[len(examples) // 2], examples[-1]]
    fig, ax = new_figure(width=7.0, height=4.6)
    for r, color in zip(examples, (COLORS["verde"], COLORS["azul"], COLORS["vermelho"])):
        t, l = fit.constant_lr_phase(r["trace"])
        n = _n_until(t, 0.5 * r["tokens"])
        ex = fit.extrapolate_learning_curve(t, l, r["tokens"], n_fit=n)
        shape = f"({r['model']['num_hidden_layers']}, {r['model']['hidden_size']})"
        plot_curve_extrapolation(ax, t, l, ex.fit, n_fit=n, until=r["tokens"], color=color,
                                 label=f"{shape}, $M$ = {format_si(r['flops_per_token']['M'], 2)}")
        after = [p for p in r["trace"] if p["tokens"] > t[-1]]
        ax.plot([p["tokens"] for p in after], [p["val_bpb"] for p in after], "s", color=color, ms=5, mfc="white")
        ax.scatter([r["tokens"]], [ex.predicted * inp.drop_factor], marker="*", s=110, color=color,
                   edgecolors="black", zorder=4)
    ax.set(title=f"Ajuste na metade da curva ($C$ = {format_si(largest, 3)} FLOPs)", ylim=(2.0, 3.6))
    ax.legend(fontsize=10.5, title_fontsize=10.5,
              title="● usados  ○ previstos  □ depois das quedas  ★ previsão corrigida")
    return fig


def schedule_failures(inp: Inputs) -> Section:
    """Os treinos de agenda do capítulo 5: ajustes em janelas diferentes e o erro de cada previsão."""
    ms, const, cos = (inp.by_schedule[k] for k in ("multistep", "constant", "cosine"))
    double = max(sweeps.select_runs(inp.agendas, schedule="multistep", seed=0, tokenizer={"kind": "bytes"}),
                 key=lambda r: r["train"]["budget_flops"])
    total = ms["tokens"]
    t_c, l_c = fit.constant_lr_phase(const["trace"])  # taxa constante: a curva inteira depois do aquecimento

    def window(t, l, start, stop):
        keep = (t >= start * total * (1 - 1e-9)) & (t <= stop * total * (1 + 1e-9))
        return fit.fit_learning_curve(t[keep], l[keep])

    w60 = {start: window(t_c, l_c, start, 0.6) for start in (0.0, 0.2, 0.3)}
    # O cosseno não tem fase constante: ajusta-se a curva como ela é, com a taxa já caindo.
    cos_pts = [p for p in cos["trace"] if p["tokens"] > 0]
    t_cos, l_cos = np.array([p["tokens"] for p in cos_pts], float), np.array([p["val_bpb"] for p in cos_pts])
    fit_cos = window(t_cos, l_cos, 0.0, 0.6)
    # O treino curto (a sua fase constante, ou a curva inteira) para prever o treino com o dobro do orçamento.
    t_ms, l_ms = fit.constant_lr_phase(ms["trace"])
    fit_short, fit_short20 = window(t_ms, l_ms, 0.0, 0.8), window(t_ms, l_ms, 0.2, 0.8)
    ms_pts = [p for p in ms["trace"] if p["tokens"] > 0]
    fit_whole = fit.fit_learning_curve([p["tokens"] for p in ms_pts], [p["val_bpb"] for p in ms_pts])
    t_d, l_d = fit.constant_lr_phase(double["trace"])
    cases = [
        ("c0", "taxa constante", "pontos até 60%", "fim", w60[0.0], total, const["final_val_bpb"]),
        ("c20", "taxa constante", "pontos de 20% a 60%", "fim", w60[0.2], total, const["final_val_bpb"]),
        ("c30", "taxa constante", "pontos de 30% a 60%", "fim", w60[0.3], total, const["final_val_bpb"]),
        ("ms", "degraus", "pontos até 60% (a mesma curva)", "fim", w60[0.0], total, ms["final_val_bpb"]),
        ("cos", "cosseno", "pontos até 60%, com a taxa já caindo", "fim", fit_cos, total, cos["final_val_bpb"]),
        ("dobro", "degraus, 2× o orçamento", "fase constante do treino curto", "fim da fase constante", fit_short,
         t_d[-1], l_d[-1]),
        ("dobro20", "degraus, 2× o orçamento", "a mesma, de 20% a 80%", "fim da fase constante", fit_short20,
         t_d[-1], l_d[-1]),
        ("todo", "degraus, 2× o orçamento", "o treino curto inteiro, quedas incluídas", "fim", fit_whole,
         double["tokens"], double["final_val_bpb"]),
    ]
    rows, numbers, err = [], {}, {}
    for key, who, how, where, law, at, measured in cases:
        predicted = float(law.predict(at))
        err[key] = 100 * (predicted / measured - 1)
        rows.append([who, how, where, fmt(law.E, ".2f"), fmt(predicted, ".3f"), fmt(measured, ".3f"),
                     fmt(err[key], "+.1f")])
        numbers[f"f_err_{key}"] = fmt(err[key], "+.1f")
        numbers[f"f_E_{key}"] = fmt(law.E, ".2f")
    table = markdown_table(["treino", "ajuste em", "previsão de", "E ajustado", "previsto (bpb)", "medido (bpb)",
                            "erro (%)"], rows)
    lo, hi = fit_short.ci()["E"]
    numbers.update({
        "f_a_curto": fmt(fit_short.alpha, ".2f"), "f_a_todo": fmt(fit_whole.alpha, ".2f"),
        "f_n30": int(np.sum((t_c >= 0.3 * total * (1 - 1e-9)) & (t_c <= 0.6 * total * (1 + 1e-9)))),
        "f_E_lo": fmt(lo, ".2f"), "f_E_hi": fmt(hi, ".2f"),
        # frases de comparação: |erro| menor é "melhor"
        "f_c20_cmp": "cai" if abs(err["c20"]) < abs(err["c0"]) else "sobe",
        "f_c30_cmp": "volta a crescer" if abs(err["c30"]) > abs(err["c20"]) else "cai ainda mais",
        "f_ms_cmp": "parece melhor" if abs(err["ms"]) < abs(err["c0"]) else "não parece melhor",
        # o erro dos degraus = o da lei (o da taxa constante) + o efeito das quedas que ela ignora
        "f_sinais": ("dois erros de sinais opostos se somam" if (err["c0"] < 0) != (err["ms"] - err["c0"] < 0) else
                     "os dois erros têm o mesmo sinal"),
        "f_dobro20_cmp": "melhor" if abs(err["dobro20"]) < abs(err["dobro"]) else "pior",
    })
    data = dict(ms=ms, const=const, cos=cos, double=double, total=total, t_c=t_c, l_c=l_c, w60=w60, t_ms=t_ms,
                l_ms=l_ms, fit_short=fit_short, fit_whole=fit_whole)
    return Section(table=table, numbers=numbers, data=data)


def plot_schedule_fits(section: Section):
    """As três agendas e dois ajustes na mesma curva de taxa constante."""
    d = section.data
    total, t_c, l_c = d["total"], d["t_c"], d["l_c"]
    fig, ax = new_figure(width=7.0, height=4.3)
    plot_curve_extrapolation(ax, t_c, l_c, d["w60"][0.0], n_fit=_n_until(t_c, 0.6 * total), until=total,
                             color=COLORS["cinza"], label="taxa constante", fit_label="ajuste até 60%")
    grid = np.linspace(0.2 * total, total, 80)
    ax.plot(grid, d["w60"][0.2].predict(grid), "-.", color=COLORS["roxo"], lw=1.4, label="ajuste de 20% a 60%")
    for r, color, label in ((d["ms"], COLORS["azul"], "degraus"), (d["cos"], COLORS["laranja"], "cosseno")):
        pts = [p for p in r["trace"] if p["tokens"] > 0.55 * total]
        ax.plot([p["tokens"] for p in pts], [p["val_bpb"] for p in pts], "o-", color=color, ms=4, lw=1, label=label)
    ax.set(title="Três agendas, ajustes na mesma curva", ylim=(2.1, 3.0), xlim=(0.2 * total, 1.03 * total))
    ax.legend(fontsize=10.5)
    return fig


def plot_longer_run(section: Section):
    """O treino curto extrapolado para o treino com o dobro do orçamento."""
    d = section.data
    t_ms, l_ms, double = d["t_ms"], d["l_ms"], d["double"]
    fig, ax = new_figure(width=7.0, height=4.3)
    plot_curve_extrapolation(ax, t_ms, l_ms, d["fit_short"], n_fit=t_ms.size, until=double["tokens"],
                             color=COLORS["azul"], label="treino curto: fase constante",
                             fit_label="ajuste na fase constante")
    pts = [p for p in double["trace"] if p["tokens"] > 0]
    ax.plot([p["tokens"] for p in pts], [p["val_bpb"] for p in pts], "-", color=COLORS["verde"], lw=1.2,
            label="treino com 2× o orçamento")
    grid = np.linspace(t_ms[0], double["tokens"], 100)
    ax.plot(grid, d["fit_whole"].predict(grid), ":", color=COLORS["vermelho"], lw=1.4, label="ajuste com as quedas")
    ax.set(title="Extrapolar para um treino duas vezes mais longo", ylim=(1.8, 3.0))
    ax.legend(fontsize=10.5)
    return fig


def _stopping_curves(inp: Inputs) -> list:
    runs = list(inp.iso_records) + [r for r in inp.agendas if r["train"]["schedule"] != "cosine"]
    for name in ("cap06_lote", "cap06_contexto", "cap09_previsao"):
        runs += sweeps.experiment_results(name)
    return [(r, *fit.constant_lr_phase(r["trace"])) for r in runs]


def threshold_stopping(inp: Inputs) -> Section:
    """A regra de parada com limiares fixos (bpb por bloco de 10% da fase constante)."""
    curves = _stopping_curves(inp)
    rows, numbers = [], {}
    for tau, key in THRESHOLDS:
        stopped, saved_flops, total_flops, lost, pred_rest, real_rest = 0, 0.0, 0.0, [], [], []
        for r, t, l in curves:
            block = 0.1 * t[-1]
            es = fit.early_stopping(t, l, block_tokens=block, threshold=tau / block)
            m = r["flops_per_token"]["M"]
            total_flops += m * t[-1]
            saved_flops += m * (t[-1] - es.tokens_at_stop)
            if es.stopped:
                stopped += 1
                lost.append(100 * es.relative_loss_increase)
                curve = fit.fit_learning_curve(t[:es.stop_index + 1], l[:es.stop_index + 1])
                pred_rest.append(float(curve.predict(es.tokens_at_stop) - curve.predict(t[-1])))
                real_rest.append(es.loss_increase)
        lost = np.array(lost)
        s = dict(stopped=stopped, saved=100 * saved_flops / total_flops,
                 lost_med=np.median(lost) if stopped else 0.0, lost_max=lost.max() if stopped else 0.0,
                 pred=np.median(pred_rest) if stopped else 0.0, real=np.median(real_rest) if stopped else 0.0)
        rows.append([fmt(tau, ".2f"), f"{stopped} de {len(curves)}", f"{fmt(s['saved'], '.1f')}%",
                     f"{fmt(s['lost_med'], '.1f')} / {fmt(s['lost_max'], '.1f')}",
                     f"{fmt(s['pred'], '.3f')} / {fmt(s['real'], '.3f')}"])
        numbers.update({f"es_parados_{key}": s["stopped"], f"es_econ_{key}": fmt(s["saved"], ".1f"),
                        f"es_perda_med_{key}": fmt(s["lost_med"], ".1f"),
                        f"es_perda_max_{key}": fmt(s["lost_max"], ".1f"),
                        f"es_prev_{key}": fmt(s["pred"], ".3f"), f"es_real_{key}": fmt(s["real"], ".3f"),
                        f"es_sub_{key}": "subestimava" if s["pred"] < s["real"] else "superestimava",
                        # "quase coincidem": a previsão a menos de 10% da queda medida
                        f"es_bate_{key}": ("quase coincidem" if abs(s["pred"] - s["real"]) <= 0.1 * abs(s["real"])
                                           else "diferem")})
    numbers["es_n"] = len(curves)
    table = markdown_table(
        ["limiar (bpb por bloco de 10%)", "treinos parados", "computação economizada (total)",
         "perda a mais nos parados: mediana / máximo (%)", "queda do resto nos parados: prevista / medida (bpb)"],
        rows)
    return Section(table=table, numbers=numbers, data={"curves": curves})


def block_size_stopping(section: Section, tau: float = 0.02, blocks=(0.05, 0.1, 0.2)) -> dict[float, int]:
    """Exercício 3: quantos treinos param com blocos de 5%, 10% e 20%, o limiar por *token* fixo.

    O limiar é o de ``tau`` bpb por bloco de 10%, convertido em bpb por *token*; o que muda
    é só o tamanho do bloco cujo ganho a curva ajustada prevê.
    """
    out = {}
    for b in blocks:
        out[b] = sum(fit.early_stopping(t, l, block_tokens=b * t[-1], threshold=tau / (0.1 * t[-1])).stopped
                     for _, t, l in section.data["curves"])
    return out


def exercise_numbers(inp: Inputs, stopping: Section) -> dict:
    """Os números das respostas dos exercícios 2 e 3 (o 1 está em :func:`extrapolation_study`)."""
    loo = leave_one_out_drop(inp)
    blocks = block_size_stopping(stopping)
    out = {"ex2_med": fmt(loo["median"], ".1f"), "ex2_max": fmt(loo["max"], ".1f")}
    out.update({f"ex3_{round(100 * b)}": n for b, n in blocks.items()})
    return out


def frontier_stopping(inp: Inputs) -> Section:
    """A regra de parada com o limiar da fronteira ótima (−dL_opt/dC), nos treinos IsoFLOP."""
    iso_table = runs_table(inp.iso_records)
    iso = isoflop_fit(iso_table, n_boot=10)
    k_L, exp_L = iso.loss_law.k, iso.loss_law.alpha  # L_opt = k·C^exp_L, com exp_L < 0

    def frontier_gain_per_flop(compute):
        """−dL_opt/dC: o que um FLOP a mais rende na fronteira ótima (capítulo 9)."""
        return -exp_L * k_L * compute ** (exp_L - 1)

    vertex = {p.budget: p.scale_opt for p in iso.profiles if p.accepted}
    rows, stopped_small, stopped_large, n_small, saved_f, total_f, lost_f = [], 0, 0, 0, 0.0, 0.0, []
    for r in inp.iso_records:
        # [regra-da-fronteira]
        t, l = fit.constant_lr_phase(r["trace"])
        m = r["flops_per_token"]["M"]  # FLOPs por token: o custo de um bloco é block_tokens · m
        es = fit.early_stopping(t, l, block_tokens=0.1 * t[-1], flops_per_token=m,
                                threshold=lambda tok, m=m: frontier_gain_per_flop(m * tok))
        # [/regra-da-fronteira]
        small = m < vertex.get(r["train"]["budget_flops"], np.inf)
        n_small += small
        stopped_small += es.stopped and small
        stopped_large += es.stopped and not small
        total_f += m * t[-1]
        saved_f += m * (t[-1] - es.tokens_at_stop)
        if es.stopped:
            lost_f.append(100 * es.relative_loss_increase)
        rows.append((r, es))
    n_large = len(inp.iso_records) - n_small
    numbers = {"fr_parados": stopped_small + stopped_large, "fr_esq": stopped_small, "fr_n_esq": n_small,
               "fr_dir": stopped_large, "fr_n_dir": n_large, "fr_econ": fmt(100 * saved_f / total_f, ".1f"),
               "fr_perda_med": fmt(np.median(lost_f), ".1f"),
               "fr_previa": ("o que o argumento do envelope previa" if stopped_small / max(n_small, 1)
                             > stopped_large / max(n_large, 1) else "o contrário do que o argumento do envelope previa")}
    return Section(numbers=numbers, data={"iso_table": iso_table, "iso": iso, "stops": rows})


def plot_frontier_stops(section: Section):
    """Os perfis IsoFLOP com os treinos que a regra da fronteira pararia marcados."""
    t, iso = section.data["iso_table"], section.data["iso"]
    fig, ax = new_figure(width=7.0, height=4.6)
    ok = np.isfinite(t["loss"])
    plot_isoflop(ax, t["budget"][ok], t["M"][ok], t["loss"][ok], iso.profiles, legend=False)
    stopped = [(r["flops_per_token"]["M"], r["final_val_bpb"]) for r, es in section.data["stops"] if es.stopped]
    ax.scatter(*zip(*stopped), marker="x", s=90, color=COLORS["vermelho"], zorder=5, label="a regra da fronteira pararia")
    ax.set_title("Quem a regra da fronteira para: os modelos à esquerda de cada U")
    ax.legend(fontsize=10.5)
    return fig
