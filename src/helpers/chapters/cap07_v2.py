"""Capítulo 7 no protocolo v2 — leis de escala para hiperparâmetros (DeepSeek LLM §3.1).

Lê a grade ``experiments/cap07_hiperparametros_v2.json`` e os seus resultados (escritos pela cadeia
de :mod:`helpers.chapters.protocol_v2`) e monta tudo o que o capítulo mostra:

- a amostra de validação de cada treino (o registro ``evaluation``) e o ruído da própria avaliação,
  medido nas duas metades disjuntas da amostra;
- o modelo de ruído entre sementes, das sementes **novas** repetidas na melhor configuração de cada
  orçamento, com o seu intervalo de 90%; e o viés de quem foi escolhido por ser o menor;
- a conferência de bordas (:func:`helpers.laws.refine.edge_report`): nenhum orçamento com a região
  quase ótima encostada na grade;
- as leis ``η_opt(C)`` e ``B_opt(C)`` do :class:`~helpers.laws.fit.pipelines.HyperPipeline` com
  intervalos de 90% do *bootstrap* paramétrico do pipeline inteiro (calibrados em
  :mod:`helpers.laws.calibration`), ao lado do *bootstrap* ingênuo que só reamostra os pontos já
  escolhidos;
- a taxa e o lote da Eq. 1 do DeepSeek e da Step Law nos modelos e dados de cada orçamento.

O v1 do capítulo (:mod:`helpers.chapters.cap07`) continua servindo aos capítulos que ainda tiram
dele a taxa e o lote (4 e 10) e aos valores a priori da grade v2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..engine.specs import SweepSpec, refine_settings
from ..laws import calibration, deepseek, fit, literature
from ..laws.fit.calibrated import CalibratedBootstrap, HyperPipeline, PipelineFailure, parametric_bootstrap
from ..laws.fit.noise import NoiseComparison, NoiseModel, compare_noise, evaluation_noise, fit_noise_model
from ..laws.refine import GroupReport, edge_report
from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure, plot_basin_page, plot_hyper_grid
from . import protocol_v2 as P
from . import protocol_v2_specs as S
from .common import ROOT

__all__ = ["SPEC_NAME", "HYPER_SPEC_V2", "HYPER_RESULTS_V2", "LEVEL", "BATCH_HALF_WIDTH_TARGET", "DEEPSEEK_SIDE",
           "Chapter7V2", "run_fields", "analysis", "design_coverage", "coverage_numbers", "plot_basin", "plot_grids", "plot_laws",
           "plot_noise"]

SPEC_NAME = "cap07_hiperparametros_v2"
HYPER_SPEC_V2 = ROOT / "experiments" / f"{SPEC_NAME}.json"
HYPER_RESULTS_V2 = ROOT / "results" / f"{SPEC_NAME}.jsonl"
#: O nível dos intervalos do capítulo.
LEVEL = 0.9
#: A meta do protocolo para a meia largura do intervalo de 90% do expoente do lote.
BATCH_HALF_WIDTH_TARGET = 0.05
#: O lado do DeepSeek na tabela "DeepSeek × este livro" (facts §1.3, §1.5, §1.7).
DEEPSEEK_SIDE = {
    "orcamentos": "10¹⁷ a 2×10¹⁹ FLOPs (2,3 décadas), conferidas em 10²⁰",
    "validacao": "100M tokens, distribuída como o treino",
    "tokenizador": "BPE de bytes, 100 015 tokens (vocabulário de 102 400 no modelo)",
    "contexto": "4096 tokens (7B e 67B)",
    "tolerancia": "0,25%",
    "treinos": "não informado no texto",
}


# --- os treinos ---------------------------------------------------------------------------

def run_fields(spec: SweepSpec, recs: list[dict], *, mini: bool = False) -> dict[str, np.ndarray]:
    """:func:`protocol_v2.result_rows` mais o que o capítulo mostra de cada treino.

    Chaves extras (de :func:`protocol_v2.record_columns`): ``N`` (parâmetros sem embedding), ``steps``,
    ``minutes`` (tempo de treino), ``eval_tokens``, ``eval_docs``, ``eval_docs_total``, ``eval_fraction``,
    ``half_a``, ``half_b`` (a perda em cada metade da amostra final; ``NaN`` se o registro não as tem).
    """
    rows = P.result_rows(spec, recs, mini=mini)
    cols = P.record_columns(P.spec_records(spec, recs, mini=mini))
    rows.update({k: cols[k] for k in ("steps", "eval_tokens", "eval_docs", "eval_docs_total", "eval_fraction",
                                      "half_a", "half_b")})
    rows.update(N=cols["N_nonemb"], minutes=cols["wall_s"] / 60)
    return rows


# --- o que o capítulo mostra ---------------------------------------------------------------

@dataclass(frozen=True)
class Chapter7V2:
    """Tudo o que o capítulo 7 (v2) mostra.

    ``rows`` são os vetores de :func:`run_fields`; ``grid`` a máscara da grade (semente 0);
    ``selected``/``best`` as máscaras da região quase ótima e do melhor de cada orçamento, na
    indexação de ``rows`` restrita à grade; ``boot`` o *bootstrap* paramétrico (``None`` se o
    pipeline não se completa nos dados, o que só acontece na miniatura); ``naive`` os intervalos
    de 90% do *bootstrap* que só reamostra os pontos escolhidos. ``tables`` (Markdown) e
    ``numbers`` (texto com vírgula decimal, para ``{glue:text}``) alimentam o notebook.
    """

    rows: dict[str, np.ndarray] = field(repr=False)
    mini: bool
    tolerance: float
    budgets: np.ndarray
    eval_noise: NoiseModel | None
    seed_noise: NoiseModel
    comparison: NoiseComparison | None
    edges: list[GroupReport] = field(repr=False)
    estimate: dict[str, float]
    boot: CalibratedBootstrap | None = field(repr=False)
    naive: dict[str, tuple[float, float]]
    selected: np.ndarray = field(repr=False)
    best: np.ndarray = field(repr=False)
    tables: dict[str, str] = field(repr=False)
    numbers: dict[str, object]

    @property
    def grid(self) -> np.ndarray:
        return self.rows["seed"] == P.GRID_SEED

    def ci(self, name: str) -> tuple[float, float]:
        """O intervalo calibrado de ``name`` (``(NaN, NaN)`` sem *bootstrap*)."""
        return self.boot.ci(name) if self.boot is not None else (math.nan, math.nan)


def _seed_noise(rows) -> tuple[NoiseModel, str]:
    groups = P.noise_groups(rows, fresh_only=True)
    if groups:
        return fit_noise_model(groups, kind="relative", level=LEVEL), "sementes novas"
    groups = P.noise_groups(rows, fresh_only=False)
    if groups:
        return fit_noise_model(groups, kind="relative", level=LEVEL), "sementes (com a da grade)"
    # Sem repetições (a grade sem as sementes, ou uma miniatura sem elas): um ruído suposto, dito.
    return NoiseModel("relative", 0.01, source="suposto, sem sementes repetidas"), "suposto"


def _winner_bias(rows) -> tuple[float, int]:
    """Quanto a semente da grade (a escolhida por ser a menor) fica abaixo da média das novas, em %."""
    keys = np.stack([rows[k] for k in ("budget", "lr", "batch", "n_layer", "d_model")], axis=1)
    ok = np.isfinite(rows["loss"])
    diffs = []
    for i in np.flatnonzero(ok & (rows["seed"] == P.GRID_SEED)):
        same = ok & np.all(keys == keys[i], axis=1) & (rows["seed"] != P.GRID_SEED)
        if same.sum() >= 2:
            diffs.append(math.log(rows["loss"][i]) - float(np.mean(np.log(rows["loss"][same]))))
    return (100 * float(np.mean(diffs)) if diffs else math.nan), len(diffs)


def _law_at(name: str, est: dict, c) -> np.ndarray:
    return est[f"k_{name}"] * np.asarray(c, dtype=float) ** est[f"alpha_{name}"]


def _fmt_ci(ci, spec: str = "+.3f") -> str:
    return f"[{fmt(ci[0], spec)}; {fmt(ci[1], spec)}]"


def _contains(ci, value) -> str:
    return "contém" if ci[0] <= value <= ci[1] else "não contém"


def _sign_text(ci) -> str:
    if not all(map(math.isfinite, ci)):
        return "indeterminado (sem intervalo)"
    if ci[0] > 0:
        return "positivo (o intervalo exclui o zero)"
    if ci[1] < 0:
        return "negativo (o intervalo exclui o zero)"
    return "indeterminado: o intervalo contém o zero"


def _per_budget(rows, grid, selected, best, est, budgets):
    """Por orçamento: modelo, N, D, o melhor treino e as três previsões (nossa lei, Eq. 1, Step Law)."""
    out = []
    for c in budgets:
        m = grid & (rows["budget"] == c)
        i_best = np.flatnonzero(m)[np.flatnonzero(best[m[grid]])[0]] if best[m[grid]].any() else None
        n_ne = float(rows["N"][m][0])
        d_tok = float(np.median(rows["tokens"][m]))
        out.append({
            "C": float(c), "shape": (int(rows["n_layer"][m][0]), int(rows["d_model"][m][0])), "M": float(rows["M"][m][0]),
            "N": n_ne, "D": d_tok, "runs": int(m.sum()), "near": int(selected[m[grid]].sum()),
            "diverged": int((~np.isfinite(rows["loss"][m])).sum()),
            "best_lr": float(rows["lr"][i_best]) if i_best is not None else math.nan,
            "best_batch": float(rows["batch"][i_best]) if i_best is not None else math.nan,
            "best_loss": float(rows["loss"][i_best]) if i_best is not None else math.nan,
            "lr_ours": float(_law_at("lr", est, c)) if est else math.nan,
            "batch_ours": float(_law_at("batch", est, c)) if est else math.nan,
            "lr_ds": float(deepseek.eta_opt(c)), "batch_ds": float(deepseek.batch_opt(c)),
            "lr_step": float(literature.step_law_lr(n_ne, d_tok)), "batch_step": float(literature.step_law_batch(d_tok)),
        })
    return out


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sci(x: float) -> str:
    """``3,16×10¹⁰`` (ou ``10¹¹`` quando a mantissa é 1), a notação da tabela do DeepSeek."""
    e = int(math.floor(math.log10(x) + 1e-9))
    m = x / 10**e
    head = "" if abs(m - 1) < 5e-3 else f"{fmt(m, '.3g')}×"
    return f"{head}10{str(e).translate(_SUP)}"


def _log_rms(ours, other) -> float:
    return float(np.sqrt(np.mean((np.log10(np.asarray(ours)) - np.log10(np.asarray(other))) ** 2)))


def analysis(spec: SweepSpec, recs: list[dict], *, mini: bool = False, n_boot: int = 1000, seed: int = 0) -> Chapter7V2:
    """As tabelas e os números do capítulo 7 (v2) a partir da especificação e dos registros."""
    rows = run_fields(spec, recs, mini=mini)
    tolerance = float(refine_settings(spec)["tolerance"])
    grid = rows["seed"] == P.GRID_SEED
    budgets = np.unique(rows["budget"][grid])
    ok = np.isfinite(rows["half_a"]) & np.isfinite(rows["half_b"])
    eval_noise = evaluation_noise(rows["half_a"][ok], rows["half_b"][ok], level=LEVEL) if ok.any() else None
    seed_noise, _ = _seed_noise(rows)
    comparison = (compare_noise(eval_noise, seed_noise, level=LEVEL)
                  if eval_noise is not None and seed_noise.dof >= 1 and eval_noise.dof >= 1 else None)
    view = P.grid_view(S.mini_view(spec)[0] if mini else spec)
    edges = edge_report(view, [r for r in recs if isinstance(r, dict) and bool(r.get("mini")) == mini])
    mid = float(np.sqrt(budgets[0] * budgets[-1]))
    pipeline = HyperPipeline(rows["budget"][grid], rows["lr"][grid], rows["batch"][grid], tolerance=tolerance,
                             predict_at=(mid,))
    losses = rows["loss"][grid]
    selected = pipeline.selection(losses)[0]
    best = np.zeros_like(selected)
    for c in budgets:
        idx = np.flatnonzero(rows["budget"][grid] == c)
        if np.isfinite(losses[idx]).any():
            best[idx[np.nanargmin(losses[idx])]] = True
    # Só a miniatura pode falhar aqui (orçamentos minúsculos sem bacia): o capítulo mostra o que há.
    estimate, boot = {}, None
    try:
        estimate = pipeline(losses)
        boot = parametric_bootstrap(pipeline, losses, seed_noise, n_boot=n_boot, level=LEVEL, seed=seed)
    except (PipelineFailure, ValueError):
        if not mini:
            raise
    naive = _naive(rows, grid, tolerance, n_boot, seed) if estimate else {}
    budget_rows = _per_budget(rows, grid, selected, best, estimate, budgets)
    numbers = _numbers(rows, grid, tolerance, budgets, eval_noise, seed_noise, comparison, edges, estimate, boot,
                       naive, budget_rows, mid, mini, selected)
    tables = _tables(rows, budget_rows, edges, estimate, boot, naive, seed_noise, eval_noise, comparison, numbers)
    return Chapter7V2(rows=rows, mini=mini, tolerance=tolerance, budgets=budgets, eval_noise=eval_noise,
                      seed_noise=seed_noise, comparison=comparison, edges=edges, estimate=estimate, boot=boot,
                      naive=naive, selected=selected, best=best, tables=tables, numbers=numbers)


def _naive(rows, grid, tolerance, n_boot, seed) -> dict[str, tuple[float, float]]:
    """O *bootstrap* ingênuo (o do v1): reamostra os pontos quase ótimos já escolhidos, 90%."""
    try:
        laws = fit.fit_hyperparameter_laws(rows["budget"][grid], rows["lr"][grid], rows["batch"][grid],
                                           rows["loss"][grid], tolerance=tolerance, n_boot=n_boot, level=LEVEL,
                                           seed=seed)
    except ValueError:
        return {}
    return {"alpha_lr": tuple(laws.lr_boot.ci("alpha")), "alpha_batch": tuple(laws.batch_boot.ci("alpha"))}


def _numbers(rows, grid, tolerance, budgets, eval_noise, seed_noise, comparison, edges, est, boot, naive, per, mid,
             mini, selected) -> dict[str, object]:
    n: dict[str, object] = {}
    n["v2_treinos"] = int(rows["loss"].size)
    n["v2_treinos_grade"] = int(grid.sum())
    n["v2_sementes_treinos"] = int((~grid).sum())
    n["v2_minutos"] = fmt(float(np.nansum(rows["minutes"])), ".0f")
    n["v2_orcamentos"] = int(budgets.size)
    n["v2_c_min"], n["v2_c_max"] = format_si(budgets[0], 3), format_si(budgets[-1], 3)
    n["v2_decadas"] = fmt(math.log10(budgets[-1] / budgets[0]), ".1f")
    n["v2_divergiram"] = int((~np.isfinite(rows["loss"])).sum())
    n["v2_tolerancia"] = fmt(100 * tolerance, ".2f")
    n["v2_contexto"] = S.SEQ_LEN_V2
    # A amostra de validação.
    tok = rows["eval_tokens"][np.isfinite(rows["eval_tokens"])]
    docs = rows["eval_docs"][np.isfinite(rows["eval_docs"])]
    n["val_tokens"] = fmt(float(np.median(tok)), ",.0f") if tok.size else "—"
    n["val_docs_min"] = int(docs.min()) if docs.size else 0
    n["val_docs_max"] = int(docs.max()) if docs.size else 0
    n["val_docs_faixa"] = (str(n["val_docs_min"]) if n["val_docs_min"] == n["val_docs_max"]
                           else f"{n['val_docs_min']} a {n['val_docs_max']}")
    n["val_docs_total"] = int(np.nanmax(rows["eval_docs_total"])) if docs.size else 0
    n["val_fracao"] = fmt(100 * float(np.nanmedian(rows["eval_fraction"])), ".0f") if docs.size else "—"
    # O ruído.
    n["ruido_sem"] = fmt(100 * seed_noise.sigma, ".2f")
    lo, hi = seed_noise.sigma_ci
    n["ruido_sem_lo"], n["ruido_sem_hi"] = fmt(100 * lo, ".2f"), fmt(100 * hi, ".2f")
    n["ruido_sem_grupos"], n["ruido_sem_gl"] = seed_noise.n_groups, seed_noise.dof
    n["ruido_sem_fonte"] = seed_noise.source
    n["ruido_razao_ds"] = fmt(seed_noise.sigma / 0.0025, ".1f")
    n["ruido_aval"] = fmt(100 * eval_noise.sigma, ".2f") if eval_noise is not None else "—"
    if comparison is not None:
        n["ruido_aval_razao"] = fmt(comparison.ratio, ".2f")
        n["ruido_aval_razao_lo"], n["ruido_aval_razao_hi"] = (fmt(v, ".2f") for v in comparison.ratio_ci)
        n["ruido_aval_parcela"] = fmt(100 * comparison.variance_share, ".1f")
        n["ruido_aval_veredito"] = ("pequeno perto do das sementes" if comparison.small
                                    else "não é comprovadamente pequeno perto do das sementes")
    else:
        for k in ("ruido_aval_razao", "ruido_aval_razao_lo", "ruido_aval_razao_hi", "ruido_aval_parcela"):
            n[k] = "—"
        n["ruido_aval_veredito"] = "não comparado (sem sementes repetidas)"
    bias, nb = _winner_bias(rows)
    n["vies_vencedor"] = fmt(abs(bias), ".2f") if math.isfinite(bias) else "—"
    n["vies_sentido"] = ("abaixo" if bias < 0 else "acima") if math.isfinite(bias) else "—"
    n["vies_grupos"] = nb
    n["vies_em_sigmas"] = fmt(abs(bias) / (100 * seed_noise.sigma), ".1f") if math.isfinite(bias) and seed_noise.sigma else "—"
    # As bordas.
    touching = [r for r in edges if r.touches or r.status != "interior"]
    n["bordas_tocam"] = len(touching)
    n["bordas_total"] = len(edges)
    n["bordas_frase"] = ("nenhum orçamento tem a região quase ótima encostada na borda da grade" if not touching else
                         f"{len(touching)} de {len(edges)} orçamentos ainda tocam a borda ou têm treinos pendentes "
                         f"({', '.join(format_si(r.group, 3) for r in touching)})")
    n["quase_total"] = int(selected.sum())
    # As leis.
    if est:
        for name, key in (("lr", "alpha_lr"), ("b", "alpha_batch")):
            ci = boot.ci(key) if boot is not None else (math.nan, math.nan)
            n[f"{name}_alpha"] = fmt(est[key], "+.3f")
            n[f"{name}_lo"], n[f"{name}_hi"] = fmt(ci[0], "+.3f"), fmt(ci[1], "+.3f")
            n[f"{name}_meia"] = fmt((ci[1] - ci[0]) / 2, ".3f")
            nv = naive.get(key, (math.nan, math.nan))
            n[f"{name}_ing_lo"], n[f"{name}_ing_hi"] = fmt(nv[0], "+.3f"), fmt(nv[1], "+.3f")
            n[f"{name}_largura_razao"] = (fmt((ci[1] - ci[0]) / (nv[1] - nv[0]), ".1f")
                                         if all(map(math.isfinite, (*ci, *nv))) and nv[1] > nv[0] else "—")
        ci_lr = boot.ci("alpha_lr") if boot is not None else (math.nan, math.nan)
        ci_b = boot.ci("alpha_batch") if boot is not None else (math.nan, math.nan)
        n["lr_sinal"] = _sign_text(ci_lr)
        n["lr_contem_ds"] = _contains(ci_lr, deepseek.ETA_EXP)
        n["b_contem_ds"] = _contains(ci_b, deepseek.BATCH_EXP)
        half = (ci_b[1] - ci_b[0]) / 2
        n["b_meta"] = ("atinge" if half <= BATCH_HALF_WIDTH_TARGET else "não atinge") if math.isfinite(half) else "—"
        n["b_meta_valor"] = fmt(BATCH_HALF_WIDTH_TARGET, ".2f")
        # Com a meia largura proporcional a σ, k sementes por ponto da grade dividem σ por √k:
        # k = (meia largura / meta)² sementes por ponto bateriam a meta (uma estimativa de planejamento).
        n["b_sementes_meta"] = (int(math.ceil((half / BATCH_HALF_WIDTH_TARGET) ** 2)) if math.isfinite(half) else "—")
        n["b_custo_meta"] = (fmt(n["b_sementes_meta"] * float(np.nansum(rows["minutes"][grid])) / 60 / 2, ".0f")
                             if math.isfinite(half) else "—")
        n["falhas"] = boot.describe_failures() if boot is not None else "sem bootstrap"
        n["falhas_taxa"] = fmt(100 * boot.drop_rate, ".1f") if boot is not None else "—"
        n["n_boot"] = boot.n_boot if boot is not None else 0
        n["c_meio"] = format_si(mid, 3)
        lr_mid, b_mid = est[f"lr@{mid:g}"], est[f"batch@{mid:g}"]
        ci_lm = boot.ci(f"lr@{mid:g}") if boot is not None else (math.nan, math.nan)
        ci_bm = boot.ci(f"batch@{mid:g}") if boot is not None else (math.nan, math.nan)
        n["lr_meio"], n["lr_meio_lo"], n["lr_meio_hi"] = (fmt(v, ".2g") for v in (lr_mid, *ci_lm))
        n["b_meio"], n["b_meio_lo"], n["b_meio_hi"] = (fmt(v, ",.0f") for v in (b_mid, *ci_bm))
        n["b_meio_seq"] = fmt(b_mid / S.SEQ_LEN_V2, ".0f")
        ours_lr = [p["lr_ours"] for p in per]
        ours_b = [p["batch_ours"] for p in per]
        d_lr_ds, d_lr_st = _log_rms(ours_lr, [p["lr_ds"] for p in per]), _log_rms(ours_lr, [p["lr_step"] for p in per])
        d_b_ds, d_b_st = _log_rms(ours_b, [p["batch_ds"] for p in per]), _log_rms(ours_b, [p["batch_step"] for p in per])
        n["lr_fator_ds"], n["lr_fator_step"] = fmt(10 ** d_lr_ds, ".1f"), fmt(10 ** d_lr_st, ".1f")
        n["b_fator_ds"], n["b_fator_step"] = fmt(10 ** d_b_ds, ".1f"), fmt(10 ** d_b_st, ".1f")
        n["lr_mais_perto"] = "a Step Law" if d_lr_st < d_lr_ds else "a Eq. 1 do DeepSeek"
        n["b_mais_perto"] = "a Step Law" if d_b_st < d_b_ds else "a Eq. 1 do DeepSeek"
        ratio_ds = [p["lr_ours"] / p["lr_ds"] for p in per]
        ratio_st = [p["lr_ours"] / p["lr_step"] for p in per]
        n["lr_razao_ds_min"], n["lr_razao_ds_max"] = fmt(min(ratio_ds), ".2g"), fmt(max(ratio_ds), ".2g")
        n["lr_razao_step_min"], n["lr_razao_step_max"] = fmt(min(ratio_st), ".2g"), fmt(max(ratio_st), ".2g")
        step_over_ds = [p["lr_step"] / p["lr_ds"] for p in per]
        n["step_sobre_ds_min"], n["step_sobre_ds_max"] = fmt(min(step_over_ds), ".1f"), fmt(max(step_over_ds), ".1f")
        n["b_vs_ds"] = ("não se distingue do da Eq. 1 (o intervalo de 90% contém 0,3271)"
                        if ci_b[0] <= deepseek.BATCH_EXP <= ci_b[1] else
                        f"é {'maior' if est['alpha_batch'] > deepseek.BATCH_EXP else 'menor'} que o da Eq. 1, "
                        "com o 0,3271 fora do intervalo de 90%")
    # As palavras de comparação do texto, tiradas dos mesmos números (NaN ⇒ o lado "não").
    for name, key in (("lr", "alpha_lr"), ("b", "alpha_batch")):
        ci = boot.ci(key) if boot is not None else (math.nan, math.nan)
        nv = naive.get(key, (math.nan, math.nan))
        n[f"{name}_largura_palavra"] = "mais largo" if ci[1] - ci[0] > nv[1] - nv[0] else "não mais largo"
    nv_lr = naive.get("alpha_lr", (math.nan, math.nan))
    n["ing_lr_sinal"] = "exclui o zero" if nv_lr[0] > 0 or nv_lr[1] < 0 else "contém o zero"
    n["tol_vs_ruido"] = "menor" if tolerance < seed_noise.sigma else "maior"
    n["n_min"], n["n_max"] = (fmt(float(v), ",.0f") for v in (rows["N"].min(), rows["N"].max()))
    for key, law in (("step_vs_nossa", "lr_step"), ("ds_vs_nossa", "lr_ds")):
        r = [p[law] / p["lr_ours"] for p in per]
        n[key] = "mais altas" if min(r) > 1 else "mais baixas" if max(r) < 1 else "ora mais altas, ora mais baixas"
    n["formas"] = ", ".join(f"({p['shape'][0]}, {p['shape'][1]}) em {format_si(p['C'], 3)}" for p in per)
    n["bacia_total"] = per[0]["runs"] if per else 0
    n["bacia_quase"] = per[0]["near"] if per else 0
    n["miniatura"] = "sim" if mini else "não"
    return n


def _tables(rows, per, edges, est, boot, naive, seed_noise, eval_noise, comparison, numbers) -> dict[str, str]:
    t = {}
    t["comparacao"] = markdown_table(
        ["", "DeepSeek LLM (§3.1–3.2)", "este livro (protocolo v2)"],
        [["orçamentos", DEEPSEEK_SIDE["orcamentos"],
          f"{_sci(per[0]['C'])} a {_sci(per[-1]['C'])} FLOPs ({numbers['v2_decadas']} décadas, "
          f"{numbers['v2_orcamentos']} orçamentos)"],
         ["validação", DEEPSEEK_SIDE["validacao"],
          f"{numbers['val_tokens']} tokens espalhados por {numbers['val_docs_faixa']} dos "
          f"{numbers['val_docs_total']} documentos ({numbers['val_fracao']}% da validação)"],
         ["tokenizador", DEEPSEEK_SIDE["tokenizador"], "bytes (256 símbolos)"],
         ["contexto", DEEPSEEK_SIDE["contexto"], f"{numbers['v2_contexto']} tokens"],
         ["tolerância da região quase ótima", DEEPSEEK_SIDE["tolerancia"], f"{numbers['v2_tolerancia']}%"],
         ["treinos", DEEPSEEK_SIDE["treinos"],
          f"{numbers['v2_treinos']} ({numbers['v2_treinos_grade']} na grade, {numbers['v2_sementes_treinos']} "
          "sementes repetidas)"]])
    t["orcamentos"] = markdown_table(
        ["C (FLOPs)", "(n_layer, d)", "N sem embedding", "tokens D", "treinos", "quase ótimos", "divergiram",
         "melhor: taxa", "melhor: lote", "melhor: bpb"],
        [[format_si(p["C"], 3), f"({p['shape'][0]}, {p['shape'][1]})", fmt(p["N"], ",.0f"), format_si(p["D"], 3),
          p["runs"], p["near"], p["diverged"], fmt(p["best_lr"], ".2g"), fmt(p["best_batch"], ",.0f"),
          fmt(p["best_loss"], ".3f")] for p in per])
    names = {"interior": "interior", "edge": "toca a borda", "pending": "treinos pendentes", "failed": "falhou"}
    t["bordas"] = markdown_table(
        ["C (FLOPs)", "treinos", "melhor taxa", "melhor lote", "bordas tocadas", "estado"],
        [[format_si(r.group, 3), r.finished, fmt(r.best.get("train.lr", math.nan), ".2g") if r.best else "—",
          fmt(r.best.get("train.batch_size_tokens", math.nan), ",.0f") if r.best else "—",
          ", ".join(f"{'taxa' if 'lr' in a else 'lote'} {'inferior' if s == 'low' else 'superior'}"
                    for a, s in r.edges) or "nenhuma", names.get(r.status, r.status)] for r in edges])
    keys = np.stack([rows[k] for k in ("budget", "lr", "batch")], axis=1)
    noise_rows = []
    for key in np.unique(keys[rows["seed"] != P.GRID_SEED], axis=0):
        idx = np.all(keys == key, axis=1) & np.isfinite(rows["loss"])
        fresh = idx & (rows["seed"] != P.GRID_SEED)
        g0 = idx & (rows["seed"] == P.GRID_SEED)
        v = rows["loss"][fresh]
        noise_rows.append([format_si(key[0], 3), fmt(key[1], ".2g"), fmt(key[2], ",.0f"),
                           fmt(float(rows["loss"][g0][0]), ".4f") if g0.any() else "—",
                           " · ".join(fmt(x, ".4f") for x in v),
                           fmt(100 * float(np.std(np.log(v), ddof=1)), ".2f") if v.size >= 2 else "—"])
    t["ruido"] = markdown_table(["C", "taxa", "lote", "semente 0 (a da grade)", "sementes novas", "desvio (%)"],
                                noise_rows)
    law_rows = []
    for label, key, ds in (("η_opt: expoente", "alpha_lr", deepseek.ETA_EXP), ("B_opt: expoente", "alpha_batch",
                                                                                deepseek.BATCH_EXP)):
        if not est:
            break
        ci = boot.ci(key) if boot is not None else (math.nan, math.nan)
        nv = naive.get(key, (math.nan, math.nan))
        law_rows.append([label, fmt(est[key], "+.3f"), _fmt_ci(ci), _fmt_ci(nv), fmt(ds, "+.4f")])
    if est:
        mid = [k for k in est if k.startswith("lr@")][0][3:]
        for label, key, spec in (("η_opt no meio da faixa", f"lr@{mid}", ".2g"),
                                 ("B_opt no meio da faixa (tokens)", f"batch@{mid}", ",.0f")):
            ci = boot.ci(key) if boot is not None else (math.nan, math.nan)
            ds = deepseek.eta_opt(float(mid)) if key.startswith("lr") else deepseek.batch_opt(float(mid))
            law_rows.append([label, fmt(est[key], spec), _fmt_ci(ci, spec), "—", fmt(float(ds), spec)])
    t["leis"] = markdown_table(["", "este livro", "IC 90% calibrado", "IC 90% ingênuo", "DeepSeek (Eq. 1)"], law_rows)
    t["previsoes"] = markdown_table(
        ["C (FLOPs)", "taxa: nossa lei", "Eq. 1", "Step Law", "lote: nossa lei", "Eq. 1", "Step Law"],
        [[format_si(p["C"], 3), fmt(p["lr_ours"], ".2g"), fmt(p["lr_ds"], ".2g"), fmt(p["lr_step"], ".2g"),
          fmt(p["batch_ours"], ",.0f"), fmt(p["batch_ds"], ",.0f"), fmt(p["batch_step"], ",.0f")] for p in per])
    return t


# --- a calibração neste desenho -------------------------------------------------------------

def design_coverage(ch: Chapter7V2, *, reps: int = 300, n_boot: int = 200, seed: int = 0):
    """A cobertura dos intervalos de 90% **neste** desenho: a grade medida, o ruído medido e 3
    sementes novas, num mundo sintético cujas leis verdadeiras são as estimadas aqui
    (:class:`~helpers.laws.calibration.HyperTruth`, bacia assimétrica padrão)."""
    if not ch.estimate:
        raise ValueError("design_coverage: sem leis estimadas (a miniatura não tem bacia).")
    truth = calibration.HyperTruth(k_lr=ch.estimate["k_lr"], alpha_lr=ch.estimate["alpha_lr"],
                                   k_batch=ch.estimate["k_batch"], alpha_batch=ch.estimate["alpha_batch"])
    g = ch.grid
    plan = (ch.rows["budget"][g], ch.rows["lr"][g], ch.rows["batch"][g])
    return calibration.coverage("hyper", reps=reps, n_boot=n_boot, seed=seed, sigma=max(ch.seed_noise.sigma, 1e-4),
                                truth=truth, plan=plan, seeds=3, fresh_seeds=True)


def coverage_numbers(report) -> dict[str, str]:
    """Os números da calibração para ``{glue:text}``: cobertura e meia largura de cada expoente."""
    n = {"cal_conjuntos": str(report.reps), "cal_replicas": str(report.n_boot),
         "cal_segundos": fmt(report.seconds, ".0f")}
    for key, name in (("alpha_lr", "lr"), ("alpha_batch", "b")):
        q = report.quantities[key]
        n[f"cal_{name}"] = fmt(100 * q.coverage, ".1f")
        n[f"cal_{name}_ep"] = fmt(100 * q.se, ".1f")
        n[f"cal_{name}_meia"] = fmt(q.median_half_width, ".3f")
        n[f"cal_{name}_ok"] = "dentro" if 0.85 <= q.coverage <= 0.95 else "fora"
    return n


# --- figuras ---------------------------------------------------------------------------------

def _panel(ax, ch: Chapter7V2, budget: float, *, colorbar: bool, annotate: bool):
    g = ch.grid
    idx = g & (ch.rows["budget"] == budget)
    m = ch.rows["budget"][g] == budget
    plot_hyper_grid(ax, ch.rows["lr"][idx], ch.rows["batch"][idx], ch.rows["loss"][idx], near=ch.selected[m],
                    best=ch.best[m], colorbar=colorbar)
    if not annotate:
        for t in list(ax.texts):
            t.remove()
    ax.tick_params(labelsize=9.5)
    return idx


def plot_basin(ch: Chapter7V2):
    """A grade do menor orçamento com a perda escrita em cada quadrado (o papel da Fig. 2a do DeepSeek)."""
    c = ch.budgets[0]
    idx, m = ch.grid & (ch.rows["budget"] == c), ch.rows["budget"][ch.grid] == c
    return plot_basin_page(ch.rows["lr"][idx], ch.rows["batch"][idx], ch.rows["loss"][idx], near=ch.selected[m],
                           best=ch.best[m], title=f"$C$ = {format_si(c, 3)} FLOPs: a bacia de taxa × lote", digits=3)


def plot_grids(ch: Chapter7V2):
    """As grades de todos os orçamentos, duas por linha."""
    nrows = (len(ch.budgets) + 1) // 2
    fig, axes = new_figure(ncols=2, nrows=nrows, width=7.0, height=3.4 * nrows)
    for ax, c in zip(np.ravel(axes), ch.budgets):
        idx = _panel(ax, ch, c, colorbar=False, annotate=False)
        ax.set_title(f"$C$ = {format_si(c, 3)}, modelo ({int(ch.rows['n_layer'][idx][0])}, "
                     f"{int(ch.rows['d_model'][idx][0])})", fontsize=10.5)
        ax.set(xlabel="taxa máxima", ylabel="lote (tokens)")
        ax.tick_params(axis="x", labelrotation=40)
    for ax in np.ravel(axes)[len(ch.budgets):]:
        ax.set_visible(False)
    return fig


def _math(text: str) -> str:
    return text.replace(",", "{,}")


def plot_laws(ch: Chapter7V2, *, n_band: int = 200):
    """Os pontos quase ótimos, as leis com a faixa de 90% do *bootstrap* paramétrico, a Eq. 1 e a Step Law."""
    g = ch.grid
    c_all = ch.rows["budget"][g]
    c_line = np.logspace(np.log10(ch.budgets[0]) - 0.1, np.log10(ch.budgets[-1]) + 0.1, 60)
    fig, (ax_lr, ax_b) = new_figure(ncols=2, width=7.0, height=4.4)
    jitter = np.exp(np.random.default_rng(0).uniform(-0.06, 0.06, c_all.size))
    per = _per_budget(ch.rows, g, ch.selected, ch.best, ch.estimate, ch.budgets)
    for ax, key, vals, ds, step, label in (
            (ax_lr, "lr", ch.rows["lr"][g], deepseek.eta_opt, [p["lr_step"] for p in per], "taxa ótima"),
            (ax_b, "batch", ch.rows["batch"][g], deepseek.batch_opt, [p["batch_step"] for p in per], "lote ótimo (tokens)")):
        ax.scatter(c_all[ch.selected] * jitter[ch.selected], vals[ch.selected], s=16, color=COLORS["cinza"],
                   label="quase ótimos")
        ax.scatter(c_all[ch.best], vals[ch.best], marker="*", s=110, color=COLORS["laranja"], zorder=4,
                   label="melhor de cada $C$")
        if ch.estimate:
            ax.plot(c_line, _law_at(key, ch.estimate, c_line), color=COLORS["azul"],
                    label=f"ajuste: $C^{{{_math(fmt(ch.estimate['alpha_' + key], '+.3f'))}}}$")
            if ch.boot is not None:
                k = ch.boot.samples[f"k_{key}"][:n_band]
                a = ch.boot.samples[f"alpha_{key}"][:n_band]
                curves = k[:, None] * c_line[None, :] ** a[:, None]
                # a faixa pivô: a estimativa vezes a dispersão (réplica/alvo) em torno de cada C
                if ch.boot.targets is not None:
                    kt = ch.boot.targets[f"k_{key}"][:n_band]
                    at = ch.boot.targets[f"alpha_{key}"][:n_band]
                    ratio = np.log(curves) - np.log(kt[:, None] * c_line[None, :] ** at[:, None])
                    centre = np.log(_law_at(key, ch.estimate, c_line))
                    lo, hi = np.quantile(ratio, [0.95, 0.05], axis=0)
                    ax.fill_between(c_line, np.exp(centre - lo), np.exp(centre - hi), color=COLORS["azul"],
                                    alpha=0.18, lw=0, label="IC 90% (calibrado)")
        ax.plot(c_line, ds(c_line), ls="--", color=COLORS["vermelho"], label="Eq. 1 do DeepSeek")
        ax.scatter(ch.budgets, step, marker="D", s=28, color=COLORS["verde"], label="Step Law (N, D de cada $C$)")
        ax.set(xscale="log", yscale="log", xlabel="orçamento $C$ (FLOPs)", ylabel=label)
    ax_lr.set_title("$\\eta_\\mathrm{opt}(C)$", fontsize=11)
    ax_b.set_title("$B_\\mathrm{opt}(C)$", fontsize=11)
    handles, labels = ax_lr.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9.5)
    return fig


def plot_noise(ch: Chapter7V2):
    """As sementes novas de cada orçamento (desvio relativo à média do grupo) e a semente da grade."""
    rows = ch.rows
    fig, ax = new_figure(width=7.0, height=3.6)
    keys = np.stack([rows[k] for k in ("budget", "lr", "batch")], axis=1)
    first = True
    for key in np.unique(keys[rows["seed"] != P.GRID_SEED], axis=0):
        idx = np.all(keys == key, axis=1) & np.isfinite(rows["loss"])
        fresh = idx & (rows["seed"] != P.GRID_SEED)
        if fresh.sum() < 2:
            continue
        mean = float(np.exp(np.mean(np.log(rows["loss"][fresh]))))
        dev = 100 * (rows["loss"][fresh] / mean - 1)
        ax.scatter(np.full(dev.size, key[0]), dev, color=COLORS["azul"], s=30, label="sementes novas" if first else None)
        g0 = idx & (rows["seed"] == P.GRID_SEED)
        if g0.any():
            ax.scatter([key[0]], [100 * (rows["loss"][g0][0] / mean - 1)], marker="*", s=110, color=COLORS["laranja"],
                       label="semente da grade (a escolhida)" if first else None, zorder=4)
        first = False
    s = 100 * ch.seed_noise.sigma
    ax.axhspan(-s, s, color=COLORS["azul"], alpha=0.12, lw=0, label=f"±σ medido ({fmt(s, '.2f')}%)")
    ax.axhspan(-0.25, 0.25, color="none", ec=COLORS["vermelho"], ls="--", lw=1.2, label="±0,25% (DeepSeek)")
    ax.set(xscale="log", xlabel="orçamento $C$ (FLOPs)", ylabel="desvio da média do grupo (%)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=9.5)
    return fig
