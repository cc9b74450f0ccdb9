"""Capítulo 10, protocolo v2 — a qualidade dos dados como eixo medido (a razão do gzip ``H``).

Os treinos das especificações de :mod:`helpers.chapters.cap10_specs` (4 faixas de
compressibilidade e o controle diluído) mais os do capítulo 8 v2 (o corpus inteiro), todos nos
mesmos 5 orçamentos, tamanhos, taxas, lotes e sementes. Sob o ruído das sementes novas do capítulo 7
v2 (um modelo relativo, com o seu intervalo), :func:`analysis` devolve:

- por corpus, o ajuste IsoFLOP (:func:`~.cap08_v2.allocation_fit`: parábolas → vértices → leis, com o
  bootstrap paramétrico do pipeline inteiro) na validação **comum** e, nas faixas, na **própria**;
- o **deslocamento pareado** de ``log₁₀ M_opt`` entre dois corpora — a média, nos orçamentos, da
  diferença dos vértices (:class:`PairedShift`), com o intervalo do bootstrap conjunto — e a
  diferença dos expoentes ``Δa`` no mesmo bootstrap;
- ``a`` contra ``H``: a inclinação ``da/dH`` nas faixas com o seu intervalo;
- a conferência da previsão da diluição escrita na especificação antes dos treinos.

As tabelas saem em Markdown (``tables``) e os números com vírgula decimal (``numbers``, para
``{glue:text}``); ``plot_…`` são as figuras. Em miniatura, o que não se ajusta é relatado (``"—"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..engine.results_store import load_results
from ..engine.specs import load_spec
from ..laws.fit.calibrated import CalibratedBootstrap, IsoFlopPipeline, parametric_bootstrap
from ..laws.fit.noise import NoiseModel, fit_noise_model
from ..laws.fit.pipelines import _Pipeline
from . import cap10_specs as Q
from .cap07_v2 import HYPER_RESULTS_V2, HYPER_SPEC_V2
from .cap08_v2 import AllocationFit, allocation_fit, isoflop_rows, seed_noise_model
from .protocol_v2 import GRID_SEED, LEVEL, noise_groups, spec_records

__all__ = ["STUDY", "PairedShift", "CorpusFit", "corpus_fit", "paired_shift", "slope_vs_h", "QualityV2",
           "written_prediction", "clean_surface", "analysis", "shift_coverage"]

#: Os corpora na ordem do texto e das figuras.
STUDY = ("faixa1", "faixa2", "faixa3", "faixa4", "limpo", "diluido")
#: Os pares do deslocamento pareado: (corpus, referência).
PAIRS = (("diluido", "limpo"), ("faixa4", "faixa1"), ("faixa1", "limpo"), ("faixa2", "limpo"), ("faixa3", "limpo"),
         ("faixa4", "limpo"))
DASH = "—"


class PairedShift(_Pipeline):
    """O pipeline conjunto de dois estudos IsoFLOP com os **mesmos orçamentos**: as perdas do corpus
    ``x`` e depois as da referência ``r`` num vetor só, para que um bootstrap perturbe as duas juntas.

    Quantidades: ``shift`` (média, nos orçamentos, de ``log₁₀ M_opt,x − log₁₀ M_opt,r``), ``shift@C``
    (a diferença em cada orçamento), ``a_x``, ``a_r`` e ``delta_a = a_x − a_r``. Uma réplica falha se
    qualquer dos dois pipelines falha (com o motivo do primeiro que falhou).
    """

    default_centre = "smooth"

    def __init__(self, x: IsoFlopPipeline, r: IsoFlopPipeline):
        if x.keys.shape != r.keys.shape or not np.allclose(x.keys, r.keys, rtol=1e-9):
            raise ValueError("o deslocamento pareado precisa dos mesmos orçamentos nos dois corpora; recebi "
                             f"{list(x.keys)} e {list(r.keys)}.")
        self.x, self.r, self.nx = x, r, x.n
        self.n = x.n + r.n
        self.names = ["shift", "a_x", "a_r", "delta_a"] + [f"shift@{c:g}" for c in x.keys]

    def batch(self, losses):
        losses = np.atleast_2d(np.asarray(losses, dtype=float))
        ux, _, rx = self.x.vertices(losses[:, :self.nx])
        ur, _, rr = self.r.vertices(losses[:, self.nx:])
        vx, rx2 = self.x.batch(losses[:, :self.nx])
        vr, rr2 = self.r.batch(losses[:, self.nx:])
        reasons = np.array([a or b or (f"referência: {c}" if c else "") or (f"referência: {d}" if d else "")
                            for a, b, c, d in zip(rx, rx2, rr, rr2)], dtype=object)
        diff = ux - ur
        values = {"shift": diff.mean(axis=1), "a_x": vx["a"], "a_r": vr["a"], "delta_a": vx["a"] - vr["a"]}
        for j, c in enumerate(self.x.keys):
            values[f"shift@{c:g}"] = diff[:, j]
        bad = reasons != ""
        for v in values.values():
            v[bad] = np.nan
        return values, reasons

    def smooth(self, losses):
        losses = np.asarray(losses, dtype=float)
        return np.concatenate([self.x.smooth(losses[:self.nx]), self.r.smooth(losses[self.nx:])])


@dataclass(frozen=True)
class CorpusFit:
    """Um corpus do estudo: as linhas dos treinos, o ajuste na validação comum e (nas faixas) na própria."""

    name: str
    rows: dict = field(repr=False)
    design: np.ndarray = field(repr=False)
    common: AllocationFit = field(repr=False)
    own: AllocationFit | None = field(repr=False)
    stats: dict
    n_planned: int
    #: Do começo do primeiro treino ao fim do último (segundos de relógio), pelos registros.
    span_s: float = float("nan")

    @property
    def label(self) -> str:
        return Q.LABELS_V2[self.name]

    @property
    def h_train(self) -> float:
        return float(self.stats.get("gzip_ratio_train", float("nan")))

    @property
    def n_done(self) -> int:
        return int(self.design.sum())


def _own_losses(spec, recs, mini: bool) -> np.ndarray:
    """A perda (bits por byte) na validação própria da faixa, na ordem de :func:`isoflop_rows`."""
    out = []
    for r in spec_records(spec, recs, mini=mini):
        own = (r.get("evaluation") or {}).get("in_distribution") or {}
        ok = r.get("status") == "ok" and own.get("bpb") is not None
        out.append(float(own["bpb"]) if ok else float("nan"))
    return np.asarray(out, dtype=float)


def corpus_fit(name: str, noise: NoiseModel, *, mini: bool = False, n_boot: int = 1000, seed: int = 0,
               records: list[dict] | None = None) -> CorpusFit:
    """O corpus ``name``: seus treinos (só os orçamentos até :data:`~.cap10_specs.MAX_BUDGET`) e os ajustes."""
    spec = load_spec(Q.spec_path(name))
    recs = load_results(Q.results_path(name)) if records is None else records
    rows = isoflop_rows(spec, recs, mini=mini)
    if name != "limpo":
        rows["loss_own"] = _own_losses(spec, recs, mini)
    design = np.isfinite(rows["loss"]) & (rows["seed"] == GRID_SEED) & (rows["budget"] <= Q.MAX_BUDGET * (1 + 1e-9))
    common = allocation_fit(rows, design, noise, label=name, n_boot=n_boot, seed=seed)
    own = None
    if name in Q.BANDS:
        own_rows = {**rows, "loss": rows["loss_own"]}
        own = allocation_fit(own_rows, design & np.isfinite(rows["loss_own"]), noise, label=f"{name} (própria)",
                             n_boot=n_boot, seed=seed + 500)
    stats = {}
    for r in spec_records(spec, recs, mini=mini):
        stats = dict((r.get("data") or {}))
        break
    if "gzip_ratio_train" not in stats:
        stats.update(Q.measure_corpus(name))
    span = float("nan")
    done = [r for r in spec_records(spec, recs, mini=mini) if r.get("finished_at") and r.get("wall_time_s")]
    if done:
        from datetime import datetime

        end = [datetime.strptime(r["finished_at"], "%Y-%m-%dT%H:%M:%S%z").timestamp() for r in done]
        # a união dos intervalos de treino (com folga de 60 s entre um e outro): rodadas separadas no tempo
        # (o refine, as sementes) somam o seu relógio, não a espera entre elas
        span, cur = 0.0, None
        for lo, hi in sorted((e - float(r["wall_time_s"]), e) for e, r in zip(end, done)):
            if cur is not None and lo <= cur[1] + 60:
                cur[1] = max(cur[1], hi)
                continue
            if cur is not None:
                span += cur[1] - cur[0]
            cur = [lo, hi]
        span += cur[1] - cur[0]
    n_planned = int(np.count_nonzero((rows["budget"] <= Q.MAX_BUDGET * (1 + 1e-9)) & (rows["seed"] == GRID_SEED)))
    return CorpusFit(name, rows, design, common, own, stats, n_planned, span)


def paired_shift(x: CorpusFit, r: CorpusFit, noise: NoiseModel, *, own: bool = False, n_boot: int = 1000,
                 seed: int = 0) -> CalibratedBootstrap | str:
    """O bootstrap conjunto de :class:`PairedShift` entre ``x`` e a referência ``r`` (validação comum, ou a
    própria de cada um com ``own=True``); um texto com o motivo quando não há como ajustar."""
    fx, fr = (x.own, r.own) if own else (x.common, r.common)
    if fx is None or fr is None or fx.boot is None or fr.boot is None:
        return "falta um ajuste com 3 orçamentos interiores"
    key = "loss_own" if own else "loss"
    parts = []
    for f, c in ((fx, x), (fr, r)):
        m = f.mask
        parts.append((c.rows["budget"][m], c.rows["M"][m], c.rows["tokens"][m], c.rows[key][m]))
    try:
        pipe = PairedShift(*(IsoFlopPipeline(b, s, t) for b, s, t, _ in parts))
        losses = np.concatenate([p[3] for p in parts])
        return parametric_bootstrap(pipe, losses, noise, n_boot=n_boot, level=LEVEL, seed=seed, max_drop_rate=1.0)
    except ValueError as exc:
        return " ".join(str(exc).split())


def slope_vs_h(fits: list[CorpusFit], *, own: bool = False) -> dict:
    """``a = a₀ + s·H`` nas faixas: a inclinação ``s`` no ajuste e o seu IC (as réplicas de cada faixa,
    independentes, emparelhadas pelo índice); ``None`` no IC se faltar alguma faixa."""
    use = [f for f in fits if (f.own if own else f.common) is not None and (f.own if own else f.common).boot is not None]
    if len(use) < 3:
        return {"slope": float("nan"), "ci": (float("nan"), float("nan")), "n": len(use)}
    h = np.array([f.h_train for f in use])
    a = np.array([(f.own if own else f.common).value("a") for f in use])
    samples = [(f.own if own else f.common).boot.samples["a"] for f in use]
    k = min(s.size for s in samples)
    sa = np.stack([s[:k] for s in samples], axis=1)
    hc = h - h.mean()
    slopes = (sa - sa.mean(axis=1, keepdims=True)) @ hc / (hc @ hc)
    q = [0.5 - LEVEL / 2, 0.5 + LEVEL / 2]
    return {"slope": float(np.polyfit(h, a, 1)[0]), "ci": tuple(float(v) for v in np.quantile(slopes, q)),
            "n": len(use), "h": h, "a": a}


@dataclass
class QualityV2:
    """O capítulo 10 (v2): os corpora, o ruído, os deslocamentos pareados e a inclinação em ``H``."""

    fits: dict[str, CorpusFit]
    noise: NoiseModel
    shifts: dict[tuple[str, str], CalibratedBootstrap | str]
    shifts_own: dict[tuple[str, str], CalibratedBootstrap | str]
    slope: dict
    slope_own: dict
    predicted_shift: float
    #: O ruído entre sementes novas nos corpora deste estudo (todos juntos) e a razão para o do capítulo 7.
    corpus_noise: NoiseModel | None = None
    noise_ratio: tuple[float, float, float] | None = None


_PREDICTION = re.compile(r"Δlog₁₀ M_opt = a·log₁₀ ρ = (-?[0-9]+,[0-9]+) década")


def written_prediction() -> float:
    """O deslocamento previsto para o corpus diluído, lido do texto da especificação versionada **antes** dos
    treinos (o ``git log`` da especificação mostra a ordem)."""
    text = load_spec(Q.spec_path("diluido")).description or ""
    m = _PREDICTION.search(text.replace("−", "-"))
    if m is None:
        raise ValueError(f"a especificação {Q.spec_path('diluido').name} não traz a previsão escrita "
                         "('Δlog₁₀ M_opt = a·log₁₀ ρ = …'); gere-a com 'python -m helpers.chapters.cap10_specs spec'.")
    return float(m.group(1).replace(",", "."))


def clean_surface(fits: dict[str, CorpusFit]) -> dict[str, float]:
    """A superfície ``L = E + A/M^α + B/D^β`` (abordagem 3, sem intervalo) nos treinos do corpus inteiro."""
    from ..laws import fit

    f = fits["limpo"]
    a3 = fit.fit_approach3(f.rows["M"][f.design], f.rows["tokens"][f.design], f.rows["loss"][f.design], n_boot=0)
    return {"E": float(a3.E), "A": float(a3.A), "B": float(a3.B), "alpha": float(a3.alpha), "beta": float(a3.beta)}


def analysis(records: dict[str, list[dict]] | None = None, *, mini: bool = False, n_boot: int = 1000, seed: int = 0,
             corpora=STUDY) -> QualityV2:
    """O estudo inteiro. ``records``: corpus → registros (padrão: os arquivos de ``results/``; um corpus sem
    registros fica de fora). O ruído é sempre o das sementes novas do capítulo 7 v2 (nunca refeito aqui)."""
    noise, _ = seed_noise_model(load_spec(HYPER_SPEC_V2), load_results(HYPER_RESULTS_V2))
    fits = {}
    for k, name in enumerate(corpora):
        recs = records.get(name) if records is not None else (
            load_results(Q.results_path(name)) if Q.results_path(name).exists() else None)
        if not recs:
            continue
        fits[name] = corpus_fit(name, noise, mini=mini, n_boot=n_boot, seed=seed + 10 * k, records=recs)
    shifts, shifts_own = {}, {}
    for k, (x, r) in enumerate(PAIRS):
        if x in fits and r in fits:
            shifts[(x, r)] = paired_shift(fits[x], fits[r], noise, n_boot=n_boot, seed=seed + 100 + k)
            if x in Q.BANDS and r in Q.BANDS:
                shifts_own[(x, r)] = paired_shift(fits[x], fits[r], noise, own=True, n_boot=n_boot, seed=seed + 200 + k)
    bands = [fits[n] for n in Q.BANDS if n in fits]
    corpus_noise, ratio = _corpus_noise(fits, noise)
    return QualityV2(fits, noise, shifts, shifts_own, slope_vs_h(bands), slope_vs_h(bands, own=True),
                     written_prediction(), corpus_noise, ratio)


def _corpus_noise(fits: dict[str, CorpusFit], noise: NoiseModel) -> tuple[NoiseModel | None, tuple | None]:
    """As sementes novas dos corpora (fora o corpus inteiro, cujo ruído é o do capítulo 7) num só modelo, e a
    razão ``σ_corpora/σ_cap7`` com o seu IC (as variâncias estimadas seguem ``F(dof₁, dof₂)``)."""
    from scipy.stats import f as fdist

    groups = [g for n, f in fits.items() if n != "limpo"
              for g in noise_groups({**f.rows, "loss": np.where(f.rows["budget"] <= Q.MAX_BUDGET * (1 + 1e-9),
                                                                 f.rows["loss"], np.nan)}, fresh_only=True)]
    if not groups:
        return None, None
    model = fit_noise_model(groups, kind="relative", level=LEVEL)
    if noise.dof == 0:
        return model, None
    r = model.sigma / noise.sigma
    q = [0.5 - LEVEL / 2, 0.5 + LEVEL / 2]
    lo, hi = (float(np.sqrt(r * r / fdist.ppf(1 - x, model.dof, noise.dof))) for x in q)
    return model, (float(r), lo, hi)


def shift_coverage(q: QualityV2, *, rho: float = 1 - Q.DILUTION_LEVEL, n_sets: int = 100, n_boot: int = 200,
                   seed: int = 0) -> dict:
    """A calibração **neste desenho**: conjuntos sintéticos da superfície do corpus inteiro (abordagem 3) nos
    treinos do corpus inteiro e do diluído, o diluído com ``D → ρD`` (a teoria, em que o deslocamento é
    ``a·log₁₀ ρ`` e ``Δa = 0`` exatamente), com o ruído relativo do capítulo 7; em cada um, o IC 95% do
    :class:`PairedShift`. Devolve as coberturas (contra a verdade exata) e o viés do desenho (o pipeline nas
    perdas sem ruído menos a verdade)."""
    from ..laws.fit.calibrated import IsoFlopPipeline, parametric_bootstrap

    for name, v, low in (("n_sets", n_sets, 10), ("n_boot", n_boot, 10)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{name} deve ser um inteiro ≥ {low}; recebi {v!r}.")
    if not 0 < rho <= 1:
        raise ValueError(f"rho deve estar em (0, 1]; recebi {rho!r}.")
    s = clean_surface(q.fits)
    x, r = q.fits["diluido"], q.fits["limpo"]
    parts = [(f.rows["budget"][f.common.mask], f.rows["M"][f.common.mask], f.rows["tokens"][f.common.mask])
             for f in (x, r)]
    pipe = PairedShift(*(IsoFlopPipeline(*p) for p in parts))

    def surface(m, d, k):
        return s["E"] + s["A"] / m ** s["alpha"] + s["B"] / (k * d) ** s["beta"]

    clean = np.concatenate([surface(parts[0][1], parts[0][2], rho), surface(parts[1][1], parts[1][2], 1.0)])
    a_true = s["beta"] / (s["alpha"] + s["beta"])
    truth = {"shift": a_true * math.log10(rho), "delta_a": 0.0}
    noiseless = pipe(clean)
    rng = np.random.default_rng(seed)
    hits = {k: 0 for k in truth}
    done = 0
    for _ in range(n_sets):
        obs = q.noise.draw(clean, rng)
        try:
            boot = parametric_bootstrap(pipe, obs, q.noise, n_boot=n_boot, level=0.95, seed=int(rng.integers(1 << 31)),
                                        max_drop_rate=1.0)
        except ValueError:
            continue  # um conjunto sintético sem vértice interior: conta como não coberto
        finally:
            done += 1
        for k, t in truth.items():
            lo, hi = boot.ci(k)
            hits[k] += lo <= t <= hi
    return {"n_sets": done, "coverage": {k: hits[k] / done for k in truth}, "truth": truth,
            "bias": {k: noiseless[k] - truth[k] for k in truth}, "a_true": a_true}
