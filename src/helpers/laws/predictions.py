"""Previsões antes dos treinos: escrevê-las na especificação, conferi-las depois e medir a cobertura.

O protocolo do livro: o comando que gera uma especificação escreve nela o valor previsto e o
intervalo (campo ``predictions``, ver :mod:`helpers.engine.specs`), com o método e os arquivos de
entrada (com o ``sha256`` de cada um) — o ``git log`` prova que a previsão veio antes do treino.
Depois do treino, :func:`check_predictions` compara; e :func:`backtest` mede, nos orçamentos já
medidos, com que frequência os intervalos do método acertam.

- :func:`file_input` — ``{"path", "sha256"}`` de um arquivo de entrada;
- :func:`write_predictions` — acrescenta ou atualiza previsões num dicionário de especificação;
- :func:`check_predictions` — previsto, intervalo, média medida, sementes, erro % e se o
  intervalo cobriu, por previsão;
- :func:`backtest` — ajusta nos orçamentos menores, prevê cada um dos maiores, e devolve as
  linhas e a taxa de cobertura.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.specs import PlannedRun, SweepSpec, expand, parse_spec
from ..engine.sweeps import ROOT

__all__ = ["file_input", "write_predictions", "matching_runs", "check_predictions", "Backtest", "backtest"]


def file_input(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> dict:
    """``{"path": ..., "sha256": ...}`` de um arquivo usado numa previsão.

    O caminho fica relativo a ``root`` (padrão: a raiz do repositório) quando o arquivo está
    dentro dela; senão, absoluto.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"arquivo de entrada da previsão não encontrado (ou não é um arquivo): {str(p)!r}.")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    base = Path(root if root is not None else ROOT).resolve()
    full = p.resolve()
    try:
        shown = full.relative_to(base).as_posix()
    except ValueError:
        shown = str(full)
    return {"path": shown, "sha256": digest}


def _key(pred: dict) -> str:
    return json.dumps([pred["select"], pred["quantity"]], sort_keys=True)


def _value(p: PlannedRun, key: str) -> Any:
    section, _, name = key.partition(".")
    obj = p.model if section == "model" else p.train
    if not hasattr(obj, name):
        raise ValueError(f"select: {key!r} não é um campo de {section}.")
    return getattr(obj, name)


def _same(a: Any, b: Any) -> bool:
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def matching_runs(spec: SweepSpec, select: Any) -> list[PlannedRun]:
    """Os treinos da especificação que um ``select`` escolhe (``"all"``: todos)."""
    planned = expand(spec)
    if select == "all":
        return planned
    return [p for p in planned if all(_same(_value(p, k), v) for k, v in select.items())]


def write_predictions(spec_dict: dict, predictions: list[dict]) -> dict:
    """Uma cópia de ``spec_dict`` com ``predictions`` acrescentadas ao campo do mesmo nome.

    Uma previsão com o mesmo ``select`` e a mesma ``quantity`` de uma já escrita a substitui
    (no mesmo lugar da lista). Cada previsão é validada (ver :mod:`helpers.engine.specs`) e seu
    ``select`` deve escolher pelo menos um treino da especificação.
    """
    if not isinstance(spec_dict, dict):
        raise ValueError(f"spec_dict deve ser o dicionário de uma especificação; recebi {type(spec_dict).__name__}.")
    if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
        raise ValueError("predictions deve ser uma lista de previsões (dicionários).")
    out = copy.deepcopy(spec_dict)
    current = list(out.get("predictions", []))
    index = {_key(p): i for i, p in enumerate(current) if isinstance(p, dict) and {"select", "quantity"} <= set(p)}
    for pred in copy.deepcopy(predictions):
        if not {"select", "quantity"} <= set(pred):
            parse_spec({**out, "predictions": [pred]}, "previsão")  # levanta o erro com os campos que faltam
        k = _key(pred)
        if k in index:
            current[index[k]] = pred
        else:
            index[k] = len(current)
            current.append(pred)
    out["predictions"] = current
    spec = parse_spec(out, str(out.get("name", "especificação")))
    for i, pred in enumerate(spec.predictions):
        if not matching_runs(spec, pred["select"]):
            raise ValueError(f"predictions[{i}]: o select {json.dumps(pred['select'], ensure_ascii=False)} não escolhe "
                             f"nenhum treino da especificação {spec.name!r}.")
    return out


