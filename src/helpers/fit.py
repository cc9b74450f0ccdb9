"""Ajuste de leis de potência, com estimativas e incertezas.

Duas formas:

- :func:`fit_power_law` — ``y = k · x^α`` por mínimos quadrados em log-log (uma
  reta em ``log y = log k + α log x``), com erros-padrão e intervalos *t*;
- :func:`fit_power_law_offset` — ``y = E + k · x^(-α)``, com um termo irredutível
  ``E``, por mínimos quadrados não lineares (``scipy.optimize.least_squares``) nos
  resíduos relativos ``log y − log ŷ``, a partir de uma grade de pontos iniciais.

Ambas supõem ruído multiplicativo (erro relativo constante), o caso típico de
perdas e de tempos. As incertezas vêm da matriz de covariância assintótica
(aproximação de Wald): são boas com muitos pontos e ruído pequeno, e otimistas
com poucos pontos — o capítulo 1 mostra isso por simulação.

Para as leis de escala do DeepSeek (capítulos 7–9):

- :func:`bootstrap` / :func:`bootstrap_power_law` — intervalos por reamostragem
  (estratificada por orçamento, quando é o caso);
- :func:`near_optimal` e :func:`fit_hyperparameter_laws` — a região quase ótima de
  uma grade de hiperparâmetros e as leis ``η_opt(C)``, ``B_opt(C)`` por ela (§3.1);
- :func:`isoflop_profile` e :func:`fit_isoflop` — a parábola de cada orçamento, o
  vértice, a rejeição de curvas sem mínimo interior e as leis ``M_opt ∝ C^a``,
  ``D_opt ∝ C^b`` e da perda ótima (§3.2), com :func:`prediction_interval`;
- :func:`fit_approach3` — ``L = E + A/x^α + B/D^β`` com Huber sobre ``log L`` e
  L-BFGS-B a partir de uma grade (Chinchilla, abordagem 3).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

__all__ = [
    "PowerLawFit",
    "OffsetPowerLawFit",
    "fit_power_law",
    "fit_power_law_offset",
    "synthetic_power_law",
    "local_slope",
    "steps_to_reach",
    "CriticalBatchFit",
    "fit_critical_batch",
    "BootstrapResult",
    "bootstrap",
    "bootstrap_power_law",
    "near_optimal",
    "HyperparameterLaws",
    "fit_hyperparameter_laws",
    "IsoFlopProfile",
    "isoflop_profile",
    "IsoFlopFit",
    "fit_isoflop",
    "prediction_interval",
    "ParametricLossFit",
    "approach3_start_grid",
    "fit_approach3",
]


def _validate_xy(x, y, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"x e y devem ser vetores 1D; recebi formas {x.shape} e {y.shape}.")
    if x.shape != y.shape:
        raise ValueError(f"x e y devem ter o mesmo tamanho; recebi {x.size} e {y.size}.")
    if x.size < min_points:
        raise ValueError(
            f"são precisos pelo menos {min_points} pontos para este ajuste; recebi {x.size}."
        )
    for name, arr in (("x", x), ("y", y)):
        bad = ~np.isfinite(arr) | (arr <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name} deve ser finito e > 0 em todos os pontos (escala log); "
                f"{name}[{i}] = {float(arr[i])!r}."
            )
    if np.ptp(np.log(x)) == 0:
        raise ValueError("todos os valores de x são iguais: não há inclinação para ajustar.")
    return x, y


@dataclass(frozen=True)
class PowerLawFit:
    """Resultado de ``y = k · x^α`` ajustado em log-log.

    ``cov`` é a covariância de ``(log k, α)``; ``dof`` são os graus de liberdade.
    """

    k: float
    alpha: float
    cov: np.ndarray = field(repr=False)
    n: int
    dof: int
    residual_std: float
    r2: float

    @property
    def alpha_se(self) -> float:
        """Erro-padrão do expoente."""
        return float(np.sqrt(self.cov[1, 1]))

    @property
    def log_k_se(self) -> float:
        """Erro-padrão de ``ln k``."""
        return float(np.sqrt(self.cov[0, 0]))

    def predict(self, x):
        """``k · x^α`` (vetorizado)."""
        return self.k * np.asarray(x, dtype=float) ** self.alpha

    def ci(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Intervalos de confiança *t* para ``k`` e ``α``."""
        t = _t_quantile(level, self.dof)
        lk = np.log(self.k)
        return {
            "k": (float(np.exp(lk - t * self.log_k_se)), float(np.exp(lk + t * self.log_k_se))),
            "alpha": (self.alpha - t * self.alpha_se, self.alpha + t * self.alpha_se),
        }

    def prediction_interval(self, x, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Intervalo de predição para uma nova observação em ``x`` (inclui o ruído)."""
        lx = np.log(np.asarray(x, dtype=float))
        design = np.stack([np.ones_like(lx), lx], axis=-1)
        var_mean = np.einsum("...i,ij,...j->...", design, self.cov, design)
        sd = np.sqrt(var_mean + self.residual_std**2)
        t = _t_quantile(level, self.dof)
        center = np.log(self.k) + self.alpha * lx
        return np.exp(center - t * sd), np.exp(center + t * sd)


def _t_quantile(level: float, dof: int) -> float:
    if not 0 < level < 1:
        raise ValueError(f"o nível de confiança deve estar em (0, 1); recebi {level}.")
    if dof < 1:
        return float("inf")
    return float(stats.t.ppf(0.5 + level / 2, dof))


def fit_power_law(x, y) -> PowerLawFit:
    """Ajusta ``y = k · x^α`` por mínimos quadrados em ``log y`` contra ``log x``.

    Exige pelo menos 3 pontos (2 definem a reta sem deixar graus de liberdade para
    estimar o erro). Levanta ``ValueError`` para valores não positivos ou não finitos.
    """
    x, y = _validate_xy(x, y, min_points=3)
    lx, ly = np.log(x), np.log(y)
    design = np.stack([np.ones_like(lx), lx], axis=1)
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    resid = ly - design @ coef
    dof = x.size - 2
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(design.T @ design)
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return PowerLawFit(
        k=float(np.exp(coef[0])),
        alpha=float(coef[1]),
        cov=cov,
        n=int(x.size),
        dof=dof,
        residual_std=float(np.sqrt(s2)),
        r2=r2,
    )


@dataclass(frozen=True)
class OffsetPowerLawFit:
    """Resultado de ``y = E + k · x^(-α)``.

    ``cov`` é a covariância de ``(E, ln k, α)``. ``alpha`` é positivo quando ``y``
    decresce em direção a ``E``.
    """

    E: float
    k: float
    alpha: float
    cov: np.ndarray = field(repr=False)
    n: int
    dof: int
    residual_std: float

    @property
    def se(self) -> dict[str, float]:
        """Erros-padrão de ``E``, ``ln k`` e ``α``."""
        d = np.sqrt(np.clip(np.diag(self.cov), 0, None))
        return {"E": float(d[0]), "log_k": float(d[1]), "alpha": float(d[2])}

    def predict(self, x):
        """``E + k · x^(-α)`` (vetorizado)."""
        return self.E + self.k * np.asarray(x, dtype=float) ** (-self.alpha)

    def ci(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Intervalos de confiança *t* (Wald) para ``E``, ``k`` e ``α``."""
        t = _t_quantile(level, self.dof)
        se = self.se
        lk = np.log(self.k)
        return {
            "E": (self.E - t * se["E"], self.E + t * se["E"]),
            "k": (float(np.exp(lk - t * se["log_k"])), float(np.exp(lk + t * se["log_k"]))),
            "alpha": (self.alpha - t * se["alpha"], self.alpha + t * se["alpha"]),
        }


def fit_power_law_offset(x, y, *, max_alpha: float = 5.0) -> OffsetPowerLawFit:
    """Ajusta ``y = E + k · x^(-α)`` com ``0 ≤ E < min(y)`` e ``0 < α ≤ max_alpha``.

    Minimiza a soma dos quadrados de ``log y − log ŷ`` com ``least_squares``,
    partindo de vários valores iniciais de ``E`` (frações de ``min(y)``) e guardando o
    melhor. ``x`` é normalizado pela sua média geométrica para o problema ficar bem
    condicionado. Exige pelo menos 4 pontos (3 parâmetros + 1 grau de liberdade).
    """
    x, y = _validate_xy(x, y, min_points=4)
    if not (np.isfinite(max_alpha) and max_alpha > 0):
        raise ValueError(f"max_alpha deve ser finito e > 0; recebi {max_alpha}.")
    x0 = float(np.exp(np.log(x).mean()))
    u = x / x0
    ly = np.log(y)
    y_min = float(y.min())

    def residuals(theta):
        e, log_k, alpha = theta
        return ly - np.log(e + np.exp(log_k) * u ** (-alpha))

    lower = [0.0, -np.inf, 1e-6]
    upper = [y_min * (1 - 1e-9), np.inf, max_alpha]
    best = None
    for frac in (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99):
        e0 = frac * y_min
        # Chute inicial: reta em log(y − E0) contra log u.
        slope, intercept = np.polyfit(np.log(u), np.log(y - e0), 1)
        alpha0 = float(np.clip(-slope, 1e-3, max_alpha * 0.999))
        theta0 = [min(e0, upper[0] * 0.999), intercept, alpha0]
        try:
            sol = optimize.least_squares(residuals, theta0, bounds=(lower, upper), method="trf")
        except ValueError:
            continue
        if best is None or sol.cost < best.cost:
            best = sol
    if best is None:  # pragma: no cover - só com dados patológicos
        raise ValueError("o ajuste com termo irredutível não convergiu para estes dados.")
    e, log_k_u, alpha = best.x
    n, p = x.size, 3
    dof = n - p
    resid = best.fun
    s2 = float(resid @ resid) / dof
    jac = best.jac
    cov_u = s2 * np.linalg.pinv(jac.T @ jac)
    # Volta à escala original: k = k_u · x0^α  =>  ln k = ln k_u + α ln x0.
    transform = np.array([[1, 0, 0], [0, 1, np.log(x0)], [0, 0, 1]], dtype=float)
    cov = transform @ cov_u @ transform.T
    log_k = log_k_u + alpha * np.log(x0)
    return OffsetPowerLawFit(
        E=float(e),
        k=float(np.exp(log_k)),
        alpha=float(alpha),
        cov=cov,
        n=int(n),
        dof=dof,
        residual_std=float(np.sqrt(s2)),
    )


def synthetic_power_law(x, *, k: float, alpha: float, E: float = 0.0, noise: float = 0.0, rng=None):
    """Dados sintéticos ``y = (E + k · x^α) · exp(noise · ε)``, com ``ε ~ N(0, 1)``.

    ``alpha`` tem sinal (negativo para uma perda que cai); ``noise`` é o desvio
    padrão do erro relativo. Serve para testar os ajustes contra expoentes conhecidos.
    """
    x = np.asarray(x, dtype=float)
    if np.any(~np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("x deve ser finito e > 0 em todos os pontos.")
    if noise < 0:
        raise ValueError(f"noise é um desvio padrão e deve ser ≥ 0; recebi {noise}.")
    rng = np.random.default_rng(rng)
    clean = E + k * x**alpha
    return clean * np.exp(noise * rng.standard_normal(x.shape))


def local_slope(x, y):
    """Inclinação local ``d ln y / d ln x`` (diferenças finitas em escala log).

    Para uma lei de potência pura é constante e igual ao expoente; com um termo
    irredutível, tende a zero à medida que ``y`` se aproxima de ``E``.
    """
    x, y = _validate_xy(x, y, min_points=2)
    return np.gradient(np.log(y), np.log(x))


def steps_to_reach(steps, losses, target: float) -> float | None:
    """Primeiro passo em que a curva ``losses`` chega a ``target`` (interpolação em log do passo).

    Devolve ``None`` se a curva nunca chega lá. Pontos com passo 0 são ignorados.
    """
    steps = np.asarray(steps, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if steps.shape != losses.shape or steps.ndim != 1:
        raise ValueError("steps e losses devem ser vetores 1D do mesmo tamanho.")
    keep = steps > 0
    steps, losses = steps[keep], losses[keep]
    below = np.flatnonzero(losses <= target)
    if below.size == 0:
        return None
    i = int(below[0])
    if i == 0:
        return float(steps[0])
    x0, x1 = np.log(steps[i - 1]), np.log(steps[i])
    y0, y1 = losses[i - 1], losses[i]
    frac = (y0 - target) / (y0 - y1) if y0 != y1 else 1.0
    return float(np.exp(x0 + frac * (x1 - x0)))


@dataclass(frozen=True)
class CriticalBatchFit:
    """``S(B) = S_min · (1 + B_crit / B)`` (McCandlish et al., 2018; Kaplan et al., 2020, Eq. 5.1–5.3).

    ``S_min``: passos mínimos (lote infinito); ``B_crit``: o lote crítico, em *tokens*;
    ``E_min = S_min · B_crit``: os *tokens* mínimos (lote muito pequeno).
    """

    s_min: float
    b_crit: float
    r2: float

    @property
    def e_min(self) -> float:
        return self.s_min * self.b_crit

    def steps(self, batch):
        return self.s_min * (1 + self.b_crit / np.asarray(batch, dtype=float))

    def tokens(self, batch):
        return self.steps(batch) * np.asarray(batch, dtype=float)


def fit_critical_batch(batch_sizes, steps_needed) -> CriticalBatchFit:
    """Ajusta ``S = S_min + (S_min·B_crit)/B`` por mínimos quadrados (linear em 1/B).

    ``steps_needed[i]`` é quantos passos o lote ``batch_sizes[i]`` levou para chegar a
    uma mesma perda-alvo. Exige 3 pontos ou mais, todos positivos.
    """
    b, s = _validate_xy(batch_sizes, steps_needed, min_points=3)
    design = np.stack([np.ones_like(b), 1.0 / b], axis=1)
    (s_min, slope), *_ = np.linalg.lstsq(design, s, rcond=None)
    if s_min <= 0 or slope <= 0:
        raise ValueError(
            f"os dados não seguem S = S_min·(1 + B_crit/B) com parâmetros positivos "
            f"(S_min = {s_min:.3g}, S_min·B_crit = {slope:.3g})."
        )
    resid = s - design @ np.array([s_min, slope])
    ss_tot = float(((s - s.mean()) ** 2).sum())
    r2 = 1 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return CriticalBatchFit(s_min=float(s_min), b_crit=float(slope / s_min), r2=r2)


# --- bootstrap -------------------------------------------------------------------

@dataclass(frozen=True)
class BootstrapResult:
    """Estimativas num conjunto de dados e a sua distribuição por reamostragem.

    ``estimate`` vem do ajuste nos dados originais; ``samples[nome]`` tem um valor
    por reamostragem bem-sucedida; ``n_failed`` conta as reamostragens em que o
    ajuste não foi possível (por exemplo, todos os pontos sorteados iguais).
    Os intervalos são percentis da distribuição (bootstrap *percentil*).
    """

    estimate: dict[str, float]
    samples: dict[str, np.ndarray] = field(repr=False)
    level: float
    n_boot: int
    n_failed: int

    def ci(self, name: str, level: float | None = None) -> tuple[float, float]:
        """Intervalo percentil de ``name`` no nível ``level`` (padrão: o da reamostragem)."""
        if name not in self.samples:
            raise ValueError(f"parâmetro desconhecido {name!r}; os disponíveis são {sorted(self.samples)}.")
        level = self.level if level is None else level
        if not 0 < level < 1:
            raise ValueError(f"o nível de confiança deve estar em (0, 1); recebi {level}.")
        s = self.samples[name]
        lo, hi = np.quantile(s, [0.5 - level / 2, 0.5 + level / 2])
        return float(lo), float(hi)

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Todos os intervalos, ``{nome: (baixo, alto)}``."""
        return {name: self.ci(name, level) for name in self.samples}

    def std(self, name: str) -> float:
        """Desvio padrão da distribuição de ``name`` (um "erro-padrão bootstrap")."""
        return float(np.std(self.samples[name], ddof=1))


def bootstrap(fn, *arrays, groups=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
              max_failed_fraction: float = 0.5) -> BootstrapResult:
    """Reamostra as *linhas* de ``arrays`` com reposição e reaplica ``fn``.

    ``fn(*arrays) -> dict[str, float]`` é o ajuste completo (as mesmas linhas em
    todos os vetores). Com ``groups``, a reamostragem é estratificada: cada grupo
    (por exemplo, um orçamento de computação) é reamostrado dentro de si e mantém o
    seu tamanho — a estrutura do experimento é preservada. Reamostragens em que
    ``fn`` levanta ``ValueError`` contam como falhas; se passarem de
    ``max_failed_fraction``, o erro é levantado.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot deve ser um inteiro ≥ 10; recebi {n_boot!r}.")
    if not 0 < level < 1:
        raise ValueError(f"o nível de confiança deve estar em (0, 1); recebi {level}.")
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("bootstrap precisa de pelo menos um vetor de dados.")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"os vetores devem ter o mesmo tamanho; recebi {[len(a) for a in arrays]}.")
    estimate = {k: float(v) for k, v in fn(*arrays).items()}
    if groups is None:
        strata = [np.arange(n)]
    else:
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ValueError(f"groups deve ter {n} elementos; recebi {len(groups)}.")
        strata = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in estimate}
    failed = 0
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(s, size=s.size, replace=True) for s in strata])
        try:
            out = fn(*(a[idx] for a in arrays))
        except (ValueError, np.linalg.LinAlgError):
            failed += 1
            continue
        for k in samples:
            samples[k].append(float(out[k]))
    if failed > max_failed_fraction * n_boot:
        raise ValueError(
            f"{failed} de {n_boot} reamostragens falharam (limite {max_failed_fraction:.0%}); "
            "há pontos de menos para um intervalo bootstrap confiável."
        )
    return BootstrapResult(estimate=estimate, samples={k: np.asarray(v) for k, v in samples.items()},
                           level=level, n_boot=n_boot, n_failed=failed)


