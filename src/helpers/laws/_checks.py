"""Validação das entradas das leis publicadas: números finitos e positivos, com erro em português."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["positive_array"]


def _describe(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return f"{x!r} (um booleano)"
    if isinstance(x, (str, bytes)):
        return f"{x!r} (um texto)"
    return repr(x)


def _has_non_number(x) -> bool:
    """Um booleano ou texto em qualquer nível de uma lista ou tupla (o NumPy os converteria calado)."""
    if isinstance(x, (list, tuple)):
        return any(_has_non_number(v) for v in x)
    return isinstance(x, (str, bytes, bool, np.bool_))


def positive_array(name: str, x, unit: str = "") -> np.ndarray:
    """``x`` como ``ndarray`` de ``float``; ``ValueError`` se não for número, não for finito ou for ≤ 0.

    Booleanos e textos (mesmo ``"1e18"``) são recusados: uma lei de escala recebe números.
    """
    unit_text = f" (em {unit})" if unit else ""
    message = f"{name} deve ser um número finito > 0{unit_text}, isto é, no intervalo (0, ∞); recebi {_describe(x)}."
    if _has_non_number(x):
        raise ValueError(message)
    raw = np.asarray(x)
    if raw.dtype.kind not in "iuf" or raw.size == 0:
        # listas com textos ou booleanos, objetos, vazios
        if raw.dtype.kind == "O" and raw.size and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                                       for v in raw.ravel()):
            raw = raw.astype(float)
        else:
            raise ValueError(message)
    arr = raw.astype(float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(message)
    return arr
