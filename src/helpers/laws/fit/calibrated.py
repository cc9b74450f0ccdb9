"""Bootstrap paramétrico do pipeline **inteiro** sob o ruído medido (o protocolo do livro).

Cada réplica sorteia de novo **todas** as perdas com o :class:`~.noise.NoiseModel` e refaz
tudo — seleção da região quase ótima, parábolas, vértices e leis. Uma réplica em que o
pipeline não se completa (um vértice que sai da faixa medida, um orçamento sem ótimo)
**conta** como falha, com o motivo; as falhas são contadas por motivo e a taxa fica no
resultado (:attr:`CalibratedBootstrap.drop_rate`), nunca são descartadas caladas.

De onde sortear, e que intervalo tirar (cada pipeline traz o seu padrão, ``default_centre``,
escolhido pela cobertura medida em :mod:`helpers.laws.calibration`):

- ``"posterior"`` (o padrão dos hiperparâmetros): cada réplica sorteia uma **superfície** dentro
  da incerteza do ajuste suavizado (a bacia em ``(ln taxa, ln lote)``), sorteia as perdas dela
  com o ruído e refaz o pipeline. O intervalo é o *pivô* ``estimativa − quantis(réplica − alvo)``,
  com o alvo = o valor verdadeiro na superfície sorteada. A seleção do DeepSeek é um ``argmin``
  numa grade: as réplicas em torno de **uma** superfície suavizada ficam centradas perto da
  verdade, não da estimativa, e o intervalo percentil cobre ~100%; e a dispersão da seleção
  depende tanto da forma fina da bacia que uma superfície só (estimada) a erra — sortear a
  superfície integra essa incerteza;
- um centro fixo suavizado (o padrão IsoFLOP: as parábolas ajustadas, ``pipeline.smooth``) com o
  intervalo percentil — para um pipeline quase linear nas perdas é o que cobre o nominal
  (sortear as parábolas alargaria o intervalo à toa);
- ``smooth=False`` perturba as perdas **observadas** (o ruído entra duas vezes; para comparação).

Com ``noise_uncertainty`` (padrão), cada réplica usa um ``σ`` sorteado da incerteza de ``σ̂``
(poucas sementes: :meth:`~.noise.NoiseModel.draw_sigma`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from threadpoolctl import threadpool_limits

from .noise import NoiseModel
from .pipelines import HyperPipeline, IsoFlopPipeline, PipelineFailure

__all__ = ["PipelineFailure", "CalibratedBootstrap", "parametric_bootstrap", "HyperPipeline", "IsoFlopPipeline"]

METHODS = ("pivot", "percentile", "basic")


@dataclass(frozen=True)
class CalibratedBootstrap:
    """Estimativas nos dados observados e a sua distribuição sob o ruído medido.

    ``samples[nome]`` tem um valor por réplica **bem-sucedida**; ``targets[nome]`` (quando as
    réplicas vêm de superfícies sorteadas) o valor verdadeiro na superfície de cada uma;
    ``failures`` conta as réplicas que falharam, por motivo; ``drop_rate = falhas / n_boot``.
    ``centre`` diz de onde as réplicas vieram (``"superfície"``, ``"suavizado"`` ou
    ``"observado"``) e ``method`` o intervalo padrão de :meth:`ci`.
    """

    estimate: dict[str, float]
    samples: dict[str, np.ndarray] = field(repr=False)
    level: float
    n_boot: int
    failures: dict[str, int]
    noise: NoiseModel
    centre: str = "superfície"
    noise_uncertainty: bool = True
    targets: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def method(self) -> str:
        return "pivot" if self.targets is not None else "percentile"

    @property
    def n_failed(self) -> int:
        return int(sum(self.failures.values()))

    @property
    def drop_rate(self) -> float:
        return self.n_failed / self.n_boot

    @property
    def names(self) -> list[str]:
        return list(self.estimate)

    def _check_name(self, name: str) -> None:
        if name not in self.samples:
            raise ValueError(f"quantidade desconhecida {name!r}; as disponíveis são {sorted(self.samples)}.")

    def ci(self, name: str, level: float | None = None, method: str | None = None) -> tuple[float, float]:
        """Intervalo de ``name`` no nível ``level`` (padrão: o do bootstrap).

        ``method``: ``"pivot"`` (``estimativa − quantis(réplica − alvo)``; o padrão quando há
        alvos), ``"percentile"`` (quantis das réplicas) ou ``"basic"`` (percentil refletido na
        estimativa).
        """
        self._check_name(name)
        level = self.level if level is None else level
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise ValueError(f"o nível de confiança deve estar em (0, 1); recebi {level!r}.")
        method = self.method if method is None else method
        if method not in METHODS:
            raise ValueError(f"method deve ser um de {', '.join(METHODS)}; recebi {method!r}.")
        if method == "pivot" and self.targets is None:
            raise ValueError("o intervalo pivô precisa de alvos: use réplicas de superfícies (smooth=None).")
        q = [0.5 - level / 2, 0.5 + level / 2]
        e = self.estimate[name]
        if method == "pivot":
            d_lo, d_hi = np.quantile(self.samples[name] - self.targets[name], q)
            return float(e - d_hi), float(e - d_lo)
        lo, hi = np.quantile(self.samples[name], q)
        if method == "basic":
            lo, hi = 2 * e - hi, 2 * e - lo
        return float(lo), float(hi)

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        return {name: self.ci(name, level) for name in self.samples}

    def std(self, name: str) -> float:
        """Desvio padrão das réplicas (de ``réplica − alvo`` quando há alvos)."""
        self._check_name(name)
        s = self.samples[name] if self.targets is None else self.samples[name] - self.targets[name]
        return float(np.std(s, ddof=1))

    def describe_failures(self) -> str:
        """As falhas numa linha em português (``"nenhuma das N réplicas falhou"`` quando é o caso)."""
        if not self.failures:
            return f"nenhuma das {self.n_boot} réplicas falhou"
        parts = "; ".join(f"{reason}: {n}" for reason, n in sorted(self.failures.items(), key=lambda kv: -kv[1]))
        rate = f"{100 * self.drop_rate:.1f}%".replace(".", ",")
        return f"{self.n_failed} de {self.n_boot} réplicas falharam ({rate}) — {parts}"


def _check_n_boot(n_boot) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot deve ser um inteiro ≥ 10; recebi {n_boot!r}.")
    return int(n_boot)


def _run(pipeline, sims: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Valores (``NaN`` nas falhas) e motivos (``""`` nos sucessos) de cada linha de ``sims``."""
    if hasattr(pipeline, "batch"):
        return pipeline.batch(sims)
    reasons = np.full(sims.shape[0], "", dtype=object)
    rows: list[dict | None] = []
    for i, row in enumerate(sims):
        try:
            out = pipeline(row)
        except (ValueError, np.linalg.LinAlgError) as exc:  # PipelineFailure é um ValueError
            out, reasons[i] = None, getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        else:
            if out is None:
                reasons[i] = "o pipeline devolveu None"
        rows.append(out)
    names = next((list(r) for r in rows if r is not None), [])
    values = {name: np.array([float(r[name]) if r is not None else np.nan for r in rows]) for name in names}
    return values, reasons


