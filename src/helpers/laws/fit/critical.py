"""Passos até uma meta e o lote crítico ``S = S_min·(1 + B_crit/B)`` (capítulo 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .power import _validate_xy

__all__ = ["steps_to_reach", "CriticalBatchFit", "fit_critical_batch"]


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
