"""Leis de escala publicadas por outros grupos: Kaplan et al. (2020), Chinchilla (2022) e a Step Law (2025).

As leis do próprio DeepSeek ficam em :mod:`helpers.laws.deepseek`. Aqui, como lá, cada
constante traz a sua origem. As perdas de Kaplan são entropia cruzada em **nats
por token** (BPE de 50257 tokens, contexto 1024, WebText2): as constantes dependem
do tokenizador e não têm significado universal.
"""

from __future__ import annotations

import numpy as np

from ._checks import positive_array

__all__ = [
    "PF_DAY",
    "KAPLAN",
    "kaplan_loss_n",
    "kaplan_loss_d",
    "kaplan_loss_cmin",
    "CHINCHILLA",
    "chinchilla_loss",
    "chinchilla_optimal",
    "STEP_LAW",
    "step_law_lr",
    "step_law_batch",
]

PF_DAY = 1e15 * 24 * 3600  # 1 petaFLOP/s·dia = 8,64e19 FLOPs (Kaplan §1.3)

# Kaplan et al. (2020), §1.2, Eq. 1.1–1.3 e Tabela 5.
KAPLAN = {
    "alpha_N": 0.076,
    "N_c": 8.8e13,  # parâmetros sem embedding
    "alpha_D": 0.095,
    "D_c": 5.4e13,  # tokens
    "alpha_C_min": 0.050,
    "C_c_min": 3.1e8,  # PF-dias
    "source": "Kaplan et al. (2020), Scaling Laws for Neural Language Models, arXiv 2001.08361, §1.2",
}

# Hoffmann et al. (2022), App. D.2, Eq. 10 (valores arredondados como impressos).
CHINCHILLA = {
    "E": 1.69,
    "A": 406.4,
    "B": 410.7,
    "alpha": 0.34,
    "beta": 0.28,
    "source": "Hoffmann et al. (2022), Training Compute-Optimal Large Language Models, arXiv 2203.15556, App. D.2",
}


def _positive(name: str, x):
    return positive_array(name, x)


def _result(arr, x):
    return float(arr) if np.ndim(x) == 0 else arr


def kaplan_loss_n(n):
    """L(N) = (N_c / N)^α_N: perda (nats) de um modelo de N parâmetros treinado até convergir."""
    arr = _positive("N", n)
    return _result((KAPLAN["N_c"] / arr) ** KAPLAN["alpha_N"], n)


def kaplan_loss_d(d):
    """L(D) = (D_c / D)^α_D: perda (nats) de um modelo grande treinado em D tokens."""
    arr = _positive("D", d)
    return _result((KAPLAN["D_c"] / arr) ** KAPLAN["alpha_D"], d)


def kaplan_loss_cmin(c_flops):
    """L(C_min) = (C_c^min / C_min)^α_C^min, com C dado em **FLOPs** (convertido para PF-dias)."""
    arr = _positive("C", c_flops) / PF_DAY
    return _result((KAPLAN["C_c_min"] / arr) ** KAPLAN["alpha_C_min"], c_flops)


def chinchilla_loss(n, d):
    """L(N, D) = E + A/N^α + B/D^β (abordagem 3 do Chinchilla), em nats."""
    nn = _positive("N", n)
    dd = _positive("D", d)
    c = CHINCHILLA
    out = c["E"] + c["A"] / nn ** c["alpha"] + c["B"] / dd ** c["beta"]
    return float(out) if np.ndim(out) == 0 else out


def chinchilla_optimal(c_flops):
    """Fronteira ótima da abordagem 3 (Eq. 4): N_opt = G·(C/6)^a, D_opt = (C/6)^b / G.

    Devolve ``(N_opt, D_opt)``. Com os valores arredondados, a = β/(α+β) = 0,4516
    (o artigo imprime 0,46, que vem dos valores não arredondados).
    """
    c = CHINCHILLA
    arr = _positive("C", c_flops) / 6.0
    g = (c["alpha"] * c["A"] / (c["beta"] * c["B"])) ** (1.0 / (c["alpha"] + c["beta"]))
    a = c["beta"] / (c["alpha"] + c["beta"])
    b = c["alpha"] / (c["alpha"] + c["beta"])
    return _result(g * arr**a, c_flops), _result(arr**b / g, c_flops)


# Li et al. (2025), "Predictable Scale: Part I" (a Step Law), arXiv 2503.04715: N são os parâmetros
# **sem embedding**, D e o lote estão em tokens; ajustadas em 3700 modelos (perda a até 0,25% da menor).
STEP_LAW = {
    "lr_coef": 1.79,
    "lr_exp_n": -0.713,
    "lr_exp_d": 0.307,
    "batch_coef": 0.58,
    "batch_exp_d": 0.571,
    "source": "Li et al. (2025), Predictable Scale: Part I, arXiv 2503.04715 (a Step Law)",
}


def step_law_lr(n, d):
    """η_opt = 1,79·N^-0,713·D^0,307 (Step Law), com N sem embedding e D em tokens."""
    nn = _positive("N", n)
    dd = _positive("D", d)
    s = STEP_LAW
    out = s["lr_coef"] * nn ** s["lr_exp_n"] * dd ** s["lr_exp_d"]
    return float(out) if np.ndim(out) == 0 else out


def step_law_batch(d):
    """B_opt = 0,58·D^0,571 tokens (Step Law): o lote só depende dos tokens de treino."""
    dd = _positive("D", d)
    return _result(STEP_LAW["batch_coef"] * dd ** STEP_LAW["batch_exp_d"], d)
