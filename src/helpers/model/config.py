"""Configuração dos modelos do livro, com os nomes de campo do Hugging Face/DeepSeek.

`ModelConfig` descreve um *decoder* no estilo LLaMA/DeepSeek LLM (pré-normalização
RMSNorm, RoPE, SwiGLU, GQA, sem vieses). Os nomes dos campos são os do
`config.json` publicado pelo DeepSeek (e do `LlamaConfig` do Hugging Face), para que
um leitor reconheça cada número ao abrir os arquivos reais.

Toda configuração é validada na construção: um valor inválido levanta
`ValueError` com uma mensagem em português que diz qual é o valor e qual é a faixa
válida.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ModelConfig",
    "deepseek_7b",
    "deepseek_67b",
    "tiny",
    "from_shape",
    "swiglu_intermediate_size",
]


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"{name} deve ser um inteiro positivo; recebi {value!r} (tipo {type(value).__name__})."
        )
    if value <= 0:
        raise ValueError(f"{name} deve ser um inteiro ≥ 1; recebi {value}.")


def _check_positive_float(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} deve ser um número real positivo; recebi {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} deve ser finito e > 0; recebi {value}.")


@dataclass(frozen=True)
class ModelConfig:
    """Hiperparâmetros de arquitetura de um *decoder* estilo DeepSeek LLM.

    Campos (nomes do `config.json` do Hugging Face):

    - ``vocab_size``: tamanho do vocabulário (102400 no DeepSeek LLM, 256 para bytes).
    - ``hidden_size``: largura do fluxo residual, ``d_model``.
    - ``intermediate_size``: largura interna da SwiGLU (≈ 8/3 · d_model).
    - ``num_hidden_layers``: número de blocos, ``n_layer``.
    - ``num_attention_heads``: número de *heads* de consulta.
    - ``num_key_value_heads``: número de *heads* de chave/valor (GQA); ``None`` = MHA.
    - ``max_position_embeddings``: maior contexto para o qual o modelo foi configurado.
    - ``rms_norm_eps``: o ε da RMSNorm.
    - ``rope_theta``: a base θ das frequências do RoPE.
    - ``tie_word_embeddings``: se a cabeça de saída reutiliza a matriz de *embedding*.
    - ``initializer_range``: desvio padrão da inicialização normal dos pesos.
    """

    vocab_size: int = 256
    hidden_size: int = 64
    intermediate_size: int = 176
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int | None = None
    max_position_embeddings: int = 128
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.num_key_value_heads is None:
            object.__setattr__(self, "num_key_value_heads", self.num_attention_heads)
        for name in (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "max_position_embeddings",
        ):
            _check_positive_int(name, getattr(self, name))
        for name in ("rms_norm_eps", "rope_theta", "initializer_range"):
            _check_positive_float(name, getattr(self, name))
        if not isinstance(self.tie_word_embeddings, bool):
            raise ValueError(
                f"tie_word_embeddings deve ser True ou False; recebi {self.tie_word_embeddings!r}."
            )
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) deve ser múltiplo de num_attention_heads "
                f"({self.num_attention_heads}); divisores válidos de {self.hidden_size}: "
                f"{_divisors(self.hidden_size)}."
            )
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) deve ser múltiplo de "
                f"num_key_value_heads ({self.num_key_value_heads}); valores válidos de "
                f"num_key_value_heads: {_divisors(self.num_attention_heads)}."
            )
        if self.head_dim % 2 != 0:
            raise ValueError(
                f"a dimensão por head (hidden_size / num_attention_heads = {self.head_dim}) "
                "deve ser par, porque o RoPE gira pares de coordenadas."
            )

    # --- grandezas derivadas -------------------------------------------------
    @property
    def head_dim(self) -> int:
        """Dimensão de cada *head*: ``hidden_size // num_attention_heads``."""
        return self.hidden_size // self.num_attention_heads

    @property
    def num_key_value_groups(self) -> int:
        """Quantas *heads* de consulta compartilham cada par K/V (1 = MHA)."""
        return self.num_attention_heads // self.num_key_value_heads

    # --- conversões --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Dicionário com todos os campos (serializável em JSON)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Constrói a partir de um dicionário; chaves desconhecidas são um erro."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"campos desconhecidos em ModelConfig: {unknown}; campos válidos: {sorted(known)}."
            )
        return cls(**data)

    def replace(self, **changes: Any) -> "ModelConfig":
        """Cópia com alguns campos trocados (validada de novo)."""
        return dataclasses.replace(self, **changes)

    def hf_config_kwargs(self) -> dict[str, Any]:
        """Argumentos para ``transformers.LlamaConfig`` equivalentes a esta configuração."""
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_parameters": {"rope_type": "default", "rope_theta": self.rope_theta},
            "tie_word_embeddings": self.tie_word_embeddings,
            "initializer_range": self.initializer_range,
            "hidden_act": "silu",
            "attention_bias": False,
            "mlp_bias": False,
        }


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def swiglu_intermediate_size(hidden_size: int, multiple_of: int = 256) -> int:
    """Largura da SwiGLU: 8/3 · d arredondado para cima ao múltiplo de ``multiple_of``.

    É a regra que reproduz os valores publicados: 4096 → 11008 e 8192 → 22016
    (com ``multiple_of=256``).
    """
    _check_positive_int("hidden_size", hidden_size)
    _check_positive_int("multiple_of", multiple_of)
    raw = math.ceil(8 * hidden_size / 3)
    return multiple_of * math.ceil(raw / multiple_of)