def check_predictions(spec: SweepSpec, records: list[dict]) -> list[dict]:
    """Uma linha por previsão da especificação: o previsto contra o medido.

    Chaves de cada linha: ``select``, ``quantity``, ``predicted``, ``interval``, ``level``,
    ``method``, ``runs`` (treinos escolhidos), ``pending`` (sem resultado ainda), ``n`` (treinos
    que terminaram bem, com a grandeza), ``seeds`` (as sementes deles), ``measured`` (a média;
    ``NaN`` sem nenhum), ``error_pct`` (``100·(medido − previsto)/previsto``) e ``covered``
    (``lo ≤ medido ≤ hi``; ``None`` sem medida). Treinos que divergiram não entram na média.
    """
    by_id = {r["run_id"]: r for r in records if isinstance(r, dict) and "run_id" in r}
    rows = []
    for pred in spec.predictions or ():
        runs = matching_runs(spec, pred["select"])
        values, seeds, pending = [], [], 0
        for p in runs:
            rec = by_id.get(p.run_id)
            if rec is None:
                pending += 1
                continue
            v = rec.get(pred["quantity"])
            if rec.get("status") == "ok" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                values.append(float(v))
                seeds.append(p.train.seed)
        measured = float(np.mean(values)) if values else float("nan")
        lo, hi = pred["interval"]
        rows.append({
            "select": pred["select"], "quantity": pred["quantity"], "predicted": float(pred["value"]),
            "interval": (float(lo), float(hi)), "level": float(pred["level"]), "method": pred["method"],
            "runs": len(runs), "pending": pending, "n": len(values), "seeds": seeds, "measured": measured,
            "error_pct": 100 * (measured - pred["value"]) / pred["value"] if values and pred["value"] else float("nan"),
            "covered": (lo <= measured <= hi) if values else None,
        })
    return rows


@dataclass(frozen=True)
class Backtest:
    """O resultado de :func:`backtest`: uma linha por orçamento previsto e a cobertura.

    Cada linha: ``target``, ``fit_budgets`` (os orçamentos do ajuste), ``predicted``, ``lo``,
    ``hi``, ``observed``, ``error_pct`` e ``covered``. ``coverage`` é a fração de linhas em que
    o intervalo cobriu o observado — a comparar com ``level``.
    """

    rows: tuple[dict, ...]
    coverage: float
    level: float
    min_fit: int

    @property
    def hits(self) -> int:
        return sum(r["covered"] for r in self.rows)


def _check_number(name: str, x: Any, *, positive: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)) or not math.isfinite(x) \
            or (positive and x <= 0):
        rng = "finito e > 0" if positive else "finito"
        raise ValueError(f"{name} deve ser um número {rng}; recebi {x!r}.")
    return float(x)


def backtest(budgets: Mapping[float, float], fit_and_predict: Callable, *, min_fit: int = 3,
             level: float = 0.95) -> Backtest:
    """Ajusta nos orçamentos menores e prevê cada um dos maiores, um de cada vez.

    ``budgets`` é ``{orçamento: valor observado}``. Para cada orçamento depois dos ``min_fit``
    menores, chama ``fit_and_predict(fit, alvo, level)`` com ``fit`` = ``{orçamento: observado}``
    dos orçamentos **estritamente menores** que o alvo; ela devolve ``(valor, (lo, hi))``, a
    previsão e o intervalo no nível ``level`` para o alvo. O chamável pode ignorar os valores e
    usar os próprios dados (todos os treinos daqueles orçamentos), desde que ajuste só neles.
    """
    if not isinstance(budgets, Mapping):
        raise ValueError(f"budgets deve ser um dicionário {{orçamento: observado}}; recebi {type(budgets).__name__}.")
    if not callable(fit_and_predict):
        raise ValueError("fit_and_predict deve ser um chamável fit_and_predict(fit, alvo, level) -> (valor, (lo, hi)).")
    if isinstance(min_fit, bool) or not isinstance(min_fit, int) or min_fit < 1:
        raise ValueError(f"min_fit deve ser um inteiro ≥ 1 (orçamentos no primeiro ajuste); recebi {min_fit!r}.")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level deve ser um número em (0, 1); recebi {level!r}.")
    data = {_check_number(f"orçamento {c!r}", c, positive=True): _check_number(f"observado em {c!r}", v)
            for c, v in budgets.items()}
    order = sorted(data)
    if len(order) < min_fit + 1:
        raise ValueError(f"o backtest precisa de pelo menos min_fit + 1 = {min_fit + 1} orçamentos distintos; "
                         f"recebi {len(order)}.")
    rows = []
    for n in range(min_fit, len(order)):
        target = order[n]
        fit = {c: data[c] for c in order[:n]}
        out = fit_and_predict(fit, target, level)
        try:
            value, (lo, hi) = out
            value, lo, hi = (_check_number("", float(x)) for x in (value, lo, hi))
        except (TypeError, ValueError):
            raise ValueError(f"fit_and_predict no orçamento {target:g} deve devolver (valor, (lo, hi)) com números "
                             f"finitos; recebi {out!r:.80}.") from None
        if not lo <= hi:
            raise ValueError(f"fit_and_predict no orçamento {target:g}: intervalo com lo = {lo:g} > hi = {hi:g}.")
        obs = data[target]
        rows.append({"target": target, "fit_budgets": tuple(fit), "predicted": value, "lo": lo, "hi": hi,
                     "observed": obs, "error_pct": 100 * (obs - value) / value if value else float("nan"),
                     "covered": bool(lo <= obs <= hi)})
    coverage = sum(r["covered"] for r in rows) / len(rows)
    return Backtest(rows=tuple(rows), coverage=float(coverage), level=float(level), min_fit=min_fit)
