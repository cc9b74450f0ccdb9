"""Contagem de parâmetros e de FLOPs: todas as convenções lado a lado.

Quatro fórmulas de "custo por token de treino" (FLOPs de passo direto + reverso):

================  ==========================================================  =====================
função            fórmula                                                     convenção
================  ==========================================================  =====================
``six_n``         6 · N, com N = todos os parâmetros reais do modelo          regra de bolso "6N"
``six_n1``        72 · n_layer · d²                                           Kaplan; DeepSeek Eq. 2
``six_n2``        72 · n_layer · d² + 6 · n_vocab · d                         Chinchilla; Eq. 2
``deepseek_m``    72 · n_layer · d² + 12 · n_layer · d · l_seq                DeepSeek ``M``, Eq. 2
================  ==========================================================  =====================

e duas medidas do que o modelo executa de fato:

- :func:`analytic_flops_per_token`: a soma, multiplicação por multiplicação, do
  modelo de :mod:`helpers.model.transformer` (projeções, atenção, SwiGLU, cabeça de saída);
- :func:`measured_flops_per_token`: o mesmo número medido pelo PyTorch com
  ``torch.utils.flop_counter.FlopCounterMode`` num passo direto + reverso real.

Convenções comuns: uma multiplicação-e-soma conta 2 FLOPs; o passo reverso custa
2× o direto, daí o fator 3 (ou o 6 = 3 × 2 de "6N"); somas, normalizações,
funções de ativação e softmax não são contadas (são ordens de grandeza menores).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from .attention import attention_backend
from .config import ModelConfig

__all__ = [
    "ParamCount",
    "count_params",
    "six_n",
    "six_n1",
    "six_n2",
    "deepseek_m",
    "FlopBreakdown",
    "analytic_flops_per_token",
    "measured_flops_per_token",
]


def _check_seq_len(seq_len: int) -> None:
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len deve ser um inteiro ≥ 1; recebi {seq_len!r}.")


@dataclass(frozen=True)
class ParamCount:
    """Parâmetros exatos de um :class:`~helpers.model.transformer.Transformer`, por componente."""

    attention: int
    mlp: int
    norms: int
    embedding: int
    lm_head: int

    @property
    def non_embedding(self) -> int:
        """Tudo menos *embedding* e cabeça de saída (o N₁ "exato")."""
        return self.attention + self.mlp + self.norms

    @property
    def total(self) -> int:
        """Todos os parâmetros (o que ``sum(p.numel())`` devolve)."""
        return self.non_embedding + self.embedding + self.lm_head

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "non_embedding": self.non_embedding, "total": self.total}


def count_params(config: ModelConfig) -> ParamCount:
    """Conta os parâmetros a partir da configuração, sem construir o modelo."""
    d, L = config.hidden_size, config.num_hidden_layers
    q_out = config.num_attention_heads * config.head_dim
    kv_out = config.num_key_value_heads * config.head_dim
    attention = L * (d * q_out + 2 * d * kv_out + q_out * d)
    mlp = L * 3 * d * config.intermediate_size
    norms = (2 * L + 1) * d
    embedding = config.vocab_size * d
    lm_head = 0 if config.tie_word_embeddings else config.vocab_size * d
    return ParamCount(attention, mlp, norms, embedding, lm_head)


def six_n(config: ModelConfig) -> int:
    """6·N com N = todos os parâmetros reais (incluindo *embedding* e cabeça).

    É a regra de bolso mais usada na prática (``6 * sum(p.numel())``). Conta a
    matriz de *embedding*, que não faz multiplicação nenhuma, e ignora a atenção.
    """
    return 6 * count_params(config).total


def six_n1(config: ModelConfig) -> int:
    """6N₁ = 72·n_layer·d² (DeepSeek Eq. 2; o N de Kaplan, sem *embeddings*).

    Usa a idealização N₁ = 12·n_layer·d² (4d² da atenção + 8d² da FFN), e não a
    contagem exata de :func:`count_params`: é assim que o DeepSeek calcula a Tabela 3.
    """
    return 72 * config.num_hidden_layers * config.hidden_size**2


def six_n2(config: ModelConfig) -> int:
    """6N₂ = 72·n_layer·d² + 6·n_vocab·d (DeepSeek Eq. 2; o N do Chinchilla).

    Soma ao 6N₁ uma única matriz de vocabulário (a multiplicação da cabeça de saída).
    """
    return six_n1(config) + 6 * config.vocab_size * config.hidden_size


def deepseek_m(config: ModelConfig, seq_len: int) -> int:
    """M = 72·n_layer·d² + 12·n_layer·d·l_seq: FLOPs por token sem o vocabulário.

    DeepSeek LLM, Eq. 2. O segundo termo é a atenção: 3 (direto + reverso) ×
    2 multiplicações (QKᵀ e A·V) × 2 FLOPs por multiplicação-e-soma ×
    n_layer·l_seq·d, contando a matriz de atenção inteira (sem descontar a máscara
    causal). O orçamento de computação é então C = M·D.
    """
    _check_seq_len(seq_len)
    L, d = config.num_hidden_layers, config.hidden_size
    return 72 * L * d**2 + 12 * L * d * seq_len


@dataclass(frozen=True)
class FlopBreakdown:
    """FLOPs por token de treino (direto + reverso) por componente do modelo."""

    attention_projections: int
    attention_scores: int
    mlp: int
    lm_head: int

    @property
    def non_vocab(self) -> int:
        """Tudo menos a cabeça de saída: o análogo exato de ``M``."""
        return self.attention_projections + self.attention_scores + self.mlp

    @property
    def total(self) -> int:
        return self.non_vocab + self.lm_head

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "non_vocab": self.non_vocab, "total": self.total}


def analytic_flops_per_token(config: ModelConfig, seq_len: int) -> FlopBreakdown:
    """FLOPs por token de treino do modelo real, multiplicação por multiplicação.

    Para cada produto de matrizes de ``m×k`` por ``k×n``: 2·m·k·n FLOPs no passo
    direto e o dobro no reverso (gradientes da entrada e do peso). A atenção conta
    QKᵀ e A·V sobre a matriz ``l_seq × l_seq`` inteira, como faz o ``FlopCounterMode``.
    """
    _check_seq_len(seq_len)
    p = count_params(config)
    L, d = config.num_hidden_layers, config.hidden_size
    matmul_params_attn = p.attention  # cada peso de projeção entra numa multiplicação
    scores = 3 * 2 * 2 * L * seq_len * config.num_attention_heads * config.head_dim
    lm_head = 6 * config.vocab_size * d
    return FlopBreakdown(
        attention_projections=6 * matmul_params_attn,
        attention_scores=scores,
        mlp=6 * p.mlp,
        lm_head=lm_head,
    )


def _check_measure_args(model: torch.nn.Module, seq_len: int, batch_size: int) -> None:
    _check_seq_len(seq_len)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size deve ser um inteiro ≥ 1; recebi {batch_size!r}.")
    if seq_len > model.config.max_position_embeddings:
        raise ValueError(
            f"seq_len ({seq_len}) excede max_position_embeddings ({model.config.max_position_embeddings})."
        )


def measured_flops_per_token(
    model: torch.nn.Module, seq_len: int, *, batch_size: int = 1
) -> float:
    """FLOPs por token de um passo direto + reverso, medidos pelo PyTorch.

    Roda o modelo (no dispositivo em que ele está — inclusive ``meta``, que mede
    modelos de bilhões de parâmetros sem alocar memória) sob ``FlopCounterMode``,
    com uma perda de entropia cruzada e ``backward()``, e divide o total de FLOPs
    contados pelo número de tokens ``batch_size · seq_len``. A atenção é medida com o
    caminho ``"math"`` do *kernel* (ver :func:`helpers.model.attention.attention_backend`).
    """
    _check_measure_args(model, seq_len, batch_size)
    config = model.config
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, config.vocab_size, (batch_size, seq_len + 1), generator=generator)
    tokens = tokens.to(device)
    was_training = model.training
    model.train()
    counter = FlopCounterMode(display=False)
    try:
        # Atenção por extenso: cada multiplicação contada uma vez (ver attention_backend).
        with counter, attention_backend("math"):
            logits = model(tokens[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
            loss.backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return counter.get_total_flops() / (batch_size * seq_len)
