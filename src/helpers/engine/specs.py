"""Especificações de varredura: o JSON de ``experiments/``, validado, e a lista de treinos que ele define.

Uma especificação é uma configuração ``base`` (``model`` + ``train``), uma ``grid`` de
variações (produto cartesiano) e, opcionalmente, ``runs`` (variações explícitas). Cada
combinação vira um :class:`PlannedRun`, identificado pelo ``run_id`` (hash da configuração
completa). Um erro na especificação é um ``ValueError`` com uma mensagem que nomeia o valor
errado e o que seria válido — nunca um ``TypeError`` de dentro do Python.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.config import ModelConfig, tiny
from .data import CorpusSpec, TokenizerSpec
from .runs import TrainConfig, flops_per_token, planned_steps, run_id

__all__ = ["SweepSpec", "PlannedRun", "load_spec", "parse_spec", "build_model_config", "build_train_config",
           "expand", "parent_ids"]

SPEC_FIELDS = ("name", "description", "base", "grid", "runs", "mini", "mini_scale", "mini_runs")
TINY_FIELDS = tuple(inspect.signature(tiny).parameters)


@dataclass(frozen=True)
class SweepSpec:
    """Uma varredura: ``base`` (``model`` + ``train``), ``grid`` e, opcionalmente, ``runs``.

    - ``grid``: ``{"train.lr": [...], "model.num_hidden_layers": [...]}`` — produto cartesiano;
    - ``runs``: lista explícita de variações (cada uma um dicionário de chaves com ponto),
      combinada com a grade;
    - ``mini``: variações aplicadas a todos os treinos no modo miniatura (testes e
      notebooks que recalculam em segundos);
    - ``mini_scale``: fatores que *multiplicam* campos numéricos no modo miniatura
      (``{"train.budget_flops": 0.05}`` encolhe todos os orçamentos e preserva a razão
      entre eles, ao contrário de fixar um valor em ``mini``);
    - ``mini_runs``: os índices (na ordem de :func:`expand`) dos treinos que o modo
      miniatura roda — uma amostra da varredura que ainda exercita a análise inteira.
    """

    name: str
    description: str
    base: dict
    grid: dict
    runs: tuple
    mini: dict
    mini_scale: dict = None
    mini_runs: tuple | None = None

    @property
    def spec_hash(self) -> str:
        payload = json.dumps({"base": self.base, "grid": self.grid, "runs": list(self.runs)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        """O JSON da especificação (o que :func:`parse_spec` lê de volta)."""
        d = dataclasses.asdict(self)
        d["runs"] = list(self.runs)
        d["mini_scale"] = dict(self.mini_scale or {})
        if self.mini_runs is None:
            d.pop("mini_runs")
        else:
            d["mini_runs"] = list(self.mini_runs)
        return d


def _kind(value: Any) -> str:
    names = {dict: "um objeto", list: "uma lista", str: "um texto", bool: "um booleano", type(None): "null",
             int: "um número", float: "um número"}
    return names.get(type(value), type(value).__name__)


def _check_dotted(where: str, key: Any) -> None:
    section, _, field_name = key.partition(".") if isinstance(key, str) else ("", "", "")
    if section not in ("model", "train") or not field_name:
        raise ValueError(f"{where}: chave de variação inválida {key!r}; use 'model.CAMPO' ou 'train.CAMPO'.")


def parse_spec(raw: Any, source: str = "especificação") -> SweepSpec:
    """Valida o JSON já lido de uma especificação e devolve a :class:`SweepSpec`."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: a especificação deve ser um objeto JSON ({{\"name\": ..., \"base\": ...}}); "
                         f"recebi {_kind(raw)}.")
    unknown = sorted(set(raw) - set(SPEC_FIELDS))
    if unknown:
        raise ValueError(f"{source}: campos desconhecidos {unknown}; os válidos são {sorted(SPEC_FIELDS)}.")
    for key in ("name", "base"):
        if key not in raw:
            raise ValueError(f"{source}: falta o campo obrigatório {key!r}.")
    if not isinstance(raw["name"], str) or not raw["name"]:
        raise ValueError(f"{source}: 'name' deve ser um texto não vazio; recebi {raw['name']!r}.")
    if not isinstance(raw.get("description", ""), str):
        raise ValueError(f"{source}: 'description' deve ser um texto; recebi {_kind(raw['description'])}.")
    base = raw["base"]
    if not isinstance(base, dict):
        raise ValueError(f"{source}: 'base' deve ser um objeto {{\"model\": {{...}}, \"train\": {{...}}}}; "
                         f"recebi {_kind(base)} ({base!r:.60}).")
    bad = sorted(set(base) - {"model", "train"})
    if bad:
        raise ValueError(f"{source}: 'base' tem seções desconhecidas {bad}; as válidas são ['model', 'train'].")
    for section in ("model", "train"):
        if not isinstance(base.get(section, {}), dict):
            raise ValueError(f"{source}: 'base.{section}' deve ser um objeto; recebi {_kind(base[section])}.")
    grid = raw.get("grid", {})
    if not isinstance(grid, dict):
        raise ValueError(f"{source}: 'grid' deve ser um objeto {{\"train.lr\": [...]}}; recebi {_kind(grid)}.")
    for key, values in grid.items():
        _check_dotted(f"{source}: grid", key)
        if not isinstance(values, list) or not values:
            raise ValueError(f"{source}: grid[{key!r}] deve ser uma lista não vazia de valores; "
                             f"recebi {values!r:.60} ({_kind(values)}).")
    runs = raw.get("runs", [{}])
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise ValueError(f"{source}: 'runs' deve ser uma lista não vazia de objetos {{\"train.CAMPO\": valor}}; "
                         f"recebi {runs!r:.60}.")
    for r in runs:
        for key in r:
            _check_dotted(f"{source}: runs", key)
    mini = raw.get("mini", {})
    if not isinstance(mini, dict):
        raise ValueError(f"{source}: 'mini' deve ser um objeto; recebi {_kind(mini)}.")
    for key in mini:
        _check_dotted(f"{source}: mini", key)
    mini_scale = raw.get("mini_scale", {})
    if not isinstance(mini_scale, dict):
        raise ValueError(f"{source}: 'mini_scale' deve ser um objeto; recebi {_kind(mini_scale)}.")
    for key, factor in mini_scale.items():
        _check_dotted(f"{source}: mini_scale", key)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise ValueError(f"{source}: mini_scale[{key!r}] deve ser um número > 0; recebi {factor!r}.")
    mini_runs = raw.get("mini_runs")
    if mini_runs is not None and not isinstance(mini_runs, list):
        raise ValueError(f"{source}: 'mini_runs' deve ser uma lista de índices; recebi {_kind(mini_runs)}.")
    return SweepSpec(
        name=raw["name"],
        description=raw.get("description", ""),
        base=base,
        grid=grid,
        runs=tuple(runs),
        mini=mini,
        mini_scale=mini_scale,
        mini_runs=tuple(mini_runs) if mini_runs is not None else None,
    )


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Lê uma especificação JSON, com erros claros para campos faltando, a mais ou do tipo errado."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"especificação não encontrada: {str(p)!r}.")
    if not p.is_file():
        raise ValueError(f"a especificação {str(p)!r} não é um arquivo (é uma pasta?).")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{p}: não é texto UTF-8; uma especificação é um arquivo JSON.") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: JSON inválido ({exc}).") from None
    return parse_spec(raw, str(p))


