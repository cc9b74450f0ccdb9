"""Compressibilidade gzip do texto e as faixas de compressibilidade do corpus.

Pandey (2024) mediu a "dificuldade" de um conjunto de dados pela razão do gzip
(*bytes* comprimidos ÷ *bytes* originais): quanto maior a razão, menos redundante o
texto. Aqui a mesma medida serve a duas coisas:

- :func:`gzip_ratio` — a razão de um conjunto de *bytes*, calculada em pedaços fixos de
  :data:`CHUNK_BYTES` (DEFLATE nível 9, o do ``gzip -9``), para que o tamanho dos documentos
  não pese na medida; é o ``H`` registrado com cada corpus;
- :func:`band_mask` — as **faixas de compressibilidade**: os documentos ordenados pela razão
  de cada um e cortados por fração dos *bytes*. ``gzip_band = (0, 0.25)`` são os 25% mais
  compressíveis do corpus (tabelas, dados, código gerado), ``(0.75, 1)`` os 25% menos.

Cada faixa é um corpus de treino com a sua validação **própria** (os documentos da faixa
sorteados por :func:`is_band_validation`, fora do treino), além da validação comum de todo
corpus — a do corpus inteiro, que fica de fora de todas as faixas. Assim o capítulo 10 mede a
perda de cada corpus na sua própria distribuição e num alvo comum.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

__all__ = ["CHUNK_BYTES", "BAND_VALIDATION_FRACTION", "gzip_ratio", "document_ratio", "check_band", "band_mask",
           "is_band_validation"]

#: Tamanho dos pedaços em que :func:`gzip_ratio` comprime o texto.
CHUNK_BYTES = 65536
#: Fração dos documentos de uma faixa que fica como a validação própria dela.
BAND_VALIDATION_FRACTION = 0.05


def _deflate(data: bytes) -> int:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)  # DEFLATE cru: sem os 6 bytes de cabeçalho do zlib
    return len(c.compress(data) + c.flush())


def gzip_ratio(data: bytes) -> float:
    """Razão do gzip de ``data`` em pedaços de :data:`CHUNK_BYTES` (soma comprimida ÷ soma original)."""
    if not data:
        raise ValueError("gzip_ratio precisa de um texto não vazio; recebi 0 bytes.")
    view = memoryview(data)
    packed = sum(_deflate(bytes(view[i:i + CHUNK_BYTES])) for i in range(0, len(data), CHUNK_BYTES))
    return packed / len(data)


def document_ratio(data: bytes) -> float:
    """A razão do gzip de um documento inteiro (a chave da ordenação das faixas); 1 para um vazio."""
    return _deflate(data) / len(data) if data else 1.0


def check_band(band) -> tuple[float, float] | None:
    """``None`` ou o par ``(lo, hi)`` validado, com ``0 ≤ lo < hi ≤ 1`` (frações dos *bytes*)."""
    if band is None:
        return None
    try:
        lo, hi = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ValueError(f"gzip_band deve ser um par (lo, hi) de frações; recebi {band!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= 1) or (lo, hi) == (0.0, 1.0):
        raise ValueError(
            f"gzip_band deve ter 0 ≤ lo < hi ≤ 1 e não ser o corpus inteiro (0, 1); recebi {band!r}."
        )
    return lo, hi


def band_mask(keys: list[str], sizes: np.ndarray, ratios: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Quais documentos caem na faixa: ordenados por (razão, chave), cada um entra na faixa
    em que cai o ponto médio dos seus *bytes* na soma acumulada."""
    lo, hi = check_band(band)
    sizes = np.asarray(sizes, dtype=np.float64)
    order = sorted(range(len(keys)), key=lambda i: (float(ratios[i]), keys[i]))
    total = float(sizes.sum())
    if total <= 0:
        raise ValueError("o corpus não tem bytes para dividir em faixas.")
    mask = np.zeros(len(keys), dtype=bool)
    before = 0.0
    for i in order:
        mid = (before + sizes[i] / 2) / total
        mask[i] = (lo < mid <= hi) or (lo == 0 and mid == 0)
        before += sizes[i]
    return mask


def is_band_validation(key: str) -> bool:
    """Sorteio estável (outra semente que a da validação comum) da validação própria de uma faixa."""
    return (zlib.crc32(b"faixa:" + key.encode("utf-8")) % 100_000) < BAND_VALIDATION_FRACTION * 100_000