def bootstrap_power_law(x, y, *, offset: bool = False, n_boot: int = 1000, level: float = 0.95,
                        seed: int = 0) -> BootstrapResult:
    """Intervalos bootstrap para ``y = k·x^α`` (``offset=False``) ou ``y = E + k·x^-α``.

    Parâmetros devolvidos: ``k`` e ``alpha`` (e ``E`` com ``offset=True``), na mesma
    convenção de sinal de :func:`fit_power_law` / :func:`fit_power_law_offset`.
    """
    x, y = _validate_xy(x, y, min_points=4 if offset else 3)

    def fn(xs, ys):
        if offset:
            f = fit_power_law_offset(xs, ys)
            return {"E": f.E, "k": f.k, "alpha": f.alpha}
        f = fit_power_law(xs, ys)
        return {"k": f.k, "alpha": f.alpha}

    return bootstrap(fn, x, y, n_boot=n_boot, level=level, seed=seed)


# --- região quase ótima e leis de hiperparâmetros (DeepSeek §3.1) -----------------

def _validate_losses(losses, n: int | None = None) -> np.ndarray:
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1:
        raise ValueError(f"as perdas devem formar um vetor 1D; recebi forma {losses.shape}.")
    if n is not None and losses.size != n:
        raise ValueError(f"esperava {n} perdas; recebi {losses.size}.")
    finite = losses[np.isfinite(losses)]
    if finite.size == 0:
        raise ValueError("nenhuma perda finita: todos os treinos divergiram ou faltam.")
    if (finite <= 0).any():
        raise ValueError(f"as perdas devem ser > 0; recebi {float(finite.min())!r}.")
    return losses


