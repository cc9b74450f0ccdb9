"""Capítulo 9 no protocolo v2 — prever a perda de um treino 31,6× maior (DeepSeek LLM §3.2, Fig. 5).

A previsão não é feita aqui: ``python -m helpers.chapters.protocol_v2 prediction-spec`` a escreveu na
especificação ``experiments/cap09_previsao_v2.json`` (campo ``predictions``) antes do treino, com o
``sha256`` das entradas. Este módulo lê o escrito e confere: :func:`input_checks` (as entradas ainda
são as lidas?), :func:`recompute_prediction` (os mesmos passos reproduzem o valor?), :func:`backtests`
(ajustar nos ``k`` menores orçamentos, prever os maiores e o alvo: com que frequência o intervalo de
90% acertou?), :func:`representations` (M, 6N₁ ou 6N₂ como escala, DeepSeek App. A.2) e
:func:`analysis` (tabelas em Markdown e números para ``{glue:text}``); e desenha as figuras.

Na miniatura (``mini=True``) a previsão segue a escrita para o treino inteiro e tudo sai rotulado; com
``iso_mini=True`` os ajustes que falham viram uma linha com o motivo, nunca uma exceção.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.ticker as ticker
import numpy as np
from scipy import stats

from ..engine.specs import SweepSpec
from ..laws.fit.calibrated import IsoFlopPipeline, parametric_bootstrap
from ..laws.fit.noise import NoiseModel, fit_noise_model
from ..laws.predictions import backtest, check_predictions
from ..presentation.plots import (COLORS, budget_colors, fmt, format_si, markdown_table, new_figure, plain_log_axis,
                                  plot_fit_band)
from . import protocol_v2 as P
from . import protocol_v2_specs as S
from .common import ROOT
from .words import count_phrase, versus

__all__ = ["SPEC_NAME", "ISOFLOP_NAME", "HYPER_NAME", "PREDICTION_SPEC_V2", "LEVEL", "TARGET_ERROR_PCT", "GADRE_ERROR_PCT",
           "GADRE_FACTOR", "DEEPSEEK_FACTOR", "CHOSHEN_SEED_PCT", "REPRESENTATIONS", "Chapter9V2", "spec_rows",
           "prediction_noise", "written_n_boot", "recompute_prediction", "input_checks", "backtests", "representations",
           "analysis", "plot_prediction", "plot_backtests", "plot_target_curves"]

#: As varreduras do capítulo (``experiments/NOME.json`` e ``results/NOME.jsonl``).
SPEC_NAME, ISOFLOP_NAME, HYPER_NAME = "cap09_previsao_v2", "cap08_isoflop_v2", "cap07_hiperparametros_v2"
PREDICTION_SPEC_V2 = ROOT / "experiments" / f"{SPEC_NAME}.json"
#: O nível dos intervalos (o da previsão escrita) e a meta do capítulo: erro relativo de no máximo 1%.
LEVEL, TARGET_ERROR_PCT = P.LEVEL, 1.0
#: Gadre et al. (facts §17): 0,7% de erro na perda prevista com 300× menos computação; DeepSeek
#: (facts §1.8): "models with 1000× compute budget"; Choshen et al. (facts §18, [S]): a variação entre
#: sementes sozinha chega a 3,5%.
GADRE_ERROR_PCT, GADRE_FACTOR, DEEPSEEK_FACTOR, CHOSHEN_SEED_PCT = 0.7, 300, 1000, 3.5
#: Os nomes das representações da escala na prosa e nas tabelas.
REPRESENTATIONS = {"M": "M", "6N1": "6N₁", "6N2": "6N₂"}
_Q = (0.5 - LEVEL / 2, 0.5 + LEVEL / 2)


# --- os dados ---------------------------------------------------------------------------------

def spec_rows(spec: SweepSpec, recs: list[dict], *, mini: bool = False) -> tuple[dict[str, np.ndarray], list[dict]]:
    """:func:`protocol_v2.result_rows` mais ``6N1``, ``6N2`` e ``minutes``, e os registros na mesma ordem."""
    rows = P.result_rows(spec, recs, mini=mini)
    mine = P.spec_records(spec, recs, mini=mini)
    cols = P.record_columns(mine)
    rows.update({"6N1": cols["6N1"], "6N2": cols["6N2"], "minutes": cols["wall_s"] / 60})
    return rows, mine


def _design(rows) -> np.ndarray:  # os treinos do ajuste, como em prediction-spec: terminaram, semente da grade
    return np.isfinite(rows["loss"]) & (rows["seed"] == P.GRID_SEED)


def prediction_noise(rows8: dict, rows7: dict | None = None) -> tuple[NoiseModel, str]:
    """O ruído que ``prediction-spec`` usa: as sementes repetidas dos perfis IsoFLOP ou, sem elas, as
    sementes novas da grade de hiperparâmetros; sem nenhuma, 1% suposto (dito na fonte)."""
    groups, source = P.noise_groups(rows8, fresh_only=False), "sementes repetidas dos perfis IsoFLOP"
    if not groups and rows7 is not None:
        groups, source = P.noise_groups(rows7, fresh_only=True), "sementes novas da grade de hiperparâmetros"
    if not groups:
        return NoiseModel("relative", 0.01, source="suposto, sem sementes repetidas"), "suposto (1%)"
    return fit_noise_model(groups, kind="relative", level=LEVEL), source


def written_n_boot(method: str, default: int = 1000) -> int:
    """As réplicas do *bootstrap* que o texto do método declara (``"(N réplicas"``); senão ``default``."""
    return int(m.group(1)) if (m := re.search(r"\((\d+) réplicas", method or "")) else default


def _runs_interval(samples, noise: NoiseModel, rng, n_runs: int = 1) -> tuple[float, float]:
    """Intervalo de 90% da média de ``n_runs`` treinos: cada réplica do ajuste vezes ``exp(σ·ε/√n)``,
    com ``σ`` sorteado na sua incerteza — com ``n_runs = 1``, o mesmo sorteio de ``prediction-spec``."""
    s = np.repeat(np.asarray(samples, dtype=float), 20)
    draws = s * np.exp(noise.draw_sigma(s.size, rng) * rng.standard_normal(s.size) / math.sqrt(n_runs))
    return tuple(float(v) for v in np.quantile(draws, _Q))


def recompute_prediction(rows8: dict, rows7: dict | None = None, *, budget: float = S.PREDICTION_BUDGET_V2,
                         n_boot: int = 1000, noise: NoiseModel | None = None, noise_source: str = "") -> dict:
    """A previsão de ``prediction-spec`` refeita: mesmos treinos, ruído, sementes e arredondamento.

    Devolve ``value``, ``interval`` (um treino, 90%), ``fit_interval`` (só o ajuste), ``m_opt``, ``rung``
    (o degrau mais perto de ``m_opt``), ``noise``, ``noise_source``, ``pipeline``, ``boot`` e ``n_boot``;
    ``noise`` substitui o de :func:`prediction_noise`. ``ValueError`` se o pipeline falha nos dados."""
    source = noise_source or (noise.source if noise is not None else "")
    if noise is None:
        noise, source = prediction_noise(rows8, rows7)
    d = _design(rows8)
    pipeline = IsoFlopPipeline(rows8["budget"][d], rows8["M"][d], rows8["tokens"][d], predict_at=(budget,))
    boot = parametric_bootstrap(pipeline, rows8["loss"][d], noise, n_boot=n_boot, level=LEVEL, seed=0)
    key = f"loss@{budget:g}"
    lo, hi = _runs_interval(boot.samples[key], noise, np.random.default_rng(1))
    m_opt = boot.estimate[f"scale@{budget:g}"]
    return {"value": round(boot.estimate[key], 4), "interval": (math.floor(lo * 1e4) / 1e4, math.ceil(hi * 1e4) / 1e4),
            "fit_interval": boot.ci(key), "m_opt": m_opt, "rung": S.nearest_rung(m_opt), "noise": noise,
            "noise_source": source, "pipeline": pipeline, "boot": boot, "n_boot": n_boot}


def input_checks(predictions, *, root=ROOT) -> list[dict]:
    """Um item por arquivo de entrada das previsões: ``path``, ``written`` (o ``sha256`` escrito),
    ``current`` (o do arquivo hoje; ``None`` se não existe) e ``status`` (confere, difere, ausente)."""
    seen: dict[str, str] = {}
    for item in (i for pred in predictions or () for i in pred.get("inputs", [])):
        seen.setdefault(item["path"], item["sha256"])
    out = []
    for path, sha in seen.items():
        p = Path(path) if Path(path).is_absolute() else Path(root) / path
        current = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        status = "ausente" if current is None else "confere" if current == sha else "difere"
        out.append({"path": path, "written": sha, "current": current, "status": status})
    return out


# --- backtests e as três representações -------------------------------------------------------

class _Ahead:
    """Desenho = orçamentos do ajuste + o alvo; ``batch`` dá ``pred`` (a lei ajustada só nos menores,
    no alvo) e ``obs`` (o vértice da parábola do alvo), réplica a réplica."""

    default_centre = "smooth"

    def __init__(self, budgets, scales, tokens, target: float):
        m = self.fit_mask = budgets != target
        self.fit = IsoFlopPipeline(budgets[m], scales[m], tokens[m], predict_at=(target,))
        self.all = IsoFlopPipeline(budgets, scales, tokens)
        self.j, self.key, self.names = int(np.flatnonzero(self.all.keys == target)[0]), f"loss@{target:g}", ["pred", "obs"]
        self.smooth = self.all.smooth  # o centro das réplicas: as parábolas ajustadas de todos os orçamentos

    def batch(self, losses):
        losses = np.atleast_2d(np.asarray(losses, dtype=float))
        values, r_fit = self.fit.batch(losses[:, self.fit_mask])
        _, l_star, r_all = self.all.vertices(losses)
        reasons = np.where(r_fit != "", r_fit, r_all)
        pred, obs = values[self.key].copy(), l_star[:, self.j].copy()
        pred[reasons != ""] = obs[reasons != ""] = np.nan
        return {"pred": pred, "obs": obs}, reasons


def _vertex_losses(pipe: IsoFlopPipeline, losses) -> dict[float, float]:
    """A perda no vértice de cada orçamento com parábola de mínimo interior (nos dados observados)."""
    out = {}
    for c, grp in zip(pipe.keys, pipe.groups):
        c0, c1, c2 = grp["pinv"] @ np.asarray(losses, dtype=float)[grp["idx"]]
        if c2 > 0 and grp["lo"] <= (v := -c1 / (2 * c2)) <= grp["hi"]:
            out[float(c)] = float(c0 + c1 * v + c2 * v * v)
    return out


def backtests(rows8: dict, noise: NoiseModel, *, target: dict | None = None, n_boot: int = 200, seed: int = 0,
              min_fit: int = 3) -> list[dict]:
    """Para cada ``k ≥ min_fit``: ajusta nos ``k`` menores orçamentos e prevê o vértice medido de cada
    orçamento maior e o alvo (``target = {"budget", "observed", "n"}``, a média de ``n`` treinos).

    Linhas de :func:`helpers.laws.predictions.backtest` mais ``kind`` (``"isoflop"``/``"alvo"``), ``k``,
    ``factor`` (alvo ÷ maior orçamento ajustado) e ``reason`` (o motivo se o ajuste falha; então
    ``covered = None``). O intervalo IsoFLOP soma à incerteza do ajuste a do vértice medido (do mesmo
    *bootstrap* paramétrico); o do alvo, o ruído da média de ``n`` treinos.
    """
    d = _design(rows8)
    b, s, t, y = (rows8[k][d] for k in ("budget", "M", "tokens", "loss"))
    try:
        observed = _vertex_losses(IsoFlopPipeline(b, s, t), y)
    except ValueError:
        return []
    budgets, rng = np.unique(b), np.random.default_rng(seed + 1)

    def iso_point(fit, c, level):
        sel = np.isin(b, list(fit)) | (b == c)
        boot = parametric_bootstrap(_Ahead(b[sel], s[sel], t[sel], c), y[sel], noise, n_boot=n_boot, level=level,
                                    seed=seed)
        draws = boot.samples["pred"] + boot.samples["obs"] - boot.estimate["obs"]
        return boot.estimate["pred"], tuple(np.quantile(draws, _Q))

    def target_point(fit, c, level):
        sel = np.isin(b, list(fit))
        boot = parametric_bootstrap(IsoFlopPipeline(b[sel], s[sel], t[sel], predict_at=(c,)), y[sel], noise,
                                    n_boot=n_boot, level=level, seed=seed)
        return boot.estimate[f"loss@{c:g}"], _runs_interval(boot.samples[f"loss@{c:g}"], noise, rng, target["n"])

    out = []
    for k in range(min_fit, budgets.size + 1):
        fit_b = [float(c) for c in budgets[:k]]
        if not all(c in observed for c in fit_b):
            continue
        goals = [(float(c), observed[float(c)], "isoflop", iso_point) for c in budgets[k:] if float(c) in observed]
        if target is not None and math.isfinite(target["observed"]):
            goals.append((float(target["budget"]), float(target["observed"]), "alvo", target_point))
        for c, obs, kind, func in goals:
            base = {"kind": kind, "k": k, "factor": c / fit_b[-1], "reason": ""}
            try:
                row = backtest({**{x: observed[x] for x in fit_b}, c: obs}, func, min_fit=k, level=LEVEL).rows[0]
            except ValueError as exc:  # réplicas demais sem vértice interior: a linha diz por quê
                nan = math.nan
                row = {"target": c, "fit_budgets": tuple(fit_b), "predicted": nan, "lo": nan, "hi": nan,
                       "observed": obs, "error_pct": nan, "covered": None, "reason": str(exc)}
            out.append({**base, **row})
    return out


def _coverage(rows: list[dict], kind: str) -> dict:
    """Linhas completas, acertos, taxa, o *p* do teste binomial contra o nível e as linhas sem ajuste."""
    done = [r for r in rows if r["kind"] == kind and r["covered"] is not None]
    hits, n = sum(r["covered"] for r in done), len(done)
    return {"n": n, "hits": hits, "rate": hits / n if n else math.nan, "failed": sum(r["kind"] == kind for r in rows) - n,
            "pvalue": stats.binomtest(hits, n, LEVEL).pvalue if n else math.nan}


def representations(rows8: dict, target: dict, noise: NoiseModel, *, n_boot: int = 300, seed: int = 0) -> dict:
    """Em cada representação (M, 6N₁, 6N₂), a lei da perda ótima ajustada com ela como escala e a
    previsão dos treinos-alvo no orçamento **naquela** representação (escala por *token* × *tokens*).
    ``target``: as linhas dos alvos (:func:`spec_rows`). Cada item: ``budget``, ``predicted``, ``interval``
    (um treino, 90%), ``measured`` (média), ``error_pct``, ``inside`` (treinos no intervalo) e ``n``; ou
    ``budget`` e ``error`` (o motivo) se o ajuste não se completa.
    """
    d, ok, out = _design(rows8), np.isfinite(target["loss"]), {}
    measured = float(np.mean(target["loss"][ok])) if ok.any() else math.nan
    for rep in REPRESENTATIONS:
        c_rep = float(np.median(target[rep] * target["tokens"]))
        try:
            if not (math.isfinite(c_rep) and np.all(np.isfinite(rows8[rep][d]))):
                raise ValueError(f"os registros não trazem flops_per_token[{rep!r}]")
            pipe = IsoFlopPipeline(rows8["budget"][d], rows8[rep][d], rows8["tokens"][d], predict_at=(c_rep,))
            boot = parametric_bootstrap(pipe, rows8["loss"][d], noise, n_boot=n_boot, level=LEVEL, seed=seed)
        except ValueError as exc:
            out[rep] = {"budget": c_rep, "error": str(exc)}
            continue
        pred = boot.estimate[f"loss@{c_rep:g}"]
        lo, hi = _runs_interval(boot.samples[f"loss@{c_rep:g}"], noise, np.random.default_rng(seed + 1))
        out[rep] = {"budget": c_rep, "predicted": pred, "interval": (lo, hi), "measured": measured,
                    "error_pct": 100 * (measured - pred) / pred, "n": int(ok.sum()),
                    "inside": int(np.sum((target["loss"][ok] >= lo) & (target["loss"][ok] <= hi)))}
    return out


# --- o capítulo -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Chapter9V2:
    """O capítulo 9 (v2): ``written`` são as previsões **como escritas** (nunca recalculadas por cima),
    ``checks`` a :func:`~helpers.laws.predictions.check_predictions` de cada uma, ``inputs`` o
    :func:`input_checks`, ``recomputed`` o :func:`recompute_prediction` (``None`` se o pipeline não se
    completa; ``fit_error`` diz por quê), ``backtest`` e ``reps`` as linhas de :func:`backtests` e
    :func:`representations`."""

    mini: bool
    iso_mini: bool
    budget: float
    largest: float
    measured_budget: float  # o orçamento dos treinos medidos (o da miniatura, com mini)
    written: tuple
    checks: list[dict] = field(repr=False)
    inputs: list[dict] = field(repr=False)
    target: dict[str, np.ndarray] = field(repr=False)
    target_records: list[dict] = field(repr=False)
    iso: dict[str, np.ndarray] = field(repr=False)
    noise: NoiseModel
    noise_source: str
    recomputed: dict | None = field(repr=False)
    fit_error: str
    backtest: list[dict] = field(repr=False)
    reps: dict = field(repr=False)
    tables: dict[str, str] = field(repr=False)
    numbers: dict[str, object]

    @property
    def interval(self) -> tuple[float, float]:
        """O intervalo escrito (o da primeira previsão; ``prediction-spec`` escreve o mesmo para todas)."""
        return tuple(float(v) for v in self.written[0]["interval"])


def analysis(target_spec: SweepSpec, target_recs: list[dict], iso_spec: SweepSpec, iso_recs: list[dict],
             hyper_spec: SweepSpec | None = None, hyper_recs: list[dict] | None = None, *, mini: bool = False,
             iso_mini: bool = False, n_boot: int | None = None, n_boot_backtest: int = 200, n_boot_reps: int = 300,
             seed: int = 0, root=ROOT) -> Chapter9V2:
    """As tabelas e os números do capítulo 9 (v2). ``target_*``: a especificação com as previsões e os
    registros dos alvos (de miniatura com ``mini``); ``iso_*``: os perfis IsoFLOP v2 (de miniatura com
    ``iso_mini``); ``hyper_*``: a grade v2, de onde vem o ruído quando os perfis não repetem sementes.
    ``n_boot`` (padrão: o declarado no método escrito) é o do recálculo; ``root`` resolve as entradas."""
    if not target_spec.predictions:
        raise ValueError(f"a especificação {target_spec.name!r} não tem previsões (campo 'predictions' vazio); "
                         "escreva-as com 'python -m helpers.chapters.protocol_v2 prediction-spec' antes do treino.")
    written = tuple(target_spec.predictions)
    checks = check_predictions(S.mini_view(target_spec)[0] if mini else target_spec,
                               [r for r in target_recs if isinstance(r, dict) and bool(r.get("mini")) == mini])
    target, target_records = spec_rows(target_spec, target_recs, mini=mini)
    rows8, _ = spec_rows(iso_spec, iso_recs, mini=iso_mini)
    try:
        rows7 = P.result_rows(hyper_spec, hyper_recs or [], mini=iso_mini) if hyper_spec is not None else None
    except ValueError:  # a grade sem registros (de miniatura, com iso_mini): o ruído fica suposto
        rows7 = None
    noise, source = prediction_noise(rows8, rows7)
    budget = float(target["budget"][0])
    recomputed, fit_error = None, ""
    try:  # o recálculo da previsão escrita (falha na miniatura: perfis sem vértice interior)
        recomputed = recompute_prediction(rows8, budget=budget, noise=noise, noise_source=source,
                                          n_boot=n_boot or written_n_boot(written[0].get("method", "")))
    except ValueError as exc:
        fit_error = str(exc)
    ok = np.isfinite(target["loss"])
    goal = {"budget": budget, "observed": float(np.mean(target["loss"][ok])) if ok.any() else math.nan,
            "n": int(max(ok.sum(), 1))}
    bt, reps = (backtests(rows8, noise, target=goal, n_boot=n_boot_backtest, seed=seed),
                representations(rows8, target, noise, n_boot=n_boot_reps, seed=seed))
    inputs, largest = input_checks(written, root=root), float(np.max(rows8["budget"]))
    n = _numbers(mini, iso_mini, budget, largest, written, checks, inputs, target, noise, source, recomputed,
                 fit_error, bt, reps)
    t = _tables(written, checks, inputs, bt, reps, n)
    scale = float((target_spec.mini_scale or {}).get("train.budget_flops", 1.0)) if mini else 1.0
    return Chapter9V2(mini=mini, iso_mini=iso_mini, budget=budget, largest=largest, written=written, checks=checks,
                      inputs=inputs, target=target, target_records=target_records, iso=rows8, noise=noise,
                      noise_source=source, recomputed=recomputed, fit_error=fit_error, backtest=bt, reps=reps,
                      tables=t, numbers=n, measured_budget=budget * scale)


# --- números e tabelas ------------------------------------------------------------------------

def _f(x, spec: str = ".4f") -> str:
    return fmt(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "—"


def _iv(lo, hi) -> str:  # um intervalo como o leitor o vê: [a; b]
    return f"[{_f(lo)}; {_f(hi)}]"


def _numbers(mini, iso_mini, budget, largest, written, checks, inputs, target, noise, source, rec, fit_error, bt,
             reps) -> dict[str, object]:
    w, shape = written[0], (int(target["n_layer"][0]), int(target["d_model"][0]))  # a 1ª; todas iguais
    value, (lo, hi), pct = float(w["value"]), (float(v) for v in w["interval"]), round(100 * float(w["level"]))
    half = 100 * (hi - lo) / 2 / value
    n: dict[str, object] = dict(
        miniatura="sim" if mini else "não", rotulo=" (miniatura)" if mini or iso_mini else "",
        alvo_C=format_si(budget, 3), alvo_fator=fmt(budget / largest, ".1f"),
        alvo_vs_ds=fmt(DEEPSEEK_FACTOR * largest / budget, ".0f"), alvo_vs_gadre=fmt(GADRE_FACTOR * largest / budget, ".1f"),
        alvo_forma=f"({shape[0]}, {shape[1]})", alvo_M=format_si(float(target["M"][0]), 3),
        alvo_tokens=format_si(float(np.median(target["tokens"])), 3), alvo_n=len(checks),
        alvo_minutos=_f(float(np.nansum(target["minutes"])), ".0f"), prev_valor=_f(value), prev_lo=_f(lo),
        prev_hi=_f(hi), prev_nivel=str(pct), prev_metodo=w.get("method", ""),
        prev_n_boot=written_n_boot(w.get("method", "")), prev_meia_pct=_f(half, ".2f"),
        prev_meia_vs_meta="mais larga" if half > TARGET_ERROR_PCT else "mais estreita",
        prev_iguais=("a mesma previsão para todos os treinos" if len({json.dumps([p["value"], p["interval"]])
                     for p in written}) == 1 else "previsões diferentes por treino"))
    bad = [f"{Path(i['path']).name} ({i['status']})" for i in inputs if i["status"] != "confere"]
    n["hash_ok"], n["hash_total"] = len(inputs) - len(bad), len(inputs)
    every = {2: "os dois", 3: "os três", 4: "os quatro"}.get(len(inputs), f"os {len(inputs)}")
    n["hash_frase"] = ("nenhum arquivo de entrada foi registrado" if not inputs else
                       f"{every} arquivos de entrada conferem byte a "
                       "byte com os versionados" if not bad else
                       f"{len(bad)} de {len(inputs)} arquivos de entrada não conferem com os versionados: "
                       f"{', '.join(bad)} — o recálculo usa os arquivos de hoje, não os que a previsão leu")
    # previsto × medido, por treino e na média
    done = [c for c in checks if c["n"]]
    for c in checks:
        s = c["select"].get("train.seed", "todos") if isinstance(c["select"], dict) else "todos"
        n[f"medido_s{s}"], n[f"erro_s{s}"] = _f(c["measured"]), _f(c["error_pct"], "+.2f")
        n[f"dentro_s{s}"] = "dentro" if c["covered"] else "fora" if c["covered"] is False else "pendente"
    k = n["dentro_n"] = sum(bool(c["covered"]) for c in done)
    n["dentro_frase"], n["medido_lista"] = count_phrase(k, len(done), f"do intervalo de {pct}%"), "; ".join(
        f"{_f(c['measured'])} (semente {', '.join(map(str, c['seeds']))})" for c in done) or "—"
    meas = float(np.mean([c["measured"] for c in done])) if done else math.nan
    err = 100 * (meas - value) / value
    ok = math.isfinite(err)
    n.update(medido_media=_f(meas), erro_media=_f(err, "+.2f"), erro_abs=_f(abs(err), ".2f"),
             meta_frase="—" if not ok else "cumpre" if round(abs(err), 2) <= TARGET_ERROR_PCT else "não cumpre",
             gadre_vs=versus(abs(err), GADRE_ERROR_PCT) if ok else "—",
             sinal_frase=("—" if not ok else "a lei superestimou o desempenho (previu perda menor que a medida)"
                          if err > 0 else "a lei subestimou o desempenho (previu perda maior que a medida)"
                          if err < 0 else "a previsão acertou a medida"))
    sig, vals = 100 * noise.sigma, target["loss"][np.isfinite(target["loss"])]
    dif = 100 * float(np.ptp(np.log(vals))) if vals.size >= 2 else math.nan
    # a diferença entre dois treinos tem desvio σ·√2; o limite bilateral de 90% é 1,645 desses desvios
    n.update(ruido_sem=_f(sig, ".2f"), ruido_fonte=source, ruido_descr=noise.describe(),
             erro_em_sigmas=_f(abs(err) / sig, ".1f") if sig else "—", choshen_vs=versus(sig, CHOSHEN_SEED_PCT),
             choshen_razao=_f(CHOSHEN_SEED_PCT / sig, ".0f") if sig else "—", alvo_dif_pct=_f(dif, ".2f"),
             alvo_dif_frase=("sem duas sementes para comparar com" if not math.isfinite(dif) else "compatível com"
                             if dif <= 1.645 * math.sqrt(2) * sig else "maior que o esperado pelo"))
    # o recálculo e a lei
    if rec is None:
        n.update(recalc_valor="—", recalc_lo="—", recalc_hi="—", recalc_n_boot=0, recalc_Mopt="—", lei_k="—",
                 lei_alpha="—", lei_a="—", lei_orcamentos=0, recalc_degrau_frase="—",
                 recalc_frase=f"não se completa com estes perfis ({fit_error})")
    else:
        same_v = math.isclose(rec["value"], value, abs_tol=5e-5)
        same_i = all(math.isclose(a, float(b), abs_tol=5e-5) for a, b in zip(rec["interval"], w["interval"]))
        est, got = rec["boot"].estimate, S.LADDER_V2[rec["rung"]]
        n.update(recalc_valor=_f(rec["value"]), recalc_lo=_f(rec["interval"][0]), recalc_hi=_f(rec["interval"][1]),
                 recalc_n_boot=rec["n_boot"], recalc_Mopt=format_si(rec["m_opt"], 3), lei_k=_f(est["loss_k"], ".4g"),
                 lei_alpha=_f(est["loss_alpha"], "+.4f"), lei_a=_f(est["a"], ".3f"),
                 lei_orcamentos=int(rec["pipeline"].keys.size),
                 recalc_frase=("reproduz exatamente o valor e o intervalo escritos" if same_v and same_i else
                               "reproduz o valor escrito, mas não o intervalo" if same_v else
                               "não reproduz o valor escrito"),
                 recalc_degrau_frase=("é o degrau treinado" if got == shape
                                      else f"não é o degrau treinado (o recálculo escolheria {got})"))
    # os backtests
    for kind, key in (("isoflop", "bt"), ("alvo", "bt_alvo")):
        cov = _coverage(bt, kind)
        n[f"{key}_linhas"], n[f"{key}_acertos"], n[f"{key}_falhas"] = cov["n"], cov["hits"], cov["failed"]
        n[f"{key}_cobertura"] = _f(100 * cov["rate"], ".0f")
        n[f"{key}_frase"] = ("sem linhas para conferir" if not cov["n"] else
                             f"compatível com os {pct}% nominais (teste binomial, p = {_f(cov['pvalue'], '.2f')})"
                             if cov["pvalue"] >= 0.05 else f"{'abaixo' if cov['rate'] < LEVEL else 'acima'} dos "
                             f"{pct}% nominais (teste binomial, p = {_f(cov['pvalue'], '.2g')})")
    rows = sorted((r for r in bt if r["kind"] == "isoflop" and r["covered"] is not None), key=lambda r: r["factor"])
    near, far = (rows[0], rows[-1]) if rows else ({"factor": math.nan, "error_pct": math.nan},) * 2
    up = sum(r["observed"] > r["predicted"] for r in rows)  # vértices com o observado acima do previsto
    n.update(bt_erro_medio=_f(float(np.mean([abs(r["error_pct"]) for r in rows])) if rows else math.nan, ".2f"),
             bt_fator_max=_f(far["factor"], ".1f"), bt_erro_longe=_f(far["error_pct"], "+.2f"),
             bt_erro_perto=_f(near["error_pct"], "+.2f"),
             bt_cresce="—" if not rows else "cresce" if abs(far["error_pct"]) > abs(near["error_pct"]) else "não cresce",
             bt_lado=(f"em {up} das {len(rows)} previsões de vértices o observado ficou acima do previsto"
                      if rows else "sem backtests de vértices nesta execução"),
             bt_espalham=("não se espalham em torno de zero" if rows and up in (0, len(rows)) else
                          "caem dos dois lados de zero" if rows else "—"),
             bt_alvo_lado="—" if not rows or not ok or 2 * up == len(rows) else
             "do mesmo lado" if (err > 0) == (2 * up > len(rows)) else "do outro lado")
    n.update(_rep_numbers(reps))
    return n


def _rep_numbers(reps: dict) -> dict[str, object]:
    n: dict[str, object] = {}
    fit = {k: r for k, r in reps.items() if "error" not in r and math.isfinite(r["error_pct"])}
    for key, r in reps.items():
        n[f"rep_{key}_C"] = format_si(r["budget"], 3) if math.isfinite(r["budget"]) else "—"
        n[f"rep_{key}_prev"], n[f"rep_{key}_erro"] = _f(r.get("predicted", math.nan)), _f(r.get("error_pct", math.nan), "+.2f")
        n[f"rep_{key}_sentido"] = ("—" if key not in fit else "superestima o desempenho" if r["error_pct"] > 0
                                   else "subestima o desempenho")
    if not fit:
        return {**n, "rep_melhor": "—", "rep_padrao": "sem representações ajustadas", "rep_faixa": "—",
                "rep_vs_ruido": "—"}
    best = min(fit, key=lambda k: abs(round(fit[k]["error_pct"], 2)))
    same = best == "M" and len(fit) == 3 and fit["6N1"]["error_pct"] > 0 > fit["6N2"]["error_pct"]
    preds = [r["predicted"] for r in fit.values()]
    spread = 100 * (max(preds) - min(preds)) / float(np.mean(preds))
    half = 100 * (fit[best]["interval"][1] - fit[best]["interval"][0]) / 2 / fit[best]["predicted"]
    n.update(rep_melhor=REPRESENTATIONS[best], rep_faixa=_f(spread, ".2f"),
             rep_padrao=("o mesmo padrão do Apêndice A.2: 6N₁ superestima, 6N₂ subestima e M acerta mais" if same
                         else "um padrão diferente do Apêndice A.2"),
             rep_vs_ruido=("menor que a meia largura do intervalo de um treino: as três previsões não se distinguem"
                           if spread < half else "maior que a meia largura do intervalo de um treino"))
    return n


def _tables(written, checks, inputs, bt, reps, n) -> dict[str, str]:
    sel = lambda p: ", ".join(f"{k} = {v}" for k, v in p.items()) if isinstance(p, dict) else str(p)  # noqa: E731
    kinds = {"isoflop": "vértice IsoFLOP", "alvo": "treinos-alvo (média)"}
    return {
        "previsao": markdown_table(
            ["select", "grandeza", "valor", "intervalo", "nível", "entradas (sha256, 12 primeiros)"],
            [[sel(p["select"]), p["quantity"], _f(float(p["value"])), _iv(*map(float, p["interval"])),
              f"{round(100 * float(p['level']))}%",
              "; ".join(f"{Path(i['path']).name}: {i['sha256'][:12]}" for i in p.get("inputs", []))] for p in written]),
        "entradas": markdown_table(["arquivo", "sha256 escrito", "sha256 hoje", "situação"],
                                   [[i["path"], i["written"][:16], (i["current"] or "—")[:16], i["status"]]
                                    for i in inputs]),
        "conferencia": markdown_table(
            ["treino", "previsto", "intervalo de 90%", "medido", "erro (%)", "situação"],
            [[f"semente {sel(c['select']).split(' = ')[-1]}", _f(c["predicted"]), _iv(*c["interval"]),
              _f(c["measured"]), _f(c["error_pct"], "+.2f"),
              "dentro" if c["covered"] else "fora" if c["covered"] is False else "pendente"] for c in checks]),
        "recalculo": markdown_table(
            ["", "escrito na especificação", "refeito agora"],
            [["valor previsto", n["prev_valor"], n["recalc_valor"]],
             ["intervalo de 90% (um treino)", f"[{n['prev_lo']}; {n['prev_hi']}]", f"[{n['recalc_lo']}; {n['recalc_hi']}]"],
             ["réplicas do bootstrap", str(n["prev_n_boot"]), str(n["recalc_n_boot"])]]),
        "backtests": markdown_table(
            ["ajuste", "alvo", "C do alvo", "salto", "previsto", "intervalo de 90%", "observado", "erro (%)", "cobriu?"],
            [[f"{r['k']} menores", kinds[r["kind"]], format_si(r["target"], 3), f"{_f(r['factor'], '.1f')}×",
              _f(r["predicted"]), _iv(r["lo"], r["hi"]), _f(r["observed"]), _f(r["error_pct"], "+.2f"),
              ("sim" if r["covered"] else "não") if r["covered"] is not None else f"sem ajuste: {r['reason']}"]
             for r in bt]),
        "representacoes": markdown_table(
            ["escala", "C dos alvos nessa escala", "previsto", "intervalo de 90% (um treino)", "medido (média)",
             "erro (%)", "treinos dentro"],
            [[REPRESENTATIONS[k], format_si(r["budget"], 3) if math.isfinite(r["budget"]) else "—"]
             + (["—", "—", "—", "—", f"sem ajuste: {r['error']}"] if "error" in r else
                [_f(r["predicted"]), _iv(*r["interval"]), _f(r["measured"]), _f(r["error_pct"], "+.2f"),
                 f"{r['inside']} de {r['n']}"]) for k, r in reps.items()]),
        "comparacao": markdown_table(
            ["", "salto de computação", "erro relativo da perda prevista"],
            [["DeepSeek LLM (Fig. 5)", f"{DEEPSEEK_FACTOR}×", "não publicado (só a figura)"],
             ["Gadre et al. (C4; 1,4B e 6,9B)", f"{GADRE_FACTOR}×", fmt(GADRE_ERROR_PCT, ".1f") + "%"],
             [f"este livro{n['rotulo']}", f"{n['alvo_fator']}×", f"{n['erro_abs']}% (média dos treinos)"]])}


# --- figuras ---------------------------------------------------------------------------------

def plot_prediction(ch: Chapter9V2):
    """À esquerda, a lei ``L_opt(C)`` com a faixa de 90% do ajuste, os vértices e os treinos IsoFLOP, a
    previsão escrita e as medidas; à direita, o orçamento-alvo de perto: o intervalo **escrito**, o do
    ajuste e a perda de cada treino-alvo."""
    fig, (ax, zoom) = new_figure(ncols=2, width=7.0, height=5.6)  # 7 pol.: mostrada a 100%
    ok, done = np.isfinite(ch.iso["loss"]), np.isfinite(ch.target["loss"])
    ax.scatter(ch.iso["budget"][ok], ch.iso["loss"][ok], color=COLORS["cinza"], s=8, alpha=0.4, label="treinos IsoFLOP")
    value, (lo, hi) = float(ch.written[0]["value"]), ch.interval
    if ch.recomputed is not None:
        boot, pipe = ch.recomputed["boot"], ch.recomputed["pipeline"]
        c = np.logspace(np.log10(pipe.keys[0]) - 0.2, np.log10(ch.budget) + 0.2, 80)
        curves = boot.samples["loss_k"][:, None] * c[None, :] ** boot.samples["loss_alpha"][:, None]
        plot_fit_band(ax, c, *np.quantile(curves, _Q, axis=0), color=COLORS["azul"], label="IC 90% do ajuste")
        ax.plot(c, boot.estimate["loss_k"] * c ** boot.estimate["loss_alpha"], color=COLORS["azul"],
                label="$L_\\mathrm{opt}(C)$ ajustada")
        u, l_star, _ = pipe.vertices(ch.iso["loss"][_design(ch.iso)])
        log_d = np.array([g["d0"] + g["d1"] * (u[0, j] - g["um"]) for j, g in enumerate(pipe.groups)])
        ax.scatter(10 ** (u[0] + log_d), l_star[0], color=COLORS["azul"], zorder=3, label="vértices IsoFLOP")
        zoom.axhspan(*ch.recomputed["fit_interval"], color=COLORS["azul"], alpha=0.25, label="IC 90% só do ajuste")
    seeds = ch.target["seed"][done].astype(int)
    label = "medido" + (f" (miniatura, a {format_si(ch.measured_budget, 3)} FLOPs)" if ch.mini else "")
    for a, x, xs in ((ax, ch.budget, [ch.measured_budget] * seeds.size), (zoom, 0, 1 + np.arange(seeds.size))):
        a.errorbar([x], [value], yerr=[[value - lo], [hi - value]], fmt="o", capsize=5, color=COLORS["azul"],
                   label=f"previsão escrita ({round(100 * LEVEL)}%, um treino)")
        a.scatter(xs, ch.target["loss"][done], marker="*", s=150, color=COLORS["vermelho"], zorder=5, label=label)
    zoom.set_xticks([0, *(1 + np.arange(seeds.size))], ["previsão", *(f"semente {s}" for s in seeds)], rotation=25)
    zoom.set(xlim=(-0.6, seeds.size + 0.6), ylabel="bits por byte", title=f"$C$ = {format_si(ch.budget, 3)} FLOPs")
    ax.set(xscale="log", yscale="log", xlabel="$C$ (FLOPs, convenção $M$)", ylabel="bits por byte (validação)")
    ys = np.r_[lo, hi, ch.target["loss"][done], ch.iso["loss"][ok]]
    y0, y1 = float(ys.min()) * 0.97, float(ys.max()) * 1.03
    step = 0.1 if y1 / y0 < 1.8 else 0.2 if y1 / y0 < 4 else 0.5
    ticks = np.arange(np.ceil(y0 / step), np.floor(y1 / step) + 1) * step
    ax.set(ylim=(y0, y1), title="miniatura (previsão do treino inteiro)" if ch.mini or ch.iso_mini
           else "A lei da perda ótima")
    ax.set_yticks(ticks, [fmt(v, ".1f") for v in ticks])
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    handles = {lab: h for a in (ax, zoom) for h, lab in zip(*a.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=2, fontsize=9.5)
    return fig


def plot_backtests(ch: Chapter9V2):
    """Os *backtests*: observado − previsto (pontos; estrela = treinos-alvo) e o intervalo de 90% (barras),
    em % do previsto, contra o salto entre o maior orçamento ajustado e o alvo; uma cor por ``k``."""
    fig, ax = new_figure(width=7.0, height=4.2)
    rows = [r for r in ch.backtest if r["covered"] is not None]
    colors = dict(zip(ks := sorted({r["k"] for r in rows}), budget_colors(len(ks))))
    for r in rows:
        p, x, col = r["predicted"], r["factor"], colors[r["k"]]
        ax.vlines(x, 100 * (r["lo"] / p - 1), 100 * (r["hi"] / p - 1), color=col, lw=2, alpha=0.6)
        ax.plot([x], [100 * (r["observed"] / p - 1)], "*" if r["kind"] == "alvo" else "o", color=col,
                ms=11 if r["kind"] == "alvo" else 5, mec=col if r["covered"] else "black")
    for k in ks:
        ax.plot([], [], "o", color=colors[k], label=f"ajuste nos {k} menores")
    ax.axhline(0, color="black", lw=0.8)
    if rows:
        ax.set_xscale("log")
        plain_log_axis(ax, "x")
        ax.legend(fontsize=9.5, title="estrela: treinos-alvo; borda preta: fora", title_fontsize=9.5)
    else:
        ax.text(0.5, 0.5, "sem backtests: faltam orçamentos com vértice interior", transform=ax.transAxes, ha="center")
    ax.set(xlabel="salto (alvo ÷ maior orçamento ajustado)", ylabel="observado − previsto (% do previsto)")
    return fig


def plot_target_curves(ch: Chapter9V2):
    """A perda de validação de cada treino-alvo ao longo dos *tokens* (o ``trace`` do registro) e o
    intervalo escrito para o fim; sem ``trace`` nos registros, a figura diz isso."""
    fig, ax = new_figure(width=7.0, height=4.2)
    drew = False
    for rec, color in zip(ch.target_records, (COLORS["vermelho"], COLORS["laranja"], COLORS["roxo"], COLORS["verde"])):
        pts = [(p["tokens"], p["val_bpb"]) for p in rec.get("trace") or () if p.get("val_bpb") and p.get("tokens")]
        if pts:
            ax.plot(*zip(*pts), "o-", ms=3, color=color, label=f"semente {rec.get('train', {}).get('seed', '?')}")
            drew = True
    ax.axhspan(*ch.interval, color=COLORS["azul"], alpha=0.18,
               label="intervalo escrito para o fim" + (" (do treino inteiro)" if ch.mini else ""))
    if not drew:
        ax.text(0.5, 0.5, "os registros não trazem a curva de validação", transform=ax.transAxes, ha="center")
    ax.set(xlabel="tokens de treino", ylabel="perda de validação (bits por byte)")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: format_si(v) if v else "0"))
    ax.legend(fontsize=9.5)
    return fig
