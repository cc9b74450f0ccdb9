"""Capítulo 10, protocolo v2 — tabelas, números colados no texto, figuras e os dados do laboratório.

Tudo sai de um :class:`~.cap10_v2.QualityV2` (:func:`helpers.chapters.cap10_v2.analysis`):

- :func:`corpus_table` — por corpus: ``H``, treinos, ``a`` com IC 90% nas duas validações, perda ótima;
- :func:`shift_table` — os deslocamentos pareados de ``log₁₀ M_opt`` e as diferenças de ``a`` (IC 95%),
  com o veredito gerado dos intervalos;
- :func:`chapter_numbers` — os textos para ``{glue:text}`` (vírgula decimal, frases de comparação
  escolhidas pelos números);
- :func:`plot_forest` e :func:`plot_frontiers` — a floresta de ``a`` e dos deslocamentos, e os vértices
  de todos os corpora num só painel ``M_opt × C``;
- :func:`lab_payload` — os vértices e as réplicas que o laboratório interativo reajusta.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine.degradations import _BOILERPLATE
from ..laws import deepseek
from ..laws.fit.calibrated import IsoFlopPipeline
from ..presentation.plots import COLORS, fmt, markdown_table, new_figure
from . import cap10_specs as Q
from .cap10_v2 import STUDY, QualityV2

__all__ = ["COLOR", "DEEPSEEK_SPREAD", "corpus_table", "shift_table", "verdict", "chapter_numbers", "plot_forest",
           "plot_frontiers", "vertex_replicates", "lab_payload", "calculator_laws", "coverage_numbers"]

#: Uma cor por corpus (a paleta do livro, segura para daltônicos).
COLOR = {"faixa1": COLORS["azul"], "faixa2": COLORS["celeste"], "faixa3": COLORS["verde"],
         "faixa4": COLORS["laranja"], "limpo": "#000000", "diluido": COLORS["vermelho"]}
#: A distância entre o maior e o menor ``a`` do DeepSeek na Tabela 4 (OpenWebText2 − dados antigos).
DEEPSEEK_SPREAD = 0.578 - 0.450
#: Os nomes curtos dos eixos das figuras.
SHORT = {"faixa1": "faixa 1", "faixa2": "faixa 2", "faixa3": "faixa 3", "faixa4": "faixa 4", "limpo": "inteiro",
         "diluido": "diluído"}
DASH = "—"
CI95 = 0.95


def _ci(boot, name: str, level: float | None = None) -> tuple[float, float]:
    return boot.ci(name, level) if boot is not None and not isinstance(boot, str) else (math.nan, math.nan)


def _num(x: float, spec: str = ".3f") -> str:
    return DASH if not math.isfinite(x) else fmt(x, spec)


def _interval(lo: float, hi: float, spec: str = ".3f") -> str:
    return DASH if not (math.isfinite(lo) and math.isfinite(hi)) else f"[{fmt(lo, spec)}; {fmt(hi, spec)}]"


def _best_loss(fit_) -> float:
    """A perda do vértice no maior orçamento aceito (bits por *byte*)."""
    acc = fit_.accepted if fit_ is not None else []
    return max(acc, key=lambda p: p.budget).loss_opt if acc else math.nan


def corpus_table(q: QualityV2) -> str:
    """Uma linha por corpus: compressibilidade, treinos e os dois ajustes (comum e próprio)."""
    rows = []
    for name in STUDY:
        if name not in q.fits:
            continue
        f = q.fits[name]
        own = f.own if f.own is not None else (f.common if name == "limpo" else None)
        h_own = f.stats.get("gzip_ratio_val_own", f.stats.get("gzip_ratio_val") if name == "limpo" else math.nan)
        rows.append([f.label, _num(f.h_train, ".3f"), _num(float(h_own), ".3f"), f"{f.n_done}/{f.n_planned}",
                     f"{_num(f.common.value('a'))} {_interval(*f.common.ci('a'))}",
                     f"{_num(own.value('a'))} {_interval(*own.ci('a'))}" if own is not None else DASH,
                     _num(_best_loss(f.common)), _num(_best_loss(own)) if own is not None else DASH])
    return markdown_table(["corpus de treino", "H (treino)", "H (validação própria)", "treinos",
                           "a, validação comum [IC 90%]", "a, validação própria [IC 90%]",
                           "L_opt comum no maior C", "L_opt própria no maior C"], rows, align="lrrrrrrr")


def verdict(boot, name: str, *, null_margin: float | None = None) -> str:
    """O que o IC 95% diz: exclui o zero (e para que lado), ou inclui — e, com ``null_margin``, se
    é estreito o bastante para excluir uma diferença desse tamanho dos dois lados."""
    lo, hi = _ci(boot, name, CI95)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "sem intervalo"
    if lo > 0 or hi < 0:
        return "exclui o zero (" + ("positivo" if lo > 0 else "negativo") + ")"
    if null_margin is not None:
        if -null_margin < lo and hi < null_margin:
            return f"inclui o zero e exclui ±{fmt(null_margin, '.3f')}"
        return f"inclui o zero, mas não exclui ±{fmt(null_margin, '.3f')}"
    return "inclui o zero"


def shift_table(q: QualityV2, *, own: bool = False) -> str:
    """Os pares: deslocamento de ``log₁₀ M_opt`` (média dos orçamentos) e ``Δa``, com IC 95% e veredito."""
    shifts = q.shifts_own if own else q.shifts
    rows = []
    for (x, r), boot in shifts.items():
        if isinstance(boot, str):
            rows.append([f"{Q.LABELS_V2[x]} − {Q.LABELS_V2[r]}", DASH, DASH, DASH, DASH, boot])
            continue
        rows.append([f"{Q.LABELS_V2[x]} − {Q.LABELS_V2[r]}",
                     f"{fmt(boot.estimate['shift'], '+.3f')} {_interval(*_ci(boot, 'shift', CI95), '+.3f')}",
                     verdict(boot, "shift"),
                     f"{fmt(boot.estimate['delta_a'], '+.3f')} {_interval(*_ci(boot, 'delta_a', CI95), '+.3f')}",
                     verdict(boot, "delta_a", null_margin=DEEPSEEK_SPREAD),
                     f"{fmt(100 * boot.drop_rate, '.1f')}%"])
    return markdown_table(["par (corpus − referência)", "Δlog₁₀ M_opt [IC 95%]", "deslocamento",
                           "Δa [IC 95%]", "expoente", "réplicas que falharam"], rows, align="lrlrlr")


def _shift(q: QualityV2, pair) -> tuple[float, float, float]:
    b = q.shifts.get(pair)
    if b is None or isinstance(b, str):
        return math.nan, math.nan, math.nan
    return (b.estimate["shift"], *_ci(b, "shift", CI95))


def chapter_numbers(q: QualityV2) -> dict[str, str]:
    """Os textos do capítulo (``{glue:text}``), com as frases de comparação escolhidas pelos números."""
    out: dict[str, str] = {}
    n_runs = sum(int(np.isfinite(f.rows["wall_s"]).sum()) for n, f in q.fits.items() if n != "limpo")
    out["q2_treinos"] = str(n_runs)
    out["q2_ruido"] = fmt(100 * q.noise.sigma, ".2f")
    lo, hi = q.noise.sigma_ci
    out["q2_ruido_ic"] = _interval(100 * lo, 100 * hi, ".2f")
    for name, f in q.fits.items():
        out[f"q2_h_{name}"] = _num(f.h_train, ".3f")
        out[f"q2_a_{name}"] = _num(f.common.value("a"))
        out[f"q2_a_{name}_ic"] = _interval(*f.common.ci("a"))
        out[f"q2_l_{name}"] = _num(_best_loss(f.common))
        if f.own is not None:
            out[f"q2_aown_{name}"] = _num(f.own.value("a"))
            out[f"q2_aown_{name}_ic"] = _interval(*f.own.ci("a"))
            out[f"q2_lown_{name}"] = _num(_best_loss(f.own))
    # a previsão da diluição contra a medida
    s, lo, hi = _shift(q, ("diluido", "limpo"))
    pred = q.predicted_shift
    out["q2_pred_shift"] = _num(pred, "+.3f")
    out["q2_dil_shift"] = _num(s, "+.3f")
    out["q2_dil_shift_ic"] = _interval(lo, hi, "+.3f")
    if math.isfinite(lo):
        out["q2_dil_cobre"] = ("o intervalo contém a previsão" if lo <= pred <= hi else
                               "a previsão fica " + ("abaixo" if pred < lo else "acima") + " do intervalo")
        a = q.fits["limpo"].common.value("a")
        if hi < 0:
            out["q2_rho_eff"] = (f"ρ efetivo = 10^(Δ/a) = {fmt(10 ** (s / a), '.2f')} "
                                 f"{_interval(10 ** (lo / a), 10 ** (hi / a), '.2f')}, contra os 0,5 de bytes limpos")
        else:
            out["q2_rho_eff"] = ("nenhum ρ ≤ 1 explica um deslocamento que não é negativo: a diluição, sozinha, "
                                 "não descreve o que se mediu")
    b = q.shifts.get(("diluido", "limpo"))
    if b is not None and not isinstance(b, str):
        out["q2_dil_da"] = fmt(b.estimate["delta_a"], "+.3f")
        out["q2_dil_da_ic"] = _interval(*_ci(b, "delta_a", CI95), "+.3f")
        out["q2_dil_da_veredito"] = verdict(b, "delta_a", null_margin=DEEPSEEK_SPREAD)
    # as faixas extremas: deslocamento e expoente
    for tag, table in (("", q.shifts), ("own_", q.shifts_own)):
        b = table.get(("faixa4", "faixa1"))
        if b is not None and not isinstance(b, str):
            out[f"q2_{tag}f41_shift"] = fmt(b.estimate["shift"], "+.3f")
            out[f"q2_{tag}f41_shift_ic"] = _interval(*_ci(b, "shift", CI95), "+.3f")
            out[f"q2_{tag}f41_shift_veredito"] = verdict(b, "shift")
            out[f"q2_{tag}f41_da"] = fmt(b.estimate["delta_a"], "+.3f")
            out[f"q2_{tag}f41_da_ic"] = _interval(*_ci(b, "delta_a", CI95), "+.3f")
            out[f"q2_{tag}f41_da_veredito"] = verdict(b, "delta_a", null_margin=DEEPSEEK_SPREAD)
    for tag, sl in (("", q.slope), ("own_", q.slope_own)):
        out[f"q2_{tag}slope"] = _num(sl["slope"], "+.2f")
        out[f"q2_{tag}slope_ic"] = _interval(*sl["ci"], "+.2f")
        lo, hi = sl["ci"]
        out[f"q2_{tag}slope_sinal"] = (DASH if not math.isfinite(lo) else
                                       "negativa (a cai quando H sobe), como em Pandey" if hi < 0 else
                                       "positiva (a sobe com H), o contrário de Pandey" if lo > 0 else
                                       "de sinal indeterminado (o intervalo contém o zero)")
        h = sl.get("h")
        if h is not None and math.isfinite(lo):
            span = float(np.ptp(h))
            out[f"q2_{tag}slope_faixa"] = (f"{fmt(lo * span, '+.3f')} a {fmt(hi * span, '+.3f')} em a ao longo das "
                                           f"faixas (ΔH = {fmt(span, '.3f')})")
    out["q2_ds_spread"] = fmt(DEEPSEEK_SPREAD, ".3f")
    out["q2_pred_shift_abs"] = _num(abs(pred), ".2f")
    if q.corpus_noise is not None:
        lo, hi = q.corpus_noise.sigma_ci
        out["q2_ruido_corpora"] = fmt(100 * q.corpus_noise.sigma, ".2f")
        out["q2_ruido_corpora_ic"] = _interval(100 * lo, 100 * hi, ".2f")
        out["q2_ruido_grupos"] = str(q.corpus_noise.n_groups)
    if q.noise_ratio is not None:
        r, lo, hi = q.noise_ratio
        out["q2_ruido_razao"] = fmt(r, ".2f")
        out["q2_ruido_razao_ic"] = _interval(lo, hi, ".2f")
        out["q2_ruido_veredito"] = ("compatível com o do capítulo 7 (o intervalo da razão contém 1): os intervalos "
                                    "abaixo usam o ruído do capítulo 7" if lo <= 1 <= hi else
                                    ("maior" if lo > 1 else "menor") + " que o do capítulo 7 (o intervalo da razão "
                                    "exclui 1): os intervalos abaixo, com o ruído do capítulo 7, ficam "
                                    + ("otimistas" if lo > 1 else "conservadores"))
    out["q2_dil_discussao"] = _dilution_text(q)
    out["q2_faixas_discussao"] = _bands_text(q)
    out["q2_conclusao"] = _conclusion_text(q)
    out.update(_design_numbers(q))
    out.update(_planning_numbers(q))
    return out


def _dilution_text(q: QualityV2) -> str:
    """O parágrafo do controle, escolhido pelos números: a previsão dentro, abaixo ou acima do IC 95%, o
    deslocamento orçamento a orçamento e a inclinação."""
    s, lo, hi = _shift(q, ("diluido", "limpo"))
    if not math.isfinite(lo):
        return "Sem o ajuste dos dois corpora, o controle não pôde ser conferido."
    b = q.shifts[("diluido", "limpo")]
    pred = q.predicted_shift
    same_slope = verdict(b, "delta_a").startswith("inclui")
    if lo <= pred <= hi:
        head = ("A teoria passou num teste que podia ter falhado: o intercepto desceu o quanto ela previa"
                + (" e a inclinação não mudou de modo mensurável." if same_slope else
                   ", mas a inclinação mudou — o que a diluição sozinha não explica."))
    elif pred > hi:
        head = ("O intercepto desceu **mais** que o previsto: o texto repetitivo custou mais que os seus *bytes* — "
                "intercalado entre as linhas, ele também corta o contexto que o modelo usa para prever o código.")
    elif lo > 0:
        head = ("**A previsão falhou, e no sentido oposto**: em vez de descer, o vértice subiu — o corpus diluído "
                "pede modelos **maiores** que o corpus inteiro, não menores.")
    else:
        head = ("O intercepto desceu **menos** que o previsto: parte do texto repetitivo ainda ensina alguma coisa "
                "sobre o alvo, e ρ efetivo fica acima de 0,5.")
    keys = sorted((k for k in b.estimate if k.startswith("shift@")), key=lambda k: float(k.split("@")[1]))
    first, last = keys[0], keys[-1]
    (f_lo, f_hi), (l_lo, l_hi) = _ci(b, first, CI95), _ci(b, last, CI95)
    trend = (f" Orçamento a orçamento, o deslocamento vai de {fmt(b.estimate[first], '+.3f')} década "
             f"[{fmt(f_lo, '+.3f')}; {fmt(f_hi, '+.3f')}] em {fmt(float(first.split('@')[1]), '.3g')} FLOPs a "
             f"{fmt(b.estimate[last], '+.3f')} [{fmt(l_lo, '+.3f')}; {fmt(l_hi, '+.3f')}] em "
             f"{fmt(float(last.split('@')[1]), '.3g')}.")
    shrinking = f_lo > l_hi
    if shrinking and not lo <= pred <= hi:
        da, (da_lo, da_hi) = b.estimate["delta_a"], _ci(b, "delta_a", CI95)
        size = (f", comparável aos {fmt(DEEPSEEK_SPREAD, '.3f')} que separam as linhas extremas do DeepSeek"
                if abs(da) >= DEEPSEEK_SPREAD / 2 else "")
        trend += (" Ele não é constante, como a teoria exige: encolhe com o orçamento. A hipótese que falhou é a de que "
                  "o texto repetitivo só desperdiça *tokens*. A explicação mais simples é que ele também precisa ser "
                  f"aprendido: os {len(_BOILERPLATE)} blocos de *boilerplate* (repetidos) ocupam parte da capacidade do modelo, um custo quase fixo "
                  "que pesa muito num modelo de dezenas de milhares de FLOPs por *token* e cada vez menos num maior. "
                  "Nos orçamentos pequenos, isso empurra o ótimo para modelos maiores; nos grandes, deveria sobrar só "
                  "o efeito dos *tokens*, que puxa para baixo — o que só orçamentos maiores que os deste estudo "
                  "confirmariam. Por isso a reta ajustada fica **menos inclinada**: Δa = "
                  f"{fmt(da, '+.3f')} [{fmt(da_lo, '+.3f')}; {fmt(da_hi, '+.3f')}] (IC 95%){size}, produzida por um "
                  "corpus cuja lei assintótica, pela teoria, tem o **mesmo** expoente. Numa faixa finita de "
                  "orçamentos, um custo de capacidade pode bastar para mudar o a ajustado.")
    elif not same_slope:
        trend += " A inclinação também mudou (Δa fora do zero), o que a diluição sozinha não explica."
    return head + trend


def _bands_text(q: QualityV2) -> str:
    """O parágrafo das faixas: o sinal dos deslocamentos contra o corpus inteiro e o veredito de ``Δa`` entre as
    faixas extremas, nas duas validações."""
    parts = []
    moved = []
    for name in Q.BANDS:
        b = q.shifts.get((name, "limpo"))
        if b is None or isinstance(b, str):
            continue
        v = verdict(b, "shift")
        if v.startswith("exclui"):
            moved.append(f"{Q.LABELS_V2[name].split(' (')[0]} ({fmt(b.estimate['shift'], '+.3f')} década)")
    n = sum(1 for name in Q.BANDS if not isinstance(q.shifts.get((name, "limpo"), "—"), str))
    if n:
        verb = "desloca" if len(moved) == 1 else "deslocam"
        parts.append(f"Na validação comum, {len(moved)} das {n} faixas {verb} o vértice além do ruído em relação ao "
                     "corpus inteiro" + (": " + ", ".join(moved) + "." if moved else "."))
    for table, where in ((q.shifts, "na validação comum"), (q.shifts_own, "cada faixa na sua validação")):
        b = table.get(("faixa4", "faixa1"))
        if b is None or isinstance(b, str):
            continue
        lo, hi = _ci(b, "delta_a", CI95)
        parts.append(f"Entre as faixas extremas, {where}, Δa = {fmt(b.estimate['delta_a'], '+.3f')} "
                     f"[{fmt(lo, '+.3f')}; {fmt(hi, '+.3f')}]: {verdict(b, 'delta_a', null_margin=DEEPSEEK_SPREAD)}.")
    return " ".join(parts) if parts else "Faltam faixas para comparar."


def _conclusion_text(q: QualityV2) -> str:
    """O que o estudo diz sobre a Tabela 4, escolhido pelos vereditos de ``Δa`` das faixas e do controle."""
    bands = [b for (x, r), b in q.shifts.items() if x in Q.BANDS and not isinstance(b, str)]
    ruled_out = [b for b in bands if verdict(b, "delta_a", null_margin=DEEPSEEK_SPREAD).startswith("inclui o zero e exclui")]
    moved = [b for b in bands if not verdict(b, "delta_a").startswith("inclui")]
    dil = q.shifts.get(("diluido", "limpo"))
    dil_moved = dil is not None and not isinstance(dil, str) and not verdict(dil, "delta_a").startswith("inclui")
    parts = []
    if bands:
        if ruled_out and not moved:
            parts.append(f"Nos {len(bands)} pares com faixas de compressibilidade, nenhum Δa se afasta do zero, e "
                         f"{len(ruled_out)} deles têm intervalo estreito o bastante para descartar uma diferença do "
                         f"tamanho da Tabela 4 ({fmt(DEEPSEEK_SPREAD, '.3f')}): com código Python real, de H = "
                         f"{_num(q.fits['faixa1'].h_train if 'faixa1' in q.fits else math.nan)} a "
                         f"{_num(q.fits['faixa4'].h_train if 'faixa4' in q.fits else math.nan)}, a compressibilidade "
                         "não move o expoente além do ruído nesta escala — move, quando move, o intercepto.")
        elif moved:
            parts.append(f"Em {len(moved)} dos {len(bands)} pares com faixas de compressibilidade, Δa se afasta do zero.")
        else:
            parts.append("Nos pares com faixas de compressibilidade, Δa fica dentro do ruído, mas os intervalos não "
                         "descartam uma diferença do tamanho da Tabela 4.")
    if dil_moved:
        parts.append("O controle diluído, ao contrário, mudou o a ajustado — sem mudar, pela teoria, o expoente "
                     "assintótico. A lição para a Tabela 4: uma diferença de a entre dois conjuntos de dados, medida "
                     "numa faixa finita de orçamentos, não identifica por si só uma propriedade \"de qualidade\" que "
                     "mude a escala; um custo que só pesa nos modelos pequenos produz o mesmo sinal.")
    return " ".join(parts)


def _design_numbers(q: QualityV2) -> dict[str, str]:
    """O desenho (orçamentos, treinos por corpus, avaliação) e o custo medido das varreduras novas."""
    out: dict[str, str] = {}
    ref = q.fits.get("limpo") or next(iter(q.fits.values()), None)
    if ref is None:
        return out
    budgets = np.unique(ref.rows["budget"][ref.design])
    out["q2_n_orcamentos"] = str(budgets.size)
    out["q2_c_min"], out["q2_c_max"] = fmt(budgets.min(), ".3g"), fmt(budgets.max(), ".3g")
    out["q2_por_corpus"] = str(ref.n_planned)
    tokens = ref.rows.get("eval_tokens")
    if tokens is not None and np.isfinite(tokens).any():
        out["q2_eval_tokens"] = fmt(float(np.nanmax(tokens)), ",.0f")
    wall = [f.rows["wall_s"] for n, f in q.fits.items() if n != "limpo"]
    if wall:
        out["q2_cpu_horas"] = fmt(float(sum(np.nansum(w) for w in wall)) / 3600, ".1f")
    spans = [f.span_s for n, f in q.fits.items() if n != "limpo"]
    if spans and all(math.isfinite(s) for s in spans):
        out["q2_relogio_min"] = fmt(sum(spans) / 60, ".0f")
    return out


def _planning_numbers(q: QualityV2, target_half: float = 0.035) -> dict[str, str]:
    """Exercício 3: quantas vezes mais treinos levariam a meia largura do IC 95% de ``Δa`` (faixa 4 − faixa 1)
    a ``target_half``, e o custo em horas de CPU pelos tempos registrados das duas faixas."""
    b = q.shifts.get(("faixa4", "faixa1"))
    if b is None or isinstance(b, str):
        return {}
    lo, hi = _ci(b, "delta_a", CI95)
    half = (hi - lo) / 2
    factor = max(half / target_half, 1.0)
    seconds = sum(float(np.nansum(q.fits[n].rows["wall_s"][q.fits[n].design])) for n in ("faixa4", "faixa1"))
    return {"q2_plan_meia": fmt(half, ".3f"), "q2_plan_fator": fmt(factor, ".1f"),
            "q2_plan_treinos": fmt(factor**2, ".0f"), "q2_plan_horas": fmt(factor**2 * seconds / 3600, ".0f")}


def plot_forest(q: QualityV2):
    """À esquerda, ``a`` de cada corpus (IC 90%; cheio: validação comum; vazado: própria) com os três ``a``
    do DeepSeek; à direita, os deslocamentos pareados de ``log₁₀ M_opt`` (IC 95%) e a previsão da diluição."""
    fig, (ax, bx) = new_figure(2, width=7.0, height=3.6)
    names = [n for n in STUDY if n in q.fits]
    for i, name in enumerate(names):
        f, y = q.fits[name], len(names) - 1 - i
        for fit_, dy, face in ((f.common, 0.12, COLOR[name]), (f.own, -0.12, "white")):
            if fit_ is None or fit_.boot is None:
                continue
            lo, hi = fit_.ci("a")
            ax.errorbar(fit_.value("a"), y + dy, xerr=[[fit_.value("a") - lo], [hi - fit_.value("a")]], fmt="o",
                        color=COLOR[name], mfc=face, ms=6, capsize=3, lw=1.4)
    for row, ls in zip((r for r in deepseek.TABLE4 if r.label.startswith("DeepSeek")), (":", "--", "-.")):
        ax.axvline(row.a, color="0.45", ls=ls, lw=1, label=f"{row.label}: {fmt(row.a, '.3f')}")
    ax.set_yticks(range(len(names)), [SHORT[n] for n in names][::-1])
    ax.set_xlabel(r"expoente $a$ de $M_\mathrm{opt} \propto C^a$")
    ax.legend(fontsize=9.5, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    pairs = [p for p, b in q.shifts.items() if not isinstance(b, str)]
    for j, pair in enumerate(pairs):
        s, lo, hi = _shift(q, pair)
        y = len(pairs) - 1 - j
        bx.errorbar(s, y, xerr=[[s - lo], [hi - s]], fmt="s", color=COLOR[pair[0]], ms=6, capsize=3, lw=1.4)
    if ("diluido", "limpo") in pairs:
        y = len(pairs) - 1 - pairs.index(("diluido", "limpo"))
        bx.plot([q.predicted_shift], [y], marker="*", ms=13, color="0.2", ls="none", label="previsão (diluição)")
        bx.legend(fontsize=9.5, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    bx.axvline(0, color="0.6", lw=1)
    bx.set_yticks(range(len(pairs)), [f"{SHORT[p[0]]} − {SHORT[p[1]]}" for p in pairs][::-1])
    bx.set_xlabel(r"$\Delta\log_{10} M_\mathrm{opt}$ (décadas)")
    return fig


def plot_frontiers(q: QualityV2):
    """Os vértices ``(C_opt, M_opt)`` de todos os corpora e as retas ajustadas, num só painel."""
    fig, ax = new_figure(width=7.0, height=4.2)
    for name in STUDY:
        f = q.fits.get(name)
        if f is None or f.common.boot is None:
            continue
        acc = f.common.accepted
        c = np.array([p.budget for p in acc])
        m = np.array([p.scale_opt for p in acc])
        ax.plot(c, m, "o", color=COLOR[name], mfc="white" if name == "diluido" else COLOR[name], ms=6)
        k, a = f.common.value("scale_base"), f.common.value("a")
        cc = np.logspace(np.log10(c.min()) - 0.1, np.log10(c.max()) + 0.1, 20)
        ax.plot(cc, k * cc ** a, color=COLOR[name], lw=1.3, ls="--" if name == "diluido" else "-",
                label=f"{Q.LABELS_V2[name]}: a = {fmt(a, '.3f')}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("$C$ (FLOPs)")
    ax.set_ylabel(r"$M_\mathrm{opt}$ (FLOPs por token)")
    ax.legend(fontsize=9.5, loc="upper left")
    return fig


def vertex_replicates(f, noise, *, n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` réplicas de ``(log₁₀ M_opt, log₁₀ C_opt)`` por orçamento, como no bootstrap paramétrico (perdas
    sorteadas sob ``noise`` em torno das parábolas); só as réplicas com vértice interior em todo orçamento."""
    m = f.common.mask
    pipe = IsoFlopPipeline(f.rows["budget"][m], f.rows["M"][m], f.rows["tokens"][m])
    rng = np.random.default_rng(seed)
    centre = pipe.smooth(f.rows["loss"][m])
    sims = noise.draw(np.broadcast_to(centre, (n, centre.size)), rng, sigma=noise.draw_sigma(n, rng))
    u, _, reasons = pipe.vertices(sims)
    d0, d1, um = (np.array([g[k] for g in pipe.groups]) for k in ("d0", "d1", "um"))
    ok = reasons == ""
    return u[ok], (u + d0 + d1 * (u - um))[ok]


