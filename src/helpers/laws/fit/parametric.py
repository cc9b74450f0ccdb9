"""A abordagem 3 do Chinchilla, ``L = E + A/x^α + B/D^β``, e os ganhos marginais de
parâmetros e dados que ela dá (capítulos 8 e 11).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

from .bootstrap import BootstrapResult, bootstrap
from .power import _validate_xy

__all__ = ["ParametricLossFit", "approach3_start_grid", "fit_approach3", "MarginalGains", "marginal_gains", "balanced_allocation", "successive_doublings"]


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