def build_model_config(d: dict) -> ModelConfig:
    """``{"preset": "tiny", "num_hidden_layers": 3, ...}`` ou os campos de ``ModelConfig``."""
    d = dict(d)
    preset = d.pop("preset", None)
    if preset is None:
        return ModelConfig.from_dict(d)
    if preset != "tiny":
        raise ValueError(f"preset de modelo desconhecido {preset!r}; o único válido é 'tiny'.")
    unknown = sorted(set(d) - set(TINY_FIELDS))
    if unknown:
        raise ValueError(f"campo desconhecido em model (preset 'tiny'): {', '.join(map(repr, unknown))}; "
                         f"os válidos são {list(TINY_FIELDS)}.")
    return tiny(**d)


def build_train_config(d: dict) -> TrainConfig:
    d = dict(d)
    for key, cls in (("corpus", CorpusSpec), ("tokenizer", TokenizerSpec)):
        if key in d and isinstance(d[key], dict):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(d[key]) - known)
            if unknown:
                raise ValueError(f"campo desconhecido em train.{key}: {', '.join(map(repr, unknown))}; "
                                 f"os válidos são {sorted(known)}.")
            d[key] = CorpusSpec.from_dict(d[key]) if cls is CorpusSpec else TokenizerSpec(**d[key])
    return TrainConfig.from_dict(d)


def _set(tree: dict, dotted: str, value: Any) -> None:
    _check_dotted("variação", dotted)
    section, _, key = dotted.partition(".")
    tree.setdefault(section, {})[key] = value


