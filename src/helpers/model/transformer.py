"""O *decoder* do DeepSeek LLM (arquitetura LLaMA): RMSNorm, RoPE, SwiGLU e GQA.

Pré-normalização, sem vieses, cabeça de saída separada do *embedding*. Os nomes
dos parâmetros são os do ``LlamaForCausalLM`` do Hugging Face (sem o prefixo
``model.``), de modo que :func:`to_hf_state_dict` e :func:`from_hf_state_dict`
convertem pesos entre os dois lados e os *logits* coincidem.

O passo de treino é rápido sem mudar o modelo: os pesos continuam separados, com os
nomes do Hugging Face, mas Q, K e V saem de **uma** multiplicação de matrizes contra os
três pesos concatenados (e ``gate``/``up`` da SwiGLU, de outra); o RoPE é aplicado a Q e
K de uma vez, com tabelas de cosseno e seno calculadas uma vez só; a RMSNorm é a
``F.rms_norm`` do PyTorch; e a atenção chega ao *kernel* fundido (ver
:func:`helpers.model.attention.grouped_query_attention`). Concatenar os pesos custa uma
cópia de ``(H + 2·H_kv)·D × d`` números por camada e passo — pouco perto das ativações — e
deixa o ``state_dict``, o otimizador e os pontos de controle exatamente como antes.
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
    "generate",
    "KVCache",
    "convert_to_gqa",
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
        if x.dtype == torch.float32:  # a mesma conta, num kernel do PyTorch
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
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
    """Gira ``x`` ``[B, H, S, D]`` pelos ângulos de cada posição (no tipo de ``x``, como no
    Hugging Face: um modelo em bf16 continua em bf16). ``cos`` e ``sin`` só precisam se
    difundir contra ``x``: ``[S, D]`` para ``[B, H, S, D]``, ``[S, 1, D]`` para ``[B, S, H, D]``."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
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
        # gate(x) e up(x) numa multiplicação só, contra os dois pesos empilhados.
        gate, up = F.linear(x, torch.cat((self.gate_proj.weight, self.up_proj.weight))).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


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

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
        cache: "KVCache | None" = None, layer_idx: int = 0,
    ) -> torch.Tensor:
        b, s, _ = x.shape
        h, h_kv = self.num_heads, self.num_kv_heads
        # Q, K e V numa multiplicação só: [B, S, (H + 2·H_kv)·D] -> [B, S, H + 2·H_kv, D].
        w = torch.cat((self.q_proj.weight, self.k_proj.weight, self.v_proj.weight))
        qk, v = F.linear(x, w).view(b, s, h + 2 * h_kv, self.head_dim).split((h + h_kv, h_kv), dim=2)
        q, k = apply_rotary(qk, cos[:, None], sin[:, None]).split((h, h_kv), dim=2)  # RoPE em Q e K de uma vez
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H ou H_kv, S, D]
        if cache is not None:
            k, v = cache.append(layer_idx, k, v)  # todas as posições até agora
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

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
        cache: "KVCache | None" = None, layer_idx: int = 0,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache, layer_idx)
        return x + self.mlp(self.post_attention_layernorm(x))