def near_optimal(losses, tolerance: float = 0.0025) -> np.ndarray:
    """Máscara dos treinos com perda ≤ (1 + tolerance) × a melhor perda.

    É o critério do DeepSeek (§3.1): os pontos "quase ótimos" de uma grade de
    hiperparâmetros ficam a até 0,25% da menor perda. Perdas ``NaN`` (treinos que
    divergiram) nunca entram na região.
    """
    if not (np.isfinite(tolerance) and 0 <= tolerance < 1):
        raise ValueError(f"tolerance deve estar em [0, 1); recebi {tolerance}.")
    losses = _validate_losses(losses)
    best = np.nanmin(losses)
    with np.errstate(invalid="ignore"):
        return np.isfinite(losses) & (losses <= best * (1 + tolerance))


def _group_keys(groups) -> tuple[np.ndarray, np.ndarray]:
    groups = np.asarray(groups, dtype=float)
    if groups.ndim != 1:
        raise ValueError("os orçamentos devem formar um vetor 1D.")
    if (~np.isfinite(groups) | (groups <= 0)).any():
        i = int(np.flatnonzero(~np.isfinite(groups) | (groups <= 0))[0])
        raise ValueError(f"os orçamentos devem ser finitos e > 0; orçamento[{i}] = {float(groups[i])!r}.")
    return groups, np.unique(groups)


@dataclass(frozen=True)
class HyperparameterLaws:
    """``η_opt = η_base · C^α_η`` e ``B_opt = B_base · C^α_B`` pelos pontos quase ótimos.

    ``selected`` marca os treinos que entraram no ajuste (quase ótimos no seu
    orçamento); ``best`` marca o melhor de cada orçamento.
    """

    lr: PowerLawFit
    batch: PowerLawFit
    lr_boot: BootstrapResult
    batch_boot: BootstrapResult
    selected: np.ndarray = field(repr=False)
    best: np.ndarray = field(repr=False)
    tolerance: float
    budgets: np.ndarray = field(repr=False)

    def lr_opt(self, compute):
        return self.lr.predict(compute)

    def batch_opt(self, compute):
        return self.batch.predict(compute)