def lab_payload(q: QualityV2, surface: dict, *, n: int = 100, anchor_budget: float = 2e11,
                target_budget: float = 1e14) -> dict:
    """Os dados do laboratório de qualidade: por corpus, os vértices medidos, ``n`` réplicas deles e o ``a``
    do livro; ``surface`` é a superfície ``L(M, D)`` (abordagem 3) que o painel do custo usa."""
    corpora, budgets_all, ref_keys = [], [], None
    for k, name in enumerate(STUDY):
        f = q.fits.get(name)
        if f is None or f.common.boot is None:
            continue
        m = f.common.mask
        pipe = IsoFlopPipeline(f.rows["budget"][m], f.rows["M"][m], f.rows["tokens"][m])
        uo, _, _ = pipe.vertices(f.rows["loss"][m][None, :])  # os vértices dos dados observados
        d0, d1, um = (np.array([g[key] for g in pipe.groups]) for key in ("d0", "d1", "um"))
        co = uo[0] + d0 + d1 * (uo[0] - um)  # log10 C_opt = log10 M_opt + log10 D_opt
        if ref_keys is not None and not np.array_equal(pipe.keys, ref_keys):
            continue  # o laboratório marca os mesmos orçamentos em todos os corpora
        ref_keys = pipe.keys if ref_keys is None else ref_keys
        bu, bc = vertex_replicates(f, q.noise, n=n, seed=1000 + k)
        budgets_all += [float(c) for c in pipe.keys]
        corpora.append({"name": name, "label": Q.LABELS_V2[name], "H": round(f.h_train, 4), "color": COLOR[name],
                        "budgets": [float(c) for c in pipe.keys], "log10_m": [float(v) for v in uo[0]],
                        "log10_c": [float(v) for v in co], "boot_log10_m": np.round(bu, 5).tolist(),
                        "boot_log10_c": np.round(bc, 5).tolist(), "a_book": float(f.common.value("a"))})
    return {"level": 0.9, "measured_range": [float(min(budgets_all)), float(max(budgets_all))],
            "anchor_budget": anchor_budget, "target_budget": target_budget, "surface": dict(surface),
            "corpora": corpora}


