"""Leis de potência: ``y = k·x^α`` em log-log e ``y = E + k·x^(-α)`` com termo irredutível,
com erros-padrão (Wald) e intervalos *t*; dados sintéticos e a inclinação local (capítulo 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

__all__ = ["PowerLawFit", "OffsetPowerLawFit", "fit_power_law", "fit_power_law_offset", "synthetic_power_law", "local_slope"]


def _validate_xy(x, y, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"x e y devem ser vetores 1D; recebi formas {x.shape} e {y.shape}.")
    if x.shape != y.shape:
        raise ValueError(f"x e y devem ter o mesmo tamanho; recebi {x.size} e {y.size}.")
    if x.size < min_points:
        raise ValueError(
            f"são necessários pelo menos {min_points} pontos para este ajuste; recebi {x.size}."
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
