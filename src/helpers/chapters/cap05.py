"""Capítulo 5 — treinando um modelo minúsculo: tokenizadores, agendas de taxa e reuso (DeepSeek LLM §2.3).

Tudo o que o notebook mostra a partir de ``results/cap05_agendas.jsonl``:

- :func:`chapter5` — as tabelas (bytes × BPE, as agendas por semente), a diferença entre as
  agendas com o seu intervalo (:func:`schedule_gap`), a comparação do reuso do primeiro estágio
  e o dicionário de números que a prosa cola (``glue``), com as frases de comparação escolhidas
  pelos próprios números;
- :func:`live_summary` — a tabela e os números do treino curto feito ao vivo no notebook;
- :func:`seed_spread` — a maior diferença entre duas sementes da mesma configuração (o
  capítulo 6 a usa como régua do ruído);
- :func:`plot_schedules`, :func:`plot_schedule_runs`, :func:`plot_reuse` — as figuras;
- :func:`glue_numbers` — a contabilidade do ``glue`` do myst-nb (e :func:`glue_figure`, de
  :mod:`helpers.presentation.plots`, para as figuras numeradas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..presentation.plots import COLORS, fmt, format_si, glue_figure, markdown_table, new_figure, plot_trace

__all__ = ["SCHEDULE_LABELS", "SCHEDULE_COLORS", "ScheduleGap", "Chapter5", "schedule_gap", "seed_spread",
           "final_by_schedule", "chapter5", "corpus_table", "live_summary", "plot_schedules", "plot_schedule_runs", "plot_reuse",
           "MARKDOWN_GLUES", "glue_numbers", "glue_figure"]

SCHEDULE_LABELS = {"multistep": "degraus", "cosine": "cosseno", "constant": "constante"}
SCHEDULE_COLORS = {"multistep": COLORS["azul"], "cosine": COLORS["laranja"], "constant": COLORS["cinza"]}


# --- a estatística das agendas ------------------------------------------------------------

@dataclass(frozen=True)
class ScheduleGap:
    """A diferença ``média(a) − média(b)`` entre duas agendas e o seu intervalo t de Student.

    ``sigma`` é o desvio entre sementes combinado das duas agendas (mesma variância nas duas),
    com ``dof = n_a + n_b − 2`` graus de liberdade; ``low``/``high`` são o intervalo de nível
    ``level`` para a diferença; ``spread`` é a maior diferença entre duas sementes de uma mesma
    agenda.
    """

    mean_a: float
    mean_b: float
    diff: float
    spread: float
    sigma: float
    dof: int
    low: float
    high: float
    level: float

    @property
    def includes_zero(self) -> bool:
        return self.low <= 0.0 <= self.high


def _check_seeds(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or a.size < 2 or b.size < 2:
        raise ValueError(f"cada agenda precisa de ao menos 2 sementes; recebi {a.size} e {b.size}.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("as perdas finais devem ser finitas (algum treino divergiu?).")
    return a, b


def schedule_gap(a, b, *, level: float = 0.95) -> ScheduleGap:
    """A diferença entre as perdas finais de duas agendas, com o ruído entre sementes de cada uma."""
    from scipy import stats

    a, b = _check_seeds(a, b)
    dof = a.size + b.size - 2
    pooled = (((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / dof
    sigma = math.sqrt(pooled)
    half = stats.t.ppf(0.5 + level / 2, dof) * sigma * math.sqrt(1 / a.size + 1 / b.size)
    diff = float(a.mean() - b.mean())
    spread = float(max(np.ptp(a), np.ptp(b)))
    return ScheduleGap(float(a.mean()), float(b.mean()), diff, spread, sigma, dof, float(diff - half),
                       float(diff + half), level)


def final_by_schedule(runs: list[dict]) -> dict[str, list[float]]:
    """As perdas finais (bpb) de cada agenda, na ordem das sementes; uma por (agenda, semente)."""
    seen, out = set(), {}
    for r in sorted(runs, key=lambda r: (r["train"]["schedule"], r["train"]["seed"])):
        key = (r["train"]["schedule"], r["train"]["seed"])
        if key not in seen:
            seen.add(key)
            out.setdefault(key[0], []).append(float(r["final_val_bpb"]))
    return out


def seed_spread(records: list[dict]) -> float:
    """A maior diferença de bpb final entre duas sementes de uma mesma configuração (agenda, orçamento,
    tokenizador) — a régua de ruído que o capítulo 6 usa para treinos de uma semente só."""
    groups: dict[tuple, list[float]] = {}
    for r in records:
        t = r["train"]
        key = (t["schedule"], t.get("budget_flops"), t["tokenizer"]["kind"], t["batch_size_tokens"], t["seq_len"])
        groups.setdefault(key, []).append(float(r["final_val_bpb"]))
    spreads = [max(v) - min(v) for v in groups.values() if len(v) > 1]
    if not spreads:
        raise ValueError("nenhuma configuração repetida com sementes diferentes: não há como medir o ruído.")
    return float(max(spreads))


# --- frases escolhidas pelos números -------------------------------------------------------

def _compare(diff: float, spread: float) -> str:
    """``"maior que"``, ``"menor que"`` ou ``"igual à"`` (|diff| contra a diferença entre sementes)."""
    d, s = round(abs(diff), 3), round(spread, 3)
    return "maior que" if d > s else "menor que" if d < s else "igual à"


def _ordering(a: list[float], b: list[float]) -> str:
    if max(a) < min(b):
        return "as duas sementes dos degraus terminaram abaixo das duas do cosseno"
    if min(a) > max(b):
        return "as duas sementes do cosseno terminaram abaixo das duas dos degraus"
    return "as sementes das duas agendas se intercalam"


def _interval_verdict(gap: ScheduleGap) -> str:
    pct = f"{100 * gap.level:.0f}%"
    span = f"vai de {fmt(gap.low, '+.3f')} a {fmt(gap.high, '+.3f')}"
    if gap.includes_zero:
        return (f"o intervalo de {pct} da diferença {span} e inclui o zero: os dados sugerem uma vantagem dos "
                "degraus, mas não a distinguem de um empate como o do DeepSeek")
    if gap.high < 0:
        return f"o intervalo de {pct} da diferença {span}, todo abaixo de zero: os degraus terminaram melhor"
    return f"o intervalo de {pct} da diferença {span}, todo acima de zero: o cosseno terminou melhor"


def _summary_sentence(gap: ScheduleGap) -> str:
    pct = f"{100 * gap.level:.0f}%"
    who = (f"os degraus terminaram {fmt(abs(gap.diff), '.3f')} bpb abaixo do cosseno" if gap.diff < 0 else
           f"o cosseno terminou {fmt(abs(gap.diff), '.3f')} bpb abaixo dos degraus")
    if gap.includes_zero:
        end = (f"mas, com duas sementes por agenda, o intervalo de {pct} da diferença inclui o zero: os dados não "
               "separam essa vantagem do empate que o DeepSeek viu")
    else:
        end = f"e o intervalo de {pct} da diferença não inclui o zero, ao contrário do empate que o DeepSeek viu"
    return (f"Em miniatura, {who} — {_compare(gap.diff, gap.spread)} a maior diferença entre duas sementes "
            f"da mesma agenda ({fmt(gap.spread, '.3f')}) —, {end}.")


def _constant_verdict(vs_multistep: float, vs_cosine: float, spread: float) -> str:
    """O que uma semente de taxa constante permite dizer contra as duas agendas com queda."""
    apart = [name for name, d in (("dos degraus", vs_multistep), ("do cosseno", vs_cosine)) if abs(d) > spread]
    if len(apart) == 2:
        return "a taxa constante se distingue das duas agendas com queda"
    if not apart:
        return "a taxa constante não se distingue de nenhuma das duas agendas com queda"
    other = "do cosseno" if apart[0] == "dos degraus" else "dos degraus"
    return f"a taxa constante se distingue {apart[0]}, mas não {other}"


def _seeds_needed(gap: ScheduleGap, max_seeds: int = 50) -> str:
    """Quantas sementes por agenda fariam o intervalo excluir o zero, se a diferença e o desvio medidos
    se confirmassem (``"—"`` se nem ``max_seeds`` bastam)."""
    from scipy import stats

    for n in range(2, max_seeds + 1):
        half = stats.t.ppf(0.5 + gap.level / 2, 2 * n - 2) * gap.sigma * math.sqrt(2 / n)
        if half < abs(gap.diff):
            return str(n)
    return "—"


# --- o capítulo ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Chapter5:
    """O que o notebook do capítulo 5 mostra dos resultados versionados."""

    byte_run: dict
    bpe_run: dict
    main_runs: tuple[dict, ...]
    long_run: dict
    gap: ScheduleGap
    reuse_boundary: int
    reuse_points: int
    reuse_max_diff: float
    tokenizer_table: str
    schedule_table: str
    numbers: dict[str, str] = field(default_factory=dict)


def _runs(records: list[dict]):
    bytes_runs = [r for r in records if r["train"]["tokenizer"]["kind"] == "bytes"]
    bpe = [r for r in records if r["train"]["tokenizer"]["kind"] == "bpe"]
    if not bytes_runs or not bpe:
        raise ValueError("cap05_agendas: faltam os treinos com bytes ou com BPE.")
    base = min(r["train"]["budget_flops"] for r in bytes_runs)
    main = [r for r in bytes_runs if r["train"]["budget_flops"] == base]
    ms0 = [r for r in main if r["train"]["schedule"] == "multistep" and r["train"]["seed"] == 0]
    longs = [r for r in bytes_runs if r["train"]["schedule"] == "multistep" and r["train"]["seed"] == 0]
    long_run = max(longs, key=lambda r: r["train"]["budget_flops"])
    # na miniatura os dois orçamentos coincidem: o "longo" é então o outro treino de mesmo orçamento
    if long_run is ms0[0] and len(ms0) > 1:
        long_run = ms0[1]
    main = [r for r in main if r is not long_run or r is ms0[0]]
    return ms0[0], bpe[0], main, long_run


def _reuse(short: dict, long_run: dict) -> tuple[int, int, float]:
    """Passo do fim do primeiro estágio do curto, pontos de avaliação em comum até ele, maior diferença."""
    boundary = int(0.8 * short["steps"])
    long_at = {p["step"]: p["val_bpb"] for p in long_run["trace"]}
    shared = [(p["val_bpb"], long_at[p["step"]]) for p in short["trace"] if p["step"] <= boundary and p["step"] in long_at]
    return boundary, len(shared), max((abs(a - b) for a, b in shared), default=float("nan"))


def _tokenizer_table(byte_run: dict, bpe_run: dict) -> str:
    rows = []
    for name, r in [("bytes (256)", byte_run), ("BPE (1024)", bpe_run)]:
        bpt = r["data"]["train_bytes"] / r["data"]["train_tokens"]
        rows.append([name, fmt(bpt, ".2f"), format_si(r["tokens"]), format_si(r["tokens"] * bpt),
                     fmt(r["final_val_loss"], ".3f"), fmt(r["final_val_bpb"], ".3f")])
    return markdown_table(["tokenizador", "bytes por *token*", "*tokens* de treino", "bytes de treino vistos",
                           "perda (nats/*token*)", "bits por byte"], rows)


def chapter5(records: list[dict]) -> Chapter5:
    """As tabelas, as comparações e os números do capítulo a partir dos registros de ``cap05_agendas``."""
    byte_run, bpe_run, main, long_run = _runs(records)
    finals = final_by_schedule(main)
    gap = schedule_gap(finals["multistep"], finals["cosine"])
    boundary, n_shared, max_diff = _reuse(byte_run, long_run)
    schedule_rows = [[SCHEDULE_LABELS[r["train"]["schedule"]], r["train"]["seed"], r["steps"],
                      fmt(r["final_val_bpb"], ".4f")]
                     for r in sorted(main, key=lambda r: (r["train"]["schedule"], r["train"]["seed"]))]
    const = finals["constant"][0]
    bpt = bpe_run["data"]["train_bytes"] / bpe_run["data"]["train_tokens"]
    bpe_gap = bpe_run["final_val_bpb"] - byte_run["final_val_bpb"]
    c_vs_ms, c_vs_cos = const - gap.mean_a, const - gap.mean_b
    same = max_diff == 0.0
    numbers = {
        # nomes de antes da mudança (mesmos valores)
        "bpe_bytes_token": fmt(bpt, ".2f"),
        "dif_agendas": fmt(gap.diff, "+.3f"),
        "dif_sementes": fmt(gap.spread, ".3f"),
        "dif_constante": fmt(c_vs_ms, "+.3f"),
        "ganho_dobro": fmt(byte_run["final_val_bpb"] - long_run["final_val_bpb"], ".3f"),
        # novos: as frases e os números que as sustentam
        "bpe_vs_bytes": fmt(abs(bpe_gap), ".3f"),
        "bpe_vs_bytes_sentido": "abaixo" if bpe_gap < 0 else "acima",
        "agendas_vs_sementes": _compare(gap.diff, gap.spread),
        "agendas_ordem": _ordering(finals["multistep"], finals["cosine"]),
        "agendas_sigma": fmt(gap.sigma, ".3f"),
        "agendas_intervalo": _interval_verdict(gap),
        "dif_constante_cosseno": fmt(c_vs_cos, "+.3f"),
        "constante_vs_degraus": _compare(c_vs_ms, gap.spread),
        "constante_vs_cosseno": _compare(c_vs_cos, gap.spread),
        "resumo_agendas": _summary_sentence(gap),
        "reuso_passo": str(boundary),
        "reuso_pontos": str(n_shared),
        "reuso_dif_max": fmt(max_diff, ".1e") if not same else "0",
        "reuso_veredito": "**idênticos**" if same else "praticamente iguais",
        "reuso_nota": ("" if long_run is not byte_run else
                       "(Na versão miniatura os dois orçamentos coincidem e o treino é comparado consigo mesmo; "
                       "rode com os resultados completos para ver o reuso.)"),
        "constante_conclusao": _constant_verdict(c_vs_ms, c_vs_cos, gap.spread),
        "sementes_necessarias": _seeds_needed(gap),
        "agendas_proximo_passo": (
            f"Se a diferença e o desvio medidos se confirmassem, {_seeds_needed(gap)} sementes por agenda "
            "bastariam para o intervalo excluir o zero." if gap.includes_zero else ""),
        "passos_varredura": str(byte_run["steps"]),
        "orcamento_longo": fmt(long_run["train"]["budget_flops"], ".0e"),
    }
    return Chapter5(byte_run, bpe_run, tuple(main), long_run, gap, boundary, n_shared, max_diff,
                    _tokenizer_table(byte_run, bpe_run),
                    markdown_table(["agenda", "semente", "passos", "bpb final"], schedule_rows), numbers)


def corpus_table(data) -> str:
    """Documentos, bytes e impressão digital do corpus preparado (:class:`helpers.engine.data.PreparedData`)."""
    s = data.stats
    return markdown_table(
        ["documentos", "de validação", "bytes de treino", "bytes de validação", "impressão digital"],
        [[fmt(s["documents"], ",d"), fmt(s["validation_documents"], ",d"), format_si(s["train_bytes"]),
          format_si(s["val_bytes"]), f"`{data.fingerprint[:16]}…`"]], align="rrrrl")


def live_summary(result, sweep: Chapter5 | None = None) -> tuple[str, dict[str, str]]:
    """A tabela do treino ao vivo e os seus números (variam um pouco com a máquina e o motor)."""
    table = markdown_table(
        ["passos", "*tokens*", "bpb inicial", "bpb final", "*tokens*/s", "GFLOP/s alcançados", "status"],
        [[result.steps, format_si(result.tokens), fmt(result.trace[0]["val_bpb"], ".3f"),
          fmt(result.final_val_bpb, ".3f"), fmt(result.tokens_per_s, ",.0f"),
          fmt(result.achieved_flops_per_s / 1e9, ".1f"), result.status]])
    numbers = {"ao_vivo_passos": str(result.steps),
               "ao_vivo_bpb_inicial": fmt(result.trace[0]["val_bpb"], ".2f"),
               "ao_vivo_bpb_final": fmt(result.final_val_bpb, ".2f"),
               "ao_vivo_segundos": fmt(result.wall_time_s, ".0f")}
    if sweep is not None:
        numbers["razao_passos"] = fmt(sweep.byte_run["steps"] / result.steps, ".0f")
        numbers["melhor_bpb_varredura"] = fmt(min(r["final_val_bpb"] for r in sweep.main_runs), ".2f")
    return table, numbers


# --- figuras -------------------------------------------------------------------------------

def plot_schedules(curves: dict[str, list[float]]):
    """As três agendas (multiplicador da taxa de pico) ao longo de um treino."""
    labels = {"multistep": "degraus (DeepSeek)", "cosine": "cosseno até 10%", "constant": "constante"}
    fig, ax = new_figure(height=3.4)
    for kind, mult in curves.items():
        ax.plot(range(len(mult)), mult, color=SCHEDULE_COLORS[kind], label=labels[kind])
    ax.set(xlabel="passo", ylabel="taxa ÷ taxa de pico", ylim=(0, 1.05))
    ax.legend(loc="lower left")
    return fig


def plot_schedule_runs(ch: Chapter5):
    """As curvas de validação das agendas: o treino inteiro e o zoom nos últimos 45%."""
    fig, (ax_full, ax_zoom) = new_figure(ncols=2, width=9.0, height=4.2)
    for r in sorted(ch.main_runs, key=lambda r: (r["train"]["schedule"], r["train"]["seed"])):
        kind, seed = r["train"]["schedule"], r["train"]["seed"]
        style = dict(color=SCHEDULE_COLORS[kind], ls="-" if seed == 0 else "--")
        plot_trace(ax_full, r, label=f"{SCHEDULE_LABELS[kind]}, semente {seed}", **style)
        plot_trace(ax_zoom, r, **style)
    lo = min(r["final_val_bpb"] for r in ch.main_runs)
    ax_full.set(title="O treino inteiro", ylim=(max(lo - 0.2, 0), lo + 1.4))
    last = max(r["tokens"] for r in ch.main_runs)
    ax_zoom.set(xlim=(0.55 * last, 1.02 * last), ylim=(lo - 0.05, lo + 0.35), title="Os últimos 45%")
    ax_zoom.set_ylabel("")
    for ax in (ax_full, ax_zoom):
        fig.legend(*ax_full.get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=10.5)
    return fig


def plot_reuse(ch: Chapter5):
    """O treino com o dobro do orçamento e o original: iguais até o fim do primeiro estágio do curto."""
    fig, ax = new_figure(height=3.8)
    long_run, short = ch.long_run, ch.byte_run
    plot_trace(ax, long_run, color=COLORS["verde"],
               label=f"degraus, {fmt(long_run['train']['budget_flops'], '.0e')} FLOPs")
    plot_trace(ax, short, color=COLORS["azul"], ls="--",
               label=f"degraus, {fmt(short['train']['budget_flops'], '.0e')} FLOPs")
    ax.axvline(ch.reuse_boundary * short["train"]["batch_size_tokens"], color=COLORS["cinza"], lw=1, ls=":",
               label="80% do treino curto")
    ax.set_ylim(None, 3.5)
    ax.legend()
    return fig


# --- glue ----------------------------------------------------------------------------------

#: Os números colados como Markdown (a prosa os usa com ``{glue:md}``): têm marcação.
MARKDOWN_GLUES = frozenset({"reuso_veredito"})


def glue_numbers(numbers: dict[str, object], markdown=MARKDOWN_GLUES) -> None:
    """Cola (``myst_nb.glue``) cada número do dicionário, sem mostrá-lo na célula.

    Os nomes em ``markdown`` vão como Markdown (a prosa os cola com ``{glue:md}``, e a marcação
    — ``*tokens*``, ``**idênticos**`` — é interpretada); o resto vai como texto, para ``{glue:text}``.
    """
    from IPython.display import Markdown
    from myst_nb import glue

    for name, value in numbers.items():
        glue(name, Markdown(str(value)) if name in markdown else value, display=False)
