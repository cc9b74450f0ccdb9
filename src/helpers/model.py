"""O *decoder* do DeepSeek LLM (arquitetura LLaMA): RMSNorm, RoPE, SwiGLU e GQA.

Pré-normalização, sem vieses, cabeça de saída separada do *embedding*. Os nomes
dos parâmetros são os do ``LlamaForCausalLM`` do Hugging Face (sem o prefixo
``model.``), de modo que :func:`to_hf_state_dict` e :func:`from_hf_state_dict`
convertem pesos entre os dois lados e os *logits* coincidem.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import grouped_query_attention
from .config import ModelConfig

__all__ = [
    "RMSNorm",
    "RotaryEmbedding",
    "rotate_half",
    "apply_rotary",
    "MLP",
    "Attention",
    "DecoderLayer",
    "Transformer",
    "to_hf_state_dict",
    "from_hf_state_dict",
]


class RMSNorm(nn.Module):
    """Normalização pela raiz da média dos quadrados (Zhang & Sennrich, 2019).

    ``y = x / sqrt(mean(x²) + ε) · g``: sem subtrair a média e sem viés, ao
    contrário da LayerNorm. A conta é feita em float32 e o resultado volta ao
    tipo da entrada, como no Hugging Face.
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class RotaryEmbedding(nn.Module):
    """Frequências do RoPE (Su et al., 2021) no leiaute *rotate-half* do LLaMA.

    A coordenada ``j`` e a coordenada ``j + D/2`` de cada *head* formam um par que
    gira de um ângulo ``pos · θ^(-2j/D)``. Devolve ``cos`` e ``sin`` de forma
    ``[S, D]`` para as posições pedidas.
    """

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        exponents = torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim
        # Buffer não persistente: fica fora do state_dict, como no Hugging Face.
        self.register_buffer("inv_freq", 1.0 / (theta**exponents), persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = torch.outer(positions.float(), self.inv_freq)  # [S, D/2]
        angles = torch.cat((freqs, freqs), dim=-1)  # [S, D]
        return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``[x₁, x₂] -> [-x₂, x₁]`` na última dimensão (metades contíguas)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Gira ``x`` ``[B, H, S, D]`` pelos ângulos de cada posição."""
    return x * cos + rotate_half(x) * sin


class MLP(nn.Module):
    """SwiGLU (Shazeer, 2020): ``down( silu(gate(x)) ⊙ up(x) )``, sem vieses."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, f = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Attention(nn.Module):
    """Auto-atenção causal com ``num_key_value_heads`` *heads* K/V (GQA).

    Com ``num_key_value_heads == num_attention_heads`` é a atenção multi-*head*
    (MHA) do 7B; com 8 *heads* K/V para 64 de consulta é a do 67B.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        d = config.hidden_size
        self.q_proj = nn.Linear(d, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        out = grouped_query_attention(q, k, v, causal=True)  # [B, H, S, D]
        return self.o_proj(out.transpose(1, 2).reshape(b, s, self.num_heads * self.head_dim))


class DecoderLayer(nn.Module):
    """Um bloco pré-norma: ``x + attn(norm(x))`` e depois ``x + mlp(norm(x))``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    """O modelo de linguagem completo: ``forward(input_ids) -> logits [B, S, V]``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.rotary = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.dim() != 2:
            raise ValueError(
                f"input_ids deve ter forma [batch, seq]; recebi {tuple(input_ids.shape)}."
            )
        seq_len = input_ids.shape[1]
        if seq_len > self.config.max_position_embeddings:
            raise ValueError(
                f"sequência de {seq_len} tokens excede max_position_embeddings "
                f"({self.config.max_position_embeddings}); use no máximo esse comprimento."
            )
        positions = torch.arange(seq_len, device=input_ids.device)
        cos, sin = self.rotary(positions)
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))

    def num_parameters(self, *, non_embedding: bool = False) -> int:
        """Parâmetros do modelo (sem contar duas vezes pesos compartilhados).

        Com ``non_embedding=True`` exclui a matriz de *embedding* e a cabeça de saída.
        """
        params = {id(p): p for p in self.parameters()}
        total = sum(p.numel() for p in params.values())
        if non_embedding:
            total -= self.embed_tokens.weight.numel()
            if not self.config.tie_word_embeddings:
                total -= self.lm_head.weight.numel()
        return total


def to_hf_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pesos deste modelo no formato do ``LlamaForCausalLM`` (prefixo ``model.``)."""
    return {(k if k.startswith("lm_head.") else f"model.{k}"): v for k, v in state_dict.items()}


def from_hf_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """O inverso de :func:`to_hf_state_dict`: tira o prefixo ``model.``."""
    out = {}
    for k, v in state_dict.items():
        if k.startswith("model."):
            k = k[len("model.") :]
        elif not k.startswith("lm_head."):
            raise ValueError(f"chave inesperada num state_dict do Hugging Face: {k!r}.")
        if k.endswith("rotary_emb.inv_freq"):
            continue
        out[k] = v
    return out
