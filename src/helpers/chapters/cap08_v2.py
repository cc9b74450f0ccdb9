"""Capítulo 8, protocolo v2 — perfis IsoFLOP e a alocação ótima com intervalos calibrados.

Os treinos de ``experiments/cap08_isoflop_v2.json`` sob o ruído das sementes **novas** de
``experiments/cap07_hiperparametros_v2.json``: :func:`allocation_fit` (parábolas → vértices → leis,
com o bootstrap paramétrico do pipeline inteiro e as falhas contadas) e :func:`analysis` (bordas,
leis, robustez, *tokens* por parâmetro, M × 6N₁ × 6N₂, abordagem 3) em tabelas Markdown
(``tables``) e textos com vírgula decimal (``numbers``, para ``{glue:text}``); ``plot_…`` são as
figuras. Em miniatura, vértices na borda e bootstraps que falham são relatados (``"—"``), não levantados.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.specs import SweepSpec
from ..laws import calibration, deepseek, fit
from ..laws.fit.calibrated import CalibratedBootstrap, IsoFlopPipeline, parametric_bootstrap
from ..laws.fit.noise import NoiseModel, compare_noise, evaluation_noise, fit_noise_model
from ..laws.refine import edge_report
from ..model.flops import count_params, six_n1, six_n2
from ..presentation.plots import (COLORS, budget_colors, fmt, format_si, markdown_table, new_figure, plot_fit_band,
                                  plot_isoflop)
from . import protocol_v2_specs as S
from .protocol_v2 import GRID_SEED, LEVEL, hyper_laws, noise_groups, record_columns, result_rows, spec_records

__all__ = ["REPRESENTATIONS", "TARGET_HALF_WIDTH", "MAX_DROP_RATE", "PUBLISHED_A", "CHINCHILLA_TOKENS_PER_PARAM",
           "AllocationFit", "isoflop_rows", "seed_noise_model", "allocation_fit", "Chapter8V2", "analysis",
           "plot_profiles", "plot_allocation", "plot_representations", "plot_approach3"]

#: As representações da escala do modelo (DeepSeek Eq. 2) e como aparecem na prosa.
REPRESENTATIONS = {"M": "M", "6N1": "6N₁", "6N2": "6N₂"}
#: A meta do protocolo para a meia-largura do intervalo de 90% de ``a``.
TARGET_HALF_WIDTH = 0.04
#: Acima desta fração de réplicas que falharam o intervalo não é tido como confiável (o padrão da biblioteca).
MAX_DROP_RATE = 0.2
#: ``a`` publicados (``reference/facts.md`` §1.7, §4.2, §4b): ``(fonte, a, intervalo publicado ou None)``.
PUBLISHED_A = {
    "deepseek": ("DeepSeek LLM, Eq. 4", deepseek.M_EXP, None),
    "chinchilla": ("Chinchilla, abordagem 2 (percentis 10–90)", 0.49, (0.462, 0.534)),
    "chinchilla_a3": ("Chinchilla, abordagem 3 (percentis 10–90)", 0.46, (0.454, 0.455)),
    "epoch": ("Besiroglu et al., abordagem 3 refeita (± 1 erro-padrão)", 0.513, (0.493, 0.533)),
    "kaplan": ("Kaplan et al. (Tabela 2 do Chinchilla)", 0.73, None),
}
#: A regra de bolso do Chinchilla (Tabela 3: 70 bi de parâmetros, 1,4 tri de *tokens*).
CHINCHILLA_TOKENS_PER_PARAM = 20.0
DASH = "—"
_LVL = f"IC {round(100 * LEVEL)}%"
_EXTRA = ("6N1", "6N2", "N_total", "N_nonemb", "half_a", "half_b", "eval_tokens", "docs", "docs_total", "steps",
          "wall_s")


# --- os treinos e o ruído ---------------------------------------------------------------------

def isoflop_rows(spec: SweepSpec, recs: list[dict], *, mini: bool = False) -> dict[str, np.ndarray]:
    """:func:`~.protocol_v2.result_rows` mais as colunas de ``_EXTRA`` tiradas dos registros (``half_a`` e
    ``half_b``: as metades da avaliação final; ``docs``: documentos tocados; ``NaN`` quando faltam)."""
    rows = result_rows(spec, recs, mini=mini)
    cols = record_columns(spec_records(spec, recs, mini=mini))
    names = {"docs": "eval_docs", "docs_total": "eval_docs_total"}
    return {**rows, **{k: cols[names.get(k, k)] for k in _EXTRA}}

def seed_noise_model(spec7: SweepSpec, recs7: list[dict], *, mini: bool = False) -> tuple[NoiseModel, list]:
    """O ruído relativo das sementes novas da grade (``noise_groups(..., fresh_only=True)``) e os grupos
    ``(orçamento, perdas)``; sem grupo nenhum, o ``σ`` **suposto** da calibração e uma lista vazia."""
    try:
        rows7 = result_rows(spec7, recs7, mini=mini)
        groups = noise_groups(rows7, fresh_only=True)
    except ValueError:
        groups = []
    if not groups:
        return NoiseModel("relative", calibration.SIGMA, level=LEVEL, source="suposto"), []
    labelled = [(float(rows7["budget"][np.flatnonzero(rows7["loss"] == g[0])[0]]), g) for g in groups]
    return fit_noise_model(groups, kind="relative", level=LEVEL), labelled

def _profiles(rows, mask, key: str = "M", x: str | None = None) -> list[fit.IsoFlopProfile]:
    """Uma parábola por orçamento em ``log10 rows[x or key]``; as rejeitadas ficam, com o motivo."""
    out = []
    for c in np.unique(rows["budget"][mask]):
        i = mask & (rows["budget"] == c)
        s = rows[x or key][i]
        try:
            out.append(fit.isoflop_profile(s, rows["M"][i] if x else rows["tokens"][i], rows["loss"][i], budget=c))
        except ValueError as exc:
            nan = float("nan")
            out.append(fit.IsoFlopProfile(float(c), (nan,) * 3, nan, nan, nan, nan, int(s.size),
                                          (float(s.min()), float(s.max())), False, str(exc)))
    return out


# --- os ajustes com intervalo calibrado -------------------------------------------------------

@dataclass(frozen=True)
class AllocationFit:
    """Um ajuste das leis de alocação: os treinos usados, as parábolas e o bootstrap (ou o motivo)."""

    label: str
    mask: np.ndarray = field(repr=False)
    profiles: list = field(repr=False)
    boot: CalibratedBootstrap | None = field(repr=False)
    reason: str = ""

    def value(self, name: str = "a") -> float:
        return float(self.boot.estimate[name]) if self.boot is not None else float("nan")

    def ci(self, name: str = "a") -> tuple[float, float]:
        return self.boot.ci(name) if self.boot is not None else (float("nan"), float("nan"))

    @property
    def accepted(self) -> list:
        return [p for p in self.profiles if p.accepted]

def _argmin_pipeline(budgets, scales, tokens):
    """A linha de base: o vértice de cada orçamento trocado pelo **melhor tamanho medido**; ``a`` é a
    inclinação de ``ln M*`` contra ``ln(M*·D*)`` por esses pontos."""
    groups, lm, ld = [np.flatnonzero(budgets == k) for k in np.unique(budgets)], np.log(scales), np.log(tokens)

    def pipeline(losses):
        best = np.array([g[np.argmin(losses[g])] for g in groups])
        return {"a": float(np.polyfit(lm[best] + ld[best], lm[best], 1)[0])}
    return pipeline

def allocation_fit(rows, mask, noise: NoiseModel, *, key: str = "M", label: str = "", n_boot: int = 1000,
                   seed: int = 0, predict_at=(), argmin: bool = False) -> AllocationFit:
    """Parábolas → vértices → leis nos treinos ``mask`` (escala ``rows[key]``), com o bootstrap paramétrico
    sob ``noise``. Só entram os orçamentos com vértice interior; com menos de 3, ou se o pipeline falha
    nos dados, ``boot`` é ``None`` e ``reason`` diz por quê. Réplicas que falham são contadas, nunca
    descartadas (``max_drop_rate = 1``). ``argmin``: o melhor tamanho medido no lugar do vértice."""
    profiles = _profiles(rows, mask, key)
    good = [p.budget for p in profiles if p.accepted or argmin]
    use = mask & np.isin(rows["budget"], good)
    if len(good) < 3:
        return AllocationFit(label, use, profiles, None, f"só {len(good)} orçamento(s) com vértice interior; "
                             "as leis precisam de 3 ou mais")
    b, s, t = rows["budget"][use], rows[key][use], rows["tokens"][use]
    try:
        pipe, smooth = IsoFlopPipeline(b, s, t, predict_at=predict_at), None
        if argmin:
            pipe, smooth = _argmin_pipeline(b, s, t), pipe.smooth
        boot = parametric_bootstrap(pipe, rows["loss"][use], noise, n_boot=n_boot, level=LEVEL, seed=seed,
                                    smooth=smooth, max_drop_rate=1.0)
    except ValueError as exc:
        return AllocationFit(label, use, profiles, None, " ".join(str(exc).split()))
    return AllocationFit(label, use, profiles, boot)

def _robustness(rows, design, noise, n_boot: int, seed: int) -> list[AllocationFit]:
    """Sem cada orçamento; sem o menor e o maior M de cada orçamento; sem 1 camada; argmin."""
    budgets, trimmed = np.unique(rows["budget"][design]), design.copy()
    for c in budgets:
        idx = np.flatnonzero(design & (rows["budget"] == c))
        trimmed[idx[[np.argmin(rows["M"][idx]), np.argmax(rows["M"][idx])]]] = False
    variants = [(f"sem o orçamento {format_si(c, 3)}", design & (rows["budget"] != c), False) for c in budgets]
    variants += [("janelas aparadas (sem o menor e o maior tamanho)", trimmed, False),
                 ("sem os modelos de 1 camada", design & (rows["n_layer"] > 1), False),
                 ("argmin (o melhor tamanho medido, sem parábola)", design, True)]
    return [allocation_fit(rows, m, noise, label=label, n_boot=n_boot, seed=seed + 1 + k, argmin=am)
            for k, (label, m, am) in enumerate(variants)]

def _tokens_per_param(rows, design, main: AllocationFit) -> list[dict]:
    """Em cada vértice, ``N`` (total e não-embedding) interpolado em log-log entre os tamanhos medidos."""
    out = []
    for p in main.accepted:
        i = design & (rows["budget"] == p.budget)
        order = np.argsort(rows["M"][i])
        lm, u = np.log(rows["M"][i][order]), np.log(p.scale_opt)
        n_tot, n_ne = (float(np.exp(np.interp(u, lm, np.log(rows[k][i][order])))) for k in ("N_total", "N_nonemb"))
        out.append({"budget": p.budget, "M": p.scale_opt, "D": p.tokens_opt, "N_total": n_tot, "N_nonemb": n_ne,
                    "tpp_total": p.tokens_opt / n_tot, "tpp_nonemb": p.tokens_opt / n_ne})
    return out


# --- o capítulo ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Chapter8V2:
    """Tudo o que o capítulo 8 (v2) mostra. ``reports``: pares ``(C nominal, GroupReport)``; ``a3`` e
    ``coverage``: o ajuste e o :class:`~helpers.laws.calibration.CoverageReport`, ou o motivo (texto)."""

    rows: dict[str, np.ndarray] = field(repr=False)
    design: np.ndarray = field(repr=False)
    noise: NoiseModel
    noise_groups: list = field(repr=False)
    reports: list = field(repr=False)
    main: AllocationFit = field(repr=False)
    robustness: list = field(repr=False)
    reps: dict = field(repr=False)
    a3: object = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    tpp: list = field(repr=False)
    coverage: object = field(repr=False)
    budgets: np.ndarray
    mini: bool
    tables: dict[str, str] = field(repr=False)
    numbers: dict[str, object]

def analysis(spec8: SweepSpec, recs8: list[dict], spec7: SweepSpec, recs7: list[dict], *, mini: bool = False,
             mini_hyper: bool = False, n_boot: int = 1000, n_boot_robust: int = 300, n_boot_reps: int = 400,
             n_boot_a3: int = 100, coverage_reps: int = 0, coverage_n_boot: int = 200, seed: int = 0) -> Chapter8V2:
    """O capítulo 8 (v2). ``mini``/``mini_hyper``: os registros de miniatura do IsoFLOP/da grade.
    ``coverage_reps > 0`` mede a cobertura do intervalo de ``a`` **neste** desenho (a superfície da
    abordagem 3 como lei verdadeira, o ``σ`` medido, 3 sementes novas por orçamento)."""
    for name, v, low in (("n_boot", n_boot, 10), ("n_boot_robust", n_boot_robust, 10), ("n_boot_reps", n_boot_reps, 10),
                         ("n_boot_a3 (0: sem intervalo)", n_boot_a3 or 10, 10), ("coverage_reps", coverage_reps, 0),
                         ("coverage_n_boot", coverage_n_boot, 10)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{name} deve ser um inteiro ≥ {low}; recebi {v!r}.")
    rows = isoflop_rows(spec8, recs8, mini=mini)
    design = np.isfinite(rows["loss"]) & (rows["seed"] == GRID_SEED)
    if not design.any():
        raise ValueError(f"nenhum treino de {spec8.name!r} terminou bem (todos divergiram ou falharam).")
    noise, groups = seed_noise_model(spec7, recs7, mini=mini_hyper)
    c_pred = S.PREDICTION_BUDGET_V2
    main = allocation_fit(rows, design, noise, label="principal", n_boot=n_boot, seed=seed, predict_at=(c_pred,))
    robust = _robustness(rows, design, noise, n_boot_robust, seed)
    reps = {k: main if k == "M" else allocation_fit(rows, design, noise, key=k, label=k, n_boot=n_boot_reps,
                                                     seed=seed + 50) for k in REPRESENTATIONS}
    m, d, loss = rows["M"][design], rows["tokens"][design], rows["loss"][design]
    try:
        a3 = fit.fit_approach3(m, d, loss, n_boot=n_boot_a3, level=LEVEL, seed=seed)
        resid = np.log(a3.predict(m, d) / loss)
    except ValueError as exc:
        a3, resid = " ".join(str(exc).split()), np.full(m.size, np.nan)
    cov = None
    if coverage_reps and main.boot is not None and not isinstance(a3, str):
        truth = calibration.IsoFlopTruth(E=a3.E, A=a3.A, B=a3.B, alpha=a3.alpha, beta=a3.beta)
        plan = tuple(rows[k][main.mask] for k in ("budget", "M", "tokens"))
        try:
            cov = calibration.coverage("isoflop", reps=coverage_reps, n_boot=coverage_n_boot, seed=seed,
                                       sigma=max(noise.sigma, 1e-4), truth=truth, plan=plan, fresh_seeds=True)
        except ValueError as exc:
            cov = " ".join(str(exc).split())
    scale = float((spec8.mini_scale or {}).get("train.budget_flops", 1.0)) if mini else 1.0
    try:
        reports = edge_report(S.mini_view(spec8)[0] if mini else spec8,
                              [r for r in recs8 if isinstance(r, dict) and bool(r.get("mini")) == mini])
    except ValueError:
        reports = []
    reports = [(r.group / scale, r) for r in reports]
    tpp = _tokens_per_param(rows, design, main)
    try:
        laws7 = hyper_laws(result_rows(spec7, recs7, mini=mini_hyper))
    except ValueError:
        laws7 = None
    tables = {"orcamentos": _budget_table(rows, design), "ruido": _noise_table(noise, groups),
              "bordas": _edge_table(reports), "perfis": _profiles_table(main), "expoentes": _exponents_table(main, a3),
              "robustez": _robust_table(main, robust, rows["budget"]), "tokens_por_parametro": _tpp_table(tpp),
              "representacoes": _reps_table(reps), "abordagem3": _a3_table(a3)}
    numbers = {**_numbers_design(rows, design, noise, groups, reports, laws7, mini),
               **_numbers_laws(main, robust, cov, c_pred), **_numbers_more(rows, design, main, reps, a3, resid, tpp)}
    return Chapter8V2(rows, design, noise, groups, reports, main, robust, reps, a3, resid, tpp, cov,
                      np.unique(rows["budget"][design]), mini, tables, numbers)


# --- formatação e tabelas --------------------------------------------------------------------

def _word(cond, yes: str, no: str) -> str:
    return yes if cond else no

def _g(x: float, spec: str = ".3f") -> str:
    return fmt(x, spec) if np.isfinite(x) else DASH

def _si(x: float, digits: int = 3) -> str:
    return format_si(x, digits) if np.isfinite(x) else DASH

def _pct(x: float, spec: str = ".1f") -> str:
    return fmt(100 * x, spec) if np.isfinite(x) else DASH

def _ci(lo: float, hi: float, spec: str = ".3f") -> str:
    return f"[{fmt(lo, spec)}; {fmt(hi, spec)}]" if np.isfinite(lo) and np.isfinite(hi) else DASH

def _drop(f: AllocationFit) -> str:
    return _pct(f.boot.drop_rate) if f.boot is not None else DASH

def _budget_table(rows, design) -> str:
    out = []
    for c in np.unique(rows["budget"]):
        i = np.flatnonzero(rows["budget"] == c)
        shapes = [f"({int(rows['n_layer'][j])}, {int(rows['d_model'][j])})"
                  for j in (i[np.argmin(rows["M"][i])], i[np.argmax(rows["M"][i])])]
        tok, st = rows["tokens"][i], rows["steps"][i]
        out.append([format_si(c, 3), f"{int(design[i].sum())}/{i.size}", " – ".join(shapes),
                    fmt(rows["lr"][i][0], ".3g"), fmt(rows["batch"][i][0], ",.0f"),
                    f"{format_si(tok.min(), 2)} – {format_si(tok.max(), 2)}",
                    f"{_g(np.min(st), ',.0f')} – {_g(np.max(st), ',.0f')}",
                    _g(np.nansum(rows["wall_s"][i]) / 60, ".0f")])
    return markdown_table(["C (FLOPs)", "treinos bons", "formas (menor – maior)", "taxa", "lote (tokens)", "tokens D",
                           "passos", "min de CPU"], out)

def _noise_table(noise: NoiseModel, groups) -> str:
    out = [[format_si(c, 3), g.size, fmt(float(np.mean(g)), ".4f"), fmt(100 * float(np.std(np.log(g), ddof=1)), ".2f")]
           for c, g in groups]
    pooled = f"{_pct(noise.sigma, '.2f')} {_ci(*(100 * np.array(noise.sigma_ci)), '.2f')}" if groups else \
        f"suposto: {_pct(noise.sigma, '.2f')}"
    out.append(["agrupado", int(sum(g.size for _, g in groups)), DASH, pooled])
    return markdown_table(["C (FLOPs)", "sementes novas", "perda média", "desvio de ln perda (%)"], out)

def _edge_status(r) -> str:
    if r.status != "edge":
        return {"interior": "interior", "pending": "treinos pendentes"}.get(r.status, "nenhum treino terminou bem")
    return "toca a borda " + " e ".join({"low": "inferior", "high": "superior"}[s] for _, s in r.edges)

def _edge_table(reports) -> str:
    out = [[format_si(c, 3), f"{r.window[0]}–{r.window[1]}" if r.window else DASH,
            _si(r.vertex if r.vertex is not None and r.vertex_accepted else np.nan), *(r.sides or (DASH, DASH)),
            _edge_status(r)] for c, r in reports]
    return markdown_table(["C (FLOPs)", "degraus medidos", "vértice M", "tamanhos abaixo", "tamanhos acima",
                           "situação"], out)

def _profiles_table(main: AllocationFit) -> str:
    out = [[format_si(p.budget, 3), _si(p.scale_opt if p.accepted else np.nan), _si(p.tokens_opt),
            _g(p.loss_opt, ".4f"), _g(p.curvature, ".2f"), "vértice interior" if p.accepted else p.reason]
           for p in main.profiles]
    return markdown_table(["C", "M_opt", "D_opt", "bpb no vértice", "curvatura (bpb/década²)", "situação"], out)

def _exponents_table(main: AllocationFit, a3) -> str:
    out = [[f"este livro: IsoFLOP em M ({_LVL} calibrado)", _g(main.value("a")), _ci(*main.ci("a")),
            _g(main.value("b")), _ci(*main.ci("b"))]]
    if not isinstance(a3, str):
        ci = a3.boot.ci("a") if a3.boot is not None else (np.nan, np.nan)
        out.append([f"este livro: abordagem 3 em M ({_LVL}, reamostragem)", _g(a3.a), _ci(*ci), _g(a3.b), DASH])
    out += [[name, fmt(a, ".4g"), _ci(*ci) if ci else DASH, fmt(1 - a, ".4g"), DASH]
            for name, a, ci in PUBLISHED_A.values()]
    return markdown_table(["fonte", "a (escala_opt ∝ C^a)", "intervalo de a", "b (D_opt ∝ C^b)", "intervalo de b"],
                          out)

def _robust_table(main: AllocationFit, robust, budget) -> str:
    (lo, hi), used = main.ci("a"), lambda f: f"{np.unique(budget[f.mask]).size}/{len(f.profiles)}"
    out = [["principal: todos os treinos", used(main), _g(main.value()), _ci(lo, hi), DASH, DASH, _drop(main)]]
    for f in robust:
        a = f.value()
        out.append([f.label, used(f), _g(a), _ci(*f.ci()) if f.boot else f.reason, _g(a - main.value(), "+.3f"),
                    _word(lo <= a <= hi, "dentro", "fora") if np.isfinite(a + lo) else DASH, _drop(f)])
    return markdown_table(["variante", "orçamentos usados", "a", _LVL, "a − a principal", "no IC principal",
                           "réplicas que falharam (%)"], out)

def _tpp_table(tpp) -> str:
    out = [[format_si(t[k], 3) for k in ("budget", "M", "N_total", "N_nonemb", "D")]
           + [fmt(t["tpp_total"], ".3g"), fmt(t["tpp_nonemb"], ".3g")] for t in tpp]
    return markdown_table(["C", "M_opt", "N total", "N não-embedding", "D_opt", "D/N total", "D/N não-embedding"],
                          out)

def _reps_table(reps) -> str:
    out = [[REPRESENTATIONS[k], f"{len(f.accepted)}/{len(f.profiles)}", _g(f.value("a")), _ci(*f.ci("a")),
            _g(f.value("b")), _ci(*f.ci("b")), f.boot.describe_failures() if f.boot else f.reason]
           for k, f in reps.items()]
    return markdown_table(["escala", "vértices interiores", "a", f"{_LVL} de a", "b", f"{_LVL} de b", "réplicas"],
                          out)

def _a3_table(a3) -> str:
    if isinstance(a3, str):
        return markdown_table(["parâmetro", "estimativa", "intervalo"], [[DASH, DASH, f"sem ajuste: {a3}"]])
    cis = {k: a3.boot.ci(k) if a3.boot is not None else (np.nan, np.nan) for k in ("E", "A", "alpha", "B", "beta", "a")}
    n = a3.boot.n_boot if a3.boot is not None else 0
    return markdown_table(["parâmetro", "estimativa", f"{_LVL} ({n} reamostragens)"],
                          [[k, fmt(getattr(a3, k), ".3g"), _ci(*ci, ".3g")] for k, ci in cis.items()])


# --- os números da prosa ---------------------------------------------------------------------

def _numbers_design(rows, design, noise, groups, reports, laws7, mini) -> dict[str, object]:
    """O desenho, a amostra de validação, o ruído e as bordas."""
    budgets, m = np.unique(rows["budget"]), S.ladder_m_v2()
    sizes = [int((rows["budget"] == c).sum()) for c in budgets]
    ratio = np.array([six_n1(S.ladder_config_v2(i)) for i in range(m.size)]) / m
    att = np.array([12 * a * b * S.SEQ_LEN_V2 for a, b in S.LADDER_V2]) / m
    run_att = 12 * rows["n_layer"] * rows["d_model"] * S.SEQ_LEN_V2 / rows["M"]
    small = np.flatnonzero(rows["budget"] == budgets[0])
    et = float(np.nanmedian(rows["eval_tokens"])) if np.isfinite(rows["eval_tokens"]).any() else np.nan
    docs, lb = rows["docs"][np.isfinite(rows["docs"])], np.log10(budgets)
    n = dict(fonte=_word(mini, "a miniatura (RECALCULAR)", "os resultados versionados"),
             n_treinos=int(rows["loss"].size), n_bons=int(design.sum()), n_orcamentos=int(budgets.size),
             c_min=format_si(budgets[0], 3), c_max=format_si(budgets[-1], 3), tamanhos_min=min(sizes),
             tamanhos_max=max(sizes), decadas=fmt(np.ptp(lb), ".1f"),
             passo=fmt(np.ptp(lb) / max(lb.size - 1, 1), ".1f"),
             cpu_horas=fmt(np.nansum(rows["wall_s"]) / 3600, ".1f"), deepseek_fator=format_si(1e17 / budgets[-1], 2),
             escada_degraus=len(S.LADDER_V2), escada_m_min=format_si(m[0], 3), escada_m_max=format_si(m[-1], 3),
             taxa_min=fmt(rows["lr"].min(), ".3g"), taxa_max=fmt(rows["lr"].max(), ".3g"), nivel=round(100 * LEVEL),
             lote_min=fmt(rows["batch"].min(), ",.0f"), lote_max=fmt(rows["batch"].max(), ",.0f"),
             razao_min=fmt(ratio.min(), ".2f"), razao_max=fmt(ratio.max(), ".2f"), lado_janela=S.WINDOW_SIDE,
             atencao_min=fmt(100 * att.min(), ".0f"), atencao_max=fmt(100 * att.max(), ".0f"), lado_min=S.MIN_EACH_SIDE,
             atencao_treinos_min=fmt(100 * run_att.min(), ".0f"), atencao_treinos_max=fmt(100 * run_att.max(), ".0f"),
             passos_maior_menor=_g(rows["steps"][small[np.argmax(rows["M"][small])]], ",.0f"),
             aval_tokens=_si(et), aval_vs_deepseek=_si(1e8 / et), aval_docs_min=_g(docs.min(), ".0f") if docs.size
             else DASH, aval_docs_total=_g(np.nanmax(rows["docs_total"]), ".0f") if docs.size else DASH)
    for key, name in (("lr", "taxa"), ("batch", "lote")):
        n[f"lei_{name}_k"] = _g(laws7[f"k_{key}"], ".3g") if laws7 else DASH
        n[f"lei_{name}_alpha"] = _g(laws7[f"alpha_{key}"], "+.3f") if laws7 else DASH
    n.update(ruido_sigma=_pct(noise.sigma, ".2f"), ruido_lo=_pct(noise.sigma_ci[0], ".2f"),
             ruido_hi=_pct(noise.sigma_ci[1], ".2f"), ruido_grupos=noise.n_groups, ruido_gl=noise.dof,
             ruido_desc=noise.describe(), ruido_fonte=_word(groups, f"medido em {noise.n_groups} grupos de sementes "
                                                            "novas", "suposto (a grade ainda não tem sementes novas)"),
             aval_sigma=DASH, aval_razao=DASH, aval_veredito="não comparado (faltam as metades da avaliação ou o "
             "ruído medido das sementes)")
    halves = design & np.isfinite(rows["half_a"]) & np.isfinite(rows["half_b"])
    if halves.any():
        ev = evaluation_noise(rows["half_a"][halves], rows["half_b"][halves], level=LEVEL)
        n["aval_sigma"] = _pct(ev.sigma, ".2f")
        if noise.dof >= 1 and noise.sigma > 0:
            cmp_ = compare_noise(ev, noise, level=LEVEL)
            n.update(aval_razao=fmt(cmp_.ratio, ".2f"), aval_veredito=_word(cmp_.small, "pequeno",
                                                                           "não comprovadamente pequeno"))
    inner = sum(r.status == "interior" for _, r in reports)
    sides = [min(r.sides) for _, r in reports if r.sides]
    ok = bool(reports) and inner == len(reports)
    n.update(bordas_interiores=inner, bordas_total=len(reports), bordas_min_lado=min(sides) if sides else DASH,
             bordas_veredito=f"nenhum vértice está na borda: os {len(reports)} orçamentos têm {S.MIN_EACH_SIDE} ou "
             "mais tamanhos medidos de cada lado" if ok else f"{len(reports) - inner} dos {len(reports)} orçamentos "
             f"não têm {S.MIN_EACH_SIDE} tamanhos medidos de cada lado do vértice (ou não têm vértice interior)")
    return n

def _numbers_laws(main: AllocationFit, robust, cov, c_pred: float) -> dict[str, object]:
    """As leis, a cobertura medida e a robustez."""
    (lo, hi), a, boot = main.ci("a"), main.value("a"), main.boot
    half, limit = (hi - lo) / 2, fmt(100 * MAX_DROP_RATE, ".0f")
    side = _word(boot is not None and boot.drop_rate <= MAX_DROP_RATE, "abaixo", "acima")
    n = dict(a=_g(a), a_lo=_g(lo), a_hi=_g(hi), b=_g(main.value("b")), b_lo=_g(main.ci("b")[0]),
             b_hi=_g(main.ci("b")[1]), a_meia=_g(half), meta=fmt(TARGET_HALF_WIDTH, ".2f"),
             a_meta=_word(half <= TARGET_HALF_WIDTH, "atinge", "não atinge") if np.isfinite(half) else DASH,
             leis_motivo=main.reason or DASH, boot_n=boot.n_boot if boot else 0, boot_taxa=_drop(main),
             previsao_fator=format_si(c_pred / max(p.budget for p in main.profiles), 3),
             limite_falhas=limit, c_previsao=format_si(c_pred, 3), orcamentos_usados=len(main.accepted),
             mopt_previsao=_si(main.value(f"scale@{c_pred:g}")), dopt_previsao=_si(main.value(f"tokens@{c_pred:g}")),
             boot_frase=f"{boot.describe_failures()}; a taxa fica {side} do limite de {limit}% a partir do qual o "
             "intervalo não é tido como confiável" if boot else f"não houve bootstrap: {main.reason}")
    for key in ("deepseek", "chinchilla", "kaplan"):
        ref = PUBLISHED_A[key][1]
        n[f"contem_{key}"] = _word(lo <= ref <= hi, "contém", "não contém") if np.isfinite(lo) else DASH
        n[f"a_vs_{key}"] = _word(a > ref, "maior", "menor") if np.isfinite(a) else DASH
    n.update(cobertura=DASH, cobertura_reps=0, cobertura_lo=DASH, cobertura_hi=DASH, cobertura_verdade=DASH,
             cobertura_veredito=f"não medida ({cov})" if isinstance(cov, str) else "não medida")
    if isinstance(cov, calibration.CoverageReport):
        q, band = cov.quantities["a"], calibration.binomial_band(cov.reps, cov.level)
        n.update(cobertura=_pct(q.coverage), cobertura_reps=cov.reps, cobertura_lo=_pct(band[0]),
                 cobertura_hi=_pct(band[1]), cobertura_verdade=_g(q.truth),
                 cobertura_veredito=_word(band[0] <= q.coverage <= band[1], "dentro", "fora"))
    vals = np.array([f.value() for f in robust])
    fin = vals[np.isfinite(vals)]
    n.update(rob_total=len(robust), rob_min=_g(fin.min()) if fin.size else DASH,
             rob_max=_g(fin.max()) if fin.size else DASH,
             rob_fora=int(sum(not lo <= v <= hi for v in fin)) if np.isfinite(lo) else DASH)
    for f, key in zip(robust[-3:], ("rob_aparada", "rob_1camada", "rob_argmin")):
        n[key] = _g(f.value())
        n[f"{key}_dentro"] = _word(lo <= f.value() <= hi, "dentro", "fora") if np.isfinite(f.value() + lo) else DASH
    arg_half = float(np.diff(robust[-1].ci())[0] / 2)
    n.update(rob_argmin_meia=_g(arg_half), rob_argmin_largura=_word(arg_half > half, "mais largo", "mais estreito")
             if np.isfinite(arg_half + half) else DASH)
    return n

def _rep_spread(reps) -> list[tuple[float, float]]:
    """``(C, 100·(máx/mín − 1))`` dos ``D_opt`` das três representações, onde as três têm vértice."""
    d = {k: {p.budget: p.tokens_opt for p in f.accepted} for k, f in reps.items()}
    common = sorted(set.intersection(*(set(v) for v in d.values())))
    return [(c, 100 * (max(v[c] for v in d.values()) / min(v[c] for v in d.values()) - 1)) for c in common]

def _numbers_more(rows, design, main, reps, a3, resid, tpp) -> dict[str, object]:
    """Tokens por parâmetro, as representações e a abordagem 3."""
    (lo, hi), acc = main.ci("a"), main.accepted
    n = dict(chinchilla_tpp=fmt(CHINCHILLA_TOKENS_PER_PARAM, ".0f"),
             mopt_min=format_si(min(p.scale_opt for p in acc), 2) if acc else DASH,
             mopt_max=format_si(max(p.scale_opt for p in acc), 2) if acc else DASH,
             **dict.fromkeys(("tpp_total_min", "tpp_total_max", "tpp_nemb_min", "tpp_nemb_max", "tpp_vs_chinchilla",
                              "tpp_tendencia", "spread_pequeno", "spread_grande", "spread_cmp", "spread_c_pequeno",
                              "spread_c_grande", "a3_a", "a3_lo", "a3_hi", "a3_E", "a3_alpha", "a3_beta", "a3_rms",
                              "a3_vs_iso", "a3_dentro", "braco_pior_n"), DASH))
    if tpp:
        tot, ne = (np.array([t[k] for t in tpp]) for k in ("tpp_total", "tpp_nonemb"))
        n.update(tpp_total_min=fmt(tot.min(), ".3g"), tpp_total_max=fmt(tot.max(), ".3g"),
                 tpp_nemb_min=fmt(ne.min(), ".3g"), tpp_nemb_max=fmt(ne.max(), ".3g"),
                 tpp_vs_chinchilla=("acima de" if tot.min() > CHINCHILLA_TOKENS_PER_PARAM else "abaixo de"
                                    if tot.max() < CHINCHILLA_TOKENS_PER_PARAM else "dos dois lados de"),
                 tpp_tendencia=_word(tot[-1] > tot[0], "cresce", "diminui") if len(tpp) > 1 else DASH)
    a_rep = {k: f.value("a") for k, f in reps.items()}
    ok12, up = np.isfinite(a_rep["6N1"] + a_rep["6N2"]), a_rep["6N1"] > a_rep["6N2"]
    cis = [f.ci("a") for f in reps.values() if f.boot is not None]
    n.update(a_m=_g(a_rep["M"]), a_6n1=_g(a_rep["6N1"]), a_6n2=_g(a_rep["6N2"]),
             a_6n1_vs_6n2=_word(up, "maior", "menor") if ok12 else DASH,
             a_6n1_sentido=_word(up, "no mesmo sentido do", "no sentido contrário ao") if ok12 else DASH,
             reps_sobrepoem=_word(all(x[0] <= y[1] and y[0] <= x[1] for x in cis for y in cis), "se sobrepõem",
                                  "nem todos se sobrepõem") if len(cis) == 3 else DASH)
    spread = _rep_spread(reps)
    if len(spread) >= 2:
        n.update(spread_pequeno=fmt(spread[0][1], ".0f"), spread_grande=fmt(spread[-1][1], ".0f"),
                 spread_c_pequeno=format_si(spread[0][0], 3), spread_c_grande=format_si(spread[-1][0], 3),
                 spread_cmp=_word(spread[0][1] > spread[-1][1], "maior", "menor"))
    n.update(a3_motivo=a3 if isinstance(a3, str) else DASH, braco_total=int(np.unique(rows["budget"][design]).size))
    if not isinstance(a3, str):
        ci3 = a3.boot.ci("a") if a3.boot is not None else (np.nan, np.nan)
        n.update(a3_a=_g(a3.a), a3_lo=_g(ci3[0]), a3_hi=_g(ci3[1]), a3_E=fmt(a3.E, ".3g"),
                 a3_alpha=fmt(a3.alpha, ".3f"), a3_beta=fmt(a3.beta, ".3f"),
                 a3_rms=fmt(100 * np.sqrt(np.mean(resid**2)), ".2f"))
        if np.isfinite(lo):
            n["a3_dentro"] = _word(lo <= a3.a <= hi, "dentro", "fora")
            if np.isfinite(ci3[0]):
                n["a3_vs_iso"] = _word(ci3[0] <= hi and lo <= ci3[1], "se sobrepõe ao", "não se sobrepõe ao")
        b, m = rows["budget"][design], rows["M"][design]
        n["braco_pior_n"] = int(sum(resid[b == c][np.argmax(m[b == c])] < -0.01 for c in np.unique(b)))
    return n


# --- figuras ------------------------------------------------------------------------------------

def _grid(ch: Chapter8V2) -> np.ndarray:
    return np.logspace(np.log10(ch.budgets[0]) - 0.2, np.log10(max(S.PREDICTION_BUDGET_V2, ch.budgets[-1])), 80)

def _law_label(x: float) -> str:
    return f"$\\propto C^{{{fmt(x, '.3f').replace(',', '{,}')}}}$"

def plot_profiles(ch: Chapter8V2):
    """A perda contra M (parábolas e vértices) e contra os *tokens*, uma cor por orçamento."""
    r, ok = ch.rows, ch.design
    fig, (ax_m, ax_d) = new_figure(ncols=2, width=7.0, height=4.6)
    plot_isoflop(ax_m, r["budget"][ok], r["M"][ok], r["loss"][ok], _profiles(r, ok), xlabel="$M$ (FLOPs por token)",
                 legend=False)
    plot_isoflop(ax_d, r["budget"][ok], r["tokens"][ok], r["loss"][ok], _profiles(r, ok, x="tokens"),
                 xlabel="tokens de treino $D$", legend=False)
    ax_m.set_title("Perda contra o tamanho")
    ax_d.set(title="As mesmas curvas contra os tokens", ylabel="")
    handles, labels = ax_m.get_legend_handles_labels()
    fig.legend(handles, [f"{lab} FLOPs" for lab in labels], loc="outside lower center", ncol=3, fontsize=10)
    return fig

def plot_allocation(ch: Chapter8V2):
    """Os vértices, as leis ``M_opt(C)`` e ``D_opt(C)`` com a faixa de 90% calibrada e a Eq. 4 do DeepSeek."""
    boot, acc, c = ch.main.boot, ch.main.accepted, _grid(ch)
    fig, axes = new_figure(ncols=2, width=7.0, height=4.4)
    for ax, kk, ka, vals, ds, name, title in (
            (axes[0], "scale_base", "a", [p.scale_opt for p in acc], deepseek.m_opt,
             "$M_\\mathrm{opt}$ (FLOPs por token)", "Escala ótima do modelo"),
            (axes[1], "data_base", "b", [p.tokens_opt for p in acc], deepseek.d_opt, "$D_\\mathrm{opt}$ (tokens)",
             "Dados ótimos")):
        if boot is not None:
            samples = boot.samples[kk][:, None] * c[None, :] ** boot.samples[ka][:, None]
            plot_fit_band(ax, c, *np.quantile(samples, [0.05, 0.95], axis=0), color=COLORS["azul"],
                          label="faixa de 90% (bootstrap)")
            ax.plot(c, boot.estimate[kk] * c ** boot.estimate[ka], color=COLORS["azul"],
                    label=f"ajuste: {_law_label(boot.estimate[ka])}")
        ax.scatter([p.compute_opt for p in acc], vals, color=COLORS["vermelho"], zorder=3, label="vértices")
        ax.plot(c, ds(c), "--", color=COLORS["laranja"], label="DeepSeek, Eq. 4")
        ax.axvline(S.PREDICTION_BUDGET_V2, color=COLORS["cinza"], lw=0.8, ls=":")
        ax.set(xscale="log", yscale="log", xlabel="$C$ (FLOPs, convenção $M$)", ylabel=name, title=title)
        ax.legend(fontsize=9.5)
    return fig

def plot_representations(ch: Chapter8V2):
    """``D_opt`` em 6N₁ e 6N₂ relativo ao de M; *tokens* por parâmetro nos vértices, com os ~20 do Chinchilla."""
    fig, (ax_r, ax_t) = new_figure(ncols=2, width=7.0, height=4.2)
    base = {p.budget: p.tokens_opt for p in ch.reps["M"].accepted}
    for k, color in (("6N1", "vermelho"), ("6N2", "verde")):
        d = {p.budget: p.tokens_opt for p in ch.reps[k].accepted}
        cs = sorted(set(d) & set(base))
        ax_r.plot(cs, [d[c] / base[c] for c in cs], "o-", color=COLORS[color], label=f"${k[:2]}_{k[-1]}$")
    ax_r.axhline(1, color="black", lw=0.8, label="$M$")
    ax_r.set(xscale="log" if base else "linear", xlabel="$C$ (FLOPs, nominal)", title="O ótimo de dados por escala",
             ylabel="$D_\\mathrm{opt}$ relativo ao de $M$")
    cs = [t["budget"] for t in ch.tpp]
    ax_t.plot(cs, [t["tpp_total"] for t in ch.tpp], "o-", color=COLORS["azul"], label="$N$ total")
    ax_t.plot(cs, [t["tpp_nonemb"] for t in ch.tpp], "s-", color=COLORS["vermelho"], label="$N$ não-embedding")
    ax_t.axhline(CHINCHILLA_TOKENS_PER_PARAM, color=COLORS["laranja"], ls="--", label="Chinchilla (≈ 20)")
    ax_t.set(xscale="log" if cs else "linear", xlabel="$C$ (FLOPs)", ylabel="tokens por parâmetro no vértice",
             title="Tokens por parâmetro no ótimo", ylim=(0, None))
    for ax in (ax_r, ax_t):
        ax.legend(fontsize=9.5)
    return fig

def plot_approach3(ch: Chapter8V2):
    """A fronteira da abordagem 3 ao lado da do IsoFLOP e os resíduos da superfície por orçamento."""
    fig, (ax_f, ax_r) = new_figure(ncols=2, width=7.0, height=4.6)
    c, boot, a3, acc = _grid(ch), ch.main.boot, ch.a3, ch.main.accepted
    if not isinstance(a3, str):
        ax_f.plot(c, a3.scale_opt(c), color=COLORS["verde"], label=f"abordagem 3: {_law_label(a3.a)}")
    if boot is not None:
        ax_f.plot(c, boot.estimate["scale_base"] * c ** boot.estimate["a"], color=COLORS["azul"],
                  label=f"IsoFLOP: {_law_label(boot.estimate['a'])}")
    ax_f.scatter([p.compute_opt for p in acc], [p.scale_opt for p in acc], color=COLORS["vermelho"], zorder=3,
                 label="vértices IsoFLOP")
    ax_f.set(xscale="log", yscale="log", xlabel="$C$ (FLOPs)", ylabel="$M_\\mathrm{opt}$ (FLOPs por token)",
             title="Duas fronteiras")
    ax_f.legend(fontsize=9.5)
    b, m = ch.rows["budget"][ch.design], ch.rows["M"][ch.design]
    for cb, color in zip(ch.budgets, budget_colors(len(ch.budgets))):
        order = np.argsort(m[b == cb])
        ax_r.plot(m[b == cb][order], 100 * ch.residuals[b == cb][order], "o-", color=color, ms=4, lw=0.9,
                  label=format_si(cb, 3))
    ax_r.axhline(0, color="black", lw=0.8)
    ax_r.set(xscale="log", xlabel="$M$ (FLOPs por token)", ylabel="previsto − medido (% da perda)",
             title="Resíduos da superfície")
    ax_r.legend(fontsize=9.5, title="$C$ (FLOPs)", title_fontsize=9.5)
    return fig
