"""O que os capítulos experimentais compartilham: ler os resultados de uma varredura e escrever
as especificações das varreduras seguintes.

- :func:`records` — os registros (sem os de miniatura) de um arquivo de resultados;
- :func:`runs_table` — os registros JSON de uma varredura viram vetores (orçamento,
  taxa, lote, perda, M, 6N₁, 6N₂, tokens…), com ``NaN`` na perda dos que divergiram;
- :func:`seed_noise` — o ruído entre sementes, das configurações repetidas;
- :func:`round_batch`, :func:`train_base` e :func:`write_spec` — as peças das especificações
  geradas por comando (capítulos 4 e 8–10).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..engine.specs import format_spec
from ..engine.sweeps import load_results

__all__ = ["ROOT", "SEQ_LEN", "LOSS_KEY", "records", "runs_table", "seed_noise", "round_batch", "train_base",
           "write_spec"]

#: A raiz do repositório (onde ficam ``experiments/`` e ``results/``).
ROOT = Path(__file__).resolve().parents[3]
#: O contexto de todos os experimentos das leis de escala.
SEQ_LEN = 128
#: A perda de cada treino nas análises: bits por byte na validação ao fim do treino.
LOSS_KEY = "final_val_bpb"


def records(path: str | Path) -> list[dict]:
    """Os registros de um arquivo de resultados, sem os de miniatura."""
    recs = [r for r in load_results(path) if not r.get("mini")]
    if not recs:
        raise ValueError(f"{path}: nenhum resultado; rode a varredura antes.")
    return recs


def runs_table(records: list[dict], *, loss_key: str = LOSS_KEY) -> dict[str, np.ndarray]:
    """Vetores paralelos a partir dos registros de uma varredura (um elemento por treino)."""
    if not records:
        raise ValueError("nenhum registro: rode a varredura (ou confira o nome do arquivo de resultados).")
    rows = {k: [] for k in ("budget", "lr", "batch", "loss", "seed", "n_layer", "d_model", "M", "6N1", "6N2", "N",
                            "tokens", "steps", "diverged", "wall_time_s")}
    for r in records:
        t, m = r["train"], r["model"]
        ok = r["status"] == "ok" and r.get(loss_key) is not None
        rows["budget"].append(t.get("budget_flops") or float("nan"))
        rows["lr"].append(t["lr"])
        rows["batch"].append(t["batch_size_tokens"])
        rows["loss"].append(r[loss_key] if ok else float("nan"))
        rows["seed"].append(t["seed"])
        rows["n_layer"].append(m["num_hidden_layers"])
        rows["d_model"].append(m["hidden_size"])
        rows["M"].append(r["flops_per_token"]["M"])
        rows["6N1"].append(r["flops_per_token"]["6N1"])
        rows["6N2"].append(r["flops_per_token"]["6N2"])
        rows["N"].append(r["parameters"]["non_embedding"])
        rows["tokens"].append(r["tokens"])
        rows["steps"].append(r["steps"])
        rows["diverged"].append(r["status"] == "diverged")
        rows["wall_time_s"].append(r["wall_time_s"])
    return {k: np.asarray(v, dtype=bool if k == "diverged" else float) for k, v in rows.items()}

def seed_noise(table: dict[str, np.ndarray]) -> dict[str, float]:
    """Ruído entre sementes: desvio padrão relativo agrupado das configurações repetidas.

    Agrupa os treinos que só diferem na semente (orçamento, taxa, lote, forma) e
    combina as variâncias dentro dos grupos (com ``ddof=1``). Devolve ``rel_std``
    (desvio relativo), ``abs_std`` (na unidade da perda), ``groups`` e ``runs``.
    """
    keys = np.stack([table[k] for k in ("budget", "lr", "batch", "n_layer", "d_model")], axis=1)
    ok = np.isfinite(table["loss"])
    ss_rel = ss_abs = 0.0
    dof = groups = runs = 0
    for key in np.unique(keys[ok], axis=0):
        idx = ok & np.all(keys == key, axis=1)
        if idx.sum() < 2:
            continue
        v = table["loss"][idx]
        ss_rel += float(((v / v.mean() - 1) ** 2).sum())
        ss_abs += float(((v - v.mean()) ** 2).sum())
        dof += int(idx.sum()) - 1
        groups += 1
        runs += int(idx.sum())
    if dof == 0:
        raise ValueError("nenhuma configuração repetida com sementes diferentes: não há como medir o ruído.")
    return {"rel_std": math.sqrt(ss_rel / dof), "abs_std": math.sqrt(ss_abs / dof), "groups": groups, "runs": runs}

def round_batch(tokens: float, seq_len: int = SEQ_LEN) -> int:
    """Um lote em tokens arredondado (em escala log) para um múltiplo de ``seq_len``, no mínimo 1 sequência."""
    if not (math.isfinite(tokens) and tokens > 0):
        raise ValueError(f"o lote deve ser finito e > 0; recebi {tokens}.")
    seqs = tokens / seq_len
    lo = max(1, math.floor(seqs))
    hi = lo + 1
    best = lo if seqs < 1 or abs(math.log(seqs / lo)) <= abs(math.log(hi / seqs)) else hi
    return int(best * seq_len)


def train_base(eval_points: int) -> dict:
    """Os campos de treino comuns às especificações geradas (convenção M, degraus do DeepSeek)."""
    return {"flops_convention": "M", "seq_len": SEQ_LEN, "warmup_fraction": 0.05, "schedule": "multistep",
            "eval_points": eval_points, "eval_tokens": 65536, "seed": 0}


def write_spec(spec: dict, path: str | Path) -> None:
    """Grava uma especificação gerada: um treino (e uma previsão) por linha (diferenças legíveis no git).

    Delega a :func:`helpers.engine.specs.format_spec`, que guarda todos os campos — inclusive
    ``refine`` e ``predictions`` — na ordem do dicionário; para as especificações sem esses
    campos o texto é o mesmo de antes, byte a byte.
    """
    Path(path).write_text(format_spec(spec), encoding="utf-8")