def deepseek_7b() -> ModelConfig:
    """DeepSeek LLM 7B (config.json publicado; Tabela 2 do artigo): MHA, 30 camadas."""
    return ModelConfig(
        vocab_size=102400,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=30,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        initializer_range=0.006,
    )


def deepseek_67b() -> ModelConfig:
    """DeepSeek LLM 67B (config.json publicado; Tabela 2): GQA com 8 *heads* K/V, 95 camadas."""
    return ModelConfig(
        vocab_size=102400,
        hidden_size=8192,
        intermediate_size=22016,
        num_hidden_layers=95,
        num_attention_heads=64,
        num_key_value_heads=8,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        initializer_range=0.006,
    )


def from_shape(
    num_hidden_layers: int,
    hidden_size: int,
    *,
    vocab_size: int = 102400,
    head_dim: int = 128,
    max_position_embeddings: int = 4096,
    multiple_of: int = 256,
) -> ModelConfig:
    """Uma configuração MHA a partir só de (n_layer, d_model), como nas linhas da Tabela 3.

    A Tabela 3 do DeepSeek dá apenas profundidade e largura; completamos com *heads*
    de dimensão ``head_dim`` e SwiGLU de largura ``swiglu_intermediate_size``.
    """
    _check_positive_int("head_dim", head_dim)
    if hidden_size % head_dim != 0:
        raise ValueError(
            f"hidden_size ({hidden_size}) deve ser múltiplo de head_dim ({head_dim})."
        )
    return ModelConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=swiglu_intermediate_size(hidden_size, multiple_of),
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=hidden_size // head_dim,
        max_position_embeddings=max_position_embeddings,
    )


def tiny(
    num_hidden_layers: int = 2,
    *,
    aspect_ratio: int = 16,
    hidden_size: int | None = None,
    head_dim: int = 16,
    num_key_value_heads: int | None = None,
    intermediate_size: int | None = None,
    vocab_size: int = 256,
    max_position_embeddings: int = 128,
    multiple_of: int = 8,
) -> ModelConfig:
    """A família minúscula dos experimentos: ``d_model = aspect_ratio · n_layer``.

    Um único parâmetro (a profundidade) percorre a família, como nas varreduras
    IsoFLOP: ``tiny(1)`` tem d = 16, ``tiny(4)`` tem d = 64, e assim por diante.
    Vocabulário de bytes (256) e contexto de 128 por padrão. ``hidden_size``, se
    dado, fixa a largura diretamente (e ``aspect_ratio`` é ignorado) — é assim que a
    escada de tamanhos dos perfis IsoFLOP intercala "mais uma camada" e "mais largo".
    ``intermediate_size``, se dado, fixa a largura da SwiGLU (senão, ≈ 8/3 · d) — o
    experimento de profundidade × largura da FFN do capítulo de GQA troca camadas por FFN
    mais larga mantendo os parâmetros.
    """
    _check_positive_int("num_hidden_layers", num_hidden_layers)
    _check_positive_int("aspect_ratio", aspect_ratio)
    _check_positive_int("head_dim", head_dim)
    if hidden_size is not None:
        _check_positive_int("hidden_size", hidden_size)
        hidden = hidden_size
        what = "hidden_size"
    else:
        hidden = aspect_ratio * num_hidden_layers
        what = "d_model = aspect_ratio · n_layer"
    if hidden % head_dim != 0:
        raise ValueError(
            f"{what} = {hidden} deve ser múltiplo de head_dim ({head_dim})."
        )
    return ModelConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=(swiglu_intermediate_size(hidden, multiple_of) if intermediate_size is None
                           else intermediate_size),
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=hidden // head_dim,
        num_key_value_heads=num_key_value_heads,
        max_position_embeddings=max_position_embeddings,
    )