def _check_inputs(losses, noise, level, max_drop_rate) -> np.ndarray:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"o nível de confiança deve estar em (0, 1); recebi {level!r}.")
    if not isinstance(noise, NoiseModel):
        raise ValueError(f"noise deve ser um NoiseModel (veja fit_noise_model); recebi {type(noise).__name__}.")
    if isinstance(max_drop_rate, bool) or not isinstance(max_drop_rate, (int, float)) or not 0 <= max_drop_rate <= 1:
        raise ValueError(f"max_drop_rate deve estar em [0, 1]; recebi {max_drop_rate!r}.")
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError(f"as perdas devem formar um vetor 1D não vazio; recebi forma {losses.shape}.")
    finite = losses[np.isfinite(losses)]
    if finite.size == 0 or (finite <= 0).any():
        raise ValueError("as perdas devem ter valores finitos e > 0 (NaN só para treinos que divergiram).")
    return losses


def parametric_bootstrap(pipeline, losses, noise: NoiseModel, *, n_boot: int = 1000, level: float = 0.9,
                         seed: int = 0, smooth=None, noise_uncertainty: bool = True,
                         max_drop_rate: float = 0.2) -> CalibratedBootstrap:
    """Bootstrap paramétrico do pipeline inteiro: ``n_boot`` réplicas de todas as perdas sob ``noise``.

    ``pipeline(losses) -> dict[str, float]`` é o ajuste completo; falha levantando
    :class:`PipelineFailure` (ou ``ValueError``) com o motivo, ou devolvendo ``None``. Um
    pipeline com ``batch(perdas_2d) -> (valores, motivos)`` roda todas as réplicas de uma vez,
    e um com ``posterior`` (como :class:`HyperPipeline` e :class:`IsoFlopPipeline`) permite as
    réplicas de superfícies sorteadas.

    ``smooth``: ``None`` (padrão) usa o ``default_centre`` do pipeline (sem ele, as perdas
    observadas); ``"posterior"`` sorteia superfícies com ``pipeline.posterior`` e dá o intervalo
    pivô (ver o topo do módulo); ``False`` perturba as observadas; uma função
    ``f(perdas) -> perdas`` dá um centro fixo (nesses dois, intervalo percentil).

    As falhas (do pipeline ou de uma superfície sorteada sem alvo) são contadas por motivo; se
    passarem de ``max_drop_rate`` das réplicas, levanta ``ValueError`` (um intervalo condicionado
    a tantas réplicas boas não é confiável). Falhar nos próprios dados observados também levanta.
    """
    n_boot = _check_n_boot(n_boot)
    losses = _check_inputs(losses, noise, level, max_drop_rate)
    # matrizes minúsculas: com várias threads da BLAS (e núcleos disputados) cada produto custa 20×
    with threadpool_limits(limits=1, user_api="blas"):
        return _parametric_bootstrap(pipeline, losses, noise, n_boot, float(level), seed, smooth,
                                     bool(noise_uncertainty), max_drop_rate)


