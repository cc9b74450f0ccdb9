"""Atenção com consultas agrupadas (GQA).

Dois caminhos para o mesmo cálculo:

- :func:`grouped_query_attention` — o *kernel* usado pelo modelo. As ``H`` *heads*
  de consulta são agrupadas em ``H_kv`` grupos; cada grupo é empilhado ao longo do
  eixo da sequência e multiplicado pela sua única *head* K/V. Nenhuma cópia
  repetida de K ou V é criada.
- :func:`repeat_kv` + :func:`reference_attention` — o caminho didático (e o do
  Hugging Face): repete cada *head* K/V ``H / H_kv`` vezes e faz atenção comum.

Os testes comparam os dois com ``torch.nn.functional.scaled_dot_product_attention``
(``enable_gqa=True``), o oráculo independente do PyTorch.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F

__all__ = [
    "grouped_query_attention",
    "attention_backend",
    "BACKENDS",
    "repeat_kv",
    "reference_attention",
    "causal_mask",
    "kv_cache_bytes",
]


def _check_shapes(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[int, int]:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            "q, k e v devem ter 4 dimensões [batch, heads, seq, head_dim]; recebi "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}."
        )
    if k.shape != v.shape:
        raise ValueError(f"k e v devem ter a mesma forma; recebi {tuple(k.shape)} e {tuple(v.shape)}.")
    b, h, _, d = q.shape
    if k.shape[0] != b or k.shape[3] != d:
        raise ValueError(
            f"batch e head_dim de k/v ({k.shape[0]}, {k.shape[3]}) devem ser iguais aos de q ({b}, {d})."
        )
    h_kv = k.shape[1]
    if h % h_kv != 0:
        raise ValueError(
            f"o número de heads de consulta ({h}) deve ser múltiplo do número de heads K/V ({h_kv})."
        )
    return h_kv, h // h_kv


def causal_mask(q_len: int, kv_len: int, device: torch.device | None = None) -> torch.Tensor:
    """Máscara booleana ``[q_len, kv_len]``: ``True`` onde a consulta pode olhar.

    As consultas são as últimas ``q_len`` posições de uma sequência de ``kv_len``
    (o caso da decodificação incremental, em que ``q_len < kv_len``).
    """
    offset = kv_len - q_len
    i = torch.arange(q_len, device=device).unsqueeze(1)
    j = torch.arange(kv_len, device=device).unsqueeze(0)
    return j <= i + offset


_BACKEND = {"name": "fused"}
BACKENDS = ("fused", "math")


@contextmanager
def attention_backend(name: str):
    """Escolhe, dentro do bloco ``with``, como o *kernel* calcula a atenção.

    - ``"fused"`` (padrão): o mesmo leiaute agrupado entregue ao
      ``scaled_dot_product_attention`` do PyTorch com a máscara explícita — o
      *kernel* fundido, sem materializar a matriz de pontuações;
    - ``"math"``: as duas multiplicações e o softmax escritos por extenso.

    Os dois dão o mesmo resultado (a menos de arredondamento); o fundido é o mais
    rápido e o que o treino usa. A contagem de
    FLOPs usa ``"math"``: o ``FlopCounterMode`` não enxerga o *kernel* fundido com
    máscara da CPU e deixaria de fora todo o custo da atenção.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend de atenção desconhecido {name!r}; os válidos são {list(BACKENDS)}.")
    previous = _BACKEND["name"]
    _BACKEND["name"] = name
    try:
        yield
    finally:
        _BACKEND["name"] = previous


def grouped_query_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    padding_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Atenção GQA sem materializar as *heads* K/V repetidas.

    Formas: ``q`` ``[B, H, S, D]``; ``k`` e ``v`` ``[B, H_kv, T, D]`` com ``H`` múltiplo
    de ``H_kv``. ``padding_mask`` opcional ``[B, T]`` (``True`` = posição válida).
    Devolve ``[B, H, S, D]``.

    As ``G = H / H_kv`` consultas de um grupo são empilhadas num só eixo de
    comprimento ``G·S``, de modo que cada produto ``Q Kᵀ`` e ``A V`` é uma única
    multiplicação de matrizes por grupo contra a *head* K/V compartilhada.
    """
    h_kv, groups = _check_shapes(q, k, v)
    b, h, s, d = q.shape
    t = k.shape[2]
    # [B, H, S, D] -> [B, H_kv, G·S, D]: as heads de um grupo são vizinhas (mesma
    # convenção de repeat_kv e do Hugging Face: a head i usa o par K/V i // G).
    qg = q.reshape(b, h_kv, groups * s, d)
    allowed = None
    if causal:
        allowed = causal_mask(s, t, device=q.device).repeat(groups, 1)  # [G·S, T]
    if padding_mask is not None:
        if padding_mask.shape != (b, t):
            raise ValueError(
                f"padding_mask deve ter forma [batch, kv_len] = {(b, t)}; recebi {tuple(padding_mask.shape)}."
            )
        pad = padding_mask.to(torch.bool)[:, None, None, :]  # [B, 1, 1, T]
        allowed = pad if allowed is None else (allowed & pad)
    if _BACKEND["name"] == "fused":
        out = F.scaled_dot_product_attention(qg, k, v, attn_mask=allowed)
    else:
        scores = torch.matmul(qg, k.transpose(-1, -2)) * (1.0 / math.sqrt(d))  # [B, H_kv, G·S, T]
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(probs, v)  # [B, H_kv, G·S, D]
    if padding_mask is not None:
        # Linhas sem nenhuma posição válida dariam NaN; zeramos em vez disso.
        out = torch.nan_to_num(out, nan=0.0)
    return out.reshape(b, h, s, d)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Repete cada *head* K/V ``n_rep`` vezes: ``[B, H_kv, T, D] -> [B, H_kv·n_rep, T, D]``.

    É o caminho ingênuo (o do ``modeling_llama.py``): custa ``n_rep`` vezes a memória
    de K e V. Fica aqui para ensino e como referência nos testes.
    """
    if n_rep < 1:
        raise ValueError(f"n_rep deve ser ≥ 1; recebi {n_rep}.")
    if n_rep == 1:
        return x
    b, h_kv, t, d = x.shape
    return x[:, :, None, :, :].expand(b, h_kv, n_rep, t, d).reshape(b, h_kv * n_rep, t, d)


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True
) -> torch.Tensor:
    """Atenção de referência: repete K/V e aplica a fórmula softmax(QKᵀ/√d)·V."""
    _, groups = _check_shapes(q, k, v)
    k = repeat_kv(k, groups)
    v = repeat_kv(v, groups)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[2], k.shape[2], q.device), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def kv_cache_bytes(config, tokens: int, *, batch_size: int = 1, bytes_per_value: int = 2) -> int:
    """Bytes do cache KV: ``2 × n_layer × n_kv × d_h × tokens × batch × bytes``.

    O 2 da frente é K e V. Com ``bytes_per_value=2`` (bf16), é o tamanho do cache de
    inferência; :class:`helpers.model.KVCache` aloca exatamente isso (os testes conferem).
    """
    for name, value in (("tokens", tokens), ("batch_size", batch_size), ("bytes_per_value", bytes_per_value)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} deve ser um inteiro ≥ 1; recebi {value!r}.")
    return (2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim
            * tokens * batch_size * bytes_per_value)
