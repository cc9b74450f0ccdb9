"""Capítulo 3 — medindo a escala: N, 6N₁, 6N₂ e M contra os FLOPs que o modelo executa
(DeepSeek LLM §3.2, Eq. 1, 2 e 4, Tabelas 2 e 3; nada de ``results/``).

- :func:`table3` — a Tabela 3 recalculada ao lado da impressa, com as células que o
  arredondamento da impressão não explica;
- :func:`measure` e :func:`measurements` — os FLOPs por *token* medidos pelo
  ``FlopCounterMode`` na família minúscula, nas formas da Tabela 3 e no 7B/67B, e cada convenção
  dividida pela medida, com as frases ("subestima", "a poucos por cento") tiradas das razões;
- :func:`budgets` — ``C = M·D`` e as outras convenções para o 7B e o 67B com 2 tri de *tokens*;
- :func:`table2` — a taxa e o lote da Eq. 1 contra a Tabela 2, e o que daria ler ``B`` em sequências;
- :func:`allocation` — o modelo e os dados ótimos da Eq. 4 para o orçamento de cada modelo;
- :func:`plot_conventions` e :func:`plot_ratio_vs_width` — as duas figuras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..laws import deepseek
from ..model import config as cfg
from ..model.flops import analytic_flops_per_token, deepseek_m, measured_flops_per_token, six_n, six_n1, six_n2
from ..model.transformer import Transformer
from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure

__all__ = ["TOKENS", "CONVENTIONS", "table3", "measure", "measurement_cases", "Measurements", "measurements",
           "direction", "budgets", "table2", "allocation", "plot_conventions", "plot_ratio_vs_width"]

#: Os *tokens* de treino do 7B e do 67B (Tabela 2).
TOKENS = 2.0e12
#: As quatro convenções de custo por *token*, na ordem das tabelas.
CONVENTIONS = ("6N", "6N₁", "6N₂", "M")
#: Abaixo disto (em valor absoluto), um desvio relativo é "de poucos por cento".
FEW_PERCENT = 0.05


def _convention(name: str, c: cfg.ModelConfig, seq_len: int) -> float:
    return {"6N": six_n, "6N₁": six_n1, "6N₂": six_n2}[name](c) if name != "M" else deepseek_m(c, seq_len)


# --- Tabela 3 ------------------------------------------------------------------------------------

def _printed(value: float, printed: float) -> bool:
    """``value`` arredondado como o artigo imprime ``printed`` (três algarismos, ou duas casas numa razão)?"""
    if printed < 10:  # razões impressas com duas casas
        return round(value, 2) == printed
    return float(f"{value:.3g}") == printed


def table3() -> tuple[str, str, dict[str, str]]:
    """A Tabela 3 recalculada (valor calculado e, entre parênteses, o impresso), a maior
    diferença relativa por coluna e a lista das células que o arredondamento não explica."""
    rows, worst, mismatches = [], {}, []
    for r in deepseek.TABLE3:
        c = cfg.from_shape(r.num_hidden_layers, r.hidden_size, vocab_size=deepseek.TABLE3_VOCAB)
        n1, n2, m = six_n1(c) / 6, six_n2(c) / 6, deepseek_m(c, deepseek.TABLE3_SEQ_LEN)
        ours = {"N₁": n1, "N₂": n2, "M": m, "6N₁/M": 6 * n1 / m, "6N₂/M": 6 * n2 / m}
        paper = {"N₁": r.n1, "N₂": r.n2, "M": r.m, "6N₁/M": r.ratio_6n1_m, "6N₂/M": r.ratio_6n2_m}
        for key in ours:
            worst[key] = max(worst.get(key, 0.0), abs(ours[key] / paper[key] - 1))
            if not _printed(ours[key], paper[key]):
                mismatches.append(f"({r.num_hidden_layers}, {r.hidden_size}) {key}: calculado "
                                  f"{fmt(ours[key], '.3f' if paper[key] < 10 else '.3g')}, impresso "
                                  f"{fmt(paper[key], '.2f' if paper[key] < 10 else '.3g')}")
        rows.append([r.num_hidden_layers, r.hidden_size,
                     f"{format_si(n1)} ({format_si(r.n1)})", f"{format_si(n2)} ({format_si(r.n2)})",
                     f"{format_si(m)} ({format_si(r.m)})",
                     f"{fmt(6 * n1 / m, '.3f')} ({fmt(r.ratio_6n1_m, '.2f')})",
                     f"{fmt(6 * n2 / m, '.3f')} ({fmt(r.ratio_6n2_m, '.2f')})"])
    table = markdown_table(
        ["n_layer", "d_model", "N₁ calculado (artigo)", "N₂ calculado (artigo)", "M calculado (artigo)",
         "6N₁/M calculado (artigo)", "6N₂/M calculado (artigo)"], rows)
    worst_table = markdown_table(["coluna", "maior diferença relativa para o artigo"],
                                 [[key, fmt(value, ".2%")] for key, value in worst.items()])
    numbers = {"t3_excecoes": str(len(mismatches)),
               "t3_excecao": "; ".join(mismatches) if mismatches else "nenhuma"}
    return table, worst_table, numbers


# --- Medidas -------------------------------------------------------------------------------------

def measure(c: cfg.ModelConfig, seq_len: int) -> float:
    """FLOPs por *token* de um passo direto + reverso, medidos; confere com a contagem analítica.

    Modelos pequenos rodam de verdade na CPU; os grandes, no dispositivo ``meta`` (só formas).
    """
    device = "cpu" if c.hidden_size <= 256 else "meta"
    with torch.device(device):
        model = Transformer(c)
    flops = measured_flops_per_token(model, seq_len)
    if flops != analytic_flops_per_token(c, seq_len).total:
        raise ValueError(f"medida ({flops}) e contagem analítica ({analytic_flops_per_token(c, seq_len).total}) "
                         f"divergem para {c}.")
    return flops


def measurement_cases() -> list[tuple[str, str, cfg.ModelConfig, int]]:
    """``(grupo, nome, configuração, l_seq)``: a família minúscula, as formas da Tabela 3 e o 7B/67B."""
    cases = [("minúscula", f"tiny({L})", cfg.tiny(L), 128) for L in range(1, 7)]
    cases += [("Tabela 3", f"T3 {r.num_hidden_layers}×{r.hidden_size}",
               cfg.from_shape(r.num_hidden_layers, r.hidden_size, vocab_size=deepseek.TABLE3_VOCAB),
               deepseek.TABLE3_SEQ_LEN) for r in deepseek.TABLE3]
    cases += [("publicado", "DeepSeek 7B", cfg.deepseek_7b(), 4096), ("publicado", "DeepSeek 67B", cfg.deepseek_67b(), 4096)]
    return cases


def direction(ratios, *, few: float = FEW_PERCENT) -> str:
    """A palavra que descreve um conjunto de razões fórmula ÷ medida."""
    r = np.asarray(ratios, dtype=float)
    if np.all(np.abs(r - 1) <= few):
        return "acerta a poucos por cento"
    if np.all(r < 1):
        return "subestima"
    if np.all(r > 1):
        return "superestima"
    return "ora subestima, ora superestima"


@dataclass(frozen=True)
class Measurements:
    """As medidas de cada caso e cada convenção dividida por elas."""

    records: list[dict] = field(repr=False)
    table: str = field(repr=False)
    numbers: dict[str, str]


def _range(values) -> str:
    lo, hi = min(values), max(values)
    return fmt(lo, ".2f") if fmt(lo, ".2f") == fmt(hi, ".2f") else f"{fmt(lo, '.2f')}–{fmt(hi, '.2f')}"


def measurements(cases=None) -> Measurements:
    """Mede cada caso e gera as frases de comparação a partir das razões."""
    records = []
    for group, name, c, seq in cases or measurement_cases():
        measured = measure(c, seq)
        rec = {"grupo": group, "nome": name, "config": c, "seq": seq, "medido": measured,
               "M/sem vocabulário": deepseek_m(c, seq) / analytic_flops_per_token(c, seq).non_vocab}
        rec.update({k: _convention(k, c, seq) / measured for k in CONVENTIONS})
        records.append(rec)
    table = markdown_table(
        ["modelo", "l_seq", "FLOPs/*token* medidos", "6N ÷ medido", "6N₁ ÷ medido", "6N₂ ÷ medido",
         "M ÷ medido", "M ÷ medido sem vocabulário"],
        [[r["nome"], r["seq"], format_si(r["medido"], 3)] +
         [fmt(r[k], ".3f") for k in (*CONVENTIONS, "M/sem vocabulário")] for r in records])
    numbers: dict[str, str] = {}
    mha = [r["M/sem vocabulário"] for r in records if r["config"].num_key_value_groups == 1]
    if mha:
        numbers.update(m_min_mha=fmt(min(mha), ".3f"), m_max_mha=fmt(max(mha), ".3f"))
    big = next((r for r in records if r["nome"] == "DeepSeek 67B"), None)
    if big is not None:
        numbers["m_67b"] = fmt(big["M/sem vocabulário"] - 1, ".0%")
        numbers["m_67b_sentido"] = "superestima" if big["M/sem vocabulário"] > 1 else "subestima"
        dev = {k: big[k] - 1 for k in CONVENTIONS}
        close = [k for k in CONVENTIONS if abs(dev[k]) <= FEW_PERCENT]
        far = [k for k in CONVENTIONS if abs(dev[k]) > FEW_PERCENT]
        numbers["g67_desvios"] = "; ".join(f"{k}, {fmt(dev[k], '+.1%')}" for k in CONVENTIONS)
        numbers["g67_frase"] = _closeness_phrase(close, far)
    for r in records:  # a faixa das quatro convenções em cada modelo: larga nos pequenos, estreita nos grandes
        r["faixa"] = _range([r[k] for k in CONVENTIONS])
    by_name = {r["nome"]: r for r in records}
    for name, key in (("tiny(1)", "faixa_tiny1"), ("T3 8×512", "faixa_t3_menor"), ("T3 80×8192", "faixa_t3_maior"),
                      ("DeepSeek 7B", "faixa_7b")):
        if name in by_name:
            numbers[key] = by_name[name]["faixa"]
    for group, key in (("minúscula", "tiny"), ("Tabela 3", "t3")):
        recs = [r for r in records if r["grupo"] == group]
        for k, label in zip(CONVENTIONS, ("6n", "6n1", "6n2", "m")):
            if recs:
                numbers[f"{key}_{label}_faixa"] = _range([r[k] for r in recs])
                numbers[f"{key}_{label}_sentido"] = direction([r[k] for r in recs])
    tiny = [r for r in records if r["grupo"] == "minúscula"]
    if tiny:
        under = all(r[k] < 1 for r in tiny for k in ("6N₁", "6N₂", "M"))
        numbers["tiny_eq2_frase"] = ("e as três da Eq. 2 subestimam" if under
                                     else "e nem todas as da Eq. 2 subestimam")
    return Measurements(records, table, numbers)


def _closeness_phrase(close: list[str], far: list[str]) -> str:
    """"6N, 6N₁ e 6N₂ ficam a poucos por cento da medida, mas M erra por mais", a partir das listas."""
    tex = _join  # texto simples: um {glue:text} não interpreta $…$
    if not far:
        return "todas as convenções ficam a poucos por cento da medida"
    if not close:
        return "nenhuma convenção fica a poucos por cento da medida"
    verb = "fica" if len(close) == 1 else "ficam"
    return f"{tex(close)} {verb} a poucos por cento da medida, mas {tex(far)} {'erra' if len(far) == 1 else 'erram'} por mais"


def _tex(name: str) -> str:
    return {"6N": "6N", "6N₁": "6N_1", "6N₂": "6N_2", "M": "M"}[name]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " e " + items[-1]


# --- Orçamentos e as Tabelas 2 e 4 --------------------------------------------------------------

def budgets() -> tuple[str, dict[str, tuple[cfg.ModelConfig, float, float]]]:
    """``C`` pelas quatro convenções para o 7B e o 67B treinados com :data:`TOKENS`."""
    rows, out = [], {}
    for name, c in (("7B", cfg.deepseek_7b()), ("67B", cfg.deepseek_67b())):
        m = deepseek_m(c, 4096)
        out[name] = (c, m, m * TOKENS)
        rows.append([name, format_si(m, 4), fmt(m * TOKENS, ".3e"), fmt(six_n(c) * TOKENS, ".3e"),
                     fmt(six_n1(c) * TOKENS, ".3e"), fmt(six_n2(c) * TOKENS, ".3e")])
    table = markdown_table(["modelo", "M (FLOPs/*token*)", "C = M·D", "6N·D", "6N₁·D", "6N₂·D"], rows)
    return table, out


def table2() -> tuple[str, dict[str, str]]:
    """η e lote da Eq. 1 com ``C = M·D`` contra a Tabela 2, e a leitura alternativa de ``B`` em sequências."""
    _, bud = budgets()
    rows, numbers, seq_factor = [], {}, {}
    for name, (c, m, C) in bud.items():
        spec = deepseek.TABLE2[name]
        eta, batch_tokens = deepseek.eta_opt(C), deepseek.batch_opt(C)
        batch_seq = batch_tokens / spec.context_length
        rows.append([name, fmt(C, ".3e"),
                     fmt(eta, ".3e"), fmt(spec.learning_rate, ".1e"), fmt(spec.learning_rate / eta - 1, "+.1%"),
                     fmt(batch_seq, ",.0f"), fmt(spec.batch_size_sequences, ",d"),
                     fmt(spec.batch_size_sequences / batch_seq - 1, "+.1%")])
        numbers[f"eta_{name}"] = fmt(eta, ".2e")
        numbers[f"bseq_{name}"] = fmt(batch_seq, ",.0f")
        numbers[f"ordens_{name}"] = fmt(np.log10(C / 2e19), ".1f")
        numbers[f"eta_dif_{name}"] = fmt(spec.learning_rate / eta - 1, "+.1%")
        numbers[f"lote_dif_{name}"] = fmt(spec.batch_size_sequences / batch_seq - 1, "+.1%")
        # Se B_opt fosse em sequências, o lote seria B_opt sequências: quantas vezes o da Tabela 2?
        seq_factor[name] = batch_tokens / spec.batch_size_sequences
    numbers["seq_vezes_7B"] = fmt(seq_factor["7B"], ",.0f")
    numbers["seq_vezes_67B"] = fmt(seq_factor["67B"], ",.0f")
    numbers["seq_sentido"] = "maiores" if min(seq_factor.values()) > 1 else "menores"
    numbers["lote_67B_sentido"] = ("abaixo" if deepseek.TABLE2["67B"].batch_size_sequences
                                   < deepseek.batch_opt(bud["67B"][2]) / 4096 else "acima")
    table = markdown_table(
        ["modelo", "C", "η pela Eq. 1", "η usado", "diferença", "lote pela Eq. 1 (seq.)", "lote usado (seq.)",
         "diferença"], rows)
    return table, numbers


def allocation() -> tuple[str, dict[str, str]]:
    """``M_opt`` e ``D_opt`` da Eq. 4 para o orçamento de cada modelo, ao lado do que foi usado."""
    _, bud = budgets()
    rows, numbers, ratios = [], {}, {}
    for name, (c, m, C) in bud.items():
        ratio = m / deepseek.m_opt(C)
        rows.append([name, format_si(deepseek.m_opt(C), 3), format_si(m, 3), fmt(ratio, ".2f"),
                     format_si(deepseek.d_opt(C), 3), format_si(TOKENS, 3)])
        numbers[f"aloc_{name}"] = fmt(ratio, ".2f")
        numbers[f"dados_{name}"] = fmt(TOKENS / deepseek.d_opt(C), ".1f")
        numbers[f"aloc_sentido_{name}"] = "menor" if ratio < 1 else "maior"
        ratios[name] = ratio
    smaller = all(r < 1 for r in ratios.values())
    more_data = all(TOKENS > deepseek.d_opt(bud[k][2]) for k in ratios)
    numbers["aloc_frase"] = (("Os dois modelos são menores" if smaller else "Nem todos os modelos são menores")
                             + " que o ótimo da própria lei e "
                             + ("recebem mais dados que o ótimo" if more_data else "nem todos recebem mais dados que o ótimo"))
    closer = min(ratios, key=lambda k: abs(np.log(ratios[k])))
    numbers["aloc_mais_perto"], numbers["aloc_mais_longe"] = closer, next(k for k in ratios if k != closer)
    table = markdown_table(["modelo", "M_opt (Eq. 4)", "M real", "M real ÷ M_opt", "D_opt (Eq. 4)", "D real"], rows)
    return table, numbers


# --- Figuras -------------------------------------------------------------------------------------

def plot_conventions(records: list[dict]):
    """Cada convenção ÷ FLOPs medidos contra os FLOPs medidos, para os três grupos de modelos."""
    fig, ax = new_figure(width=7.0, height=4.6)
    groups = {"minúscula": "o-", "Tabela 3": "s-", "publicado": "D"}
    styles = {"6N": COLORS["cinza"], "6N₁": COLORS["azul"], "6N₂": COLORS["laranja"], "M": COLORS["verde"]}
    for key, color in styles.items():
        for group, marker in groups.items():
            recs = [r for r in records if r["grupo"] == group]
            ax.semilogx([r["medido"] for r in recs], [r[key] for r in recs], marker, color=color,
                        ms=6 if marker == "D" else 4.5, label=f"${_tex(key)}$" if group == "minúscula" else None)
    ax.axhline(1.0, color="black", lw=0.8)
    first = {g: next(r["medido"] for r in records if r["grupo"] == g) for g in ("minúscula", "Tabela 3")}
    ax.text(first["minúscula"], 1.3, "família minúscula\n($l_\\mathrm{seq}$ = 128)", fontsize=10)
    ax.text(first["Tabela 3"], 1.3, "Tabela 3 (■) e 7B/67B (◆)\n($l_\\mathrm{seq}$ = 4096)", fontsize=10)
    ax.set(xlabel="FLOPs por token medidos (escala log)", ylabel="fórmula ÷ FLOPs medidos", ylim=(0, 1.55))
    ax.legend(title="convenção", ncols=4, loc="lower right")
    return fig


def plot_ratio_vs_width(records: list[dict]):
    """``6N₁/M = 1/(1 + l_seq/6d)`` contra a largura, com a Tabela 3 e a família minúscula."""
    d = np.logspace(1, 4.2, 200)
    fig, ax = new_figure()
    for seq, color in ((4096, COLORS["azul"]), (128, COLORS["laranja"])):
        ax.semilogx(d, 1 / (1 + seq / (6 * d)), color=color, label=f"$l_\\mathrm{{seq}}$ = {seq}")
    ax.semilogx([r.hidden_size for r in deepseek.TABLE3], [r.ratio_6n1_m for r in deepseek.TABLE3], "s",
                color=COLORS["azul"], label="Tabela 3 (valores do artigo)")
    tiny = [r for r in records if r["grupo"] == "minúscula"]
    ax.semilogx([r["config"].hidden_size for r in tiny],
                [six_n1(r["config"]) / deepseek_m(r["config"], r["seq"]) for r in tiny], "o",
                color=COLORS["laranja"], label="família minúscula do livro")
    ax.axhline(0.5, color=COLORS["cinza"], ls=":", lw=1)
    ax.set(xlabel="$d_\\mathrm{model}$ (escala log)", ylabel="$6N_1 / M$", ylim=(0, 1))
    ax.legend()
    return fig
