"""Capítulo 6 — tamanho do lote e comprimento de contexto (DeepSeek LLM §2.3, §3.1; DeepSeekMath §2).

Tudo o que o notebook mostra a partir de ``results/cap06_lote.jsonl``:

- :func:`deepseek_batches_table` e :func:`context_cost_table` — os lotes publicados da família
  DeepSeek e o custo do contexto pela conta de ``M``;
- :func:`near_best` — quem não se distingue do melhor, com a régua de ruído do capítulo 5
  (:func:`helpers.chapters.cap05.seed_spread`): o experimento tem uma semente por lote;
- :func:`chapter6` — a tabela e o dicionário de números e frases que a prosa cola;
- :func:`plot_batches` — a figura.

O lote crítico — passos até perdas-alvo com taxa constante e a escala de ruído do gradiente — está
em :mod:`helpers.chapters.cap06_critico` (``results/cap06_lote_critico.jsonl``): nos treinos deste
experimento a taxa cai a 80% dos passos de cada um, e essa queda decidiria os cruzamentos. O estudo
de contexto, em que só o contexto muda, está em :mod:`helpers.chapters.cap06_contexto`
(``results/cap06_contexto_v2.jsonl``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..laws import deepseek
from ..model.config import ModelConfig
from ..model.flops import deepseek_m
from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure, plot_trace
from . import cap05
from .cap05 import glue_figure  # noqa: F401 (o notebook a usa daqui também)

__all__ = ["PALETTE", "Chapter6", "deepseek_batches_table", "context_cost_table", "near_best", "chapter6",
           "plot_batches", "MARKDOWN_GLUES", "glue_numbers", "glue_figure"]

PALETTE = [COLORS[c] for c in ("celeste", "azul", "verde", "laranja", "vermelho", "roxo")]


def deepseek_batches_table() -> str:
    """Lote, *tokens* e passos de quatro treinos publicados da família DeepSeek."""
    rows = []
    for name, batch_tokens, total_tokens in [
        ("DeepSeek LLM 7B", deepseek.TABLE2["7B"].batch_size_tokens, deepseek.TABLE2["7B"].tokens),
        ("DeepSeek LLM 67B", deepseek.TABLE2["67B"].batch_size_tokens, deepseek.TABLE2["67B"].tokens),
        ("DeepSeekMath, 1,3 bi de parâmetros (corpus)", 4e6, 150e9),
        ("DeepSeekMath-Base 7B", 10e6, 500e9),
    ]:
        rows.append([name, format_si(batch_tokens, 3), format_si(total_tokens, 3),
                     fmt(total_tokens / batch_tokens, ",.0f")])
    return markdown_table(["treino", "lote (*tokens*/passo)", "*tokens* de treino", "passos"], rows)


def context_cost_table(model: ModelConfig, contexts=(2048, 4096, 8192, 16384, 32768), base: int = 4096) -> str:
    """``M`` por contexto, o custo relativo a ``base`` e a razão atenção ÷ camadas, ``l/(6d)``."""
    ref = deepseek_m(model, base)
    rows = [[fmt(l, ",d"), format_si(deepseek_m(model, l), 3), fmt(deepseek_m(model, l) / ref, ".2f"),
             fmt(12 * l / (72 * model.hidden_size), ".2f")] for l in contexts]
    return markdown_table(["contexto", "M (FLOPs/*token*)", f"custo ÷ custo a {fmt(base, ',d')}",
                           "atenção ÷ camadas"], rows)


# --- quem não se distingue do melhor -------------------------------------------------------

def near_best(values: dict[int, float], spread: float) -> tuple[int, list[int]]:
    """O ponto de menor perda e os que ficam a no máximo ``spread`` dele (ele incluído), em ordem.

    ``spread`` é a maior diferença entre duas sementes de uma mesma configuração: com uma
    semente por ponto, diferenças menores que ela não separam dois pontos. As diferenças são
    comparadas com três casas decimais, as que a prosa mostra.
    """
    if not values:
        raise ValueError("nenhum ponto para comparar.")
    if not (math.isfinite(spread) and spread >= 0):
        raise ValueError(f"spread deve ser finito e ≥ 0; recebi {spread!r}.")
    best = min(values, key=values.get)
    # comparadas com 3 casas, as que o leitor vê: 0,046 contra 0,046 é empate
    return best, sorted(k for k, v in values.items() if round(v - values[best], 3) <= round(spread, 3))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " e " + items[-1]


def _verdict(values: dict[int, float], spread: float, *, noun: str, plural: str, show) -> str:
    """A frase que diz o que uma semente por ponto permite concluir sobre o melhor ponto."""
    best, tied = near_best(values, spread)
    others = [k for k in tied if k != best]
    head = f"o menor bpb final veio do {noun} de {show(best)} ({fmt(values[best], '.3f')})"
    if not others:
        second = min((v for k, v in values.items() if k != best), default=float("nan"))
        return (f"{head}, e o segundo melhor ficou {fmt(second - values[best], '.3f')} acima — mais que "
                f"{fmt(spread, '.3f')}, a maior diferença entre duas sementes medida no capítulo 5: mesmo com uma "
                f"semente por {noun}, o de {show(best)} se destaca")
    gaps = _join([f"o de {show(k)} ficou {fmt(values[k] - values[best], '.3f')} acima" for k in others])
    span = f"entre {show(tied[0])} e {show(tied[-1])}" if len(tied) > 1 else show(tied[0])
    return (f"{head}, mas {gaps} — menos que {fmt(spread, '.3f')}, a maior diferença entre duas sementes "
            f"medida no capítulo 5. Com uma semente por {noun}, os dados dizem que o melhor {noun} está "
            f"{span} *tokens*, sem dizer qual")


# --- o capítulo ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Chapter6:
    """O que o notebook do capítulo 6 mostra dos resultados versionados."""

    batch_records: tuple[dict, ...]
    spread: float
    batch_table: str
    numbers: dict[str, str] = field(default_factory=dict)


def chapter6(batch_records: list[dict], *, spread: float) -> Chapter6:
    """Tabela, números e frases do experimento 1; ``spread`` é a régua de ruído do capítulo 5."""
    batch = sorted(batch_records, key=lambda r: r["train"]["batch_size_tokens"])
    if not batch:
        raise ValueError("faltam os resultados de cap06_lote.")
    batch_table = markdown_table(
        ["lote (*tokens*)", "passos", "bpb final", "*tokens*/s", "tempo (s)"],
        [[fmt(r["train"]["batch_size_tokens"], ",d"), r["steps"], fmt(r["final_val_bpb"], ".3f"),
          fmt(r["tokens_per_s"], ",.0f"), fmt(r["wall_time_s"], ".0f")] for r in batch])
    by_batch = {r["train"]["batch_size_tokens"]: r["final_val_bpb"] for r in batch}
    best_batch = min(batch, key=lambda r: r["final_val_bpb"])
    c = best_batch["compute"]["M"]
    numbers = {
        "melhor_lote": fmt(best_batch["train"]["batch_size_tokens"], ",d"),
        "lote_opt_deepseek": fmt(deepseek.batch_opt(c), ",.0f"),
        "C_lote": fmt(c, ".1e"),
        "ordens_lote": fmt(np.log10(1e17 / c), ".1f"),
        "ruido_cap05": fmt(spread, ".3f"),
        "lote_veredito": _verdict(by_batch, spread, noun="lote", plural="lotes", show=lambda b: fmt(b, ",d")),
        "lote_vazao_max": fmt(max(batch, key=lambda r: r["tokens_per_s"])["train"]["batch_size_tokens"], ",d"),
    }
    return Chapter6(tuple(batch), float(spread), batch_table, numbers)


#: Os números colados como Markdown (a prosa os usa com ``{glue:md}``).
MARKDOWN_GLUES = frozenset({"lote_veredito"})


def glue_numbers(numbers: dict[str, object]) -> None:
    """Cola os números do capítulo (:func:`helpers.chapters.cap05.glue_numbers`), os de
    :data:`MARKDOWN_GLUES` como Markdown."""
    cap05.glue_numbers(numbers, markdown=MARKDOWN_GLUES)


# --- figuras -------------------------------------------------------------------------------

def _log_axis(ax, axis: str = "x", words: bool = True) -> None:
    """Eixo log com marcas 1, 2, 5 × 10ⁿ, escritas com as palavras de escala (200 mil, 1 mi)
    ou por extenso com ponto de milhar (2.000)."""
    import matplotlib.ticker as mticker

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(mticker.FuncFormatter(lambda v, _: format_si(v) if words else fmt(v, ",.0f")))
    target.set_minor_formatter(mticker.NullFormatter())


def plot_batches(ch: Chapter6):
    """As curvas de validação de cada lote, contra passos e contra *tokens*."""
    fig, (ax_steps, ax_tokens) = new_figure(ncols=2, height=4.2)
    for r, color in zip(ch.batch_records, PALETTE):
        label = f"$B$ = {fmt(r['train']['batch_size_tokens'], ',d')}"
        plot_trace(ax_steps, r, x="step", logx=True, color=color, label=label)
        plot_trace(ax_tokens, r, x="tokens", logx=True, color=color)
    ax_steps.set(title="Contra passos", ylim=(None, 4.5))
    ax_tokens.set(title="Contra tokens", ylim=(None, 4.5), ylabel="")
    _log_axis(ax_tokens)
    fig.legend(*ax_steps.get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=10.5)
    return fig
