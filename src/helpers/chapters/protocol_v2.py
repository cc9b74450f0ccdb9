"""A cadeia do protocolo v2 (capítulos 7–9) como comandos: grade → sementes → IsoFLOP → previsão.

Cada passo lê os resultados do anterior e escreve a especificação do seguinte (com
:func:`helpers.engine.specs.format_spec`, que guarda ``refine`` e ``predictions``)::

    python -m helpers.chapters.protocol_v2 hyper-spec --out experiments/cap07_hiperparametros_v2.json
    python -m helpers.engine.sweeps run experiments/cap07_hiperparametros_v2.json --out results/cap07_hiperparametros_v2.jsonl
    python -m helpers.laws.refine experiments/cap07_hiperparametros_v2.json --results results/cap07_hiperparametros_v2.jsonl
        (treinar e estender até todos os orçamentos ficarem interiores)
    python -m helpers.chapters.protocol_v2 seeds experiments/cap07_hiperparametros_v2.json --results results/cap07_hiperparametros_v2.jsonl
    python -m helpers.chapters.protocol_v2 isoflop-spec --hyper results/cap07_hiperparametros_v2.jsonl --out experiments/cap08_isoflop_v2.json
    python -m helpers.chapters.protocol_v2 prediction-spec --hyper results/cap07_hiperparametros_v2.jsonl \\
        --isoflop results/cap08_isoflop_v2.jsonl --out experiments/cap09_previsao_v2.json

- ``hyper-spec``: 5 orçamentos (10^10,5 … 10^12,5), um modelo por orçamento perto do ótimo da
  lei IsoFLOP v1 e uma grade 4 × 4 centrada nos valores a priori do v1 (ver :func:`v1_priors`);
- ``seeds``: com todos os orçamentos interiores (o relatório de :mod:`helpers.laws.refine`),
  acrescenta 3 sementes **novas** (não a 0 da grade, cuja perda foi escolhida por ser a menor e
  infla σ) na melhor configuração de cada orçamento; recusa (código 1) enquanto algum toca a
  borda ou tem treinos pendentes. Rodar de novo não duplica nada;
- ``isoflop-spec``: taxa e lote das leis v2 (:class:`~helpers.laws.fit.calibrated.HyperPipeline`
  nos treinos da grade, semente 0), janelas da escada v2 em torno do vértice da lei v1;
- ``prediction-spec``: o treino de 10^14 FLOPs (31,6× o maior orçamento IsoFLOP) e a perda
  **prevista antes do treino**, com o intervalo de 90% de um treino (bootstrap paramétrico do
  pipeline IsoFLOP sob o ruído das sementes, mais o ruído de um treino).

``--mini`` (em ``seeds`` e ``isoflop-spec``) lê os registros de miniatura: serve para testar a
cadeia em segundos; os orçamentos voltam à escala nominal (÷ ``mini_scale``) e as bordas são
relatadas, não exigidas (orçamentos minúsculos não têm bacia). ``prediction-spec`` não tem
miniatura: com ~100 passos o menor modelo vence em todo orçamento, e nenhum perfil IsoFLOP de
miniatura tem vértice interior. Entrada inválida: uma linha de erro e código 2; recusa do
protocolo: uma linha e código 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path

import numpy as np

from ..engine.results_store import load_results
from ..engine.specs import SweepSpec, expand, format_spec, load_spec, parse_spec, refine_settings
from ..engine.sweeps import _Parser
from ..laws import fit
from ..laws.fit.calibrated import HyperPipeline, IsoFlopPipeline, parametric_bootstrap
from ..laws.fit.noise import fit_noise_model
from ..laws.predictions import file_input, write_predictions
from ..laws.refine import edge_report, writable_spec_path
from . import protocol_v2_specs as S
from .cap07 import HYPER_RESULTS, chapter7_laws
from .cap08 import ISOFLOP_RESULTS, isoflop_fit
from .common import ROOT, records, round_batch, runs_table

__all__ = ["GRID_SEED", "FRESH_SEEDS", "HYPER_SPEC_V2", "ISOFLOP_SPEC_V2", "Priors", "v1_priors", "result_rows",
           "spec_records", "record_columns", "grid_view", "hyper_laws", "noise_groups", "add_seeds", "main"]

PROG = "python -m helpers.chapters.protocol_v2"
#: A semente da grade (a do ``base``); as sementes do ruído são outras.
GRID_SEED = 0
#: As sementes novas do modelo de ruído.
FRESH_SEEDS = (1, 2, 3)
HYPER_SPEC_V2 = ROOT / "experiments" / "cap07_hiperparametros_v2.json"
ISOFLOP_SPEC_V2 = ROOT / "experiments" / "cap08_isoflop_v2.json"
LEVEL = 0.9


class Refusal(Exception):
    """O protocolo ainda não deixa dar este passo (código de saída 1)."""


def _fmt(x: float, spec: str = ".4g") -> str:
    return format(x, spec).replace(".", ",")


# --- os valores a priori (v1) ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Priors:
    """Os valores a priori do v1: funções do orçamento e o texto que vai na descrição."""

    lr: object
    batch: object
    m_opt: object
    text: str


def v1_priors(hyper_path=HYPER_RESULTS, isoflop_path=ISOFLOP_RESULTS) -> Priors:
    """Centro das grades v2 a partir dos resultados v1 (só as estimativas pontuais).

    Taxa e lote: a média geométrica de duas estimativas v1 — a lei da região quase ótima do
    capítulo 7 (tolerância do ruído, ~3,4%, regiões largas cortadas pelas bordas: expoente da
    taxa ≈ +0,06) e a lei de potência pelos melhores pontos de cada grade v1 (semente 0;
    expoente ≈ +0,42). Com ela, os melhores pontos v1 dos 4 orçamentos que o v2 repete caem
    no 2º ou 3º valor de cada eixo. Tamanho: ``M_opt(C)`` da lei IsoFLOP v1 (capítulo 8).
    """
    recs = records(hyper_path)
    laws, _ = chapter7_laws(recs, n_boot=10)
    t = runs_table(recs)
    grid = (t["seed"] == GRID_SEED) & np.isfinite(t["loss"])
    budgets = np.unique(t["budget"][grid])
    best = [np.flatnonzero(grid & (t["budget"] == c))[np.nanargmin(t["loss"][grid & (t["budget"] == c)])]
            for c in budgets]
    lr_best = fit.fit_power_law(budgets, t["lr"][best])
    b_best = fit.fit_power_law(budgets, t["batch"][best])
    iso = isoflop_fit(runs_table(records(isoflop_path)), n_boot=10)

    def lr(c):
        return math.sqrt(float(laws.lr_opt(c)) * float(lr_best.k * c**lr_best.alpha))

    def batch(c):
        return math.sqrt(float(laws.batch_opt(c)) * float(b_best.k * c**b_best.alpha))

    def m_opt(c):
        return float(iso.scale_opt(c))

    text = (f"média geométrica (em log) de duas estimativas v1 de {Path(hyper_path).name}: a lei da região quase ótima "
            f"do capítulo 7 (η = {_fmt(laws.lr.k)}·C^{_fmt(laws.lr.alpha, '.3f')}, B = {_fmt(laws.batch.k)}·"
            f"C^{_fmt(laws.batch.alpha, '.3f')}, tolerância {_fmt(100 * laws.tolerance, '.1f')}%) e a lei pelos "
            f"melhores pontos de cada grade v1 (η = {_fmt(lr_best.k)}·C^{_fmt(lr_best.alpha, '.3f')}, B = {_fmt(b_best.k)}·"
            f"C^{_fmt(b_best.alpha, '.3f')}), arredondada à rede taxa = 0,00075·2^k, lote = 64·2^k tokens "
            f"(no mínimo 64) com o valor a priori entre o 2º e o 3º valor; M_opt = {_fmt(iso.scale_law.k)}·C^{_fmt(iso.a, '.3f')} "
            f"da lei IsoFLOP v1 ({Path(isoflop_path).name}).")
    return Priors(lr, batch, m_opt, text)


# --- os resultados v2 como linhas -----------------------------------------------------------

def _loss(rec: dict) -> float:
    v = rec.get("final_val_bpb")
    ok = rec.get("status") == "ok" and isinstance(v, (int, float)) and not isinstance(v, bool)
    return float(v) if ok and math.isfinite(v) else float("nan")


def result_rows(spec: SweepSpec, recs: list[dict], *, mini: bool = False) -> dict[str, np.ndarray]:
    """Vetores paralelos (um por treino da especificação com resultado) na escala **nominal**.

    Chaves: ``budget``, ``lr``, ``batch``, ``seed``, ``n_layer``, ``d_model`` (da especificação
    inteira), ``M``, ``tokens`` e ``loss`` (``NaN`` se divergiu). Com ``mini``, só os registros
    de miniatura, com orçamento e tokens divididos por ``mini_scale["train.budget_flops"]``.
    """
    if mini:
        view, full = S.mini_view(spec)
        scale = float((spec.mini_scale or {}).get("train.budget_flops", 1.0))
    else:
        full = {p.run_id: p for p in expand(spec)}
        scale = 1.0
    cols = {k: [] for k in ("budget", "lr", "batch", "seed", "n_layer", "d_model", "M", "tokens", "loss")}
    for rec in recs:
        p = full.get(rec.get("run_id")) if isinstance(rec, dict) and bool(rec.get("mini")) == mini else None
        if p is None:
            continue
        for key, value in (("budget", p.train.budget_flops), ("lr", p.train.lr), ("batch", p.train.batch_size_tokens),
                           ("seed", p.train.seed), ("n_layer", p.model.num_hidden_layers),
                           ("d_model", p.model.hidden_size), ("M", rec["flops_per_token"]["M"]),
                           ("tokens", rec["tokens"] / scale), ("loss", _loss(rec))):
            cols[key].append(value)
    if not cols["loss"]:
        what = "de miniatura " if mini else ""
        raise ValueError(f"nenhum resultado {what}da especificação {spec.name!r} no arquivo; rode a varredura antes"
                         f"{' com --mini' if mini else ''}.")
    return {k: np.asarray(v, dtype=float) for k, v in cols.items()}


def spec_records(spec: SweepSpec, recs: list[dict], *, mini: bool = False) -> list[dict]:
    """Os registros de ``recs`` que são treinos de ``spec`` (da miniatura, com ``mini``), na ordem do
    arquivo — o mesmo filtro e a mesma ordem de :func:`result_rows`."""
    ids = set(S.mini_view(spec)[1]) if mini else {p.run_id for p in expand(spec)}
    return [r for r in recs if isinstance(r, dict) and bool(r.get("mini")) == mini and r.get("run_id") in ids]


def record_columns(recs: list[dict]) -> dict[str, np.ndarray]:
    """As colunas que os capítulos v2 mostram além de :func:`result_rows`, uma por registro (``NaN`` onde faltam):
    ``6N1``, ``6N2``, ``N_total``, ``N_nonemb``, ``steps``, ``wall_s`` e, da avaliação final, ``eval_tokens``,
    ``eval_docs``, ``eval_docs_total``, ``eval_fraction``, ``half_a`` e ``half_b`` (as duas metades)."""
    cols = {k: [] for k in ("6N1", "6N2", "N_total", "N_nonemb", "steps", "wall_s", "eval_tokens", "eval_docs",
                            "eval_docs_total", "eval_fraction", "half_a", "half_b")}
    for r in recs:
        fpt, par = r.get("flops_per_token") or {}, r.get("parameters") or {}
        final = (r.get("evaluation") or {}).get("final") or {}
        halves = final.get("halves_bpb") or (None, None)
        values = (fpt.get("6N1"), fpt.get("6N2"), par.get("total"), par.get("non_embedding"), r.get("steps"),
                  r.get("wall_time_s"), final.get("tokens"), final.get("documents_touched"),
                  final.get("documents_total"), final.get("fraction_of_split"), *halves)
        for key, value in zip(cols, values):
            cols[key].append(math.nan if value is None else value)
    return {k: np.asarray(v, dtype=float) for k, v in cols.items()}


def grid_view(spec: SweepSpec) -> SweepSpec:
    """A especificação só com os treinos da grade (semente 0): o relatório de bordas e a seleção."""
    seed = spec.base.get("train", {}).get("seed", 0)
    d = spec.to_dict()
    d["runs"] = [r for r in spec.runs if r.get("train.seed", seed) == GRID_SEED]
    d.pop("mini_runs", None)
    return parse_spec(d, spec.name)


def _gate(spec: SweepSpec, recs: list[dict], *, mini: bool, what: str, spec_path, results_path) -> list:
    """O relatório de bordas da grade; :class:`Refusal` se algum grupo não está pronto."""
    view = grid_view(S.mini_view(spec)[0] if mini else spec)
    recs = [r for r in recs if isinstance(r, dict) and bool(r.get("mini")) == mini]
    reports = edge_report(view, recs)
    bad = [r for r in reports if r.status in ("pending", "failed") or (r.status == "edge" and not mini)]
    if bad:
        names = {"pending": "treinos pendentes", "failed": "nenhum treino terminou bem", "edge": "toca a borda"}
        detail = "; ".join(f"{_fmt(r.group, '.4g')}: {names[r.status]}" for r in bad)
        raise Refusal(f"recuso {what}: {len(bad)} de {len(reports)} grupo(s) de {spec.name!r} ainda não estão prontos "
                      f"({detail}) — rode 'python -m helpers.laws.refine {spec_path} --results {results_path}' e a "
                      "varredura até todos ficarem interiores.")
    return reports


def hyper_laws(rows: dict[str, np.ndarray], *, tolerance: float = S.TOLERANCE_V2) -> dict[str, float]:
    """As leis v2 ``η = k·C^α`` e ``B = k·C^α`` (HyperPipeline) nos treinos da grade (semente 0)."""
    g = rows["seed"] == GRID_SEED
    if np.unique(rows["budget"][g]).size < 2:
        raise ValueError("as leis de hiperparâmetros precisam de 2 orçamentos ou mais na grade (semente 0).")
    pipeline = HyperPipeline(rows["budget"][g], rows["lr"][g], rows["batch"][g], tolerance=tolerance)
    return pipeline(rows["loss"][g])


def noise_groups(rows: dict[str, np.ndarray], *, fresh_only: bool) -> list[np.ndarray]:
    """As perdas de cada configuração repetida com sementes diferentes (2 ou mais que terminaram).

    ``fresh_only`` deixa de fora a semente da grade (a vencedora da seleção, viesada para baixo).
    """
    keys = np.stack([rows[k] for k in ("budget", "lr", "batch", "n_layer", "d_model")], axis=1)
    ok = np.isfinite(rows["loss"])
    if fresh_only:
        ok &= rows["seed"] != GRID_SEED
    groups = []
    for key in np.unique(keys[ok], axis=0):
        idx = ok & np.all(keys == key, axis=1)
        if np.unique(rows["seed"][idx]).size >= 2:
            groups.append(rows["loss"][idx])
    return groups


def _estimate_line(spec_dict: dict, what: str) -> str:
    return S.describe_estimate(S.cpu_estimate(expand(parse_spec(spec_dict, what))), what)


def _write(spec_dict: dict, out) -> None:
    out = Path(out)
    parse_spec(spec_dict, str(out))  # a especificação tem de ser válida antes de ir ao disco
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    tmp.write_text(format_spec(spec_dict), encoding="utf-8")
    os.replace(tmp, out)


def _results(path: str) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"arquivo de resultados não encontrado (ou não é um arquivo): {str(p)!r}.")
    return load_results(p)


# --- os comandos ------------------------------------------------------------------------------

def cmd_hyper_spec(args) -> int:
    out = writable_spec_path(args.out)
    priors = v1_priors(args.v1_hyper, args.v1_isoflop)
    source = f"{Path(args.v1_hyper).name} e {Path(args.v1_isoflop).name} (os resultados v1)"
    spec = S.hyper_spec(priors.lr, priors.batch, priors.m_opt, prior_text=priors.text, source=source)
    _write(spec, out)
    print(f"escrevi {out}: {len(spec['runs'])} treinos")
    print(_estimate_line(spec, "da grade de hiperparâmetros"))
    return 0


def add_seeds(spec: SweepSpec, recs: list[dict], seeds=FRESH_SEEDS, *, mini: bool = False, spec_path="SPEC",
              results_path="R") -> tuple[dict | None, list[str]]:
    """A especificação com as sementes novas na melhor configuração de cada orçamento (ou ``None``
    se já estão todas) e as linhas do relatório; :class:`Refusal` se a grade não está pronta."""
    if refine_settings(spec)["kind"] != "hyper":
        raise ValueError(f"seeds: a especificação {spec.name!r} não é uma grade de hiperparâmetros "
                         "(refine.kind 'hyper').")
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) < 3 or any(s == GRID_SEED for s in seeds):
        raise ValueError(f"--seeds deve ter 3 ou mais sementes distintas, inteiros ≥ 1 (a {GRID_SEED} é a da grade); "
                         f"recebi {seeds}.")
    reports = _gate(spec, recs, mini=mini, what="acrescentar sementes", spec_path=spec_path,
                    results_path=results_path)
    full = S.mini_view(spec)[1] if mini else None
    view = grid_view(S.mini_view(spec)[0] if mini else spec)
    axes = list(refine_settings(spec)["axes"])
    existing = {p.run_id for p in expand(spec)}
    base_budget = spec.base.get("train", {}).get("budget_flops")
    mini_budgets = ({spec.runs[i].get("train.budget_flops", base_budget) for i in spec.mini_runs}
                    if spec.mini_runs is not None else set())
    fresh, lines, mini_add = [], [], []
    for report in reports:
        match = [p for p in expand(view) if p.train.budget_flops == report.group
                 and all(_field(p, a) == report.best[a] for a in axes)]
        template = dict((full[match[0].run_id] if mini else match[0]).overrides)
        added = []
        for s in seeds:
            extra = {**template, "train.seed": s}
            rid = expand(dataclasses.replace(spec, runs=(extra,), mini_runs=None))[0].run_id
            if rid in existing:
                continue
            existing.add(rid)
            if spec.mini_runs is not None and (mini or extra.get("train.budget_flops", base_budget) in mini_budgets):
                mini_add.append(len(spec.runs) + len(fresh))
            fresh.append(extra)
            added.append(s)
        best = ", ".join(f"{a} = {_fmt(report.best[a])}" for a in axes)
        state = f"+{len(added)} semente(s) ({', '.join(map(str, added))})" if added else "sementes já na especificação"
        lines.append(f"{_fmt(template.get('train.budget_flops', base_budget))} FLOPs: melhor {best} "
                     f"({_fmt(report.best_loss)}) — {state}")
    if not fresh:
        return None, lines
    d = spec.to_dict()
    d["runs"] = d["runs"] + fresh
    if spec.mini_runs is not None:
        d["mini_runs"] = list(spec.mini_runs) + mini_add
    return d, lines


def _field(p, key: str):
    section, _, name = key.partition(".")
    return getattr(p.model if section == "model" else p.train, name)


def cmd_seeds(args) -> int:
    spec = load_spec(args.spec)
    recs = _results(args.results)
    new, lines = add_seeds(spec, recs, args.seeds, mini=args.mini, spec_path=args.spec, results_path=args.results)
    for line in lines:
        print(line)
    if new is None:
        print("nada a acrescentar: as sementes de todos os orçamentos já estão na especificação")
        return 0
    _write(new, args.spec)
    added = len(new["runs"]) - len(spec.runs)
    print(f"{added} treino(s) novo(s) gravado(s) em {args.spec}; rode: python -m helpers.engine.sweeps run {args.spec} "
          f"--out {args.results}")
    extra = dict(new, runs=new["runs"][len(spec.runs):])
    extra.pop("mini_runs", None)
    print(_estimate_line(extra, "das sementes"))
    return 0


def cmd_isoflop_spec(args) -> int:
    out = writable_spec_path(args.out)
    spec7 = load_spec(args.hyper_spec)
    recs7 = _results(args.hyper)
    _gate(spec7, recs7, mini=args.mini, what="escrever a especificação IsoFLOP", spec_path=args.hyper_spec,
          results_path=args.hyper)
    laws = hyper_laws(result_rows(spec7, recs7, mini=args.mini), tolerance=refine_settings(spec7)["tolerance"])
    prior = v1_priors(HYPER_RESULTS, args.v1_isoflop)

    def lr_at(c):
        return laws["k_lr"] * c ** laws["alpha_lr"]

    def batch_at(c):
        return round_batch(laws["k_batch"] * c ** laws["alpha_batch"], S.SEQ_LEN_V2)

    text = (f"leis v2 do HyperPipeline (região a {_fmt(100 * refine_settings(spec7)['tolerance'], '.2f')}% da melhor "
            f"perda, só a grade, semente {GRID_SEED}) em {Path(args.hyper).name}: η = {_fmt(laws['k_lr'])}·"
            f"C^{_fmt(laws['alpha_lr'], '.4f')}, B = {_fmt(laws['k_batch'])}·C^{_fmt(laws['alpha_batch'], '.4f')} "
            f"tokens"
            f"{' (miniatura)' if args.mini else ''}.")
    source = f"{Path(args.hyper).name} (leis v2) e {Path(args.v1_isoflop).name} (vértice v1)"
    spec = S.isoflop_spec(lr_at, batch_at, prior.m_opt, laws_text=text, source=source)
    _write(spec, out)
    print(f"escrevi {out}: {len(spec['runs'])} treinos")
    print(_estimate_line(spec, "dos perfis IsoFLOP"))
    return 0


def _single_run_interval(samples: np.ndarray, noise, rng) -> tuple[float, float]:
    """Intervalo de 90% de **um** treino: cada réplica do ajuste vezes ``exp(σ·ε)``, com ``σ``
    sorteado dentro da sua incerteza (:meth:`~helpers.laws.fit.noise.NoiseModel.draw_sigma`)."""
    s = np.repeat(samples, 20)
    draws = s * np.exp(noise.draw_sigma(s.size, rng) * rng.standard_normal(s.size))
    lo, hi = np.quantile(draws, [0.5 - LEVEL / 2, 0.5 + LEVEL / 2])
    return float(lo), float(hi)


def cmd_prediction_spec(args) -> int:
    out = writable_spec_path(args.out)
    spec7, spec8 = load_spec(args.hyper_spec), load_spec(args.isoflop_spec)
    recs7, recs8 = _results(args.hyper), _results(args.isoflop)
    if refine_settings(spec8)["kind"] != "isoflop":
        raise ValueError(f"--isoflop-spec: {spec8.name!r} não é uma especificação IsoFLOP (refine.kind 'isoflop').")
    _gate(spec8, recs8, mini=False, what="escrever a previsão", spec_path=args.isoflop_spec,
          results_path=args.isoflop)
    rows7 = result_rows(spec7, recs7)
    rows8 = result_rows(spec8, recs8)
    budget = S.PREDICTION_BUDGET_V2
    largest = float(np.max(rows8["budget"]))
    if budget < 30 * largest:
        raise ValueError(f"o orçamento da previsão ({budget:.4g}) deve ser ≥ 30× o maior orçamento IsoFLOP "
                         f"({largest:.4g}), isto é, ≥ {30 * largest:.4g}.")
    groups, source = noise_groups(rows8, fresh_only=False), Path(args.isoflop).name
    if not groups:
        groups, source = noise_groups(rows7, fresh_only=True), Path(args.hyper).name
    if not groups:
        raise ValueError("nenhuma configuração repetida com sementes novas: rode "
                         f"'{PROG} seeds {args.hyper_spec} --results {args.hyper}' e a varredura antes.")
    noise = fit_noise_model(groups, kind="relative", level=LEVEL)
    design = np.isfinite(rows8["loss"]) & (rows8["seed"] == GRID_SEED)
    pipeline = IsoFlopPipeline(rows8["budget"][design], rows8["M"][design], rows8["tokens"][design],
                               predict_at=(budget,))
    boot = parametric_bootstrap(pipeline, rows8["loss"][design], noise, n_boot=args.n_boot, level=LEVEL, seed=0)
    key = f"loss@{budget:g}"
    value = boot.estimate[key]
    fit_lo, fit_hi = boot.ci(key)
    lo, hi = _single_run_interval(boot.samples[key], noise, np.random.default_rng(1))
    if not lo <= value <= hi:
        raise ValueError(f"o intervalo de predição [{lo:.4f}, {hi:.4f}] não contém o valor previsto {value:.4f}: "
                         f"a distribuição das réplicas está torta demais ({boot.describe_failures()}).")
    value, lo, hi = round(value, 4), math.floor(lo * 1e4) / 1e4, math.ceil(hi * 1e4) / 1e4
    m_opt = boot.estimate[f"scale@{budget:g}"]
    rung = S.nearest_rung(m_opt)
    laws = hyper_laws(rows7, tolerance=refine_settings(spec7)["tolerance"])
    lr = laws["k_lr"] * budget ** laws["alpha_lr"]
    batch = round_batch(laws["k_batch"] * budget ** laws["alpha_batch"], S.SEQ_LEN_V2)
    n_design, n_budgets = int(design.sum()), int(np.unique(rows8["budget"][design]).size)
    method = (f"IsoFlopPipeline (parábola de cada orçamento → vértices → L_opt ∝ C^α) nos {n_design} treinos de "
              f"{n_budgets} orçamentos de {Path(args.isoflop).name}; bootstrap paramétrico do pipeline inteiro "
              f"({boot.n_boot} réplicas em torno das parábolas ajustadas, {boot.describe_failures()}) sob o "
              f"{noise.describe()} medido em {source}; mais o ruído de um treino (σ sorteado dentro do seu intervalo): "
              f"intervalo de {round(100 * LEVEL)}% para um treino. IC {round(100 * LEVEL)}% só do ajuste: "
              f"[{_fmt(fit_lo, '.4f')}; {_fmt(fit_hi, '.4f')}].")
    inputs = [file_input(args.hyper), file_input(args.isoflop), file_input(args.hyper_spec), file_input(args.isoflop_spec)]
    text = (f"Previsto antes do treino: final_val_bpb = {_fmt(value)} por treino, intervalo de "
            f"{round(100 * LEVEL)}% [{_fmt(lo)}; {_fmt(hi)}] (campo predictions). M_opt previsto = {_fmt(m_opt)} "
            f"(a = {_fmt(boot.estimate['a'], '.4f')}); o orçamento é {_fmt(budget / largest, '.3g')}× o maior "
            f"orçamento IsoFLOP. Taxa η = {_fmt(lr)} e lote {batch} tokens das leis v2 de {Path(args.hyper).name}.")
    source = f"{Path(args.hyper).name} e {Path(args.isoflop).name}"
    spec = S.prediction_spec(budget, rung, lr, batch, text=text, source=source)
    preds = [{"select": {"train.seed": int(s)}, "quantity": "final_val_bpb", "value": value, "interval": [lo, hi],
              "level": LEVEL, "method": method, "inputs": inputs} for s in S.PREDICTION_SEEDS]
    spec = write_predictions(spec, preds)
    _write(spec, out)
    print(f"escrevi {out}: {len(spec['runs'])} treinos; previsto final_val_bpb = {_fmt(value)} "
          f"[{_fmt(lo)}; {_fmt(hi)}] ({round(100 * LEVEL)}%, um treino)")
    print(_estimate_line({k: v for k, v in spec.items() if k != "predictions"}, "dos treinos da previsão"))
    return 0


# --- linha de comando -------------------------------------------------------------------------

def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"--seeds: cada semente deve ser um inteiro ≥ 1 (a {GRID_SEED} é a da grade); "
                                         f"recebi {text!r}")
    return value


def _n_boot(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 10:
        raise argparse.ArgumentTypeError(f"--n-boot deve ser um inteiro ≥ 10; recebi {text!r}")
    return value


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description="A cadeia do protocolo v2 (capítulos 7–9) como comandos.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("hyper-spec", help="escreve a grade de hiperparâmetros v2")
    p.add_argument("--v1-hyper", default=str(HYPER_RESULTS), help="resultados v1 do capítulo 7")
    p.add_argument("--v1-isoflop", default=str(ISOFLOP_RESULTS), help="resultados v1 do capítulo 8")
    p.add_argument("--out", required=True)
    p = sub.add_parser("seeds", help="acrescenta sementes novas na melhor configuração de cada orçamento")
    p.add_argument("spec")
    p.add_argument("--results", required=True)
    p.add_argument("--seeds", nargs="+", type=_seed, default=list(FRESH_SEEDS))
    p.add_argument("--mini", action="store_true", help="usa os registros de miniatura (teste da cadeia)")
    p = sub.add_parser("isoflop-spec", help="escreve os perfis IsoFLOP v2 com as leis da grade v2")
    p.add_argument("--hyper", required=True, help="resultados da grade v2")
    p.add_argument("--hyper-spec", default=str(HYPER_SPEC_V2))
    p.add_argument("--v1-isoflop", default=str(ISOFLOP_RESULTS), help="resultados v1 (o vértice previsto)")
    p.add_argument("--out", required=True)
    p.add_argument("--mini", action="store_true", help="usa os registros de miniatura (teste da cadeia)")
    p = sub.add_parser("prediction-spec", help="escreve os treinos da previsão com o valor previsto")
    p.add_argument("--hyper", required=True, help="resultados da grade v2 (com as sementes)")
    p.add_argument("--isoflop", required=True, help="resultados IsoFLOP v2")
    p.add_argument("--hyper-spec", default=str(HYPER_SPEC_V2))
    p.add_argument("--isoflop-spec", default=str(ISOFLOP_SPEC_V2))
    p.add_argument("--n-boot", type=_n_boot, default=1000, help="réplicas do bootstrap paramétrico (padrão: 1000)")
    p.add_argument("--out", required=True)
    return parser


COMMANDS = {"hyper-spec": cmd_hyper_spec, "seeds": cmd_seeds, "isoflop-spec": cmd_isoflop_spec,
            "prediction-spec": cmd_prediction_spec}


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # erro de uso (já impresso numa linha) ou --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except Refusal as exc:
        print(f"erro: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"erro: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"erro: não consegui ler ou gravar {exc.filename!r} ({exc.strerror}).", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