@dataclass(frozen=True)
class PlannedRun:
    index: int
    run_id: str
    model: ModelConfig
    train: TrainConfig
    overrides: dict

    @property
    def flops(self) -> float:
        """Custo estimado (FLOPs medidos por token × tokens) — o peso na barra de progresso."""
        t = self.train
        return flops_per_token(self.model, t.seq_len, "measured") * planned_steps(self.model, t) * t.batch_size_tokens

    @property
    def parent_id(self) -> str | None:
        """O ``run_id`` do treino de onde este parte (``init_from``), ou ``None``."""
        init = self.train.init_from
        if init is None:
            return None
        return run_id(ModelConfig.from_dict(init["model"]), TrainConfig.from_dict(init["train"]))


def expand(spec: SweepSpec, *, mini: bool = False) -> list[PlannedRun]:
    """Todas as combinações da varredura, em ordem determinística.

    ``"train.init_from": {"run": i, "num_key_value_heads": G}`` numa variação faz o treino
    partir dos pesos do treino ``i`` da lista (que deve vir antes), convertidos para ``G``
    *heads* K/V; o índice vira a configuração completa daquele treino (ver
    :class:`helpers.engine.trainer.TrainConfig`), de modo que o ``run_id`` identifica a origem.
    """
    keys = list(spec.grid)
    values = [spec.grid[k] for k in keys]
    combos = [(extra, combo) for extra in spec.runs for combo in (itertools.product(*values) if keys else [()])]
    built: dict[int, tuple[ModelConfig, TrainConfig, dict]] = {}

    def build(idx: int) -> tuple[ModelConfig, TrainConfig, dict]:
        if idx in built:
            return built[idx]
        extra, combo = combos[idx]
        tree = copy.deepcopy(spec.base)
        overrides = {**dict(zip(keys, combo)), **extra}
        if mini:
            for k, factor in (spec.mini_scale or {}).items():
                section, _, field_name = k.partition(".")
                current = overrides.get(k, spec.base.get(section, {}).get(field_name))
                if isinstance(current, bool) or not isinstance(current, (int, float)):
                    raise ValueError(f"mini_scale: {k!r} não é um campo numérico da varredura.")
                overrides[k] = current * factor
            overrides = {**overrides, **spec.mini}
        for k, v in overrides.items():
            _set(tree, k, v)
        init = tree.get("train", {}).get("init_from")
        if isinstance(init, dict) and "run" in init:
            ref = init["run"]
            if set(init) != {"run", "num_key_value_heads"}:
                raise ValueError(f"init_from por índice aceita só 'run' e 'num_key_value_heads'; recebi {sorted(init)}.")
            if isinstance(ref, bool) or not isinstance(ref, int) or not 0 <= ref < idx:
                raise ValueError(f"init_from.run do treino {idx} deve ser o índice de um treino anterior "
                                 f"(0 a {idx - 1}); recebi {ref!r}.")
            parent_mc, parent_tc, _ = build(ref)
            tree["train"]["init_from"] = {"model": parent_mc.to_dict(), "train": parent_tc.to_dict(),
                                          "num_key_value_heads": init["num_key_value_heads"]}
        try:
            mc = build_model_config(tree.get("model", {}))
            tc = build_train_config(tree.get("train", {}))
        except TypeError as exc:  # um valor do tipo errado que a validação dos campos não pegou
            raise ValueError(f"treino {idx} ({json.dumps(overrides, ensure_ascii=False)}): configuração "
                             f"inválida ({exc}).") from None
        built[idx] = (mc, tc, overrides)
        return built[idx]

    indices = range(len(combos))
    if mini and spec.mini_runs is not None:
        bad = [i for i in spec.mini_runs if isinstance(i, bool) or not (isinstance(i, int) and 0 <= i < len(combos))]
        if bad:
            raise ValueError(f"mini_runs tem índices fora de [0, {len(combos) - 1}]: {bad}.")
        indices = spec.mini_runs
    planned, seen = [], set()
    for idx in indices:
        mc, tc, overrides = build(idx)
        rid = run_id(mc, tc)
        if rid in seen:
            continue
        seen.add(rid)
        planned.append(PlannedRun(len(planned), rid, mc, tc, overrides))
    return planned


def parent_ids(planned: list[PlannedRun]) -> set[str]:
    """Os ``run_id`` dos treinos de que outros partem (``init_from``): seus pesos são guardados."""
    return {p.parent_id for p in planned if p.parent_id is not None}
