"""Capítulo 8 — perfis IsoFLOP e a alocação ótima entre modelo e dados (DeepSeek LLM §3.2).

- :data:`SIZE_LADDER` — a escada de formas ``(n_layer, d_model)`` dos perfis IsoFLOP,
  que alterna "mais uma camada" e "mais largo" para ter degraus de 1,3× a 3× em M;
- :func:`isoflop_fit` — os perfis e as leis ``M_opt ∝ C^a``, ``D_opt ∝ C^b`` numa das três
  representações da escala (M, 6N₁, 6N₂);
- :func:`isoflop_spec` — escreve a especificação IsoFLOP com a taxa e o lote das leis do
  capítulo 7, para que "hiperparâmetros das leis do capítulo 7" seja um comando, não uma cópia.

Linha de comando::

    python -m helpers.chapters.cap08 spec --out experiments/cap08_isoflop.json
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine import sweeps
from ..laws import deepseek, fit
from ..model.config import ModelConfig, tiny
from ..model.flops import deepseek_m, six_n1, six_n2
from ..presentation.plots import (COLORS, budget_colors, fmt, format_si, markdown_table, new_figure, plot_fit_band,
                                  plot_isoflop)
from .cap07 import HYPER_RESULTS, chapter7_laws
from .common import ROOT, SEQ_LEN, records, round_batch, runs_table, train_base, write_spec

__all__ = ["SIZE_LADDER", "ISOFLOP_BUDGETS", "ISOFLOP_WINDOWS", "ISOFLOP_RESULTS", "PREDICTION_BUDGET", "REPRESENTATIONS",
           "ladder_config", "ladder_m", "ladder_table", "attention_share", "isoflop_fit", "isoflop_table", "Chapter8",
           "analysis", "plot_profiles", "plot_allocation", "plot_approach3", "isoflop_spec", "main"]

#: ``(n_layer, d_model)``; cabeças de dimensão 16, SwiGLU, vocabulário de bytes, contexto 128.
SIZE_LADDER: tuple[tuple[int, int], ...] = (
    (1, 16), (1, 32), (2, 32), (2, 48), (3, 48), (3, 64), (4, 64), (4, 80), (5, 80), (5, 96), (6, 96), (6, 112),
)

#: Orçamentos IsoFLOP: 1,5 década em 5 passos iguais em escala log.
ISOFLOP_BUDGETS = tuple(float(f"{1e11 * 10 ** (1.5 * k / 4):.4g}") for k in range(5))

#: Degraus da escada (inclusive) em cada orçamento IsoFLOP.
ISOFLOP_WINDOWS = ((0, 6), (0, 6), (1, 7), (1, 7), (2, 8))
#: O orçamento da previsão do capítulo 9: 10× o maior orçamento IsoFLOP.
PREDICTION_BUDGET = 10 * ISOFLOP_BUDGETS[-1]
#: Os resultados da varredura IsoFLOP.
ISOFLOP_RESULTS = ROOT / "results" / "cap08_isoflop.jsonl"


def ladder_config(index: int) -> ModelConfig:
    """O modelo do degrau ``index`` da escada."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(SIZE_LADDER):
        raise ValueError(f"degrau da escada deve ser um inteiro em [0, {len(SIZE_LADDER) - 1}]; recebi {index!r}.")
    n, d = SIZE_LADDER[index]
    return tiny(n, hidden_size=d)

def ladder_m(seq_len: int = SEQ_LEN) -> np.ndarray:
    """M (FLOPs não-embedding por token) de cada degrau."""
    return np.array([deepseek_m(ladder_config(i), seq_len) for i in range(len(SIZE_LADDER))], dtype=float)

