"""Perfis IsoFLOP: a parábola de cada orçamento, o vértice, as leis ``M_opt ∝ C^a``,
``D_opt ∝ C^b`` e da perda ótima, e o intervalo de predição (DeepSeek LLM §3.2; capítulos 8–9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bootstrap import BootstrapResult, bootstrap
from .hyper import _group_keys
from .power import PowerLawFit, _validate_xy, fit_power_law

__all__ = ["IsoFlopProfile", "isoflop_profile", "IsoFlopFit", "fit_isoflop", "prediction_interval"]


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


def _check_profile_inputs(scales, tokens, losses):
    """Valida um orçamento: escalas, tokens e perdas > 0, com 3 escalas distintas ou mais."""
    scales, losses = _validate_xy(scales, losses, min_points=3)
    tokens = np.asarray(tokens, dtype=float)
    if tokens.shape != scales.shape or (~np.isfinite(tokens) | (tokens <= 0)).any():
        raise ValueError("tokens deve ter um valor finito e > 0 para cada escala.")
    distinct = np.unique(np.log10(scales)).size
    if distinct < 3:
        raise ValueError(f"uma parábola precisa de pelo menos 3 escalas distintas; recebi {distinct}.")
    return scales, tokens, losses


def isoflop_profile(scales, tokens, losses, *, budget: float | None = None) -> IsoFlopProfile:
    """Ajusta a parábola de um orçamento e localiza o vértice (ver :class:`IsoFlopProfile`)."""
    scales, tokens, losses_ = _check_profile_inputs(scales, tokens, losses)
    u = np.log10(scales)
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


def _check_prediction_inputs(samples, noise_rel: float, level: float) -> np.ndarray:
    """Valida as amostras bootstrap (10 ou mais, finitas), o ruído (≥ 0) e o nível (entre 0 e 1)."""
    s = np.asarray(samples, dtype=float)
    if s.ndim != 1 or s.size < 10 or not np.isfinite(s).all():
        raise ValueError(f"samples deve ser um vetor com 10 ou mais valores finitos; recebi {s.size}.")
    if not (np.isfinite(noise_rel) and noise_rel >= 0):
        raise ValueError(f"noise_rel deve ser finito e ≥ 0; recebi {noise_rel}.")
    if not 0 < level < 1:
        raise ValueError(f"o nível deve estar em (0, 1); recebi {level}.")
    return s


def prediction_interval(samples, *, noise_rel: float = 0.0, level: float = 0.95,
                        seed: int = 0) -> tuple[float, float]:
    """Intervalo de predição para **um** treino novo: incerteza do ajuste + ruído do treino.

    ``samples`` são previsões bootstrap do valor esperado; ``noise_rel`` é o desvio
    padrão relativo entre treinos repetidos (medido com sementes). Cada amostra é
    multiplicada por ``exp(noise_rel · ε)`` e o intervalo é o percentil do resultado.
    """
    s = _check_prediction_inputs(samples, noise_rel, level)
    rng = np.random.default_rng(seed)
    draws = np.repeat(s, 20) * np.exp(noise_rel * rng.standard_normal(s.size * 20))
    lo, hi = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


# --- Chinchilla, abordagem 3 -----------------------------------------------------