def fit_hyperparameter_laws(budgets, lrs, batches, losses, *, tolerance: float = 0.0025,
                            n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> HyperparameterLaws:
    """O método do DeepSeek (§3.1): região quase ótima por orçamento, depois leis de potência em C.

    Em cada orçamento, os treinos a até ``tolerance`` da melhor perda daquele
    orçamento são "quase ótimos"; a taxa de aprendizado e o lote de **todos** esses
    pontos são ajustados como leis de potência no orçamento (uma reta em log-log).
    Os intervalos vêm de reamostrar os pontos quase ótimos dentro de cada orçamento.
    Exige pelo menos 2 orçamentos distintos e 3 pontos quase ótimos no total.
    """
    budgets, keys = _group_keys(budgets)
    n = budgets.size
    lrs = np.asarray(lrs, dtype=float)
    batches = np.asarray(batches, dtype=float)
    losses = _validate_losses(losses, n)
    if lrs.shape != (n,) or batches.shape != (n,):
        raise ValueError(f"orçamentos, taxas, lotes e perdas devem ter o mesmo tamanho ({n}).")
    for name, arr in (("taxa de aprendizado", lrs), ("lote", batches)):
        if (~np.isfinite(arr) | (arr <= 0)).any():
            i = int(np.flatnonzero(~np.isfinite(arr) | (arr <= 0))[0])
            raise ValueError(f"{name} deve ser finito e > 0; valor [{i}] = {float(arr[i])!r}.")
    if keys.size < 2:
        raise ValueError(
            f"as leis em função da computação precisam de pelo menos 2 orçamentos distintos; recebi só {keys.size} "
            f"({', '.join(f'{k:.3g}' for k in keys)} FLOPs)."
        )
    selected = np.zeros(n, dtype=bool)
    best = np.zeros(n, dtype=bool)
    for k in keys:
        idx = np.flatnonzero(budgets == k)
        if not np.isfinite(losses[idx]).any():
            raise ValueError(f"no orçamento {k:.3g} todos os treinos divergiram: não há ótimo.")
        selected[idx] = near_optimal(losses[idx], tolerance)
        best[idx[np.nanargmin(losses[idx])]] = True
    c, lr_sel, b_sel = budgets[selected], lrs[selected], batches[selected]
    if c.size < 3:
        raise ValueError(
            f"só {c.size} pontos quase ótimos com tolerance = {tolerance}; são precisos 3 ou mais "
            "(aumente a tolerância ou a grade)."
        )

    def law(cs, vs):
        f = fit_power_law(cs, vs)
        return {"k": f.k, "alpha": f.alpha}

    lr_boot = bootstrap(law, c, lr_sel, groups=c, n_boot=n_boot, level=level, seed=seed)
    b_boot = bootstrap(law, c, b_sel, groups=c, n_boot=n_boot, level=level, seed=seed + 1)
    return HyperparameterLaws(
        lr=fit_power_law(c, lr_sel), batch=fit_power_law(c, b_sel), lr_boot=lr_boot, batch_boot=b_boot,
        selected=selected, best=best, tolerance=float(tolerance), budgets=budgets,
    )


# --- perfis IsoFLOP (DeepSeek §3.2; Chinchilla, abordagem 2) -----------------------

@dataclass(frozen=True)
class IsoFlopProfile:
    """A parábola ``L = c0 + c1·u + c2·u²`` em ``u = log10(escala)`` de um orçamento.

    ``accepted`` é falso quando a curva não tem mínimo interior (``c2 ≤ 0`` ou o
    vértice fora da faixa medida); ``reason`` diz por quê. ``tokens_opt`` vem de
    uma reta de ``log10 D`` contra ``u`` no mesmo orçamento, avaliada no vértice, e
    ``compute_opt = scale_opt · tokens_opt`` é o orçamento nessa representação (na
    convenção M, igual ao nominal).
    """

    budget: float
    coef: tuple[float, float, float]
    scale_opt: float
    tokens_opt: float
    loss_opt: float
    compute_opt: float
    n_points: int
    scale_range: tuple[float, float]
    accepted: bool
    reason: str = ""

    @property
    def curvature(self) -> float:
        """``d²L / d(log10 escala)²`` — quão fechado é o U (por década², na unidade da perda)."""
        return 2 * self.coef[2]

    def predict(self, scale):
        u = np.log10(np.asarray(scale, dtype=float))
        c0, c1, c2 = self.coef
        return c0 + c1 * u + c2 * u**2


def isoflop_profile(scales, tokens, losses, *, budget: float | None = None) -> IsoFlopProfile:
    """Ajusta a parábola de um orçamento e localiza o vértice (ver :class:`IsoFlopProfile`)."""
    scales, losses_ = _validate_xy(scales, losses, min_points=3)
    tokens = np.asarray(tokens, dtype=float)
    if tokens.shape != scales.shape or (~np.isfinite(tokens) | (tokens <= 0)).any():
        raise ValueError("tokens deve ter um valor finito e > 0 para cada escala.")
    u = np.log10(scales)
    if np.unique(u).size < 3:
        raise ValueError(
            f"uma parábola precisa de pelo menos 3 escalas distintas; recebi {np.unique(u).size}."
        )
    c2, c1, c0 = np.polyfit(u, losses_, 2)
    d1, d0 = np.polyfit(u, np.log10(tokens), 1)
    budget = float(np.exp(np.mean(np.log(scales * tokens)))) if budget is None else float(budget)
    lo, hi = float(scales.min()), float(scales.max())
    if c2 <= 0:
        return IsoFlopProfile(budget, (c0, c1, c2), float("nan"), float("nan"), float("nan"), float("nan"),
                              int(scales.size), (lo, hi), False,
                              f"a parábola abre para baixo (c2 = {c2:.3g}): não há mínimo")
    u_star = -c1 / (2 * c2)
    if not (u.min() <= u_star <= u.max()):
        side = "abaixo da menor" if u_star < u.min() else "acima da maior"
        return IsoFlopProfile(budget, (c0, c1, c2), float(10**u_star), float("nan"), float("nan"), float("nan"),
                              int(scales.size), (lo, hi), False,
                              f"o vértice ({10**u_star:.3g}) cai {side} escala medida: o mínimo não é interior")
    loss_opt = c0 + c1 * u_star + c2 * u_star**2
    scale_opt = 10**u_star
    tokens_opt = 10 ** (d0 + d1 * u_star)
    return IsoFlopProfile(budget, (float(c0), float(c1), float(c2)), float(scale_opt), float(tokens_opt),
                          float(loss_opt), float(scale_opt * tokens_opt), int(scales.size), (lo, hi), True)


@dataclass(frozen=True)
class IsoFlopFit:
    """``escala_opt = escala_base · C^a`` e ``D_opt = D_base · C^b`` a partir dos vértices.

    ``profiles`` tem um perfil por orçamento (aceitos e rejeitados, em ordem de
    orçamento); as leis usam só os aceitos. ``boot`` tem os intervalos de ``a``,
    ``b``, ``scale_base``, ``data_base``, dos parâmetros da lei da perda ótima
    (``loss_k``, ``loss_alpha``) e, para cada orçamento em ``predict_at``, da escala,
    dos dados e da perda ótimos previstos (``scale@C``, ``tokens@C``, ``loss@C``).
    """

    profiles: list[IsoFlopProfile]
    scale_law: PowerLawFit
    data_law: PowerLawFit
    loss_law: PowerLawFit
    boot: BootstrapResult
    predict_at: tuple[float, ...] = ()

    @property
    def accepted(self) -> list[IsoFlopProfile]:
        return [p for p in self.profiles if p.accepted]

    @property
    def rejected(self) -> list[IsoFlopProfile]:
        return [p for p in self.profiles if not p.accepted]

    @property
    def a(self) -> float:
        return self.scale_law.alpha

    @property
    def b(self) -> float:
        return self.data_law.alpha

    def scale_opt(self, compute):
        return self.scale_law.predict(compute)

    def tokens_opt(self, compute):
        return self.data_law.predict(compute)

    def loss_opt(self, compute):
        return self.loss_law.predict(compute)


def _isoflop_core(budgets, scales, tokens, losses, predict_at=()) -> tuple[list, tuple, dict]:
    """Perfis, as três leis (escala, dados, perda ótima) e os números que o bootstrap acompanha."""
    _, keys = _group_keys(budgets)
    profiles = []
    for k in keys:
        idx = budgets == k
        try:
            profiles.append(isoflop_profile(scales[idx], tokens[idx], losses[idx], budget=k))
        except ValueError as exc:  # poucas escalas distintas: o orçamento fica de fora, com o motivo
            nan = float("nan")
            profiles.append(IsoFlopProfile(float(k), (nan, nan, nan), nan, nan, nan, nan, int(idx.sum()),
                                           (float(scales[idx].min()), float(scales[idx].max())), False, str(exc)))
    good = [p for p in profiles if p.accepted]
    if len(good) < 3:
        raise ValueError(
            f"só {len(good)} orçamento(s) com mínimo interior; as leis de alocação precisam de 3 ou mais."
        )
    c = np.array([p.compute_opt for p in good])
    s_law = fit_power_law(c, [p.scale_opt for p in good])
    d_law = fit_power_law(c, [p.tokens_opt for p in good])
    l_law = fit_power_law(c, [p.loss_opt for p in good])
    out = {"a": s_law.alpha, "b": d_law.alpha, "scale_base": s_law.k, "data_base": d_law.k,
           "loss_k": l_law.k, "loss_alpha": l_law.alpha}
    for cp in predict_at:
        out[f"scale@{cp:g}"] = float(s_law.predict(cp))
        out[f"tokens@{cp:g}"] = float(d_law.predict(cp))
        out[f"loss@{cp:g}"] = float(l_law.predict(cp))
    return profiles, (s_law, d_law, l_law), out


def fit_isoflop(budgets, scales, tokens, losses, *, predict_at=(), n_boot: int = 1000,
                level: float = 0.95, seed: int = 0) -> IsoFlopFit:
    """Perfis IsoFLOP → leis de alocação ``M_opt ∝ C^a``, ``D_opt ∝ C^b`` e perda ótima ``∝ C^-α``.

    ``budgets`` agrupa os treinos (o orçamento nominal de cada um); ``scales`` é a
    representação da escala do modelo (M, 6N₁, 6N₂…); ``tokens`` os tokens de
    treino; ``losses`` a perda final. Orçamentos sem mínimo interior são rejeitados
    (ficam em ``profiles`` com o motivo) e ficam fora das leis. Os intervalos vêm de
    reamostrar os treinos **dentro** de cada orçamento e refazer tudo — parábolas,
    vértices e leis; numa reamostragem em que algum orçamento perde o mínimo interior,
    ele sai só daquela reamostragem.
    """
    budgets, keys = _group_keys(budgets)
    if keys.size < 2:
        raise ValueError(
            f"um único orçamento ({keys[0]:.3g} FLOPs): as leis de alocação precisam de vários "
            "orçamentos (3 ou mais com mínimo interior)."
        )
    scales, losses = _validate_xy(scales, losses, min_points=3)
    tokens = np.asarray(tokens, dtype=float)
    if budgets.shape != scales.shape or tokens.shape != scales.shape:
        raise ValueError(
            f"orçamentos, escalas, tokens e perdas devem ter o mesmo tamanho; recebi "
            f"{budgets.size}, {scales.size}, {tokens.size} e {losses.size}."
        )
    if (~np.isfinite(tokens) | (tokens <= 0)).any():
        i = int(np.flatnonzero(~np.isfinite(tokens) | (tokens <= 0))[0])
        raise ValueError(f"tokens deve ser finito e > 0; tokens[{i}] = {float(tokens[i])!r}.")
    predict_at = tuple(float(c) for c in predict_at)
    profiles, (s_law, d_law, l_law), _ = _isoflop_core(budgets, scales, tokens, losses, predict_at)

    def fn(b, s, t, l):
        return _isoflop_core(b, s, t, l, predict_at)[2]

    boot = bootstrap(fn, budgets, scales, tokens, losses, groups=budgets, n_boot=n_boot, level=level, seed=seed)
    return IsoFlopFit(profiles=profiles, scale_law=s_law, data_law=d_law, loss_law=l_law, boot=boot,
                      predict_at=predict_at)


def prediction_interval(samples, *, noise_rel: float = 0.0, level: float = 0.95,
                        seed: int = 0) -> tuple[float, float]:
    """Intervalo de predição para **um** treino novo: incerteza do ajuste + ruído do treino.

    ``samples`` são previsões bootstrap do valor esperado; ``noise_rel`` é o desvio
    padrão relativo entre treinos repetidos (medido com sementes). Cada amostra é
    multiplicada por ``exp(noise_rel · ε)`` e o intervalo é o percentil do resultado.
    """
    s = np.asarray(samples, dtype=float)
    if s.ndim != 1 or s.size < 10 or not np.isfinite(s).all():
        raise ValueError(f"samples deve ser um vetor com 10 ou mais valores finitos; recebi {s.size}.")
    if not (np.isfinite(noise_rel) and noise_rel >= 0):
        raise ValueError(f"noise_rel deve ser finito e ≥ 0; recebi {noise_rel}.")
    if not 0 < level < 1:
        raise ValueError(f"o nível deve estar em (0, 1); recebi {level}.")
    rng = np.random.default_rng(seed)
    draws = np.repeat(s, 20) * np.exp(noise_rel * rng.standard_normal(s.size * 20))
    lo, hi = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


# --- Chinchilla, abordagem 3 -----------------------------------------------------

@dataclass(frozen=True)
class ParametricLossFit:
    """``L(x, D) = E + A / x^α + B / D^β`` (Hoffmann et al., 2022, abordagem 3).

    ``x`` é a escala do modelo na representação escolhida (parâmetros N, ou M em
    FLOPs/token) e ``D`` os tokens. A fronteira ótima vem de minimizar ``L`` com
    ``C = x · D`` fixo: ``x_opt = G · C^a`` com ``a = β/(α+β)``,
    ``G = (αA / (βB))^(1/(α+β))``, e ``D_opt = C / x_opt``, ``b = α/(α+β)``. Se a
    representação for N (e C = 6ND), passe ``flops_per_scale_token=6``.
    """

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    objective: float
    n: int
    delta: float
    boot: BootstrapResult | None = None
    flops_per_scale_token: float = 1.0

    def predict(self, scale, tokens):
        x = np.asarray(scale, dtype=float)
        d = np.asarray(tokens, dtype=float)
        return self.E + self.A / x**self.alpha + self.B / d**self.beta

    @property
    def a(self) -> float:
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def scale_opt(self, compute):
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        c = np.asarray(compute, dtype=float) / self.flops_per_scale_token
        return g * c**self.a

    def tokens_opt(self, compute):
        c = np.asarray(compute, dtype=float) / self.flops_per_scale_token
        return c / self.scale_opt(compute)

    def loss_opt(self, compute):
        return self.predict(self.scale_opt(compute), self.tokens_opt(compute))


def _huber(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Perda de Huber e a sua derivada."""
    a = np.abs(r)
    quad = a <= delta
    value = np.where(quad, 0.5 * r**2, delta * (a - 0.5 * delta))
    grad = np.where(quad, r, delta * np.sign(r))
    return value, grad


def _approach3_objective(theta, log_x, log_d, log_l, delta):
    a, b, e, alpha, beta = theta
    t = np.stack([a - alpha * log_x, b - beta * log_d, np.full_like(log_x, e)])
    tmax = t.max(axis=0)
    w = np.exp(t - tmax)
    s = w.sum(axis=0)
    pred = tmax + np.log(s)
    value, g = _huber(pred - log_l, delta)
    p = w / s  # pesos do log-sum-exp
    grad = np.array([
        (g * p[0]).sum(),
        (g * p[1]).sum(),
        (g * p[2]).sum(),
        (g * p[0] * -log_x).sum(),
        (g * p[1] * -log_d).sum(),
    ])
    return float(value.sum()), grad


_A3_BOUNDS = [(-20.0, 60.0), (-20.0, 60.0), (-10.0, 10.0), (1e-3, 3.0), (1e-3, 3.0)]


def _approach3_screen(log_x, log_d, log_l, delta, starts, keep: int) -> list[np.ndarray]:
    """Os ``keep`` pontos iniciais de menor objetivo (avaliados de uma vez, sem otimizar)."""
    th = np.asarray(starts, dtype=float)  # (S, 5)
    t = np.stack([th[:, :1] - th[:, 3:4] * log_x, th[:, 1:2] - th[:, 4:5] * log_d,
                  np.broadcast_to(th[:, 2:3], (th.shape[0], log_x.size))])
    pred = np.logaddexp.reduce(t, axis=0)
    value = _huber(pred - log_l, delta)[0].sum(axis=1)
    order = np.argsort(value)[:keep]
    return [th[i] for i in order]


def _approach3_solve(log_x, log_d, log_l, delta, starts) -> tuple[np.ndarray, float]:
    best_x, best_f = None, np.inf
    # O L-BFGS-B chama a BLAS com matrizes minúsculas; com várias threads (e outro
    # processo ocupando os núcleos) cada chamada chega a custar 20× mais. Uma thread basta.
    with threadpool_limits(limits=1, user_api="blas"):
        for theta0 in starts:
            sol = optimize.minimize(_approach3_objective, theta0, args=(log_x, log_d, log_l, delta), jac=True,
                                    method="L-BFGS-B", bounds=_A3_BOUNDS)
            if np.isfinite(sol.fun) and sol.fun < best_f:
                best_x, best_f = sol.x, float(sol.fun)
    if best_x is None:  # pragma: no cover - só com dados patológicos
        raise ValueError("a abordagem 3 não convergiu de nenhum ponto inicial.")
    return best_x, best_f


def approach3_start_grid() -> list[np.ndarray]:
    """A grade de pontos iniciais (ln A, ln B, ln E, α, β): 4 × 4 × 3 × 4 × 4 = 768 inícios."""
    grid = itertools.product((0.0, 5.0, 10.0, 15.0), (0.0, 5.0, 10.0, 15.0), (-1.0, 0.0, 1.0),
                             (0.1, 0.3, 0.6, 1.0), (0.1, 0.3, 0.6, 1.0))
    return [np.array(t, dtype=float) for t in grid]


def fit_approach3(scales, tokens, losses, *, delta: float = 1e-3, n_boot: int = 200, level: float = 0.95,
                  seed: int = 0, flops_per_scale_token: float = 1.0) -> ParametricLossFit:
    """Ajusta ``L = E + A/x^α + B/D^β`` como na abordagem 3 do Chinchilla.

    Minimiza a soma das perdas de Huber (``delta`` = 10⁻³) entre ``log L`` previsto
    (um log-sum-exp de ``ln A − α ln x``, ``ln B − β ln D`` e ``ln E``) e ``log L``
    medido, por L-BFGS-B com gradiente analítico. Os 768 pontos da grade inicial
    (:func:`approach3_start_grid`) são avaliados de uma vez e a otimização parte dos
    32 melhores; fica o menor objetivo. Os intervalos vêm de ``n_boot``
    reamostragens dos treinos, cada uma partindo da solução completa e de 8 pontos
    da grade. Exige pelo menos 6 treinos (5 parâmetros + 1).
    """
    x, l = _validate_xy(scales, losses, min_points=6)
    d = np.asarray(tokens, dtype=float)
    if d.shape != x.shape:
        raise ValueError(f"tokens deve ter {x.size} valores; recebi {d.size}.")
    if (~np.isfinite(d) | (d <= 0)).any():
        i = int(np.flatnonzero(~np.isfinite(d) | (d <= 0))[0])
        raise ValueError(f"tokens deve ser finito e > 0; tokens[{i}] = {float(d[i])!r}.")
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta deve ser finito e > 0; recebi {delta}.")
    if np.ptp(np.log(d)) == 0:
        raise ValueError("todos os treinos têm o mesmo número de tokens: β não é identificável.")
    lx, ld, ll = np.log(x), np.log(d), np.log(l)
    grid = approach3_start_grid()
    theta, obj = _approach3_solve(lx, ld, ll, delta, _approach3_screen(lx, ld, ll, delta, grid, keep=32))

    def unpack(th):
        a, b, e, alpha, beta = th
        return {"E": float(np.exp(e)), "A": float(np.exp(a)), "alpha": float(alpha),
                "B": float(np.exp(b)), "beta": float(beta)}

    rng = np.random.default_rng(seed + 12345)
    sub = [grid[i] for i in rng.choice(len(grid), size=8, replace=False)]

    def fn(xs, ds, ls):
        th, _ = _approach3_solve(np.log(xs), np.log(ds), np.log(ls), delta, [theta, *sub])
        out = unpack(th)
        out["a"] = out["beta"] / (out["alpha"] + out["beta"])
        return out

    boot = bootstrap(fn, x, d, l, n_boot=n_boot, level=level, seed=seed) if n_boot else None
    p = unpack(theta)
    return ParametricLossFit(E=p["E"], A=p["A"], alpha=p["alpha"], B=p["B"], beta=p["beta"], objective=obj,
                             n=int(x.size), delta=float(delta), boot=boot,
                             flops_per_scale_token=float(flops_per_scale_token))


# --- curvas de treino: extrapolação, parada antecipada e ganhos marginais (capítulo 11) ---

__all__ += [
    "constant_lr_phase",
    "fit_learning_curve",
    "CurveExtrapolation",
    "extrapolate_learning_curve",
    "predicted_block_gain",
    "EarlyStop",
    "early_stopping",
    "MarginalGains",
    "marginal_gains",
    "balanced_allocation",
    "successive_doublings",
]


def constant_lr_phase(trace, *, metric: str = "val_bpb") -> tuple[np.ndarray, np.ndarray]:
    """Os pontos de uma curva de treino feitos na taxa de pico: do fim do aquecimento à primeira queda.

    ``trace`` é a lista ``record["trace"]`` de um treino: dicionários com ``tokens``,
    ``lr`` (a taxa do último passo antes da avaliação) e a métrica ``metric``. O ponto
    de 0 *tokens* e os pontos ainda no aquecimento ficam de fora; a fase termina no
    último ponto antes de a taxa cair abaixo do pico — na agenda em degraus, o ponto de
    80% do treino. Numa agenda constante entram todos os pontos depois do aquecimento;
    num cosseno, quase nenhum (a taxa cai desde o início). Um ponto sem a métrica (um
    treino que divergiu) encerra a fase. Devolve ``(tokens, perdas)``.
    """
    if not isinstance(trace, (list, tuple)):
        raise ValueError(f"trace deve ser uma lista de pontos (dicionários); recebi {type(trace).__name__}.")
    if not trace:
        raise ValueError("trace deve ser uma lista não vazia de pontos; recebi uma lista vazia.")
    for i, p in enumerate(trace):
        if not isinstance(p, dict) or any(k not in p for k in ("tokens", "lr", metric)):
            raise ValueError(f"o ponto {i} da curva precisa das chaves 'tokens', 'lr' e {metric!r}; recebi {p!r}.")
    peak = max(float(p["lr"]) for p in trace)
    if not (np.isfinite(peak) and peak > 0):
        raise ValueError(f"a taxa de pico da curva deve ser finita e > 0; recebi {peak!r}.")
    tokens, losses = [], []
    reached = False
    for p in trace:
        if p["tokens"] <= 0:
            continue
        at_peak = abs(float(p["lr"]) - peak) <= 1e-9 * peak
        if at_peak and p[metric] is not None:
            reached = True
            tokens.append(float(p["tokens"]))
            losses.append(float(p[metric]))
        elif reached:
            break
    return np.asarray(tokens, dtype=float), np.asarray(losses, dtype=float)


def fit_learning_curve(tokens, losses, *, max_alpha: float = 3.0) -> OffsetPowerLawFit:
    """Ajusta ``L(t) = E + k · t^(-α)`` a uma curva de treino (perda contra *tokens* vistos).

    É o mesmo modelo e o mesmo objetivo de :func:`fit_power_law_offset` (mínimos
    quadrados em ``log L``, ``0 ≤ E < min(L)``, ``0 < α ≤ max_alpha``), resolvido de
    outro jeito, para ser barato refazê-lo a cada ponto de uma curva: para cada ``α``
    de uma grade, ``E`` e ``k`` saem de mínimos quadrados lineares ponderados por
    ``1/L`` (o erro relativo, que aproxima o erro em log); o melhor ``α`` da grade é
    refinado por uma única chamada de ``least_squares`` com jacobiano analítico.
    Exige pelo menos 4 pontos com *tokens* distintos.
    """
    x, y = _validate_xy(tokens, losses, min_points=4)
    if not (np.isfinite(max_alpha) and 0 < max_alpha <= 10):
        raise ValueError(f"max_alpha deve estar em (0, 10]; recebi {max_alpha}.")
    if np.unique(x).size < 4:
        raise ValueError(f"são precisos 4 valores distintos de tokens; recebi {np.unique(x).size}.")
    x0 = float(np.exp(np.log(x).mean()))
    u = x / x0
    ly = np.log(y)
    y_min = float(y.min())
    e_max = y_min * (1 - 1e-9)
    # Perfil em α: para cada α, (E, k) por mínimos quadrados lineares com pesos 1/L².
    alphas = np.geomspace(1e-3, max_alpha, 200)
    p = u[None, :] ** (-alphas[:, None])
    w = 1.0 / y**2
    s0, s1, s11 = w.sum(), (w * p).sum(axis=1), (w * p * p).sum(axis=1)
    t0, t1 = (w * y).sum(), (w * p * y).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        det = s0 * s11 - s1**2
        e = (s11 * t0 - s1 * t1) / det
        k = (s0 * t1 - s1 * t0) / det
        # E fora de [0, min L): refaz k com E preso na borda violada.
        k = np.where(e < 0, t1 / s11, k)
        e = np.where(e < 0, 0.0, e)
        high = e >= e_max
        e_hi = y_min * (1 - 1e-6)
        k = np.where(high, (w * p * (y - e_hi)).sum(axis=1) / s11, k)
        e = np.where(high, e_hi, e)
        pred = e[:, None] + k[:, None] * p
        sse = ((ly - np.log(np.where(pred > 0, pred, np.nan))) ** 2).sum(axis=1)
    sse[~np.isfinite(sse) | ~(k > 0)] = np.inf
    if not np.isfinite(sse).any():  # pragma: no cover - só com curvas que sobem
        raise ValueError("a curva não é compatível com L = E + k·t^(-α) decrescente (nenhum α da grade serve).")
    i = int(np.argmin(sse))

    def residuals(theta):
        e_, log_k, a = theta
        return ly - np.log(e_ + np.exp(log_k) * u ** (-a))

    def jacobian(theta):
        e_, log_k, a = theta
        pa = np.exp(log_k) * u ** (-a)
        yh = e_ + pa
        return -np.stack([1 / yh, pa / yh, -pa * np.log(u) / yh], axis=1)

    lower, upper = [0.0, -np.inf, 1e-6], [e_max, np.inf, max_alpha]
    theta0 = [min(float(e[i]), e_max * 0.999), float(np.log(k[i])), min(float(alphas[i]), max_alpha * 0.999)]
    best = optimize.least_squares(residuals, theta0, jac=jacobian, bounds=(lower, upper), method="trf",
                                  ftol=1e-12, xtol=1e-12, gtol=1e-12)
    e_, log_k_u, alpha = best.x
    n = x.size
    dof = n - 3
    s2 = float(best.fun @ best.fun) / dof
    cov_u = s2 * np.linalg.pinv(best.jac.T @ best.jac)
    transform = np.array([[1, 0, 0], [0, 1, np.log(x0)], [0, 0, 1]], dtype=float)
    return OffsetPowerLawFit(E=float(e_), k=float(np.exp(log_k_u + alpha * np.log(x0))), alpha=float(alpha),
                             cov=transform @ cov_u @ transform.T, n=int(n), dof=dof, residual_std=float(np.sqrt(s2)))


def _validate_curve(tokens, losses, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    t, l = _validate_xy(tokens, losses, min_points=min_points)
    if np.any(np.diff(t) <= 0):
        i = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ValueError(f"os tokens de uma curva devem crescer estritamente; tokens[{i}] = {t[i]!r} e "
                         f"tokens[{i + 1}] = {t[i + 1]!r}.")
    return t, l


@dataclass(frozen=True)
class CurveExtrapolation:
    """Uma curva ajustada nos primeiros ``n_fit`` pontos e a perda prevista em ``target_tokens``."""

    fit: OffsetPowerLawFit
    n_fit: int
    fitted_until: float
    target_tokens: float
    predicted: float

    def relative_error(self, measured: float) -> float:
        """``previsto / medido − 1`` (positivo: a previsão ficou acima da perda medida)."""
        if not (np.isfinite(measured) and measured > 0):
            raise ValueError(f"a perda medida deve ser finita e > 0; recebi {measured!r}.")
        return float(self.predicted / measured - 1)


def extrapolate_learning_curve(tokens, losses, target_tokens: float, *, n_fit: int | None = None,
                               max_alpha: float = 3.0) -> CurveExtrapolation:
    """Ajusta ``L = E + k·t^(-α)`` nos primeiros ``n_fit`` pontos e prevê a perda em ``target_tokens``.

    ``tokens`` deve crescer estritamente; ``n_fit`` vai de 4 ao número de pontos
    (padrão: todos). ``target_tokens`` pode estar antes do fim dos pontos usados
    (interpolação), mas o uso típico é além deles.
    """
    t, l = _validate_curve(tokens, losses, min_points=4)
    n_fit = t.size if n_fit is None else n_fit
    if isinstance(n_fit, bool) or not isinstance(n_fit, (int, np.integer)) or not 4 <= n_fit <= t.size:
        raise ValueError(f"n_fit deve ser um inteiro em [4, {t.size}]; recebi {n_fit!r}.")
    if not (np.isfinite(target_tokens) and target_tokens > 0):
        raise ValueError(f"target_tokens deve ser finito e > 0; recebi {target_tokens!r}.")
    curve = fit_learning_curve(t[:n_fit], l[:n_fit], max_alpha=max_alpha)
    return CurveExtrapolation(fit=curve, n_fit=int(n_fit), fitted_until=float(t[n_fit - 1]),
                              target_tokens=float(target_tokens), predicted=float(curve.predict(target_tokens)))


def predicted_block_gain(curve: OffsetPowerLawFit, tokens, block_tokens: float):
    """Quanto a curva ajustada prevê que a perda cai nos próximos ``block_tokens``: ``L(t) − L(t + Δ)``."""
    if not (np.isfinite(block_tokens) and block_tokens > 0):
        raise ValueError(f"block_tokens deve ser finito e > 0; recebi {block_tokens!r}.")
    t = np.asarray(tokens, dtype=float)
    if np.any(~np.isfinite(t) | (t <= 0)):
        raise ValueError("tokens deve ser finito e > 0.")
    return curve.predict(t) - curve.predict(t + block_tokens)


@dataclass(frozen=True)
class EarlyStop:
    """O resultado de :func:`early_stopping` numa curva.

    ``decisions`` são os índices dos pontos em que a regra foi consultada e
    ``gain_per_cost`` o ganho previsto do bloco seguinte por unidade de custo em cada
    um; ``thresholds`` o limiar em cada um. ``stop_index`` é o ponto em que o treino
    parou (o último, se a regra nunca disparou: ``stopped`` falso). As economias e
    perdas são **medidas** nos próprios pontos da curva, contra o último.
    """

    tokens: np.ndarray = field(repr=False)
    losses: np.ndarray = field(repr=False)
    decisions: np.ndarray = field(repr=False)
    gain_per_cost: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)
    stop_index: int
    stopped: bool

    @property
    def tokens_at_stop(self) -> float:
        return float(self.tokens[self.stop_index])

    @property
    def saved_fraction(self) -> float:
        """Fração dos *tokens* (e da computação) da curva inteira que a parada economiza."""
        return float(1 - self.tokens[self.stop_index] / self.tokens[-1])

    @property
    def loss_increase(self) -> float:
        """Perda medida no ponto de parada menos a perda medida no último ponto."""
        return float(self.losses[self.stop_index] - self.losses[-1])

    @property
    def relative_loss_increase(self) -> float:
        return float(self.losses[self.stop_index] / self.losses[-1] - 1)


def early_stopping(tokens, losses, *, block_tokens: float, threshold, flops_per_token: float = 1.0,
                   min_points: int = 4, max_alpha: float = 3.0) -> EarlyStop:
    """Parada antecipada por ganho marginal por custo, aplicada ponto a ponto a uma curva.

    Em cada ponto ``i`` (a partir do ``min_points``-ésimo, sem contar o último), ajusta
    ``L = E + k·t^(-α)`` aos pontos ``0..i`` — só o que já se sabe naquele momento — e
    prevê o ganho do próximo bloco, ``g = L̂(tᵢ) − L̂(tᵢ + Δ)`` com ``Δ = block_tokens``.
    O custo do bloco é ``Δ · flops_per_token`` (com o padrão 1, em *tokens*). O treino
    para no primeiro ponto em que ``g / custo < threshold``. ``threshold`` é um número
    ou uma função dos *tokens* já vistos que devolve o limiar (por exemplo, o ganho
    por FLOP da fronteira ótima no orçamento gasto até ali).
    """
    t, l = _validate_curve(tokens, losses, min_points=4)
    if (isinstance(min_points, bool) or not isinstance(min_points, (int, np.integer))
            or not 4 <= min_points <= t.size):
        raise ValueError(f"min_points deve ser um inteiro em [4, {t.size}]; recebi {min_points!r}.")
    if not (np.isfinite(block_tokens) and block_tokens > 0):
        raise ValueError(f"block_tokens deve ser finito e > 0; recebi {block_tokens!r}.")
    if not (np.isfinite(flops_per_token) and flops_per_token > 0):
        raise ValueError(f"flops_per_token deve ser finito e > 0; recebi {flops_per_token!r}.")
    if callable(threshold):
        threshold_at = threshold
    else:
        if not (isinstance(threshold, (int, float, np.floating, np.integer)) and np.isfinite(threshold)
                and threshold >= 0):
            raise ValueError(f"threshold deve ser um número finito ≥ 0 ou uma função dos tokens; "
                             f"recebi {threshold!r}.")
        threshold_at = lambda _t: float(threshold)  # noqa: E731
    cost = block_tokens * flops_per_token
    decisions, gains, limits = [], [], []
    stop = t.size - 1
    for i in range(min_points - 1, t.size - 1):
        curve = fit_learning_curve(t[: i + 1], l[: i + 1], max_alpha=max_alpha)
        g = float(predicted_block_gain(curve, t[i], block_tokens)) / cost
        lim = float(threshold_at(t[i]))
        decisions.append(i)
        gains.append(g)
        limits.append(lim)
        if g < lim:
            stop = i
            break
    return EarlyStop(tokens=t, losses=l, decisions=np.asarray(decisions, dtype=int), gain_per_cost=np.asarray(gains),
                     thresholds=np.asarray(limits), stop_index=int(stop), stopped=stop < t.size - 1)


@dataclass(frozen=True)
class MarginalGains:
    """Derivadas de ``L(x, D) = E + A/x^α + B/D^β`` e o ganho por FLOP de cada direção.

    ``gain_per_flop_scale`` é quanto a perda cai por FLOP gasto aumentando o modelo
    (``x``) com os *tokens* fixos — custo ``f·D`` por unidade de ``x``, com
    ``f = flops_per_scale_token``; ``gain_per_flop_tokens``, aumentando os *tokens* com
    o modelo fixo — custo ``f·x`` por *token*. Os dois são iguais na alocação ótima.
    """

    scale: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray
    dloss_dscale: np.ndarray
    dloss_dtokens: np.ndarray
    gain_per_flop_scale: np.ndarray
    gain_per_flop_tokens: np.ndarray

    @property
    def ratio(self):
        """Ganho por FLOP do modelo ÷ ganho por FLOP dos dados (> 1: vale mais crescer o modelo)."""
        return self.gain_per_flop_scale / self.gain_per_flop_tokens


def _positive(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(arr) | (arr <= 0)):
        raise ValueError(f"{name} deve ser finito e > 0; recebi {value!r}.")
    return arr


def marginal_gains(law: ParametricLossFit, scale, tokens) -> MarginalGains:
    """∂L/∂x, ∂L/∂D e os ganhos por FLOP da lei paramétrica no ponto ``(scale, tokens)`` (vetorizado)."""
    x = _positive("scale", scale)
    d = _positive("tokens", tokens)
    f = law.flops_per_scale_token
    dldx = -law.alpha * law.A * x ** (-law.alpha - 1)
    dldd = -law.beta * law.B * d ** (-law.beta - 1)
    return MarginalGains(scale=x, tokens=d, loss=law.predict(x, d), dloss_dscale=dldx, dloss_dtokens=dldd,
                         gain_per_flop_scale=-dldx / (f * d), gain_per_flop_tokens=-dldd / (f * x))


def balanced_allocation(law: ParametricLossFit, compute: float) -> tuple[float, float]:
    """A escala ``x`` e os *tokens* ``D`` com ``f·x·D = compute`` em que os ganhos por FLOP se igualam.

    Resolve numericamente (Brent em ``ln x``) ``αA·x^(-α) = βB·D^(-β)`` — a condição de
    primeira ordem do mínimo de ``L`` com a computação fixa —, sem usar a fórmula
    fechada de :meth:`ParametricLossFit.scale_opt`, que serve de conferência.
    """
    c = float(_positive("compute", compute)) / law.flops_per_scale_token

    def h(log_x):
        log_d = np.log(c) - log_x
        return (np.log(law.alpha * law.A) - law.alpha * log_x) - (np.log(law.beta * law.B) - law.beta * log_d)

    # h decresce estritamente em ln x (inclinação −α − β): um intervalo largo sempre muda de sinal.
    log_x = optimize.brentq(h, -700.0, 700.0, xtol=1e-12, rtol=1e-14, maxiter=500)
    x = float(np.exp(log_x))
    return x, float(c / x)


def successive_doublings(law: ParametricLossFit, scale: float, tokens: float, *, vary: str,
                         n: int = 3) -> dict[str, np.ndarray]:
    """A perda prevista ao dobrar ``n`` vezes seguidas o modelo, os dados ou os dois.

    ``vary`` é ``"scale"`` (só o modelo), ``"tokens"`` (só os dados) ou ``"both"``.
    Devolve vetores de ``n + 1`` elementos (o ponto de partida e cada dobra): ``scale``,
    ``tokens``, ``compute`` (``f·x·D``), ``loss`` e ``gain`` (a queda da perda em cada
    dobra; 0 no ponto de partida).
    """
    if vary not in ("scale", "tokens", "both"):
        raise ValueError(f"vary deve ser 'scale', 'tokens' ou 'both'; recebi {vary!r}.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 30:
        raise ValueError(f"n deve ser um inteiro em [1, 30]; recebi {n!r}.")
    x0 = float(_positive("scale", scale))
    d0 = float(_positive("tokens", tokens))
    k = np.arange(n + 1)
    xs = x0 * 2.0 ** (k if vary in ("scale", "both") else 0 * k)
    ds = d0 * 2.0 ** (k if vary in ("tokens", "both") else 0 * k)
    loss = law.predict(xs, ds)
    gain = np.concatenate([[0.0], -np.diff(loss)])
    return {"scale": xs, "tokens": ds, "compute": law.flops_per_scale_token * xs * ds, "loss": loss, "gain": gain}