def isoflop_fit(table: dict[str, np.ndarray], *, representation: str = "M", predict_at=(), n_boot: int = 1000,
                seed: int = 0) -> fit.IsoFlopFit:
    """Perfis IsoFLOP com a escala do modelo em ``M``, ``6N1`` ou ``6N2`` (DeepSeek, App. A.2)."""
    if representation not in ("M", "6N1", "6N2"):
        raise ValueError(f"representação {representation!r} desconhecida; as válidas são 'M', '6N1' e '6N2'.")
    ok = np.isfinite(table["loss"])
    return fit.fit_isoflop(table["budget"][ok], table[representation][ok], table["tokens"][ok], table["loss"][ok],
                           predict_at=predict_at, n_boot=n_boot, seed=seed)

#: Os nomes das representações da escala na prosa e nas tabelas.
REPRESENTATIONS = {"M": "M", "6N1": "6N₁", "6N2": "6N₂"}


def ladder_table(seq_len: int = SEQ_LEN) -> str:
    """A escada em Markdown: forma, M, 6N₁, 6N₂ e a razão 6N₁/M de cada degrau."""
    rows = []
    for i, (n, d) in enumerate(SIZE_LADDER):
        mc = ladder_config(i)
        m = deepseek_m(mc, seq_len)
        rows.append([i, n, d, format_si(m, 3), format_si(six_n1(mc), 3), format_si(six_n2(mc), 3),
                     fmt(six_n1(mc) / m, ".2f")])
    return markdown_table(["degrau", "n_layer", "d", "M", "6N₁", "6N₂", "6N₁/M"], rows)


def attention_share(n_layer, d_model, m, seq_len: int = SEQ_LEN):
    """A fração de M que é atenção, ``12·n_layer·d·l_seq / M`` (DeepSeek, Eq. 2)."""
    return 12 * np.asarray(n_layer, dtype=float) * np.asarray(d_model, dtype=float) * seq_len / np.asarray(m, dtype=float)


def _interior_profiles(table: dict[str, np.ndarray]) -> int:
    ok = np.isfinite(table["loss"])
    count = 0
    for c in np.unique(table["budget"][ok]):
        idx = ok & (table["budget"] == c)
        try:
            count += fit.isoflop_profile(table["M"][idx], table["tokens"][idx], table["loss"][idx], budget=c).accepted
        except ValueError:
            pass
    return count


def isoflop_table(*, recompute: bool = False) -> tuple[dict[str, np.ndarray], str]:
    """A tabela dos treinos IsoFLOP e uma nota: com ``recompute``, a varredura em miniatura —
    ou, se ela não tiver 3 orçamentos com mínimo interior (comum em orçamentos minúsculos), os
    resultados versionados, com a nota dizendo isso."""
    table = runs_table(sweeps.experiment_results("cap08_isoflop", recompute=recompute, quiet=False))
    if not recompute or _interior_profiles(table) >= 3:
        return table, ""
    note = "Miniatura sem perfis suficientes com mínimo interior; o restante do capítulo usa results/."
    return runs_table(sweeps.experiment_results("cap08_isoflop")), note


