"""Palavras de comparação geradas dos números, para as frases dos capítulos.

Uma frase como "o erro ficou menor que os 0,7% de Gadre et al." só pode sair daqui: a palavra é
decidida pelos mesmos valores que o leitor vê na página (arredondados como aparecem), nunca escrita à mão.
"""

from __future__ import annotations

__all__ = ["versus", "count_phrase"]


def versus(x: float, y: float, digits: int = 2) -> str:
    """``"menor que"``, ``"igual a"`` ou ``"maior que"`` — nos valores como o leitor os vê (``digits`` casas)."""
    x, y = round(x, digits), round(y, digits)
    return "menor que" if x < y else "maior que" if x > y else "igual a"


def count_phrase(k: int, n: int, what: str) -> str:
    """"as duas medidas caíram dentro…", "1 das 2 medidas caiu dentro…", "nenhuma das 2 medidas caiu…"."""
    if n <= 1:
        return f"a medida caiu {'dentro' if k else 'fora'} {what}" if n else f"nenhuma medida ainda para conferir {what}"
    if k in (0, n):
        return f"nenhuma das {n} medidas caiu dentro {what}" if k == 0 else \
            f"{'as duas' if n == 2 else f'as {n}'} medidas caíram dentro {what}"
    return f"{k} das {n} medidas {'caiu' if k == 1 else 'caíram'} dentro {what}"
