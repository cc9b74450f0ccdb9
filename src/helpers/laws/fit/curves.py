"""Curvas de treino: a fase de taxa constante, o ajuste e a extrapolação de uma curva e a
parada antecipada pelo ganho marginal (capítulo 11).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from .power import OffsetPowerLawFit, _validate_xy

__all__ = ["constant_lr_phase", "fit_learning_curve", "CurveExtrapolation", "extrapolate_learning_curve", "predicted_block_gain", "EarlyStop", "early_stopping"]


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
        raise ValueError(f"são necessários 4 valores distintos de tokens; recebi {np.unique(x).size}.")
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


def _check_extrapolation(tokens, losses, target_tokens, n_fit):
    """Valida os argumentos de :func:`extrapolate_learning_curve`; devolve ``(t, l, n_fit)``."""
    t, l = _validate_curve(tokens, losses, min_points=4)
    n_fit = t.size if n_fit is None else n_fit
    if isinstance(n_fit, bool) or not isinstance(n_fit, (int, np.integer)) or not 4 <= n_fit <= t.size:
        raise ValueError(f"n_fit deve ser um inteiro em [4, {t.size}]; recebi {n_fit!r}.")
    if not (np.isfinite(target_tokens) and target_tokens > 0):
        raise ValueError(f"target_tokens deve ser finito e > 0; recebi {target_tokens!r}.")
    return t, l, n_fit


def extrapolate_learning_curve(tokens, losses, target_tokens: float, *, n_fit: int | None = None,
                               max_alpha: float = 3.0) -> CurveExtrapolation:
    """Ajusta ``L = E + k·t^(-α)`` nos primeiros ``n_fit`` pontos e prevê a perda em ``target_tokens``.

    ``tokens`` deve crescer estritamente; ``n_fit`` vai de 4 ao número de pontos
    (padrão: todos). ``target_tokens`` pode estar antes do fim dos pontos usados
    (interpolação), mas o uso típico é além deles.
    """
    t, l, n_fit = _check_extrapolation(tokens, losses, target_tokens, n_fit)
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


def _check_early_stopping(tokens, losses, block_tokens, threshold, flops_per_token, min_points):
    """Valida os argumentos de :func:`early_stopping`; devolve ``(t, l, limiar_em)``, com o limiar como função."""
    t, l = _validate_curve(tokens, losses, min_points=4)
    if (isinstance(min_points, bool) or not isinstance(min_points, (int, np.integer))
            or not 4 <= min_points <= t.size):
        raise ValueError(f"min_points deve ser um inteiro em [4, {t.size}]; recebi {min_points!r}.")
    if not (np.isfinite(block_tokens) and block_tokens > 0):
        raise ValueError(f"block_tokens deve ser finito e > 0; recebi {block_tokens!r}.")
    if not (np.isfinite(flops_per_token) and flops_per_token > 0):
        raise ValueError(f"flops_per_token deve ser finito e > 0; recebi {flops_per_token!r}.")
    if callable(threshold):
        return t, l, threshold
    if not (isinstance(threshold, (int, float, np.floating, np.integer)) and np.isfinite(threshold)
            and threshold >= 0):
        raise ValueError(f"threshold deve ser um número finito ≥ 0 ou uma função dos tokens; recebi {threshold!r}.")
    return t, l, lambda _t: float(threshold)


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
    t, l, threshold_at = _check_early_stopping(tokens, losses, block_tokens, threshold, flops_per_token, min_points)
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