def isoflop_spec(laws: fit.HyperparameterLaws, budgets, windows, *, name: str = "cap08_isoflop",
                 source: str = "") -> dict:
    """Especificação IsoFLOP: em cada orçamento, os degraus ``windows[i]`` da escada,
    com taxa e lote das leis ajustadas (os mesmos para todos os tamanhos do orçamento,
    como no DeepSeek)."""
    budgets = [float(c) for c in budgets]
    if len(budgets) != len(windows):
        raise ValueError(f"um intervalo de degraus por orçamento: {len(budgets)} orçamentos e {len(windows)} intervalos.")
    counts = sorted({h - l + 1 for l, h in windows})
    sizes = str(counts[0]) if len(counts) == 1 else f"{counts[0]} a {counts[-1]}"
    runs = []
    for c, (lo, hi) in zip(budgets, windows):
        lr = float(f"{float(laws.lr_opt(c)):.4g}")
        batch = round_batch(float(laws.batch_opt(c)))
        for i in range(lo, hi + 1):
            n, d = SIZE_LADDER[i]
            runs.append({"train.budget_flops": c, "model.num_hidden_layers": n, "model.hidden_size": d,
                         "train.lr": lr, "train.batch_size_tokens": batch})
    desc = (
        f"Capítulo 8 (DeepSeek §3.2): perfis IsoFLOP em {len(budgets)} orçamentos de {budgets[0]:.4g} a "
        f"{budgets[-1]:.4g} FLOPs (convenção M), com {sizes} tamanhos consecutivos da escada "
        f"helpers.chapters.cap08.SIZE_LADDER em cada um. "
        f"Taxa e lote de cada orçamento vêm das leis do capítulo 7: η = {laws.lr.k:.4g}·C^{laws.lr.alpha:.4f}, "
        f"B = {laws.batch.k:.4g}·C^{laws.batch.alpha:.4f} tokens (tolerância {laws.tolerance:.4g}). "
        f"Gerada por 'python -m helpers.chapters.cap08 spec'{(' a partir de ' + source) if source else ''}."
    )
    # Miniatura: o primeiro, o do meio e o último orçamento, os 4 menores tamanhos de cada um, 3% do custo.
    starts = np.cumsum([0] + [h - l + 1 for l, h in windows])
    mini_runs = [int(starts[k] + j) for k in sorted({0, len(budgets) // 2, len(budgets) - 1}) for j in range(4)]
    return {"name": name, "description": desc,
            "base": {"model": {"preset": "tiny", "num_hidden_layers": 2, "hidden_size": 32},
                     "train": {"budget_flops": budgets[0], "batch_size_tokens": 1024, "lr": 0.003, **train_base(10)}},
            "runs": runs,
            "mini": {"train.eval_tokens": 8192, "train.eval_points": 2},
            "mini_scale": {"train.budget_flops": 0.03},
            "mini_runs": mini_runs}


# --- o que o notebook mostra -------------------------------------------------------

@dataclass(frozen=True)
class Chapter8:
    """Tudo o que o capítulo 8 mostra: perfis, leis nas três representações, abordagem 3,
    as tabelas em Markdown (``tables``) e o texto dos números colados na prosa (``numbers``)."""

    table: dict[str, np.ndarray] = field(repr=False)
    iso: fit.IsoFlopFit = field(repr=False)
    reps: dict = field(repr=False)
    a3: fit.ParametricLossFit = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    budgets: np.ndarray
    predict_at: float
    tables: dict[str, str] = field(repr=False)
    numbers: dict[str, object]

    @property
    def ok(self) -> np.ndarray:
        """Os treinos que terminaram (perda finita), os que entram nos ajustes."""
        return np.isfinite(self.table["loss"])


def _ci_text(boot, name: str, spec: str = "+.3f") -> str:
    lo, hi = boot.ci(name)
    return f"[{fmt(lo, spec)}, {fmt(hi, spec)}]"


def _budget_table(table) -> str:
    rows = []
    for c in np.unique(table["budget"]):
        idx = table["budget"] == c
        rows.append([format_si(c, 3), int(idx.sum()), fmt(table["lr"][idx][0], ".3g"),
                     fmt(table["batch"][idx][0], ",.0f"),
                     f"{format_si(table['M'][idx].min(), 2)} – {format_si(table['M'][idx].max(), 2)}",
                     f"{format_si(table['tokens'][idx].min(), 2)} – {format_si(table['tokens'][idx].max(), 2)}",
                     fmt(table["wall_time_s"][idx].sum() / 60, ".1f")])
    return markdown_table(["C (FLOPs)", "tamanhos", "taxa", "lote (tokens)", "M", "tokens D", "min"], rows)


def _profiles_table(iso) -> str:
    rows = []
    for p in iso.profiles:
        if p.accepted:
            rows.append([format_si(p.budget, 3), format_si(p.scale_opt, 3), format_si(p.tokens_opt, 3),
                         fmt(p.loss_opt, ".3f"), fmt(p.curvature, ".2f"), "aceito"])
        else:
            rows.append([format_si(p.budget, 3), "—", "—", "—", fmt(p.curvature, ".2f"), f"rejeitado: {p.reason}"])
    return markdown_table(["C", "M_opt", "D_opt", "bpb no vértice", "curvatura (bpb/década²)", "situação"], rows)


def _exponents_table(iso) -> str:
    rows = [["este livro (M, IsoFLOP)", fmt(iso.a, ".3f"), _ci_text(iso.boot, "a", ".3f"), fmt(iso.b, ".3f"),
             _ci_text(iso.boot, "b", ".3f")]]
    for r in deepseek.TABLE4:
        rows.append([f"{r.label} — {r.data} (Tabela 4)", fmt(r.a, ".3f"), "—", fmt(r.b, ".3f"), "—"])
    return markdown_table(["fonte", "a (M_opt ∝ C^a)", "IC 95%", "b (D_opt ∝ C^b)", "IC 95%"], rows)


def _reps_table(reps: dict) -> str:
    rows = []
    for rep in REPRESENTATIONS:
        r = reps[rep]
        if isinstance(r, str):
            rows.append([REPRESENTATIONS[rep], "—", "—", "—", f"sem ajuste: {r}"])
        else:
            rows.append([REPRESENTATIONS[rep], fmt(r.a, ".3f"), _ci_text(r.boot, "a", ".3f"), fmt(r.b, ".3f"),
                         fmt(r.loss_law.residual_std * 100, ".2f")])
    return markdown_table(["representação", "a", "IC 95% de a", "b", "dispersão da lei da perda ótima (%)"], rows)


def _a3_table(a3) -> str:
    rows = []
    for name in ("E", "A", "alpha", "B", "beta", "a"):
        lo, hi = a3.boot.ci(name)
        rows.append([name, fmt(getattr(a3, name), ".3g"), f"[{fmt(lo, '.3g')}, {fmt(hi, '.3g')}]"])
    return markdown_table(["parâmetro", "estimativa", f"IC 95% (bootstrap, {a3.boot.n_boot})"], rows)


def _overlap(x: tuple[float, float], y: tuple[float, float]) -> bool:
    return x[0] <= y[1] and y[0] <= x[1]


def _numbers(table, iso, reps, a3, resid) -> dict[str, object]:
    ok = np.isfinite(table["loss"])
    budgets = np.unique(table["budget"])
    lo_a, hi_a = iso.boot.ci("a")
    mid = float(np.sqrt(budgets[0] * budgets[-1]))
    n = {
        "iso_treinos": int(table["loss"].size),
        "iso_minutos": fmt(table["wall_time_s"].sum() / 60, ".0f"),
        "iso_aceitos": len(iso.accepted), "iso_rejeitados": len(iso.rejected),
        "iso_a": fmt(iso.a, ".3f"), "iso_b": fmt(iso.b, ".3f"),
        "iso_a_lo": fmt(lo_a, ".3f"), "iso_a_hi": fmt(hi_a, ".3f"),
        "iso_tpm": fmt(float(iso.tokens_opt(mid) / iso.scale_opt(mid)), ".2g"),
        "iso_c_meio": format_si(mid, 3),
        "iso_linhas_t4": int(sum(lo_a <= r.a <= hi_a for r in deepseek.TABLE4)),
        "iso_t4_total": len(deepseek.TABLE4),
        "iso_contem": "contém" if lo_a <= deepseek.M_EXP <= hi_a else "não contém",
    }
    n["iso_todos_u"] = ("em todos os orçamentos" if not iso.rejected
                        else f"em {len(iso.accepted)} dos {len(iso.profiles)} orçamentos")
    # A escada: quanto de M é atenção, e a razão 6N₁/M.
    m_ladder = ladder_m()
    shapes = np.array(SIZE_LADDER, dtype=float)
    ratio = np.array([six_n1(ladder_config(i)) for i in range(len(SIZE_LADDER))]) / m_ladder
    share = attention_share(shapes[:, 0], shapes[:, 1], m_ladder)
    n["razao_min"], n["razao_max"] = fmt(ratio.min(), ".2f"), fmt(ratio.max(), ".2f")
    n["atencao_min"], n["atencao_max"] = fmt(100 * share.min(), ".0f"), fmt(100 * share.max(), ".0f")
    run_share = attention_share(table["n_layer"], table["d_model"], table["M"])
    n["atencao_treinos_min"], n["atencao_treinos_max"] = (fmt(100 * run_share.min(), ".0f"),
                                                          fmt(100 * run_share.max(), ".0f"))
    m_opt = [p.scale_opt for p in iso.accepted]
    n["mopt_min"], n["mopt_max"] = format_si(min(m_opt), 2), format_si(max(m_opt), 2)
    small = table["budget"] == budgets[0]
    n["passos_maior_menor"] = fmt(float(table["steps"][small][np.argmax(table["M"][small])]), ",.0f")
    # As outras representações.
    if not isinstance(reps.get("6N1"), str):
        n["a_6n1"] = fmt(reps["6N1"].a, ".3f")
        n["a_6n1_vs_m"] = "maior" if reps["6N1"].a > iso.a else "menor"
        n["a_6n1_sentido"] = ("no sentido que o DeepSeek descreve" if reps["6N1"].a > iso.a
                              else "no sentido contrário ao que o DeepSeek descreve")
    n["a_6n2"] = fmt(reps["6N2"].a, ".3f") if not isinstance(reps.get("6N2"), str) else "—"
    fitted = {k: r for k, r in reps.items() if not isinstance(r, str)}
    n["rep_menor_dispersao"] = REPRESENTATIONS[min(fitted, key=lambda k: fitted[k].loss_law.residual_std)]
    cis = [r.boot.ci("a") for r in fitted.values()]
    n["reps_sobrepoem"] = ("se sobrepõem" if all(_overlap(x, y) for x in cis for y in cis)
                           else "nem todos se sobrepõem")
    # A abordagem 3 e os seus resíduos (log da previsão sobre a medida: negativo = treino pior que a superfície).
    a3_ci = a3.boot.ci("a")
    n.update({"a3_a": fmt(a3.a, ".3f"), "a3_a_lo": fmt(a3_ci[0], ".3f"), "a3_a_hi": fmt(a3_ci[1], ".3f"),
              "a3_E": fmt(a3.E, ".3g"), "a3_rms": fmt(100 * np.sqrt(np.mean(resid**2)), ".2f"),
              "a3_vs_iso": "se sobrepõe ao" if _overlap(a3_ci, (lo_a, hi_a)) else "não se sobrepõe ao"})
    largest = []
    for c in budgets:
        idx = table["budget"][ok] == c
        largest.append(float(resid[idx][np.argmax(table["M"][ok][idx])]))
    largest = np.array(largest)
    n["braco_pior_n"] = int((largest < -0.01).sum())
    n["braco_total"] = int(budgets.size)
    n["braco_pior_max"] = fmt(-100 * largest.min(), ".0f")
    # Exercício 4: o custo de um modelo 3× maior que o ótimo no orçamento do meio, pelas duas vias.
    c_mid = float(budgets[budgets.size // 2])
    m3 = float(a3.scale_opt(c_mid))
    n["ex4_c"] = format_si(c_mid, 3)
    n["ex4_a3"] = fmt(float(a3.predict(3 * m3, c_mid / (3 * m3)) - a3.predict(m3, c_mid / m3)), ".3f")
    prof = next((p for p in iso.profiles if p.budget == c_mid), None)
    n["ex4_parabola"] = fmt(prof.curvature / 2 * np.log10(3) ** 2, ".3f") if prof is not None else "—"
    if prof is not None:
        cost_a3 = float(a3.predict(3 * m3, c_mid / (3 * m3)) - a3.predict(m3, c_mid / m3))
        n["ex4_fundo"] = "mais raso" if cost_a3 < prof.curvature / 2 * np.log10(3) ** 2 else "mais fechado"
    return n


def analysis(table: dict[str, np.ndarray], *, iso: fit.IsoFlopFit | None = None, predict_at: float | None = None,
             n_boot: int = 1000, n_boot_reps: int = 400, n_boot_a3: int = 200) -> Chapter8:
    """As tabelas e os números do capítulo 8 a partir da tabela dos treinos IsoFLOP.

    ``iso`` (o ajuste em M) pode vir pronto do notebook; ``predict_at`` é o orçamento em que as
    leis são avaliadas à frente (o do capítulo 9). As representações 6N₁ e 6N₂ usam
    ``n_boot_reps`` reamostragens e a abordagem 3, ``n_boot_a3``.
    """
    predict_at = PREDICTION_BUDGET if predict_at is None else predict_at
    if iso is None:
        iso = isoflop_fit(table, representation="M", predict_at=(predict_at,), n_boot=n_boot)
    reps = {}
    for rep in REPRESENTATIONS:
        try:
            reps[rep] = isoflop_fit(table, representation=rep, predict_at=(predict_at,), n_boot=n_boot_reps)
        except ValueError as exc:
            reps[rep] = str(exc)
    ok = np.isfinite(table["loss"])
    a3 = fit.fit_approach3(table["M"][ok], table["tokens"][ok], table["loss"][ok], n_boot=n_boot_a3)
    resid = np.log(a3.predict(table["M"][ok], table["tokens"][ok]) / table["loss"][ok])
    tables = {"escada": ladder_table(), "orcamentos": _budget_table(table), "perfis": _profiles_table(iso),
              "expoentes": _exponents_table(iso), "representacoes": _reps_table(reps), "abordagem3": _a3_table(a3)}
    return Chapter8(table=table, iso=iso, reps=reps, a3=a3, residuals=resid, budgets=np.unique(table["budget"]),
                    predict_at=float(predict_at), tables=tables, numbers=_numbers(table, iso, reps, a3, resid))


# --- figuras -------------------------------------------------------------------------

def _math(text: str) -> str:
    return text.replace(",", "{,}")


def plot_profiles(ch: Chapter8):
    """As curvas IsoFLOP contra M (com as parábolas e os vértices) e contra os tokens."""
    t, ok = ch.table, ch.ok
    fig, (ax_iso, ax_tok) = new_figure(ncols=2, width=8.0, height=4.6)
    plot_isoflop(ax_iso, t["budget"][ok], t["M"][ok], t["loss"][ok], ch.iso.profiles,
                 xlabel="$M$ (FLOPs por token)", legend=False)
    ax_iso.set_title("Perda contra o tamanho")
    token_profiles = [fit.isoflop_profile(t["tokens"][ok & (t["budget"] == c)], t["M"][ok & (t["budget"] == c)],
                                          t["loss"][ok & (t["budget"] == c)], budget=c) for c in ch.budgets]
    plot_isoflop(ax_tok, t["budget"][ok], t["tokens"][ok], t["loss"][ok], token_profiles,
                 xlabel="tokens de treino $D$", legend=False)
    ax_tok.set_title("As mesmas curvas contra os tokens")
    ax_tok.set_ylabel("")
    handles, labels = ax_iso.get_legend_handles_labels()
    fig.legend(handles, [f"{lab} FLOPs" for lab in labels], loc="outside lower center", ncol=3, fontsize=10.5)
    return fig


def plot_allocation(ch: Chapter8):
    """Os vértices, as leis M_opt(C) e D_opt(C) com a faixa bootstrap e a Eq. 4 do DeepSeek."""
    iso, acc = ch.iso, ch.iso.accepted
    c_grid = np.logspace(np.log10(ch.budgets[0]) - 0.2, np.log10(ch.predict_at), 80)
    fig, (ax_m, ax_d) = new_figure(ncols=2, width=8.0, height=4.4)
    for ax, values, law, key_k, key_a, ds, name in (
        (ax_m, [p.scale_opt for p in acc], iso.scale_law, "scale_base", "a", deepseek.m_opt,
         "$M_\\mathrm{opt}$ (FLOPs por token)"),
        (ax_d, [p.tokens_opt for p in acc], iso.data_law, "data_base", "b", deepseek.d_opt,
         "$D_\\mathrm{opt}$ (tokens)"),
    ):
        samples = np.array([k * c_grid**a for k, a in zip(iso.boot.samples[key_k], iso.boot.samples[key_a])])
        plot_fit_band(ax, c_grid, *np.quantile(samples, [0.025, 0.975], axis=0), color=COLORS["azul"])
        ax.plot(c_grid, law.predict(c_grid), color=COLORS["azul"],
                label=f"ajuste: $\\propto C^{{{_math(fmt(law.alpha, '.3f'))}}}$")
        ax.scatter([p.compute_opt for p in acc], values, color=COLORS["vermelho"], zorder=3, label="vértices")
        ax.plot(c_grid, ds(c_grid), "--", color=COLORS["laranja"], label="DeepSeek, Eq. 4")
        ax.axvline(ch.predict_at, color=COLORS["cinza"], lw=0.8, ls=":")
        ax.set(xscale="log", yscale="log", xlabel="$C$ (FLOPs, convenção $M$)", ylabel=name)
        ax.legend(fontsize=10.5)
    ax_m.set_title("Escala ótima do modelo")
    ax_d.set_title("Dados ótimos")
    return fig


def plot_approach3(ch: Chapter8):
    """A fronteira da abordagem 3 ao lado da do IsoFLOP, e os resíduos da superfície por orçamento."""
    iso, a3, t, ok = ch.iso, ch.a3, ch.table, ch.ok
    c_grid = np.logspace(np.log10(ch.budgets[0]) - 0.2, np.log10(ch.predict_at), 80)
    fig, (ax_f, ax_r) = new_figure(ncols=2, width=8.0, height=4.6)
    ax_f.plot(c_grid, a3.scale_opt(c_grid), color=COLORS["verde"],
              label=f"abordagem 3: $\\propto C^{{{_math(fmt(a3.a, '.3f'))}}}$")
    ax_f.plot(c_grid, iso.scale_opt(c_grid), color=COLORS["azul"],
              label=f"IsoFLOP: $\\propto C^{{{_math(fmt(iso.a, '.3f'))}}}$")
    ax_f.scatter([p.compute_opt for p in iso.accepted], [p.scale_opt for p in iso.accepted], color=COLORS["vermelho"],
                 zorder=3, label="vértices IsoFLOP")
    ax_f.set(xscale="log", yscale="log", xlabel="$C$ (FLOPs)", ylabel="$M_\\mathrm{opt}$ (FLOPs por token)",
             title="Duas fronteiras")
    ax_f.legend(fontsize=10.5)
    for c, color in zip(ch.budgets, budget_colors(len(ch.budgets))):
        idx = t["budget"][ok] == c
        order = np.argsort(t["M"][ok][idx])
        ax_r.plot(t["M"][ok][idx][order], 100 * ch.residuals[idx][order], "o-", color=color, ms=4, lw=0.9,
                  label=f"{format_si(c, 3)}")
    ax_r.axhline(0, color="black", lw=0.8)
    ax_r.set(xscale="log", xlabel="$M$ (FLOPs por token)", ylabel="previsto − medido (% da perda)",
             title="Resíduos da superfície")
    ax_r.legend(fontsize=10.5, title="$C$ (FLOPs)", title_fontsize=10.5)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.chapters.cap08", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("spec", help="escreve a especificação IsoFLOP com as leis do capítulo 7")
    p.add_argument("--hyper", default=str(HYPER_RESULTS))
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    laws, _ = chapter7_laws(records(Path(args.hyper)), n_boot=200)
    spec = isoflop_spec(laws, ISOFLOP_BUDGETS, ISOFLOP_WINDOWS, source=Path(args.hyper).name)
    write_spec(spec, args.out)
    print(f"escrevi {args.out}: {len(spec['runs'])} treinos")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