def calculator_laws() -> dict:
    """As leis do livro para a calculadora: taxa e lote do capítulo 7 v2 (HyperPipeline na grade) e
    ``M_opt``/``D_opt`` do capítulo 8 v2 (os 6 orçamentos, estimativa pontual)."""
    from ..engine.results_store import load_results
    from ..engine.specs import load_spec
    from ..presentation.widgets import PowerLaw
    from .cap07_v2 import HYPER_RESULTS_V2, HYPER_SPEC_V2
    from .cap08_v2 import isoflop_rows
    from .protocol_v2 import GRID_SEED, hyper_laws, result_rows

    h = hyper_laws(result_rows(load_spec(HYPER_SPEC_V2), load_results(HYPER_RESULTS_V2)))
    rows = isoflop_rows(load_spec(Q.ISOFLOP_SPEC), load_results(Q.ISOFLOP_RESULTS))
    m = np.isfinite(rows["loss"]) & (rows["seed"] == GRID_SEED)
    law = IsoFlopPipeline(rows["budget"][m], rows["M"][m], rows["tokens"][m])(rows["loss"][m])
    return {"lr": PowerLaw(h["k_lr"], h["alpha_lr"]), "batch": PowerLaw(h["k_batch"], h["alpha_batch"]),
            "M": PowerLaw(law["scale_base"], law["a"]), "D": PowerLaw(law["data_base"], law["b"])}


