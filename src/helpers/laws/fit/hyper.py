"""A região quase ótima de uma grade de hiperparâmetros e as leis ``η_opt(C)``, ``B_opt(C)``
ajustadas por ela (DeepSeek LLM §3.1; capítulo 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bootstrap import BootstrapResult, bootstrap
from .power import PowerLawFit, fit_power_law

__all__ = ["near_optimal", "HyperparameterLaws", "fit_hyperparameter_laws"]


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


def _check_hyper_inputs(budgets, lrs, batches, losses):
    """Valida a grade: vetores do mesmo tamanho, taxas e lotes > 0, dois orçamentos ou mais."""
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
    return budgets, keys, lrs, batches, losses


def fit_hyperparameter_laws(budgets, lrs, batches, losses, *, tolerance: float = 0.0025,
                            n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> HyperparameterLaws:
    """O método do DeepSeek (§3.1): região quase ótima por orçamento, depois leis de potência em C.

    Em cada orçamento, os treinos a até ``tolerance`` da melhor perda daquele
    orçamento são "quase ótimos"; a taxa de aprendizado e o lote de **todos** esses
    pontos são ajustados como leis de potência no orçamento (uma reta em log-log).
    Os intervalos vêm de reamostrar os pontos quase ótimos dentro de cada orçamento.
    Exige pelo menos 2 orçamentos distintos e 3 pontos quase ótimos no total.
    """
    budgets, keys, lrs, batches, losses = _check_hyper_inputs(budgets, lrs, batches, losses)
    n = budgets.size
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
            f"só {c.size} pontos quase ótimos com tolerance = {tolerance}; são necessários 3 ou mais "
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
