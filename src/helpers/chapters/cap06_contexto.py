"""Capítulo 6 (v2) — o contexto como única mudança.

Lê ``results/cap06_contexto_v2.jsonl`` (``tiny(3)``, lote de 4096 *tokens*, 512 passos, taxa
constante; 5 contextos × 3 taxas × 2 sementes) e, se existir, ``results/bench_contexto_cpu.json``
(``benchmarks/contexto.py``: a fração do tempo de um passo gasta no núcleo da atenção). Devolve:

- :func:`context_study` — duas comparações com os mesmos treinos, cada contexto na sua melhor taxa:
  **(a)** os mesmos *tokens* (o bpb final) e **(b)** o mesmo orçamento em ``M`` (cada curva lida, por
  interpolação em log, no orçamento ``C*`` do treino mais barato). A incerteza vem de um *bootstrap*
  paramétrico do pipeline inteiro (ruído de semente medido na melhor taxa de cada contexto, com a
  incerteza do próprio σ → média das sementes → escolha da melhor taxa → diferenças e o melhor);
- :func:`context_table`, :func:`context_numbers` (as frases, geradas dos intervalos) e
  :func:`plot_context_v2`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure
from .cap04_bench import load_benchmarks
from .cap06 import PALETTE, _log_axis

__all__ = ["LEVEL", "N_BOOT", "Comparison", "ContextStudy", "value_at_flops", "noise_from_pairs", "compare",
           "context_study", "load_context_benchmark", "context_table", "context_numbers", "plot_context_v2",
           "MARKDOWN_GLUES"]

LEVEL = 0.9  # o nível dos intervalos
N_BOOT = 2000
BENCH_FILE = "bench_contexto_cpu.json"
#: Os contextos da grade quando a previsão foi escrita (o de 16 veio depois, numa extensão).
ORIGINAL_CONTEXTS = (32, 64, 128, 256, 512)


def value_at_flops(record: dict, flops: float) -> float:
    """O bpb de validação da curva de ``record`` quando ela gastou ``flops`` (em ``M``).

    Interpola em log do bpb contra log dos FLOPs entre os dois pontos da curva que cercam ``flops``;
    no último ponto, é a avaliação final. Fora da curva, ``ValueError``.
    """
    m = record["flops_per_token"]["M"]
    pts = [(m * p["tokens"], p["val_bpb"]) for p in record["trace"] if p["tokens"] > 0 and p["val_bpb"] is not None]
    if not pts or not (pts[0][0] <= flops * (1 + 1e-9) and flops <= pts[-1][0] * (1 + 1e-9)):
        raise ValueError(f"o orçamento {flops:.4g} FLOPs está fora da curva do treino {record['run_id']} "
                         f"(de {pts[0][0]:.4g} a {pts[-1][0]:.4g})." if pts else
                         f"o treino {record['run_id']} não tem pontos de validação.")
    for (f0, b0), (f1, b1) in zip(pts, pts[1:]):
        if f0 <= flops <= f1 * (1 + 1e-9):
            t = (math.log(flops) - math.log(f0)) / (math.log(f1) - math.log(f0))
            return math.exp(math.log(b0) + min(max(t, 0.0), 1.0) * (math.log(b1) - math.log(b0)))
    return pts[-1][1] if flops >= pts[-1][0] else pts[0][1]


def noise_from_pairs(groups: list[list[float]], level: float = LEVEL) -> tuple[float, int, tuple[float, float]]:
    """σ de uma semente, agrupado das variâncias dentro de cada grupo (as sementes de uma configuração).

    Devolve ``(σ, graus de liberdade, IC de σ)``; o IC vem da qui-quadrado com esses graus.
    """
    ss = sum(float(np.sum((np.asarray(g) - np.mean(g)) ** 2)) for g in groups if len(g) > 1)
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    if df < 1:
        raise ValueError("é preciso ao menos uma configuração com duas sementes para medir o ruído.")
    sigma = math.sqrt(ss / df)
    a = (1 - level) / 2
    return sigma, df, (sigma * math.sqrt(df / stats.chi2.ppf(1 - a, df)), sigma * math.sqrt(df / stats.chi2.ppf(a, df)))


@dataclass(frozen=True)
class Comparison:
    """Uma comparação entre contextos (os mesmos *tokens*, ou o mesmo orçamento)."""

    contexts: tuple[int, ...]
    best_lr: dict  # contexto → melhor taxa (média das sementes)
    edge: tuple[int, ...]  # contextos cuja melhor taxa está na borda da grade
    mean: dict  # contexto → bpb médio das sementes na melhor taxa
    sigma: float  # ruído de uma semente na melhor taxa
    df: int
    sigma_ci: tuple[float, float]
    diff_ci: dict  # (a, b) → IC de bpb(a) − bpb(b), para contextos vizinhos e (32, 128)
    p_best: dict  # contexto → fração das reamostras em que ele é o melhor
    best: int
    tied: tuple[int, ...]  # contextos cujo IC da diferença para o melhor contém 0

    def diff(self, a: int, b: int) -> float:
        return self.mean[a] - self.mean[b]


def compare(cells: dict[tuple[int, float], list[float]], *, n_boot: int = N_BOOT, seed: int = 0,
            level: float = LEVEL) -> Comparison:
    """A comparação de contextos a partir de ``(contexto, taxa) → [bpb de cada semente]``.

    *Bootstrap* paramétrico: em cada reamostra, σ vem da sua distribuição (qui-quadrado com os graus
    medidos), cada célula recebe a média de sementes novas em torno da média observada, a melhor taxa
    de cada contexto é escolhida de novo, e as diferenças e o melhor contexto são recalculados.
    """
    contexts = sorted({c for c, _ in cells})
    lrs = {c: sorted(lr for cc, lr in cells if cc == c) for c in contexts}
    mean_cell = {k: float(np.mean(v)) for k, v in cells.items()}
    best_lr = {c: min(lrs[c], key=lambda lr: mean_cell[(c, lr)]) for c in contexts}
    edge = tuple(c for c in contexts if len(lrs[c]) > 1 and best_lr[c] in (lrs[c][0], lrs[c][-1]))
    sigma, df, sigma_ci = noise_from_pairs([cells[(c, best_lr[c])] for c in contexts], level)
    mean = {c: mean_cell[(c, best_lr[c])] for c in contexts}

    rng = np.random.default_rng(seed)
    keys = sorted(cells)
    mu = np.array([mean_cell[k] for k in keys])
    n = np.array([len(cells[k]) for k in keys])
    sig_b = sigma * np.sqrt(df / rng.chisquare(df, size=n_boot))
    sim = mu[None, :] + rng.standard_normal((n_boot, len(keys))) * sig_b[:, None] / np.sqrt(n)[None, :]
    best_b = np.empty((n_boot, len(contexts)))
    for j, c in enumerate(contexts):
        cols = [i for i, k in enumerate(keys) if k[0] == c]
        best_b[:, j] = sim[:, cols].min(axis=1)
    a = (1 - level) / 2
    pairs = list(zip(contexts, contexts[1:]))
    if 32 in contexts and 128 in contexts:
        pairs.append((32, 128))
    winners = np.argmin(best_b, axis=1)
    p_best = {c: float(np.mean(winners == j)) for j, c in enumerate(contexts)}
    best = min(contexts, key=mean.get)
    jb = contexts.index(best)
    pairs += [(c, best) for c in contexts if c != best and (c, best) not in pairs and (best, c) not in pairs]
    diff_ci = {}
    for x, y in pairs:
        d = best_b[:, contexts.index(x)] - best_b[:, contexts.index(y)]
        diff_ci[(x, y)] = (float(np.quantile(d, a)), float(np.quantile(d, 1 - a)))
    tied = []
    for j, c in enumerate(contexts):
        d = best_b[:, j] - best_b[:, jb]
        if c == best or np.quantile(d, a) <= 0:  # o IC da diferença para o melhor alcança o zero
            tied.append(c)
    return Comparison(tuple(contexts), best_lr, edge, mean, sigma, df, sigma_ci, diff_ci, p_best, best, tuple(tied))


@dataclass(frozen=True)
class ContextStudy:
    records: tuple[dict, ...]
    tokens: Comparison
    compute: Comparison
    c_star: float  # o orçamento comum (FLOPs em M)
    tokens_at_c_star: dict  # contexto → tokens vistos em C*
    flops: dict  # contexto → FLOPs em M do treino inteiro
    m_share: dict  # contexto → fração de M que é atenção
    step_ms_sweep: dict  # contexto → ms por passo nas varreduras (mediana dos treinos)
    eval_sigma: float  # ruído da avaliação final (das duas metades), RMS dos treinos
    bench: dict | None = None  # o JSON de benchmarks/contexto.py, se existir
    compute_original: Comparison | None = None  # (b) só com os contextos da previsão (ORIGINAL_CONTEXTS)
    seeds: int = 0
    lrs: tuple = field(default_factory=tuple)


def load_context_benchmark(results_dir: str | Path | None = None) -> dict | None:
    found = load_benchmarks({"cpu": BENCH_FILE}, ("metadata", "rows"), "benchmarks/contexto.py", results_dir)
    return found.get("cpu")


def context_study(records: list[dict], *, bench: dict | None = None, n_boot: int = N_BOOT,
                  seed: int = 0) -> ContextStudy:
    """As duas comparações (ver o módulo). ``records``: os treinos de ``cap06_contexto_v2``."""
    ok = [r for r in records if r.get("status") == "ok"]
    if len({r["train"]["seq_len"] for r in ok}) < 2:
        raise ValueError(f"o estudo de contexto precisa de treinos terminados com ao menos 2 contextos; "
                         f"recebi {len(ok)} treinos com contextos {sorted({r['train']['seq_len'] for r in ok})}.")
    for key in ("batch_size_tokens", "tokens"):
        values = {r["train"][key] for r in ok}
        if len(values) != 1:
            raise ValueError(f"o contexto deve ser a única mudança, mas train.{key} varia: {sorted(values)}.")
    flops = {}
    for r in ok:
        flops.setdefault(r["train"]["seq_len"], r["flops_per_token"]["M"] * r["tokens"])
    c_star = min(flops.values())
    tok_cells: dict = {}
    comp_cells: dict = {}
    for r in sorted(ok, key=lambda r: (r["train"]["seq_len"], r["train"]["lr"], r["train"]["seed"])):
        key = (r["train"]["seq_len"], r["train"]["lr"])
        tok_cells.setdefault(key, []).append(r["final_val_bpb"])
        comp_cells.setdefault(key, []).append(value_at_flops(r, c_star))
    contexts = sorted(flops)
    d = ok[0]["model"]["hidden_size"]
    halves = [r["evaluation"]["final"]["halves_bpb"] for r in ok if r.get("evaluation", {}).get("final", {}).get("halves_bpb")]
    eval_sigma = float(np.sqrt(np.mean([((h[0] - h[1]) / 2) ** 2 for h in halves]))) if halves else float("nan")
    step_ms = {c: float(np.median([1e3 * r["train"]["batch_size_tokens"] / r["tokens_per_s"]
                                   for r in ok if r["train"]["seq_len"] == c])) for c in contexts}
    return ContextStudy(
        records=tuple(ok),
        tokens=compare(tok_cells, n_boot=n_boot, seed=seed),
        compute=compare(comp_cells, n_boot=n_boot, seed=seed + 1),
        c_star=c_star,
        tokens_at_c_star={c: c_star / next(r["flops_per_token"]["M"] for r in ok if r["train"]["seq_len"] == c)
                          for c in contexts},
        flops=flops,
        m_share={c: 12 * c / (72 * d + 12 * c) for c in contexts},
        step_ms_sweep=step_ms,
        eval_sigma=eval_sigma,
        bench=bench,
        compute_original=(compare({k: v for k, v in comp_cells.items() if k[0] in ORIGINAL_CONTEXTS},
                                  n_boot=n_boot, seed=seed + 2)
                          if set(contexts) > set(ORIGINAL_CONTEXTS) else None),
        seeds=max(len(v) for v in tok_cells.values()),
        lrs=tuple(sorted({r["train"]["lr"] for r in ok})),
    )


# --- tabela, frases e figura ---------------------------------------------------------------

def _bench_rows(study: ContextStudy) -> dict:
    return {row["seq_len"]: row for row in (study.bench or {}).get("rows", [])}


def _pct(x: float) -> str:
    return fmt(100 * x, ".0f") + "%"


def _minus(text: str) -> str:
    return text.replace("-", "−")


def _ci(lo: float, hi: float) -> str:
    return _minus(f"[{fmt(lo, '.3f')}; {fmt(hi, '.3f')}]")


def context_table(study: ContextStudy) -> str:
    bench = _bench_rows(study)
    rows = []
    for c in study.tokens.contexts:
        b = bench.get(c)
        rows.append([
            str(c), str(study.records[0]["train"]["batch_size_tokens"] // c),
            fmt(study.tokens.best_lr[c], ".4g") + (" (borda)" if c in study.tokens.edge else ""),
            fmt(study.tokens.mean[c], ".3f"),
            format_si(study.flops[c]),
            format_si(study.tokens_at_c_star[c]),
            fmt(study.compute.best_lr[c], ".4g") + (" (borda)" if c in study.compute.edge else ""),
            fmt(study.compute.mean[c], ".3f"),
            fmt(study.step_ms_sweep[c], ".0f"),
            _pct(b["measured_share"]) if b else "—",
            _pct(study.m_share[c]),
        ])
    return markdown_table(
        ["contexto", "seq. por passo", "melhor taxa (mesmos tokens)", "bpb, mesmos tokens",
         "FLOPs (M) do treino", "tokens em C*", "melhor taxa (em C*)", "bpb em C*",
         "ms por passo (varredura)", "atenção: fração do tempo", "atenção: fração de M"],
        rows, align="rrrrrrrrrrr")


def _diff_sentence(cmp: Comparison, a: int, b: int) -> str:
    lo, hi = cmp.diff_ci[(a, b)]
    d = cmp.diff(a, b)
    where = ("acima" if d > 0 else "abaixo")
    if lo > 0 or hi < 0:
        verdict = "o intervalo não contém zero"
    else:
        verdict = "o intervalo contém zero: não se distinguem"
    return _minus(f"o de {a} fica {fmt(abs(d), '.3f')} bpb {where} do de {b} (IC de 90% da diferença "
                  f"{_ci(lo, hi)}; {verdict})")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " e " + items[-1]


def _best_sentence(cmp: Comparison) -> str:
    p = cmp.p_best[cmp.best]
    others = [c for c in cmp.tied if c != cmp.best]
    head = (f"o menor bpb veio do contexto de {cmp.best} ({fmt(cmp.mean[cmp.best], '.3f')}; o melhor em "
            f"{_pct(p)} das reamostras)")
    if not others:
        return head + ", e nenhum outro contexto fica dentro do ruído dele"
    names = _join([f"o de {c} ({_minus(fmt(cmp.diff(c, cmp.best), '+.3f'))})" for c in others])
    return head + ", mas " + names + (" não se distingue" if len(others) == 1 else " não se distinguem") + \
        " dele com estas sementes"


def _ci_of(cmp: Comparison, a: int, b: int) -> tuple[float, float]:
    """O IC de bpb(a) − bpb(b), qualquer que seja a ordem em que a comparação o guardou."""
    if (a, b) in cmp.diff_ci:
        return cmp.diff_ci[(a, b)]
    lo, hi = cmp.diff_ci[(b, a)]
    return -hi, -lo


def _short(cmp: Comparison) -> str:
    """``64 (o de 32 e o de 128 não se distinguem dele)``: o melhor, para o resumo."""
    others = [c for c in cmp.tied if c != cmp.best]
    if not others:
        return f"{cmp.best} (à frente de todos os outros por mais que o ruído)"
    return (f"{cmp.best} (" + _join([f"o de {c}" for c in others])
            + (" não se distingue dele)" if len(others) == 1 else " não se distinguem dele)"))


def _long_verdict(cmp: Comparison) -> str:
    """O que o contexto mais longo fez com os mesmos *tokens*, contra o melhor: pior (IC acima de zero),
    igual (IC contém zero) ou melhor."""
    longest = max(cmp.contexts)
    if longest == cmp.best:
        return f"o de {longest} foi o melhor"
    lo, hi = _ci_of(cmp, longest, cmp.best)
    if lo > 0:
        return (f"pioraram: o de {longest} ficou {fmt(cmp.diff(longest, cmp.best), '.3f')} bpb acima do melhor "
                f"(IC de 90% {_ci(lo, hi)})")
    return f"não melhoraram: o de {longest} não se distingue do melhor (IC de 90% {_ci(lo, hi)})"


MARKDOWN_GLUES: frozenset = frozenset()  # todas as frases são texto simples


def context_numbers(study: ContextStudy | None) -> dict[str, str]:
    """Os números e as frases do estudo (chaves ``cx_*``); sem estudo, ``—`` em todas."""
    keys = ("cx_treinos", "cx_sementes", "cx_taxas", "cx_sigma", "cx_sigma_ic", "cx_gl", "cx_sigma_aval",
            "cx_cstar", "cx_melhor_tokens", "cx_melhor_c", "cx_32_128", "cx_ganho_32_64", "cx_ganho_256_512",
            "cx_prev1", "cx_prev2", "cx_prev3", "cx_borda", "cx_tok512_cstar", "cx_atencao_512",
            "cx_passo_32_512", "cx_resumo_tokens", "cx_resumo_c", "cx_longos")
    if study is None:
        return {k: "—" for k in keys}
    t, c = study.tokens, study.compute
    bench = _bench_rows(study)
    if not set(ORIGINAL_CONTEXTS) <= set(t.contexts):  # a miniatura não tem todos os contextos
        out = {k: "—" for k in keys}
        out.update({"cx_treinos": str(len(study.records)), "cx_melhor_tokens": _best_sentence(t),
                    "cx_melhor_c": _best_sentence(c), "cx_cstar": format_si(study.c_star),
                    "cx_resumo_tokens": _short(t), "cx_resumo_c": _short(c)})
        return out
    g_low, g_high = t.diff(32, 64), t.diff(256, 512)
    lo, hi = t.diff_ci[(32, 128)]
    prev1_ok = lo > 0 and g_high < g_low
    long_part = (f"de 256 para 512 o bpb cai {fmt(g_high, '.3f')}" if g_high > 0 else
                 f"de 256 para 512 o bpb sobe {fmt(-g_high, '.3f')} em vez de cair")
    prev1 = (f"com os mesmos tokens, de 32 para 128 o bpb {'cai' if t.diff(32, 128) > 0 else 'sobe'} "
             f"{fmt(abs(t.diff(32, 128)), '.3f')} (IC de 90% da diferença {_ci(lo, hi)}, "
             + ("acima do ruído" if lo > 0 else "que contém o zero") + f"), e {long_part}: "
             + ("confirmada" if prev1_ok else "não confirmada"))
    prev2_ok = c.best not in (c.contexts[0], c.contexts[-1]) and c.contexts[0] not in c.tied \
        and c.contexts[-1] not in c.tied
    prev2 = (f"com o mesmo orçamento, o melhor contexto é o de {c.best}"
             + (f", e ele e os que não se distinguem dele ({_join([str(x) for x in c.tied])}) ficam longe das bordas "
                f"da grade: confirmada"
                if prev2_ok else
                (f"; os que não se distinguem dele incluem a borda ({_join([str(x) for x in c.tied])}): "
                 f"não confirmada" if c.best not in (c.contexts[0], c.contexts[-1]) else
                 f", na borda da grade: não confirmada")))
    if bench:
        ratios = {x: bench[x]["measured_share"] / study.m_share[x] for x in sorted(bench) if x in study.m_share}
        outside = [x for x, v in ratios.items() if not 0.5 <= v <= 2]
        span = (f"a razão entre a fração medida do tempo e a fração de M vai de {fmt(min(ratios.values()), '.2f')} a "
                f"{fmt(max(ratios.values()), '.2f')} nos {len(ratios)} contextos")
        if not outside:
            prev3 = span + ": dentro do fator 2 em todos, confirmada"
        else:
            inside = [x for x in ratios if x not in outside]
            prev3 = (span + "; fica fora do fator 2 " + ("no de " if len(outside) == 1 else "nos de ")
                     + ", ".join(f"{x} ({fmt(ratios[x], '.1f')}×)" for x in outside)
                     + (f" e dentro dele de {inside[0]} a {inside[-1]}" if inside else "")
                     + ": não confirmada nesse" + ("" if len(outside) == 1 else "s") + " contexto"
                     + ("" if len(outside) == 1 else "s"))
    else:
        prev3 = "sem o arquivo do benchmark (benchmarks/contexto.py), não verificada"
    if study.compute_original is not None:
        o = study.compute_original
        prev2 += (f". Na grade da previsão (de {o.contexts[0]} a {o.contexts[-1]}), o melhor era o de {o.best}"
                  + (", a borda, e por isso a grade foi estendida" if o.best in (o.contexts[0], o.contexts[-1]) else ""))
    edges = sorted(set(t.edge) | set(c.edge))
    borda = ("nenhum contexto tem a melhor taxa na borda da grade, nem com os mesmos tokens nem em C*" if not edges
             else f"a melhor taxa ficou na borda da grade nos contextos {', '.join(map(str, edges))}")
    b512 = bench.get(512)
    return {
        "cx_treinos": str(len(study.records)),
        "cx_sementes": str(study.seeds),
        "cx_taxas": ", ".join(fmt(x, ".4g") for x in study.lrs),
        "cx_sigma": fmt(t.sigma, ".3f"),
        "cx_sigma_ic": _ci(*t.sigma_ci),
        "cx_gl": str(t.df),
        "cx_sigma_aval": fmt(study.eval_sigma, ".4f"),
        "cx_cstar": format_si(study.c_star),
        "cx_melhor_tokens": _best_sentence(t),
        "cx_melhor_c": _best_sentence(c),
        "cx_32_128": _diff_sentence(t, 32, 128),
        "cx_ganho_32_64": fmt(g_low, ".3f"),
        "cx_ganho_256_512": _minus(fmt(g_high, ".3f")),
        "cx_prev1": prev1,
        "cx_prev2": prev2,
        "cx_prev3": prev3,
        "cx_borda": borda,
        "cx_tok512_cstar": format_si(study.tokens_at_c_star[max(study.tokens_at_c_star)]),
        "cx_atencao_512": _pct(b512["measured_share"]) if b512 else "—",
        "cx_resumo_tokens": _short(t),
        "cx_resumo_c": _short(c),
        "cx_longos": _long_verdict(t),
        "cx_passo_32_512": fmt(study.step_ms_sweep[max(study.step_ms_sweep)] / study.step_ms_sweep[min(study.step_ms_sweep)], ".1f"),
    }


def plot_context_v2(study: ContextStudy | None):
    """À esquerda, o bpb de cada contexto nas duas comparações (IC de 90% de cada média); à direita,
    as curvas de validação contra os FLOPs em M, na melhor taxa (média das sementes)."""
    fig, (ax, ax_c) = new_figure(ncols=2, height=4.2)
    if study is None:
        for a in (ax, ax_c):
            a.text(0.5, 0.5, "sem resultados", ha="center", va="center", transform=a.transAxes)
        return fig
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    for cmp, color, marker, label in ((study.tokens, COLORS["azul"], "o", "mesmos tokens"),
                                      (study.compute, COLORS["laranja"], "s", f"mesmo orçamento ({format_si(study.c_star)} FLOPs)")):
        xs = list(cmp.contexts)
        ys = [cmp.mean[x] for x in xs]
        err = z * cmp.sigma / math.sqrt(study.seeds)
        ax.errorbar(xs, ys, yerr=err, fmt=marker + "-", color=color, capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(study.tokens.contexts), [str(x) for x in study.tokens.contexts])
    ax.minorticks_off()
    ax.set(xlabel="contexto (tokens)", ylabel="bpb de validação", title="Cada contexto na sua melhor taxa")
    ax.legend(fontsize=10.5)
    for x, color in zip(study.tokens.contexts, PALETTE):
        lr = study.tokens.best_lr[x]
        runs = [r for r in study.records if r["train"]["seq_len"] == x and r["train"]["lr"] == lr]
        m = runs[0]["flops_per_token"]["M"]
        pts = [[p for p in r["trace"] if p["tokens"] > 0] for r in runs]
        f = np.array([m * p["tokens"] for p in pts[0]])
        b = np.mean([[p["val_bpb"] for p in tr] for tr in pts], axis=0)
        ax_c.semilogx(f, b, "-", color=color, lw=1.4, label=str(x))
    _log_axis(ax_c)
    ax_c.axvline(study.c_star, color=COLORS["cinza"], ls=":", lw=1.2)
    ax_c.set(xlabel="FLOPs de treino (M)", ylabel="bpb de validação", title="Curvas contra o orçamento",
             ylim=(min(study.tokens.mean.values()) - 0.1, 4.0))
    ax_c.legend(title="contexto", fontsize=10.5, title_fontsize=10.5, ncols=2, loc="lower left")
    return fig
