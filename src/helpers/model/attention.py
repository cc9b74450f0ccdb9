"""Atenção com consultas agrupadas (GQA).

Três caminhos para o mesmo cálculo:

- :func:`grouped_query_attention` com o *backend* ``"math"`` — o *kernel* legível do
  livro. As ``H`` *heads* de consulta formam ``H_kv`` grupos de ``G = H / H_kv`` *heads*
  vizinhas; as ``G`` consultas de um grupo são empilhadas ao longo do eixo da sequência
  e multiplicadas, de uma vez, pela única *head* K/V do grupo. Nenhuma cópia repetida de
  K ou V é criada, e a máscara causal ``[S, T]`` é só difundida (*broadcast*) sobre os
  ``G`` membros do grupo.
- o mesmo :func:`grouped_query_attention` com o *backend* ``"fused"`` (o padrão, o do
  treino) — delega a conta ao ``scaled_dot_product_attention`` do PyTorch com
  ``enable_gqa=True``, que faz exatamente a mesma coisa num *kernel* fundido (ver a
  docstring da função).
- :func:`repeat_kv` + :func:`reference_attention` — o caminho didático (e o do
  Hugging Face): repete cada *head* K/V ``G`` vezes e faz atenção comum.

Os testes comparam os três com ``torch.nn.functional.scaled_dot_product_attention``
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
    qs, ks, vs = q.shape, k.shape, v.shape  # lidas uma vez: na decodificação, cada µs conta
    if len(qs) != 4 or len(ks) != 4 or len(vs) != 4:
        raise ValueError(
            "q, k e v devem ter 4 dimensões [batch, heads, seq, head_dim]; recebi "
            f"{tuple(qs)}, {tuple(ks)}, {tuple(vs)}."
        )
    if ks != vs:
        raise ValueError(f"k e v devem ter a mesma forma; recebi {tuple(ks)} e {tuple(vs)}.")
    b, h, _, d = qs
    b_kv, h_kv, _, d_kv = ks
    if b_kv != b or d_kv != d:
        raise ValueError(
            f"batch e head_dim de k/v ({b_kv}, {d_kv}) devem ser iguais aos de q ({b}, {d})."
        )
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

    - ``"fused"`` (padrão): ``scaled_dot_product_attention(..., enable_gqa=True)`` do
      PyTorch — o *kernel* fundido (*flash* na CPU e na GPU), que não materializa a matriz
      de pontuações nem as *heads* K/V repetidas;
    - ``"math"``: o agrupamento, as duas multiplicações e o softmax escritos por extenso.

    Os dois dão o mesmo resultado (a menos de arredondamento); o fundido é o mais
    rápido e o que o treino usa. A contagem de FLOPs usa ``"math"``: o
    ``FlopCounterMode`` não enxerga o *kernel* fundido da CPU e deixaria de fora todo o
    custo da atenção.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend de atenção desconhecido {name!r}; os válidos são {list(BACKENDS)}.")
    previous = _BACKEND["name"]
    _BACKEND["name"] = name
    try:
        yield
    finally:
        _BACKEND["name"] = previous


def _check_inputs(q, k, v, causal: bool, padding_mask):
    """Confere as formas; devolve ``(H_kv, G, pad)`` com ``pad`` ``[B, 1, 1, T]`` booleano ou ``None``."""
    h_kv, groups = _check_shapes(q, k, v)
    s, t = q.shape[2], k.shape[2]
    if causal and s > t:
        raise ValueError(
            f"atenção causal com mais consultas ({s}) que chaves ({t}); as consultas devem ser as últimas "
            "posições de k/v."
        )
    if padding_mask is None:
        return h_kv, groups, None
    b = q.shape[0]
    if padding_mask.shape != (b, t):
        raise ValueError(
            f"padding_mask deve ter forma [batch, kv_len] = {(b, t)}; recebi {tuple(padding_mask.shape)}."
        )
    return h_kv, groups, padding_mask.to(device=q.device, dtype=torch.bool)[:, None, None, :]


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
    de ``H_kv``. As consultas são as últimas ``S`` posições das ``T`` (``S < T`` na
    decodificação com cache). ``padding_mask`` opcional ``[B, T]`` (``True`` = posição
    válida). Devolve ``[B, H, S, D]``.

    As ``G = H / H_kv`` consultas de um grupo são empilhadas num só eixo de comprimento
    ``G·S``, de modo que cada produto ``Q Kᵀ`` e ``A V`` é uma única multiplicação de
    matrizes por grupo contra a *head* K/V compartilhada; a máscara causal ``[S, T]`` é
    difundida sobre os ``G`` membros do grupo, sem cópia.

    O *backend* ``"fused"`` (o padrão) entrega a mesma conta ao
    ``scaled_dot_product_attention(..., enable_gqa=True)`` do PyTorch: com
    ``enable_gqa``, a *head* de consulta ``i`` usa o par K/V ``i // G`` — o mesmo
    agrupamento de *heads* vizinhas daqui, de :func:`repeat_kv` e do Hugging Face —, e
    o *kernel* fundido lê esse par sem copiá-lo, calculando o softmax em blocos sem
    guardar a matriz ``[S, T]`` inteira. É a mesma atenção; os testes conferem os dois
    caminhos contra o SDPA e entre si.
    """
    h_kv, groups, pad = _check_inputs(q, k, v, causal, padding_mask)  # pad: [B, 1, 1, T] ou None
    if _BACKEND["name"] == "fused":
        return _fused_attention(q, k, v, causal=causal, pad=pad)
    b, h, s, d = q.shape
    t = k.shape[2]
    # [B, H, S, D] -> [B, H_kv, G·S, D]: as heads de um grupo são vizinhas (mesma
    # convenção de repeat_kv e do Hugging Face: a head i usa o par K/V i // G).
    qg = q.reshape(b, h_kv, groups * s, d)
    scores = torch.matmul(qg, k.transpose(-1, -2)) * (1.0 / math.sqrt(d))  # [B, H_kv, G·S, T]
    scores = scores.view(b, h_kv, groups, s, t)  # a mesma memória, com o grupo num eixo à parte
    if causal:
        scores = scores.masked_fill(~causal_mask(s, t, device=q.device), float("-inf"))  # [S, T] difundida
    if pad is not None:
        scores = scores.masked_fill(~pad[:, :, None], float("-inf"))  # [B, 1, 1, 1, T]
    probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    out = torch.matmul(probs.view(b, h_kv, groups * s, t), v)  # [B, H_kv, G·S, D]
    if pad is not None:
        # Linhas sem nenhuma posição válida dariam NaN; zeramos em vez disso.
        out = torch.nan_to_num(out, nan=0.0)
    return out.view(b, h, s, d)


