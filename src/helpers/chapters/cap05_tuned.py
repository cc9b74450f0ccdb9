"""Capítulo 5 (v2) — degraus contra cosseno, cada agenda na sua melhor taxa.

Lê ``results/cap05_agendas_v2.jsonl`` (``tiny(3)``, 3×10¹² FLOPs em ``M``; uma grade de taxas por
agenda com 2 sementes, mais 2 sementes novas na melhor taxa de cada agenda) e devolve:

- :func:`tuned_study` — a melhor taxa de cada agenda (média das sementes), se ela está na borda da
  grade, a diferença final entre as agendas na melhor taxa de cada uma com o intervalo t (todas as
  sementes da melhor taxa, e só as sementes novas, que não participaram da escolha da taxa), e a
  diferença durante o treino, antes da primeira queda dos degraus, pareada por semente;
- :func:`tuned_table`, :func:`tuned_numbers` (as frases, geradas dos intervalos) e
  :func:`plot_tuned`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..presentation.plots import COLORS, fmt, markdown_table, new_figure
from .cap05 import SCHEDULE_COLORS, SCHEDULE_LABELS

__all__ = ["LEVEL", "SELECTION_SEEDS", "Interval", "TunedStudy", "t_interval", "tuned_study", "tuned_table",
           "tuned_numbers", "plot_tuned", "MARKDOWN_GLUES"]

LEVEL = 0.9
SELECTION_SEEDS = (0, 1)  # as sementes da grade: são elas que escolhem a melhor taxa
SCHEDULES = ("multistep", "cosine")
TOLERANCE = 0.03  # o "essencialmente igual" da previsão (2), em bpb
MARKDOWN_GLUES: frozenset = frozenset()


@dataclass(frozen=True)
class Interval:
    """A média de uma diferença e o seu intervalo t de nível :data:`LEVEL`."""

    mean: float
    low: float
    high: float
    n: int
    dof: int

    @property
    def includes_zero(self) -> bool:
        return self.low <= 0.0 <= self.high


def t_interval(a: list[float], b: list[float] | None = None, *, level: float = LEVEL) -> Interval:
    """O intervalo t de ``média(a) − média(b)`` (variância combinada) ou, sem ``b``, de ``média(a)``
    (por exemplo, diferenças pareadas)."""
    a = np.asarray(a, dtype=float)
    if b is None:
        if a.size < 2:
            raise ValueError(f"o intervalo precisa de ao menos 2 valores; recebi {a.size}.")
        dof = a.size - 1
        se = a.std(ddof=1) / math.sqrt(a.size)
        mean = float(a.mean())
    else:
        b = np.asarray(b, dtype=float)
        if a.size < 2 or b.size < 2:
            raise ValueError(f"cada grupo precisa de ao menos 2 sementes; recebi {a.size} e {b.size}.")
        dof = a.size + b.size - 2
        pooled = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / dof
        se = math.sqrt(pooled * (1 / a.size + 1 / b.size))
        mean = float(a.mean() - b.mean())
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return Interval(mean, mean - half, mean + half, int(a.size), int(dof))


@dataclass(frozen=True)
class TunedStudy:
    records: tuple[dict, ...]
    lrs: tuple[float, ...]
    grid_means: dict  # (agenda, taxa) → bpb médio das sementes da grade
    best_lr: dict  # agenda → melhor taxa (pelas sementes da grade)
    edge: tuple[str, ...]  # agendas com a melhor taxa na borda
    finals: dict  # agenda → bpb final de cada semente na melhor taxa
    seeds: dict  # agenda → sementes na melhor taxa
    gap: Interval  # degraus − cosseno, todas as sementes da melhor taxa
    gap_fresh: Interval | None  # o mesmo, só com as sementes que não escolheram a taxa
    before_drop: Interval  # cosseno − degraus no último ponto antes de 80% dos passos, pareado por semente
    before_step: int
    steps: int


def _curve(r: dict) -> dict[int, float]:
    return {p["step"]: p["val_bpb"] for p in r["trace"] if p["val_bpb"] is not None}


def tuned_study(records: list[dict]) -> TunedStudy:
    ok = [r for r in records if r.get("status") == "ok" and r["train"]["schedule"] in SCHEDULES]
    present = {r["train"]["schedule"] for r in ok}
    if present != set(SCHEDULES):
        raise ValueError(f"a comparação precisa de treinos com as duas agendas {SCHEDULES}; recebi {sorted(present)}.")
    lrs = tuple(sorted({r["train"]["lr"] for r in ok}))
    grid: dict = {}
    for r in ok:
        if r["train"]["seed"] in SELECTION_SEEDS:
            grid.setdefault((r["train"]["schedule"], r["train"]["lr"]), []).append(r["final_val_bpb"])
    means = {k: float(np.mean(v)) for k, v in grid.items()}
    best_lr, edge = {}, []
    for s in SCHEDULES:
        options = sorted(lr for (ss, lr) in means if ss == s)
        best_lr[s] = min(options, key=lambda lr: means[(s, lr)])
        if len(options) > 2 and best_lr[s] in (options[0], options[-1]):
            edge.append(s)
    at_best = {s: sorted((r for r in ok if r["train"]["schedule"] == s and r["train"]["lr"] == best_lr[s]),
                         key=lambda r: r["train"]["seed"]) for s in SCHEDULES}
    finals = {s: [r["final_val_bpb"] for r in at_best[s]] for s in SCHEDULES}
    gap = t_interval(finals["multistep"], finals["cosine"])
    fresh = {s: [r["final_val_bpb"] for r in at_best[s] if r["train"]["seed"] not in SELECTION_SEEDS]
             for s in SCHEDULES}
    gap_fresh = (t_interval(fresh["multistep"], fresh["cosine"])
                 if min(len(v) for v in fresh.values()) >= 2 else None)
    # antes da primeira queda: o último ponto de avaliação comum antes de 80% dos passos, pareado por semente
    steps = at_best["multistep"][0]["steps"]
    cos_by_seed = {r["train"]["seed"]: _curve(r) for r in at_best["cosine"]}
    ms_by_seed = {r["train"]["seed"]: _curve(r) for r in at_best["multistep"]}
    paired = sorted(set(cos_by_seed) & set(ms_by_seed))
    common = set.intersection(*(set(cos_by_seed[s]) & set(ms_by_seed[s]) for s in paired)) if paired else set()
    before = max((st for st in common if 0 < st < 0.8 * steps), default=None)
    if before is None or len(paired) < 2:
        raise ValueError("sem ponto de avaliação comum antes da primeira queda, ou menos de 2 sementes pareadas.")
    before_drop = t_interval([cos_by_seed[s][before] - ms_by_seed[s][before] for s in paired])
    return TunedStudy(tuple(ok), lrs, means, best_lr, tuple(edge), finals,
                      {s: [r["train"]["seed"] for r in at_best[s]] for s in SCHEDULES},
                      gap, gap_fresh, before_drop, int(before), int(steps))


def _minus(text: str) -> str:
    return text.replace("-", "−")


def _ci(iv: Interval, spec: str = ".3f") -> str:
    return _minus(f"[{fmt(iv.low, spec)}; {fmt(iv.high, spec)}]")


def tuned_table(st: TunedStudy) -> str:
    """bpb final médio das sementes da grade em cada agenda × taxa; a melhor de cada agenda em negrito."""
    rows = []
    for lr in st.lrs:
        row = [fmt(lr, ".4g")]
        for s in SCHEDULES:
            v = st.grid_means.get((s, lr))
            cell = "—" if v is None else fmt(v, ".3f")
            row.append(f"**{cell}**" if v is not None and lr == st.best_lr[s] else cell)
        rows.append(row)
    return markdown_table(["taxa de pico", "degraus: bpb final", "cosseno: bpb final"], rows, align="rrr")


def tuned_numbers(st: TunedStudy | None) -> dict[str, str]:
    keys = ("ag_treinos", "ag_taxas", "ag_melhor_degraus", "ag_melhor_cosseno", "ag_sementes", "ag_dif", "ag_dif_ic",
            "ag_dif_novas", "ag_prev1", "ag_prev2", "ag_prev3", "ag_borda", "ag_antes_passo", "ag_resumo",
            "ag_passos")
    if st is None:
        return {k: "—" for k in keys}
    i_ms, i_cos = st.lrs.index(st.best_lr["multistep"]), st.lrs.index(st.best_lr["cosine"])
    same = i_ms == i_cos
    prev1 = ("a melhor taxa é a mesma nas duas agendas: confirmada" if same else
             "as melhores taxas são vizinhas na grade: confirmada" if abs(i_ms - i_cos) == 1 else
             f"as melhores taxas ficam a {abs(i_ms - i_cos)} passos de 2× uma da outra: não confirmada")
    g = st.gap
    inside = -TOLERANCE <= g.low and g.high <= TOLERANCE
    prev2 = (f"degraus − cosseno = {_minus(fmt(g.mean, '+.3f'))} bpb, IC de 90% {_ci(g)}: "
             + ("contém o zero e fica dentro de ±0,03 bpb, confirmada" if g.includes_zero and inside else
                "contém o zero, mas é largo demais para caber em ±0,03 bpb: inconclusiva" if g.includes_zero else
                "não contém o zero: não confirmada"))
    b = st.before_drop
    prev3 = (f"no passo {st.before_step} (de {st.steps}), cosseno − degraus = {_minus(fmt(b.mean, '+.3f'))} bpb, "
             f"IC de 90% {_ci(b)} com {b.n} pares de sementes: "
             + ("o cosseno fica abaixo, confirmada" if b.high < 0 else
                "o cosseno fica acima, não confirmada" if b.low > 0 else "não se distinguem, não confirmada"))
    fresh = st.gap_fresh
    novas = ("—" if fresh is None else
             f"{_minus(fmt(fresh.mean, '+.3f'))} bpb (IC de 90% {_ci(fresh)}, {fresh.n} sementes por agenda)")
    borda = ("nenhuma agenda tem a melhor taxa na borda da grade" if not st.edge else
             "a melhor taxa ficou na borda da grade em " + " e ".join(SCHEDULE_LABELS[s] for s in st.edge))
    if g.includes_zero:
        resumo = (f"Cada agenda na sua melhor taxa, degraus e cosseno terminam a {_minus(fmt(g.mean, '+.3f'))} bpb "
                  f"um do outro (IC de 90% {_ci(g)}): não se distinguem com {g.n} sementes")
    else:
        better = "os degraus" if g.mean < 0 else "o cosseno"
        resumo = (f"Cada agenda na sua melhor taxa, {better} terminam à frente por {fmt(abs(g.mean), '.3f')} bpb "
                  f"(IC de 90% {_ci(g)}, {g.n} sementes)")
    return {
        "ag_treinos": str(len(st.records)),
        "ag_taxas": ", ".join(fmt(x, ".4g") for x in st.lrs),
        "ag_melhor_degraus": fmt(st.best_lr["multistep"], ".4g"),
        "ag_melhor_cosseno": fmt(st.best_lr["cosine"], ".4g"),
        "ag_sementes": str(min(len(v) for v in st.finals.values())),
        "ag_dif": _minus(fmt(g.mean, "+.3f")),
        "ag_dif_ic": _ci(g),
        "ag_dif_novas": novas,
        "ag_prev1": prev1,
        "ag_prev2": prev2,
        "ag_prev3": prev3,
        "ag_borda": borda,
        "ag_antes_passo": str(st.before_step),
        "ag_resumo": resumo,
        "ag_passos": str(st.steps),
    }


def plot_tuned(st: TunedStudy | None):
    """À esquerda, o bpb final contra a taxa de pico em cada agenda (média das sementes da grade); à
    direita, as curvas de validação na melhor taxa de cada agenda, uma linha por semente."""
    fig, (ax, ax_c) = new_figure(ncols=2, height=4.2)
    if st is None:
        for a in (ax, ax_c):
            a.text(0.5, 0.5, "sem resultados", ha="center", va="center", transform=a.transAxes)
        return fig
    for s in SCHEDULES:
        xs = [lr for lr in st.lrs if (s, lr) in st.grid_means]
        ax.semilogx(xs, [st.grid_means[(s, lr)] for lr in xs], "o-", color=SCHEDULE_COLORS[s], label=SCHEDULE_LABELS[s])
        ax.plot([st.best_lr[s]], [st.grid_means[(s, st.best_lr[s])]], "*", ms=14, color=SCHEDULE_COLORS[s])
    ax.set_xticks(list(st.lrs), [fmt(x, ".4g") for x in st.lrs])
    ax.minorticks_off()
    ax.set(xlabel="taxa de pico", ylabel="bpb final (média das sementes da grade)", title="A taxa de cada agenda")
    ax.legend(fontsize=10.5)
    start = int(0.45 * st.steps)
    for s in SCHEDULES:
        for r in (r for r in st.records if r["train"]["schedule"] == s and r["train"]["lr"] == st.best_lr[s]):
            pts = [(p["step"], p["val_bpb"]) for p in r["trace"] if p["step"] >= start]
            ax_c.plot(*zip(*pts), "-", color=SCHEDULE_COLORS[s], lw=1.1, alpha=0.8)
        ax_c.plot([], [], "-", color=SCHEDULE_COLORS[s], label=f"{SCHEDULE_LABELS[s]} ({fmt(st.best_lr[s], '.4g')})")
    for frac in (0.8, 0.9):
        ax_c.axvline(frac * st.steps, color=COLORS["cinza"], ls=":", lw=1.0)
    ax_c.set(xlabel="passo", ylabel="bpb de validação", title="Na melhor taxa, os últimos 55%")
    ax_c.legend(fontsize=10.5)
    return fig