class KVCache:
    """Cache de chaves e valores para decodificação incremental.

    Guarda, por camada, só as ``num_key_value_heads`` *heads* K/V: tensores
    ``[B, H_kv, max_len, D]`` alocados de uma vez. Com GQA-8, o cache do 67B é 8 vezes
    menor que o de uma versão MHA. ``length`` diz quantas posições já estão guardadas.
    """

    def __init__(self, config: ModelConfig, batch_size: int, max_len: int | None = None,
                 *, device=None, dtype: torch.dtype = torch.float32) -> None:
        max_len = max_len or config.max_position_embeddings
        if batch_size < 1 or not 1 <= max_len <= config.max_position_embeddings:
            raise ValueError(
                f"batch_size deve ser ≥ 1 e max_len estar entre 1 e {config.max_position_embeddings}; "
                f"recebi {batch_size} e {max_len}."
            )
        shape = (batch_size, config.num_key_value_heads, max_len, config.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.num_hidden_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.num_hidden_layers)]
        self.max_len = max_len
        self.length = 0

    def append(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Escreve as novas posições da camada e devolve K e V de todas as posições até agora."""
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"o cache comporta {self.max_len} posições; a sequência chegaria a {end}.")
        self.keys[layer_idx][:, :, self.length:end] = k
        self.values[layer_idx][:, :, self.length:end] = v
        return self.keys[layer_idx][:, :, :end], self.values[layer_idx][:, :, :end]

    @property
    def nbytes(self) -> int:
        """Bytes alocados pelo cache (todas as camadas, K e V)."""
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)


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
        # Tabelas do RoPE para todas as posições, calculadas uma vez (fora do state_dict).
        cos, sin = self.rotary(torch.arange(config.max_position_embeddings))
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)

    def _check_input(self, input_ids: torch.Tensor, cache: "KVCache | None") -> tuple[int, int]:
        if input_ids.dim() != 2:
            raise ValueError(
                f"input_ids deve ter forma [batch, seq]; recebi {tuple(input_ids.shape)}."
            )
        start = cache.length if cache is not None else 0
        seq_len = input_ids.shape[1]
        if start + seq_len > self.config.max_position_embeddings:
            raise ValueError(
                f"sequência de {start + seq_len} tokens excede max_position_embeddings "
                f"({self.config.max_position_embeddings}); use no máximo esse comprimento."
            )
        return start, seq_len

    def forward(self, input_ids: torch.Tensor, cache: "KVCache | None" = None) -> torch.Tensor:
        """*Logits* ``[B, S, V]``. Com ``cache``, ``input_ids`` são as posições seguintes às
        que o cache já guarda (decodificação incremental) e o cache é atualizado."""
        start, seq_len = self._check_input(input_ids, cache)  # posição inicial e comprimento
        cos, sin = self.rope_cos[start:start + seq_len], self.rope_sin[start:start + seq_len]
        x = self.embed_tokens(input_ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, cache, i)
        if cache is not None:
            cache.length += seq_len
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


def _check_generate_args(model, prompt, max_new_tokens, temperature, top_k, use_cache) -> None:
    if prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt deve ter forma [batch, seq] com seq ≥ 1; recebi {tuple(prompt.shape)}.")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens deve ser ≥ 0; recebi {max_new_tokens}.")
    if temperature < 0:
        raise ValueError(f"temperature deve ser ≥ 0; recebi {temperature}.")
    if top_k is not None and not 1 <= top_k <= model.config.vocab_size:
        raise ValueError(f"top_k deve estar entre 1 e {model.config.vocab_size}; recebi {top_k}.")
    window = model.config.max_position_embeddings
    if use_cache and prompt.shape[1] + max_new_tokens > window:
        raise ValueError(
            f"com cache, prompt + tokens novos ({prompt.shape[1] + max_new_tokens}) não podem passar de "
            f"max_position_embeddings ({window})."
        )


@torch.no_grad()
def generate(
    model: Transformer,
    prompt: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Gera ``max_new_tokens`` tokens a partir de ``prompt`` ``[B, S]``.

    Com ``use_cache=True`` o prompt passa uma vez pelo modelo (pré-preenchimento) e
    cada token novo custa só uma posição, lendo K e V do :class:`KVCache`; sem cache,
    o modelo relê o contexto inteiro a cada passo (cortado em ``max_position_embeddings``).
    Os dois caminhos dão os mesmos *logits*. A cada passo sorteia o próximo token da distribuição ``softmax(logits / temperature)``,
    restrita aos ``top_k`` mais prováveis se pedido. ``temperature=0`` escolhe sempre o
    mais provável (decodificação gulosa).
    """
    _check_generate_args(model, prompt, max_new_tokens, temperature, top_k, use_cache)
    was_training = model.training
    model.eval()
    out = prompt
    window = model.config.max_position_embeddings
    cache = None
    if use_cache:
        param = next(model.parameters())
        cache = KVCache(model.config, prompt.shape[0], prompt.shape[1] + max_new_tokens,
                        device=param.device, dtype=param.dtype)
    for step in range(max_new_tokens):
        if cache is None:
            logits = model(out[:, -window:])[:, -1, :].float()
        else:  # pré-preenchimento com o prompt inteiro, depois um token por vez
            logits = model(out if step == 0 else out[:, -1:], cache=cache)[:, -1, :].float()
        if temperature == 0:
            nxt = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k is not None:
                kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = torch.softmax(logits, dim=-1)
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(out.device)
        out = torch.cat([out, nxt], dim=1)
    model.train(was_training)
    return out


def _check_divides(new_kv: int, old_kv: int) -> None:
    if new_kv < 1 or old_kv % new_kv:
        raise ValueError(f"num_key_value_heads ({new_kv}) deve dividir as {old_kv} heads K/V do modelo original.")


def convert_to_gqa(model: Transformer, num_key_value_heads: int) -> Transformer:
    """Converte um modelo treinado para menos *heads* K/V pela média dentro de cada grupo.

    É a receita de *uptraining* de Ainslie et al. (2023): as ``H_kv`` *heads* de chave
    (e de valor) de cada grupo de ``H_kv / H_kv_novo`` *heads* vizinhas viram uma só, a
    média delas; as demais camadas são copiadas. Com ``num_key_value_heads=1`` o
    resultado é MQA. Devolve um modelo novo; o original não muda.
    """
    old = model.config
    _check_divides(num_key_value_heads, old.num_key_value_heads)
    new_config = old.replace(num_key_value_heads=num_key_value_heads)
    new = Transformer(new_config).to(next(model.parameters()).device)
    pool = old.num_key_value_heads // num_key_value_heads
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith(("self_attn.k_proj.weight", "self_attn.v_proj.weight")):
            # [H_kv·D, d] -> [H_kv_novo, pool, D, d] -> média sobre o grupo
            w = tensor.view(num_key_value_heads, pool, old.head_dim, old.hidden_size).mean(dim=1)
            tensor = w.reshape(num_key_value_heads * old.head_dim, old.hidden_size)
        state[name] = tensor
    new.load_state_dict(state)
    return new
