"""O modelo de ruído entre treinos: sementes repetidas → ``σ`` com intervalo qui-quadrado.

O protocolo do livro: repetir (3 sementes ou mais) a melhor configuração de cada orçamento
e combinar as variâncias dentro dos grupos. O :class:`NoiseModel` resultante é o que decide
"dentro do ruído" e o que o bootstrap paramétrico (:mod:`.calibrated`) usa para sortear perdas.

- ``kind="absolute"``: ``perda = μ + σ·ε`` (``σ`` na unidade da perda);
- ``kind="relative"``: ``perda = μ·exp(σ·ε)`` (``σ`` é o desvio de ``ln perda``, ≈ o desvio relativo).

:func:`evaluation_noise` mede o ruído da *avaliação* (conjunto de validação finito) com duas
metades disjuntas, e :func:`compare_noise` diz se ele é pequeno perto do ruído entre sementes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["NoiseModel", "fit_noise_model", "evaluation_noise", "NoiseComparison", "compare_noise"]

KINDS = ("absolute", "relative")
_KIND_TEXT = {"absolute": "absoluto", "relative": "relativo"}


def _check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < level < 1:
        raise ValueError(f"o nível de confiança deve estar em (0, 1); recebi {level!r}.")
    return float(level)


def _check_kind(kind) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind deve ser 'absolute' ou 'relative'; recebi {kind!r}.")
    return kind


def _sigma_interval(ss: float, dof: int, level: float) -> tuple[float, float]:
    """Intervalo de ``σ`` a partir de ``SS/σ² ~ χ²(dof)`` (caudas iguais)."""
    lo_q, hi_q = stats.chi2.ppf([0.5 + level / 2, 0.5 - level / 2], dof)
    return float(math.sqrt(ss / lo_q)), float(math.sqrt(ss / hi_q))


@dataclass(frozen=True)
class NoiseModel:
    """O ruído de uma perda medida: tipo, ``σ``, seu intervalo e de onde ele veio.

    ``dof`` são os graus de liberdade da estimativa de ``σ`` (``0``: ``σ`` suposto, sem
    incerteza); ``n_groups`` o número de configurações repetidas; :attr:`sigma_ci` o intervalo
    qui-quadrado de ``σ`` no nível ``level`` (``σ̂²·dof/σ² ~ χ²(dof)``); ``source`` descreve a
    medida (``"sementes"``, ``"avaliação"`` ou ``"suposto"``).
    """

    kind: str
    sigma: float
    dof: int = 0
    n_groups: int = 0
    level: float = 0.9
    source: str = "suposto"

    def __post_init__(self):
        _check_kind(self.kind)
        if not (isinstance(self.sigma, (int, float, np.floating)) and math.isfinite(self.sigma) and self.sigma >= 0):
            raise ValueError(f"sigma deve ser um número finito ≥ 0, isto é, em [0, ∞); recebi {self.sigma!r}.")
        if isinstance(self.dof, bool) or not isinstance(self.dof, (int, np.integer)) or self.dof < 0:
            raise ValueError(f"dof deve ser um inteiro ≥ 0; recebi {self.dof!r}.")
        _check_level(self.level)

    @property
    def sigma_ci(self) -> tuple[float, float]:
        """Intervalo de ``σ`` no nível ``level``; ``(σ, σ)`` quando ``σ`` é suposto (``dof = 0``)."""
        if self.dof == 0 or self.sigma == 0:
            return float(self.sigma), float(self.sigma)
        return _sigma_interval(self.sigma**2 * self.dof, self.dof, self.level)

    def with_level(self, level: float) -> "NoiseModel":
        """O mesmo ruído com o intervalo de ``σ`` noutro nível."""
        return NoiseModel(self.kind, self.sigma, self.dof, self.n_groups, _check_level(level), self.source)

    # --- o que o ruído faz com uma perda ------------------------------------------------

    def sigma_at(self, loss):
        """Desvio padrão da perda (na unidade da perda) em torno de ``loss``; vetorizado.

        Absoluto: ``σ`` em toda parte; relativo: ``σ·loss`` (a aproximação de primeira ordem
        de ``loss·exp(σ·ε)``).
        """
        loss = np.asarray(loss, dtype=float)
        if self.kind == "absolute":
            return np.full_like(loss, self.sigma) if loss.ndim else float(self.sigma)
        out = self.sigma * loss
        return out if loss.ndim else float(out)

    def draw(self, losses, rng=None, *, sigma=None):
        """Perdas perturbadas pelo ruído: ``μ + σ·ε`` ou ``μ·exp(σ·ε)``, com a forma de ``losses``.

        ``rng`` é um ``numpy.random.Generator`` (ou uma semente). ``sigma`` substitui o ``σ``
        do modelo; pode ser um vetor que se alinha com o primeiro eixo de ``losses`` (um ``σ``
        por réplica). Perdas ``NaN`` (treinos que divergiram) continuam ``NaN``.
        """
        losses = np.asarray(losses, dtype=float)
        rng = np.random.default_rng(rng)
        s = self.sigma if sigma is None else np.asarray(sigma, dtype=float)
        if np.ndim(s) == 1:
            s = s.reshape((-1,) + (1,) * (losses.ndim - 1))
        eps = rng.standard_normal(losses.shape)
        if self.kind == "absolute":
            return losses + s * eps
        return losses * np.exp(s * eps)

    def draw_sigma(self, size: int, rng=None) -> np.ndarray:
        """``size`` valores de ``σ`` compatíveis com a medida: ``σ̂·√(dof/χ²(dof))``.

        É a distribuição fiducial (a posteriori com priori de Jeffreys) de ``σ`` dada a
        soma de quadrados com ``dof`` graus de liberdade: propagar a incerteza de ``σ̂``
        para um bootstrap. Com ``dof = 0`` (``σ`` suposto), devolve ``σ`` repetido.
        """
        rng = np.random.default_rng(rng)
        if self.dof == 0:
            return np.full(size, self.sigma)
        return self.sigma * np.sqrt(self.dof / rng.chisquare(self.dof, size))

    def scaled(self, factor: float) -> "NoiseModel":
        """O mesmo modelo com ``σ`` (e seu intervalo) multiplicado por ``factor`` ≥ 0."""
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor >= 0):
            raise ValueError(f"factor deve ser finito e ≥ 0, isto é, em [0, ∞); recebi {factor!r}.")
        return NoiseModel(self.kind, self.sigma * factor, self.dof, self.n_groups, self.level, self.source)

    def describe(self) -> str:
        """Uma linha em português, com vírgula decimal."""
        if self.kind == "relative":
            value = f"σ = {100 * self.sigma:.2f}%".replace(".", ",")
            ci = f"[{100 * self.sigma_ci[0]:.2f}%; {100 * self.sigma_ci[1]:.2f}%]".replace(".", ",")
        else:
            value = f"σ = {self.sigma:.4g}".replace(".", ",")
            ci = f"[{self.sigma_ci[0]:.4g}; {self.sigma_ci[1]:.4g}]".replace(".", ",")
        if self.dof == 0:
            return f"ruído {_KIND_TEXT[self.kind]} {value} ({self.source}, sem incerteza)"
        return (f"ruído {_KIND_TEXT[self.kind]} {value}, IC {round(100 * self.level)}% {ci} "
                f"({self.source}: {self.n_groups} grupos, {self.dof} graus de liberdade)")


def _as_group(i: int, g) -> np.ndarray:
    v = np.asarray(g, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"o grupo {i} deve ser um vetor 1D de perdas; recebi forma {v.shape}.")
    if v.size < 2:
        raise ValueError(f"o grupo {i} tem {v.size} perda(s); cada grupo precisa de 2 sementes ou mais.")
    bad = ~np.isfinite(v) | (v <= 0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"as perdas devem ser finitas e > 0; grupo {i}, perda [{j}] = {float(v[j])!r}.")
    return v


def fit_noise_model(groups, kind: str = "relative", level: float = 0.9) -> NoiseModel:
    """O ruído entre sementes: variância agrupada dentro de cada configuração repetida.

    ``groups`` é uma lista de vetores, cada um com as perdas de **uma** configuração treinada
    com sementes diferentes (2 ou mais por grupo; o protocolo do livro pede 3). Com
    ``kind="relative"`` a variância é a de ``ln perda``. ``σ̂² = Σ_g Σ_i (x_gi − x̄_g)² / Σ_g (n_g − 1)``
    e o intervalo de ``σ`` vem de ``SS/σ² ~ χ²(dof)``, com ``dof = Σ (n_g − 1)``.
    """
    _check_kind(kind)
    level = _check_level(level)
    if isinstance(groups, np.ndarray) and groups.ndim == 2:
        groups = list(groups)
    if not isinstance(groups, (list, tuple)) or len(groups) == 0:
        raise ValueError("groups deve ser uma lista não vazia de vetores de perdas (um por configuração).")
    ss = 0.0
    dof = 0
    for i, g in enumerate(groups):
        v = _as_group(i, g)
        x = np.log(v) if kind == "relative" else v
        ss += float(((x - x.mean()) ** 2).sum())
        dof += v.size - 1
    return NoiseModel(kind, math.sqrt(ss / dof), dof, len(groups), level, "sementes")


def evaluation_noise(half_a, half_b, kind: str = "relative", level: float = 0.9) -> NoiseModel:
    """O ruído da avaliação a partir de duas metades disjuntas do conjunto de validação.

    ``half_a[i]`` e ``half_b[i]`` são a perda do treino ``i`` em cada metade; o valor do
    conjunto inteiro é a média das duas, cujo desvio é ``σ_metade/√2``. Como
    ``Var(a − b) = 2·σ_metade²``, ``σ_inteiro = RMS(a − b)/2`` (em ``ln`` com ``kind="relative"``).
    A RMS não é centrada: uma diferença sistemática entre as metades conta como ruído (é
    conservador). O intervalo usa ``dof = número de treinos``.
    """
    _check_kind(kind)
    level = _check_level(level)
    a = np.asarray(half_a, dtype=float)
    b = np.asarray(half_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size < 1:
        raise ValueError(f"half_a e half_b devem ser vetores 1D do mesmo tamanho (≥ 1); recebi formas {a.shape} e {b.shape}.")
    for name, v in (("half_a", a), ("half_b", b)):
        bad = ~np.isfinite(v) | (v <= 0)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} deve ter perdas finitas e > 0; {name}[{j}] = {float(v[j])!r}.")
    d = np.log(a) - np.log(b) if kind == "relative" else a - b
    ss = float((d**2).sum()) / 4  # soma de quadrados na escala de σ_inteiro
    n = int(d.size)
    return NoiseModel(kind, math.sqrt(ss / n), n, n, level, "avaliação")


@dataclass(frozen=True)
class NoiseComparison:
    """``ratio = σ_avaliação / σ_sementes``, seu intervalo (pela distribuição F) e o veredito.

    ``variance_share`` é a fração da variância total que vem da avaliação,
    ``ratio² / (1 + ratio²)``; ``small`` é verdadeiro quando o limite **superior** do
    intervalo de ``ratio`` fica abaixo de ``threshold``.
    """

    ratio: float
    ratio_ci: tuple[float, float]
    level: float
    threshold: float
    small: bool

    @property
    def variance_share(self) -> float:
        return self.ratio**2 / (1 + self.ratio**2)

    def describe(self) -> str:
        verdict = "pequeno" if self.small else "não é comprovadamente pequeno"
        lo, hi = self.ratio_ci
        text = (f"σ_avaliação/σ_sementes = {self.ratio:.2f} (IC {round(100 * self.level)}% [{lo:.2f}; {hi:.2f}]); "
                f"o ruído da avaliação é {verdict} perto do das sementes (limiar {self.threshold:.2f})")
        return text.replace(".", ",")


def compare_noise(evaluation: NoiseModel, seeds: NoiseModel, *, threshold: float = 0.5,
                  level: float = 0.9) -> NoiseComparison:
    """O ruído da avaliação é pequeno perto do ruído entre sementes?

    A razão das variâncias estimadas dividida pela verdadeira segue ``F(dof_av, dof_sem)``;
    daí o intervalo da razão dos desvios. Com ``threshold = 0,5`` a avaliação responde por
    no máximo 20% da variância. Os dois modelos devem ser do mesmo tipo e ter ``dof ≥ 1``.
    """
    level = _check_level(level)
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold deve ser um número finito > 0; recebi {threshold!r}.")
    if evaluation.kind != seeds.kind:
        raise ValueError(f"os dois ruídos devem ser do mesmo tipo; recebi {evaluation.kind!r} e {seeds.kind!r}.")
    for name, m in (("evaluation", evaluation), ("seeds", seeds)):
        if m.dof < 1:
            raise ValueError(f"{name} precisa de dof ≥ 1 (um σ medido); recebi dof = {m.dof}.")
    if seeds.sigma == 0:
        raise ValueError("o ruído entre sementes medido é 0: não há com o que comparar.")
    ratio = evaluation.sigma / seeds.sigma
    f_hi, f_lo = stats.f.ppf([0.5 + level / 2, 0.5 - level / 2], evaluation.dof, seeds.dof)
    ci = (float(ratio / math.sqrt(f_hi)), float(ratio / math.sqrt(f_lo)))
    return NoiseComparison(float(ratio), ci, level, float(threshold), bool(ci[1] < threshold))
