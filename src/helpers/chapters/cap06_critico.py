"""Capítulo 6 (v2) — o lote crítico medido de duas maneiras, sem agenda que decida o cruzamento.

Lê ``results/cap06_lote_critico.jsonl`` (taxa constante; 6 lotes × 3 taxas × 2 sementes, a escala
de ruído do gradiente medida em cada ponto de cada curva) e devolve:

- :func:`targets_for` — as perdas-alvo, por uma regra fixa (não escolhidas a olho);
- :func:`critical_study` — para cada alvo, os passos ``S`` de cada lote na sua melhor taxa, o
  ajuste ``S = S_min + E_min/B`` (``B_crit = E_min/S_min``) e um *bootstrap* paramétrico do
  pipeline inteiro (ruído de semente medido → média das sementes → melhor taxa → ajuste);
  a escala de ruído ``B_simple`` de McCandlish et al. quando a perda passa pelo alvo, com IC por
  reamostragem dos treinos; e ``B_opt(C)`` do DeepSeek no orçamento que leva ao alvo em ``B_crit``;
- :func:`critical_table`, :func:`critical_numbers` (frases geradas dos intervalos) e
  :func:`plot_critical_v2`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..laws import deepseek, fit
from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure
from .cap06 import _log_axis

__all__ = ["LEVEL", "MIN_BATCHES", "Target", "Study", "targets_for", "crit_bootstrap", "critical_study", "critical_table",
           "critical_numbers", "plot_critical_v2", "min_step", "MARKDOWN_GLUES", "NUMBER_KEYS"]

LEVEL = 0.9  # o nível dos intervalos
MIN_BATCHES = 4  # um alvo entra no ajuste se ao menos tantos lotes chegam a ele
TARGET_STEP = 0.2  # espaçamento (bpb) da grade de alvos
WARMUP_FACTOR = 4  # cruzamentos antes de 4× os passos de aquecimento não contam
N_BOOT = 300


def _cross(record: dict, target: float) -> float | None:
    tr = [p for p in record["trace"] if p["val_bpb"] is not None]
    return fit.steps_to_reach([p["step"] for p in tr], [p["val_bpb"] for p in tr], target)


def _noise_at(record: dict, target: float) -> float | None:
    """``log B_simple`` quando a curva passa por ``target`` (interpolado em log do passo entre os dois
    pontos que cercam o cruzamento); ``None`` se não cruza ou se algum dos dois não tem medida finita."""
    tr = [p for p in record["trace"] if p["step"] > 0 and p.get("noise")]
    for prev, cur in zip(tr, tr[1:]):
        if cur["val_bpb"] <= target < prev["val_bpb"]:
            b0, b1 = prev["noise"]["b_simple"], cur["noise"]["b_simple"]
            if not b0 or not b1:
                return None
            frac = (prev["val_bpb"] - target) / (prev["val_bpb"] - cur["val_bpb"])
            return math.log(b0) + frac * (math.log(b1) - math.log(b0))
    return None


def _cells(records: list[dict], target: float) -> dict[tuple[int, float], list[float | None]]:
    """``(lote, taxa) → [log S de cada semente]`` (``None``: aquela semente não chegou ao alvo)."""
    cells: dict[tuple[int, float], list[float | None]] = {}
    for r in sorted(records, key=lambda r: (r["train"]["batch_size_tokens"], r["train"]["lr"], r["train"]["seed"])):
        s = _cross(r, target)
        key = (r["train"]["batch_size_tokens"], r["train"]["lr"])
        cells.setdefault(key, []).append(math.log(s) if s is not None else None)
    return cells


def _reached(cells: dict, first: float) -> list[int]:
    """Os lotes que chegam ao alvo (todas as sementes de alguma taxa) e cuja melhor taxa cruza depois de ``first``.

    O corte vale para a melhor taxa do lote, não para cada taxa: cortar cada uma deixaria passar uma
    taxa pior (que cruza mais tarde) no lugar da melhor, que cruzou cedo demais.
    """
    batches = sorted({b for (b, _), v in cells.items() if all(x is not None for x in v)})
    if not batches:
        return []
    log_s, _ = _best(cells, batches)
    return [b for b, ls in zip(batches, log_s) if math.exp(ls) >= first]


def min_step(records: list[dict]) -> int:
    """O primeiro passo em que um cruzamento conta: :data:`WARMUP_FACTOR` × os passos de aquecimento."""
    return WARMUP_FACTOR * (records[0]["train"].get("warmup_steps") or 0) if records else 0


def targets_for(records: list[dict], *, step: float = TARGET_STEP, min_batches: int = MIN_BATCHES) -> list[float]:
    """Os alvos da grade de ``step`` bpb aos quais ao menos ``min_batches`` lotes chegam (todas as
    sementes de alguma taxa) depois do aquecimento e do transitório inicial (:data:`WARMUP_FACTOR` × os
    passos de aquecimento: antes disso, quem decide o cruzamento é a rampa da taxa, não o lote)."""
    if not records:
        return []
    first = min_step(records)
    lo = min(p["val_bpb"] for r in records for p in r["trace"] if p["val_bpb"] is not None)
    hi = max(p["val_bpb"] for r in records for p in r["trace"][1:] if p["val_bpb"] is not None)
    out = []
    for t in np.arange(math.floor(lo / step) * step, hi + step, step):
        t = round(float(t), 6)
        if len(_reached(_cells(records, t), first)) >= min_batches:
            out.append(t)
    return sorted(out, reverse=True)


def _best(cells: dict, batches: list[int]) -> tuple[np.ndarray, list[float]]:
    """O ``log S`` (média das sementes) na melhor taxa de cada lote; e essas taxas."""
    out, lrs = [], []
    for b in batches:
        options = {lr: float(np.mean(v)) for (bb, lr), v in cells.items() if bb == b and all(x is not None for x in v)}
        lr = min(options, key=options.get)
        out.append(options[lr])
        lrs.append(lr)
    return np.array(out), lrs


def _fit(b: np.ndarray, log_s: np.ndarray) -> tuple[float, float]:
    """``(log S_min, log E_min)`` de ``log S = log(S_min + E_min/B)`` por mínimos quadrados em log."""
    s = np.exp(log_s)
    try:
        start = fit.fit_critical_batch(b, s)
        x0 = [math.log(start.s_min), math.log(start.e_min)]
    except ValueError:
        x0 = [math.log(s.min()), math.log(float(np.median(s * b)))]
    res = least_squares(lambda p: np.log(np.exp(p[0]) + np.exp(p[1]) / b) - log_s, x0,
                        bounds=([-20, -20], [30, 40]))
    return float(res.x[0]), float(res.x[1])


def crit_bootstrap(cells: dict, batches: list[int], sigma: float, *, n_boot: int,
                   rng: np.random.Generator) -> tuple[float, float, np.ndarray]:
    """``(log S_min, log E_min, log B_crit das reamostras)`` de um alvo.

    ``cells``: ``(lote, taxa) → [log S de cada semente]``. O *bootstrap* paramétrico refaz o pipeline
    inteiro sob o ruído medido ``sigma`` (em log S, por semente): sementes novas em torno da média de
    cada célula → média → melhor taxa de cada lote → ajuste da hipérbole.
    """
    b = np.array(batches, dtype=float)
    log_s, _ = _best(cells, batches)
    ls_min, le_min = _fit(b, log_s)
    boot = np.empty(n_boot)
    for k in range(n_boot):
        fake = {key: [float(np.mean(v)) + sigma * rng.standard_normal() for _ in v]
                for key, v in cells.items() if key[0] in batches and all(x is not None for x in v)}
        bl, _ = _best(fake, batches)
        f0, f1 = _fit(b, bl)
        boot[k] = f1 - f0
    return ls_min, le_min, boot


@dataclass(frozen=True)
class Target:
    """Um alvo: os lotes que chegam, o ``S`` de cada um (melhor taxa), o ajuste e os intervalos."""

    target: float
    batches: tuple[int, ...]
    steps: tuple[float, ...]
    lrs: tuple[float, ...]
    edge_lr: int  # quantos lotes têm a melhor taxa na borda da grade de taxas
    s_min: float
    e_min: float
    b_crit: float
    b_crit_ci: tuple[float, float]
    b_simple: float
    b_simple_ci: tuple[float, float]
    n_noise: int  # treinos com B_simple medido no cruzamento
    compute: float  # C = M·2E_min: o orçamento para chegar ao alvo com B = B_crit
    b_opt_deepseek: float
    ratio_ci: tuple[float, float]  # B_crit / B_simple


@dataclass(frozen=True)
class Study:
    targets: tuple[Target, ...]
    sigma_log_s: float  # o ruído de semente em log S, medido nos pares de sementes
    n_pairs: int
    slope_b_crit: float  # d log10 B_crit / d bpb-alvo, com IC
    slope_b_crit_ci: tuple[float, float]
    slope_b_simple: float
    slope_b_simple_ci: tuple[float, float]
    n_runs: int
    lr_grid: tuple[float, ...]


def _q(values, level: float = LEVEL) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return (float(np.quantile(v, (1 - level) / 2)), float(np.quantile(v, (1 + level) / 2))) if v.size else (
        math.nan, math.nan)


def _slope(xs, ys) -> float:
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float) / math.log(10), 1)[0])


def critical_study(records: list[dict], *, n_boot: int = N_BOOT, seed: int = 0) -> Study:
    """O estudo inteiro (ver o módulo); ``ValueError`` em pt-BR sem treinos ou sem alvos."""
    records = [r for r in records if r["status"] == "ok"]
    if not records:
        raise ValueError("nenhum treino concluído em cap06_lote_critico: rode a varredura antes.")
    targets = targets_for(records)
    if not targets:
        raise ValueError(f"nenhuma perda-alvo é alcançada por {MIN_BATCHES} lotes: os treinos são curtos demais.")
    first = min_step(records)
    m_flops = records[0]["flops_per_token"]["M"]
    lr_grid = tuple(sorted({r["train"]["lr"] for r in records}))
    all_cells = {t: _cells(records, t) for t in targets}
    diffs = [v[0] - v[1] for cells in all_cells.values() for v in cells.values()
             if len(v) == 2 and all(x is not None for x in v)]
    sigma = float(np.sqrt(np.mean(np.square(diffs)) / 2)) if diffs else 0.0
    rng = np.random.default_rng(seed)
    out, boot_logb = [], np.full((n_boot, len(targets)), np.nan)
    simple_pts: list[tuple[int, float, float]] = []  # (treino, alvo, log B_simple)
    for ti, t in enumerate(targets):
        cells = all_cells[t]
        batches = _reached(cells, first)
        log_s, lrs = _best(cells, batches)
        ls_min, le_min, boot_logb[:, ti] = crit_bootstrap(cells, batches, sigma, n_boot=n_boot, rng=rng)
        lb = [x for i, r in enumerate(records) if (x := _noise_at(r, t)) is not None]
        simple_pts += [(i, t, x) for i, r in enumerate(records) if (x := _noise_at(r, t)) is not None]
        b_simple = math.exp(float(np.mean(lb))) if lb else math.nan
        boot_simple = [math.exp(float(np.mean(rng.choice(lb, len(lb))))) for _ in range(n_boot)] if lb else []
        b_crit = math.exp(le_min - ls_min)
        ratio = np.exp(boot_logb[:, ti]) / np.array(boot_simple) if lb else np.full(n_boot, np.nan)
        compute = m_flops * 2 * math.exp(le_min)
        edge = sum(lr in (lr_grid[0], lr_grid[-1]) for lr in lrs) if len(lr_grid) > 2 else 0
        out.append(Target(t, tuple(batches), tuple(float(x) for x in np.exp(log_s)), tuple(lrs), edge,
                          math.exp(ls_min), math.exp(le_min), b_crit, _q(np.exp(boot_logb[:, ti])), b_simple,
                          _q(boot_simple), len(lb), compute, float(deepseek.batch_opt(compute)), _q(ratio)))
    ts = [x.target for x in out]
    slope_c = _slope(ts, [math.log(x.b_crit) for x in out]) if len(out) > 1 else math.nan
    boot_c = [_slope(ts, row) for row in boot_logb] if len(out) > 1 else []
    pts = np.array(simple_pts, dtype=float).reshape(-1, 3)
    slope_s, boot_s = math.nan, []
    if len(set(pts[:, 1])) > 1:
        slope_s = _slope(pts[:, 1], pts[:, 2])
        runs = np.unique(pts[:, 0])
        for _ in range(n_boot):  # reamostra treinos inteiros (os pontos de um treino não são independentes)
            pick = np.concatenate([pts[pts[:, 0] == r] for r in rng.choice(runs, runs.size)])
            if len(set(pick[:, 1])) > 1:
                boot_s.append(_slope(pick[:, 1], pick[:, 2]))
    return Study(tuple(out), sigma, len(diffs), slope_c, _q(boot_c), slope_s, _q(boot_s), len(records), lr_grid)


# --- o que o capítulo mostra -----------------------------------------------------------------

def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " e " + items[-1]


def _minus(text: str) -> str:
    return text.replace("-", "−")


def _sig(v: float) -> str:
    """Dois algarismos significativos, sem notação científica acima de 100 (640, 1.200, 7.500)."""
    if not math.isfinite(v):
        return "—"
    return fmt(float(f"{v:.2g}"), ",.0f") if abs(v) >= 100 else fmt(v, ".2g")


def _ci(lo: float, hi: float, spec: str | None = None) -> str:
    show = _sig if spec is None else (lambda v: fmt(v, spec))
    return f"[{show(lo)}; {show(hi)}]"


def _cell(value: float, ci: tuple[float, float]) -> str:
    """``640 [520–800]`` sem quebra de linha (espaço rígido, travessão sem espaços): cabe na coluna."""
    return f"{_sig(value)}\u00a0[{_sig(ci[0])}–{_sig(ci[1])}]"


def critical_table(study: Study) -> str:
    rows = []
    for t in study.targets:
        rows.append([fmt(t.target, ".2f"), len(t.batches), fmt(t.s_min, ",.0f"), format_si(t.e_min),
                     _cell(t.b_crit, t.b_crit_ci), _cell(t.b_simple, t.b_simple_ci),
                     fmt(t.b_opt_deepseek, ",.0f")])
    pct = round(100 * LEVEL)
    return markdown_table(["bpb-alvo", "lotes", "$S_\\mathrm{min}$ (passos)", "$E_\\mathrm{min}$ (*tokens*)",
                           f"$B_\\mathrm{{crit}}$ (IC {pct}%)", f"$B_\\mathrm{{simple}}$ (IC {pct}%)",
                           "$B_\\mathrm{opt}(C)$ do DeepSeek"], rows)


def _factor_verdict(t: Target) -> str:
    lo, hi = t.ratio_ci
    if not math.isfinite(lo):
        return "sem medida de B_simple"
    if lo >= 0.5 and hi <= 2:
        return "dentro do fator 2"
    if hi < 0.5 or lo > 2:
        return "fora do fator 2"
    return "inconclusivo"


#: Os números colados como Markdown (têm *itálico*); os outros vão como texto.
MARKDOWN_GLUES = frozenset({"cr_deepseek", "cr_deepseek_vs", "cr_razoes"})
NUMBER_KEYS = ("cr_treinos", "cr_alvos", "cr_sigma", "cr_pares", "cr_razoes", "cr_fator", "cr_tend_crit",
               "cr_tend_simple", "cr_tend_compara", "cr_borda", "cr_deepseek", "cr_deepseek_vs")


def _deepseek_vs(ts) -> str:
    below = sum(t.b_opt_deepseek < t.b_crit_ci[0] for t in ts)
    above = sum(t.b_opt_deepseek > t.b_crit_ci[1] for t in ts)
    inside = len(ts) - below - above
    return (f"o lote da lei do DeepSeek fica abaixo do intervalo do lote crítico em {below} dos {len(ts)} alvos, "
            f"dentro dele em {inside} e acima em {above}")


def critical_numbers(study: Study | None) -> dict[str, str]:
    """Os números e as frases do capítulo, gerados dos intervalos (para ``glue``); ``None`` (a miniatura,
    sem alvos alcançados): "—" em tudo."""
    if study is None:
        return dict.fromkeys(NUMBER_KEYS, "—")
    ts = study.targets
    verdicts = [_factor_verdict(t) for t in ts]
    inside = sum(v == "dentro do fator 2" for v in verdicts)
    outside = sum(v == "fora do fator 2" for v in verdicts)
    pct = round(100 * LEVEL)

    def trend(slope: float, ci: tuple[float, float], what: str) -> str:
        if not math.isfinite(slope):
            return f"não há alvos suficientes para medir a tendência de {what}"
        lo, hi = ci
        body = (f"{what} muda {_minus(fmt(slope, '+.2f'))} década por bit por byte de alvo (IC {pct}%: "
                f"{_minus(fmt(lo, '+.2f'))} a {_minus(fmt(hi, '+.2f'))})")
        if hi < 0:
            return body + ": cresce quando o alvo desce, como a previsão dizia"
        if lo > 0:
            return body + ": diminui quando o alvo desce, o contrário da previsão"
        return body + ": o intervalo inclui zero, e a tendência não se distingue de nenhuma"

    ratios = "; ".join(f"{fmt(t.target, '.2f')} bpb: {fmt(t.b_crit / t.b_simple, '.2g')} "
                       f"{_ci(*t.ratio_ci, '.2g')}" for t in ts if math.isfinite(t.b_simple))
    (c_lo, c_hi), (s_lo, s_hi) = study.slope_b_crit_ci, study.slope_b_simple_ci
    if not (math.isfinite(study.slope_b_crit) and math.isfinite(study.slope_b_simple)):
        compare = "sem alvos suficientes para comparar as duas tendências"
    elif c_hi < s_lo or s_hi < c_lo:
        crit_faster = study.slope_b_crit < study.slope_b_simple
        faster, other = ("o lote crítico", "a escala de ruído") if crit_faster else ("a escala de ruído", "o lote crítico")
        compare = (f"{faster} cresce mais depressa que {other} quando o alvo desce: os intervalos das duas "
                   f"inclinações não se sobrepõem, e a razão entre os dois {'sobe' if crit_faster else 'cai'} "
                   f"de {fmt(ts[0].b_crit / ts[0].b_simple, '.2g')} (alvo {fmt(ts[0].target, '.2f')}) a "
                   f"{fmt(ts[-1].b_crit / ts[-1].b_simple, '.2g')} (alvo {fmt(ts[-1].target, '.2f')})")
    else:
        compare = "as duas inclinações não se distinguem: os intervalos se sobrepõem"
    edges = sum(t.edge_lr for t in ts)
    cells = sum(len(t.batches) for t in ts)
    lo_lr, hi_lr = study.lr_grid[0], study.lr_grid[-1]
    at = {side: sorted({b for t in ts for b, lr in zip(t.batches, t.lrs) if lr == edge})
          for side, edge in (("baixo", lo_lr), ("cima", hi_lr))}
    where = "; ".join(f"na de {side} ({fmt(lr, '.3g')}) para {'o lote' if len(bs) == 1 else 'os lotes'} de "
                      f"{_join([fmt(b, ',d') for b in bs])}" for (side, bs), lr in zip(at.items(), (lo_lr, hi_lr))
                      if bs)
    borda = (f"em {edges} das {cells} combinações de alvo e lote a melhor taxa ficou na borda da grade"
             + (f" — {where}" if where else ""))
    return {
        "cr_treinos": str(study.n_runs),
        "cr_alvos": ", ".join(fmt(t.target, ".2f") for t in ts),
        "cr_sigma": fmt(100 * study.sigma_log_s, ".1f"),
        "cr_pares": str(study.n_pairs),
        "cr_razoes": ratios,
        "cr_fator": (f"em {inside} de {len(ts)} alvos o intervalo da razão entre o lote crítico e a escala de ruído "
                     f"fica inteiro dentro do fator 2, em {outside} fica inteiro fora, e em "
                     f"{len(ts) - inside - outside} não decide"),
        "cr_tend_crit": trend(study.slope_b_crit, study.slope_b_crit_ci, "o log10 do lote crítico"),
        "cr_tend_simple": trend(study.slope_b_simple, study.slope_b_simple_ci, "o log10 da escala de ruído"),
        "cr_borda": borda,
        "cr_tend_compara": compare,
        "cr_deepseek": (f"{fmt(min(t.b_opt_deepseek for t in ts), ',.0f')} a "
                        f"{fmt(max(t.b_opt_deepseek for t in ts), ',.0f')} *tokens*"),
        "cr_deepseek_vs": _deepseek_vs(ts),
    }


def plot_critical_v2(study: Study | None):
    """À esquerda, S contra E em cada alvo com a hipérbole ajustada; à direita, B_crit e B_simple contra o alvo."""
    fig, (ax, bx) = new_figure(ncols=2, height=4.2)
    if study is None:  # a miniatura: nenhum alvo alcançado por lotes suficientes
        for a in (ax, bx):
            a.text(0.5, 0.5, "sem alvos alcançados\n(treinos curtos demais)", ha="center", va="center",
                   transform=a.transAxes)
        return fig
    palette = [COLORS[c] for c in ("celeste", "azul", "verde", "laranja", "vermelho", "roxo", "cinza")]
    for t, color in zip(study.targets, palette * 3):
        b = np.array(t.batches, dtype=float)
        s = np.array(t.steps)
        ax.loglog(s * b, s, "o", color=color, label=f"alvo {fmt(t.target, '.2f')}")
        grid = np.logspace(math.log10(b.min()) - 0.3, math.log10(b.max()) + 0.3, 60)
        sg = t.s_min + t.e_min / grid
        ax.loglog(sg * grid, sg, "-", color=color, alpha=0.6)
    import matplotlib.ticker as mticker

    _log_axis(ax, "x")
    ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0,)))  # 1, 2, 5 × 10ⁿ não cabem lado a lado
    _log_axis(ax, "y", words=False)
    ax.set(xlabel="tokens até o alvo, $E$", ylabel="passos até o alvo, $S$",
           title="$(S/S_\\mathrm{min} - 1)(E/E_\\mathrm{min} - 1) = 1$")
    ax.legend(fontsize=10.5, ncol=2, handletextpad=0.2, columnspacing=0.6)
    x = np.array([t.target for t in study.targets])
    for key, label, color, dx in (("b_crit", "$B_\\mathrm{crit}$ (passos até o alvo)", COLORS["azul"], -0.006),
                                  ("b_simple", "$B_\\mathrm{simple}$ (ruído do gradiente)", COLORS["laranja"],
                                   0.006)):
        y = np.array([getattr(t, key) for t in study.targets])
        ci = np.array([getattr(t, key + "_ci") for t in study.targets])
        bx.errorbar(x + dx, y, yerr=[np.clip(y - ci[:, 0], 0, None), np.clip(ci[:, 1] - y, 0, None)], fmt="o", color=color, capsize=3, label=label)
    bx.set_yscale("log")
    _log_axis(bx, "y", words=False)
    bx.invert_xaxis()
    bx.set(xlabel="bpb-alvo (a perda desce para a direita)", ylabel="lote (tokens)", title=f"IC {round(100 * LEVEL)}%")
    bx.legend(fontsize=10.5)
    return fig