def _fused_attention(q, k, v, *, causal: bool, pad: torch.Tensor | None) -> torch.Tensor:
    """O caminho ``"fused"``: SDPA com ``enable_gqa=True``, sem máscara explícita sempre que
    possível (a máscara causal implícita é o que libera o *kernel* *flash*)."""
    s, t = q.shape[2], k.shape[2]
    mask, is_causal = None, False
    if causal and s == t:
        is_causal = True  # o treino e o pré-preenchimento: diagonal principal
    elif causal and s > 1:
        mask = causal_mask(s, t, device=q.device)  # [S, T]: diagonal deslocada (pedaço novo após o cache)
    # causal com S = 1: o token novo vê todas as T posições; não há o que mascarar.
    if pad is not None:
        if is_causal:
            mask, is_causal = causal_mask(s, t, device=q.device), False
        mask = pad if mask is None else (mask & pad)  # [B, 1, S, T]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, enable_gqa=True)
    if pad is not None:
        out = torch.nan_to_num(out, nan=0.0)
    return out


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


def _check_counts(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} deve ser um inteiro ≥ 1; recebi {value!r}.")


def kv_cache_bytes(config, tokens: int, *, batch_size: int = 1, bytes_per_value: int = 2) -> int:
    """Bytes do cache KV: ``2 × n_layer × n_kv × d_h × tokens × batch × bytes``.

    O 2 da frente é K e V. Com ``bytes_per_value=2`` (bf16), é o tamanho do cache de
    inferência; :class:`helpers.model.transformer.KVCache` aloca exatamente isso (os testes conferem).
    """
    _check_counts(tokens=tokens, batch_size=batch_size, bytes_per_value=bytes_per_value)
    return (2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim
            * tokens * batch_size * bytes_per_value)