def _parametric_bootstrap(pipeline, losses, noise, n_boot, level, seed, smooth, noise_uncertainty,
                          max_drop_rate) -> CalibratedBootstrap:
    values, reasons = _run(pipeline, losses[None, :])
    if reasons[0]:
        raise ValueError(f"o pipeline falha nos próprios dados observados: {reasons[0]}.")
    estimate = {k: float(v[0]) for k, v in values.items()}

    rng = np.random.default_rng(seed)
    sigmas = noise.draw_sigma(n_boot, rng) if noise_uncertainty else np.full(n_boot, noise.sigma)
    targets = None
    target_reasons = np.full(n_boot, "", dtype=object)
    if smooth is None:
        default = getattr(pipeline, "default_centre", None)
        smooth = getattr(pipeline, "smooth") if default == "smooth" else default
    if isinstance(smooth, str) and smooth == "posterior":
        if not hasattr(pipeline, "posterior"):
            raise ValueError("smooth='posterior' precisa de um pipeline com o método posterior.")
        centres, targets, target_reasons = pipeline.posterior(losses, noise, sigmas, rng)
        centre_name = "superfície"
    elif smooth is None or smooth is False:
        centres, centre_name = np.broadcast_to(losses, (n_boot, losses.size)), "observado"
    elif callable(smooth):
        centre = np.asarray(smooth(losses), dtype=float)
        if centre.shape != losses.shape:
            raise ValueError(f"smooth deve devolver {losses.size} perdas; devolveu forma {centre.shape}.")
        centres, centre_name = np.broadcast_to(centre, (n_boot, losses.size)), "suavizado"
    else:
        raise ValueError(f"smooth deve ser None, False, 'posterior' ou uma função; recebi {smooth!r}.")

    sims = noise.draw(centres, rng, sigma=sigmas)
    values, reasons = _run(pipeline, sims)
    reasons = np.where(target_reasons != "", target_reasons, reasons)
    ok = reasons == ""
    failures = dict(Counter(str(r) for r in reasons[~ok]))
    result = CalibratedBootstrap(
        estimate=estimate, samples={k: np.asarray(values[k])[ok] for k in estimate}, level=level,
        n_boot=n_boot, failures=failures, noise=noise, centre=centre_name, noise_uncertainty=noise_uncertainty,
        targets=None if targets is None else {k: np.asarray(targets[k])[ok] for k in estimate},
    )
    if result.drop_rate > max_drop_rate or ok.sum() < 2:
        raise ValueError(f"réplicas falharam demais (limite {max_drop_rate:.0%}): {result.describe_failures()}.")
    return result