def coverage_numbers(cov: dict | None) -> dict[str, str]:
    """Os textos da calibração de :func:`~.cap10_v2.shift_coverage` (``"—"`` sem ela, como na miniatura)."""
    keys = ("q2_cob_n", "q2_cob_shift", "q2_cob_da", "q2_cob_vies", "q2_cob_veredito")
    if cov is None:
        return dict.fromkeys(keys, DASH)
    n, c = cov["n_sets"], cov["coverage"]
    se = math.sqrt(0.95 * 0.05 / n)
    low = [k for k in ("shift", "delta_a") if c[k] < 0.95 - 2 * se]
    names = {"shift": "o do deslocamento", "delta_a": "o de Δa"}
    verdict_ = ("as duas coberturas ficam a menos de dois erros-padrão dos 95% nominais" if not low else
                " e ".join(names[k] for k in low) + " cobre menos que os 95% nominais (mais de dois erros-padrão "
                f"abaixo, com ±{fmt(100 * se, '.1f')} pontos de erro-padrão): leia esse intervalo como um pouco "
                "otimista")
    return {"q2_cob_n": str(n), "q2_cob_shift": fmt(100 * c["shift"], ".0f"), "q2_cob_da": fmt(100 * c["delta_a"], ".0f"),
            "q2_cob_vies": fmt(cov["bias"]["shift"], "+.3f"), "q2_cob_veredito": verdict_}
