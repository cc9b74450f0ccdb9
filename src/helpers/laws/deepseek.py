"""As leis e tabelas publicadas no artigo do DeepSeek LLM (arXiv 2401.02954).

Cada constante traz a seção de origem. ``C`` é sempre o orçamento de computação
em FLOPs na convenção do DeepSeek, ``C = M·D`` (``M`` = FLOPs por token sem o
vocabulário, ver :func:`helpers.model.flops.deepseek_m`; ``D`` = tokens de treino).

As leis foram ajustadas entre 1e17 e 2e19 FLOPs (hiperparâmetros) e entre 1e17 e
3e20 FLOPs (IsoFLOP); fora dessas faixas, qualquer valor é uma extrapolação.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import positive_array

__all__ = [
    "SOURCE",
    "ETA_COEF",
    "ETA_EXP",
    "BATCH_COEF",
    "BATCH_EXP",
    "M_BASE",
    "M_EXP",
    "D_BASE",
    "D_EXP",
    "NEAR_OPTIMAL_TOLERANCE",
    "eta_opt",
    "batch_opt",
    "m_opt",
    "d_opt",
    "ModelSpec",
    "TABLE2",
    "Table3Row",
    "TABLE3",
    "TABLE3_VOCAB",
    "TABLE3_SEQ_LEN",
    "ExponentRow",
    "TABLE4",
    "MULTI_STEP_SCHEDULE",
    "compute_budget",
]

SOURCE = "DeepSeek-AI (2024), DeepSeek LLM: Scaling Open-Source Language Models with Longtermism, arXiv 2401.02954"

# Eq. 1 (§3.1): hiperparâmetros ótimos em função do orçamento C.
ETA_COEF, ETA_EXP = 0.3118, -0.1250
BATCH_COEF, BATCH_EXP = 0.2920, 0.3271
# Eq. 4 (§3.2): alocação ótima entre escala do modelo (M) e dados (D).
M_BASE, M_EXP = 0.1715, 0.5243
D_BASE, D_EXP = 5.8316, 0.4757
# §3.1: "quase ótimo" = erro de generalização até 0,25% acima do mínimo.
NEAR_OPTIMAL_TOLERANCE = 0.0025

# §2.3: aquecimento de 2000 passos; a taxa cai para 31,6% do máximo após 80% dos
# tokens e para 10% após 90%.
MULTI_STEP_SCHEDULE = {
    "warmup_steps": 2000,
    "boundaries": (0.8, 0.9),
    "factors": (0.316, 0.1),
}


def _as_compute(C):
    return positive_array("o orçamento C", C, "FLOPs")


def _result(arr: np.ndarray, C):
    return float(arr) if np.ndim(C) == 0 else arr


def eta_opt(C):
    """Taxa de aprendizado ótima, η_opt = 0,3118 · C^(-0,1250) (Eq. 1)."""
    return _result(ETA_COEF * _as_compute(C) ** ETA_EXP, C)


def batch_opt(C):
    """Tamanho de lote ótimo em **tokens por passo**, B_opt = 0,2920 · C^0,3271 (Eq. 1).

    O artigo não diz a unidade; a conferência com a Tabela 2 (7B: 9,22e6 tokens
    previstos contra 2304 × 4096 = 9,44e6 usados) mostra que são tokens.
    """
    return _result(BATCH_COEF * _as_compute(C) ** BATCH_EXP, C)


def m_opt(C):
    """Escala ótima do modelo em FLOPs/token, M_opt = 0,1715 · C^0,5243 (Eq. 4)."""
    return _result(M_BASE * _as_compute(C) ** M_EXP, C)


def d_opt(C):
    """Número ótimo de tokens de treino, D_opt = 5,8316 · C^0,4757 (Eq. 4)."""
    return _result(D_BASE * _as_compute(C) ** D_EXP, C)


@dataclass(frozen=True)
class ModelSpec:
    """Uma linha da Tabela 2 (§2.2): as especificações publicadas de um modelo."""

    name: str
    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    context_length: int
    batch_size_sequences: int
    learning_rate: float
    tokens: float

    @property
    def batch_size_tokens(self) -> int:
        """Lote em tokens por passo: sequências × contexto."""
        return self.batch_size_sequences * self.context_length


TABLE2 = {
    "7B": ModelSpec("7B", 30, 4096, 32, 32, 4096, 2304, 4.2e-4, 2.0e12),
    "67B": ModelSpec("67B", 95, 8192, 64, 8, 4096, 4608, 3.2e-4, 2.0e12),
}


@dataclass(frozen=True)
class Table3Row:
    """Uma linha da Tabela 3 (§3.2), com os valores como impressos no artigo."""

    num_hidden_layers: int
    hidden_size: int
    n1: float
    n2: float
    m: float
    ratio_6n1_m: float
    ratio_6n2_m: float


TABLE3_VOCAB = 102400
TABLE3_SEQ_LEN = 4096
TABLE3 = (
    Table3Row(8, 512, 25.2e6, 77.6e6, 352e6, 0.43, 1.32),
    Table3Row(12, 768, 84.9e6, 164e6, 963e6, 0.53, 1.02),
    Table3Row(24, 1024, 302e6, 407e6, 3.02e9, 0.60, 0.81),
    Table3Row(24, 2048, 1.21e9, 1.42e9, 9.66e9, 0.75, 0.88),
    # Recalculado dá 0,857 (arredonda para 0,86); o artigo imprime 0,85.
    Table3Row(32, 4096, 6.44e9, 6.86e9, 45.1e9, 0.85, 0.91),
    Table3Row(40, 5120, 12.6e9, 13.1e9, 85.6e9, 0.88, 0.92),
    Table3Row(80, 8192, 64.4e9, 65.3e9, 419e9, 0.92, 0.94),
)


@dataclass(frozen=True)
class ExponentRow:
    """Uma linha da Tabela 4 (§3.3): expoentes de alocação M_opt ∝ C^a, D_opt ∝ C^b."""

    label: str
    data: str
    a: float
    b: float


TABLE4 = (
    ExponentRow("OpenAI (Kaplan et al.)", "OpenWebText2", 0.73, 0.27),
    ExponentRow("Chinchilla", "MassiveText", 0.49, 0.51),
    ExponentRow("DeepSeek (dados antigos)", "dados internos antigos", 0.450, 0.550),
    ExponentRow("DeepSeek (dados atuais)", "dados internos atuais", 0.524, 0.476),
    ExponentRow("DeepSeek (OpenWebText2)", "OpenWebText2", 0.578, 0.422),
)


def compute_budget(m: float, tokens: float) -> float:
    """C = M·D, com validação."""
    positive_array("M", m, "FLOPs por token")
    positive_array("D", tokens, "tokens")
    if np.ndim(m) or np.ndim(tokens):
        raise ValueError(f"compute_budget recebe dois números (M e D), não listas; recebi M={m!r}, D={tokens!r}.")
    return float(m) * float(tokens)

