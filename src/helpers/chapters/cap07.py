"""Capítulo 7 — leis de escala para hiperparâmetros (DeepSeek LLM §3.1).

A tolerância da região quase ótima a partir do ruído medido e as leis ``η_opt(C)`` e
``B_opt(C)`` ajustadas na grade de taxa × lote de ``results/cap07_hiperparametros.jsonl``.
Os capítulos 4, 8 e 10 tiram daqui a taxa e o lote dos seus treinos.
"""

from __future__ import annotations

import math

import numpy as np

from ..laws import fit
from .common import ROOT, runs_table, seed_noise

__all__ = ["HYPER_RESULTS", "near_optimal_tolerance", "hyperparameter_laws", "chapter7_laws"]

#: Os resultados da grade de hiperparâmetros.
HYPER_RESULTS = ROOT / "results" / "cap07_hiperparametros.jsonl"


def near_optimal_tolerance(rel_std: float, k: float = 2.0) -> float:
    """A tolerância da região quase ótima: ``max(0,25%, k · σ_rel)``.

    Com ruído entre sementes σ_rel, a diferença entre dois treinos tem desvio
    ``√2 · σ_rel``; ``k = 2`` deixa entrar quem não se distingue do melhor com ~1,4
    desvios da diferença. O 0,25% do DeepSeek só vale quando o ruído é bem menor.
    """
    if not (math.isfinite(rel_std) and rel_std >= 0):
        raise ValueError(f"rel_std deve ser finito e ≥ 0; recebi {rel_std}.")
    return max(0.0025, k * rel_std)

def hyperparameter_laws(table: dict[str, np.ndarray], *, tolerance: float, n_boot: int = 1000,
                        seed: int = 0) -> fit.HyperparameterLaws:
    """As leis η_opt(C) e B_opt(C) da grade (só a semente 0, para não pesar as repetições)."""
    grid = table["seed"] == 0
    return fit.fit_hyperparameter_laws(table["budget"][grid], table["lr"][grid], table["batch"][grid],
                                       table["loss"][grid], tolerance=tolerance, n_boot=n_boot, seed=seed)

def chapter7_laws(records: list[dict], *, n_boot: int = 1000) -> tuple[fit.HyperparameterLaws, dict]:
    """As leis do capítulo 7 com a tolerância justificada pelo ruído medido (ver :func:`near_optimal_tolerance`)."""
    table = runs_table(records)
    noise = seed_noise(table)
    tol = near_optimal_tolerance(noise["rel_std"])
    return hyperparameter_laws(table, tolerance=tol, n_boot=n_boot), noise
