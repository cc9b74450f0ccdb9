"""Especificações de varredura: o JSON de ``experiments/``, validado, e a lista de treinos que ele define.

Uma especificação é uma configuração ``base`` (``model`` + ``train``), uma ``grid`` de
variações (produto cartesiano) e, opcionalmente, ``runs`` (variações explícitas). Cada
combinação vira um :class:`PlannedRun`, identificado pelo ``run_id`` (hash da configuração
completa). Um erro na especificação é um ``ValueError`` com uma mensagem que nomeia o valor
errado e o que seria válido — nunca um ``TypeError`` de dentro do Python.

Dois campos opcionais não mudam os treinos (nem o ``spec_hash``, nem nenhum ``run_id``):

``"refine"`` — como :mod:`helpers.laws.refine` pode estender a grade onde o ótimo toca uma borda.
Forma de hiperparâmetros (eixos em escala log; um valor novo é o da borda ×/÷ ``factor``,
arredondado a ``multiple_of`` ou, sem ele, a 4 algarismos significativos, e recusado fora de
``[min, max]``)::

    {"kind": "hyper", "group": "train.budget_flops",
     "axes": {"train.lr": {"factor": 2.0},
              "train.batch_size_tokens": {"factor": 2.0, "multiple_of": 128, "min": 128}},
     "tolerance": 0.0025, "quantity": "final_val_bpb"}

Forma IsoFLOP (uma escada de tamanhos em ordem crescente; a janela de cada grupo cresce por
degraus consecutivos até o vértice ter ``min_each_side`` tamanhos medidos de cada lado; a
escala do modelo nos perfis é ``flops_per_token[scale]`` do registro)::

    {"kind": "isoflop", "group": "train.budget_flops",
     "ladder": {"keys": ["model.num_hidden_layers", "model.hidden_size"], "values": [[1, 16], [1, 32], ...]},
     "min_each_side": 3, "scale": "M", "quantity": "final_val_bpb"}

``group``, ``axes``/``ladder`` e ``kind`` são obrigatórios; os padrões são ``tolerance = 0.0025``,
``min_each_side = 3``, ``scale = "M"`` e ``quantity = "final_val_bpb"``
(ver :func:`refine_settings`).

``"predictions"`` — previsões escritas antes dos treinos (ver :mod:`helpers.laws.predictions`),
uma lista de objetos com exatamente estes campos::

    {"select": {"train.budget_flops": 3.162e13} ou "all",
     "quantity": "final_val_bpb", "value": 2.71, "interval": [2.65, 2.78], "level": 0.95,
     "method": "texto: como o valor e o intervalo foram obtidos",
     "inputs": [{"path": "results/cap08_isoflop.jsonl", "sha256": "64 dígitos hexadecimais"}]}

``select`` escolhe os treinos cujos valores batem com todas as chaves (``"all"``: todos os da
especificação); ``lo ≤ value ≤ hi``; não pode haver duas previsões com o mesmo ``select`` e a
mesma ``quantity``.
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
           "expand", "parent_ids", "refine_settings", "format_spec"]

SPEC_FIELDS = ("name", "description", "base", "grid", "runs", "mini", "mini_scale", "mini_runs", "refine",
               "predictions")
#: Os campos de cada forma de ``refine`` e os padrões dos opcionais.
REFINE_FIELDS = {"hyper": {"kind", "group", "axes", "tolerance", "quantity"},
                 "isoflop": {"kind", "group", "ladder", "min_each_side", "scale", "quantity"}}
REFINE_DEFAULTS = {"tolerance": 0.0025, "min_each_side": 3, "scale": "M", "quantity": "final_val_bpb"}
REFINE_SCALES = ("M", "6N1", "6N2", "6N", "measured")
AXIS_FIELDS = ("factor", "multiple_of", "min", "max")
PREDICTION_FIELDS = ("select", "quantity", "value", "interval", "level", "method", "inputs")
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
      miniatura roda — uma amostra da varredura que ainda exercita a análise inteira;
    - ``refine`` e ``predictions``: como estender a grade e as previsões escritas antes dos
      treinos (ver a documentação do módulo); não entram no ``spec_hash``.
    """

    name: str
    description: str
    base: dict
    grid: dict
    runs: tuple
    mini: dict
    mini_scale: dict = None
    mini_runs: tuple | None = None
    refine: dict | None = None
    predictions: tuple | None = None

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
        for key in ("refine", "predictions"):
            if d[key] is None:
                d.pop(key)
        if self.predictions is not None:
            d["predictions"] = list(d["predictions"])
        return d


def _kind(value: Any) -> str:
    names = {dict: "um objeto", list: "uma lista", str: "um texto", bool: "um booleano", type(None): "null",
             int: "um número", float: "um número"}
    return names.get(type(value), type(value).__name__)


def _check_dotted(where: str, key: Any) -> None:
    section, _, field_name = key.partition(".") if isinstance(key, str) else ("", "", "")
    if section not in ("model", "train") or not field_name:
        raise ValueError(f"{where}: chave de variação inválida {key!r}; use 'model.CAMPO' ou 'train.CAMPO'.")


def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and x == x and abs(x) != float("inf")


def _check_axis(where: str, key: str, axis: Any) -> None:
    if not isinstance(axis, dict):
        raise ValueError(f"{where}: axes[{key!r}] deve ser um objeto {{\"factor\": 2.0}}; recebi {_kind(axis)}.")
    unknown = sorted(set(axis) - set(AXIS_FIELDS))
    if unknown:
        raise ValueError(f"{where}: axes[{key!r}] tem campos desconhecidos {unknown}; os válidos são "
                         f"{list(AXIS_FIELDS)}.")
    factor = axis.get("factor")
    if not (_is_number(factor) and factor > 1):
        raise ValueError(f"{where}: axes[{key!r}].factor deve ser um número > 1 (eixo em escala log); "
                         f"recebi {factor!r}.")
    step = axis.get("multiple_of")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 1):
        raise ValueError(f"{where}: axes[{key!r}].multiple_of deve ser um inteiro ≥ 1; recebi {step!r}.")
    for bound in ("min", "max"):
        if bound in axis and not (_is_number(axis[bound]) and axis[bound] > 0):
            raise ValueError(f"{where}: axes[{key!r}].{bound} deve ser um número > 0; recebi {axis[bound]!r}.")
    if "min" in axis and "max" in axis and axis["min"] > axis["max"]:
        raise ValueError(f"{where}: axes[{key!r}] tem min = {axis['min']!r} > max = {axis['max']!r}.")


def _check_ladder(where: str, ladder: Any, group: str) -> None:
    if not isinstance(ladder, dict) or set(ladder) != {"keys", "values"}:
        got = sorted(ladder) if isinstance(ladder, dict) else _kind(ladder)
        raise ValueError(f"{where}: 'ladder' deve ser um objeto com exatamente 'keys' e 'values'; recebi {got}.")
    keys, values = ladder["keys"], ladder["values"]
    if not isinstance(keys, list) or not keys or len(set(map(str, keys))) != len(keys):
        raise ValueError(f"{where}: ladder.keys deve ser uma lista não vazia de chaves distintas; recebi {keys!r:.80}.")
    for key in keys:
        _check_dotted(f"{where}: ladder.keys", key)
    if group in keys:
        raise ValueError(f"{where}: a chave do grupo {group!r} não pode estar em ladder.keys.")
    if not isinstance(values, list) or len(values) < 3:
        raise ValueError(f"{where}: ladder.values deve ser uma lista de 3 ou mais degraus; recebi {values!r:.80}.")
    for i, rung in enumerate(values):
        if not isinstance(rung, list) or len(rung) != len(keys) or not all(_is_number(v) for v in rung):
            raise ValueError(f"{where}: ladder.values[{i}] deve ser uma lista de {len(keys)} números (um por chave "
                             f"de ladder.keys); recebi {rung!r:.80}.")
    if len({tuple(r) for r in values}) != len(values):
        raise ValueError(f"{where}: ladder.values tem degraus repetidos.")


def _check_refine(refine: Any, source: str) -> None:
    """Valida o campo ``refine`` (ver a documentação do módulo)."""
    where = f"{source}: refine"
    if not isinstance(refine, dict):
        raise ValueError(f"{where} deve ser um objeto {{\"kind\": \"hyper\" | \"isoflop\", ...}}; recebi {_kind(refine)}.")
    kind = refine.get("kind")
    if kind not in REFINE_FIELDS:
        raise ValueError(f"{where}: 'kind' deve ser 'hyper' ou 'isoflop'; recebi {kind!r}.")
    unknown = sorted(set(refine) - REFINE_FIELDS[kind])
    if unknown:
        raise ValueError(f"{where}: campos desconhecidos {unknown} para kind = {kind!r}; os válidos são "
                         f"{sorted(REFINE_FIELDS[kind])}.")
    if "group" not in refine:
        raise ValueError(f"{where}: falta o campo obrigatório 'group' (ex.: 'train.budget_flops').")
    group = refine["group"]
    _check_dotted(f"{where}: group", group)
    quantity = refine.get("quantity", REFINE_DEFAULTS["quantity"])
    if not isinstance(quantity, str) or not quantity:
        raise ValueError(f"{where}: 'quantity' deve ser o nome de um campo do registro (ex.: 'final_val_bpb'); "
                         f"recebi {quantity!r}.")
    if kind == "hyper":
        axes = refine.get("axes")
        if not isinstance(axes, dict) or not 1 <= len(axes) <= 2:
            raise ValueError(f"{where}: 'axes' deve ser um objeto com 1 ou 2 eixos {{\"train.lr\": {{\"factor\": 2.0}}}}; "
                             f"recebi {axes!r:.80}.")
        for key, axis in axes.items():
            _check_dotted(f"{where}: axes", key)
            if key == group:
                raise ValueError(f"{where}: o eixo {key!r} é também a chave do grupo.")
            _check_axis(where, key, axis)
        tol = refine.get("tolerance", REFINE_DEFAULTS["tolerance"])
        if not (_is_number(tol) and 0 <= tol < 1):
            raise ValueError(f"{where}: 'tolerance' deve ser um número em [0, 1); recebi {tol!r}.")
        return
    if "ladder" not in refine:
        raise ValueError(f"{where}: falta o campo obrigatório 'ladder' ({{\"keys\": [...], \"values\": [[...], ...]}}).")
    _check_ladder(where, refine["ladder"], group)
    k = refine.get("min_each_side", REFINE_DEFAULTS["min_each_side"])
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{where}: 'min_each_side' deve ser um inteiro ≥ 1; recebi {k!r}.")
    scale = refine.get("scale", REFINE_DEFAULTS["scale"])
    if scale not in REFINE_SCALES:
        raise ValueError(f"{where}: 'scale' deve ser um de {list(REFINE_SCALES)}; recebi {scale!r}.")


def refine_settings(spec: "SweepSpec") -> dict:
    """O campo ``refine`` com os padrões preenchidos; ``ValueError`` se a especificação não o tem."""
    if spec.refine is None:
        raise ValueError(f"a especificação {spec.name!r} não tem o campo 'refine' (como estender a grade); "
                         "veja a documentação de helpers.engine.specs.")
    keys = REFINE_FIELDS[spec.refine["kind"]] - {"kind", "group", "axes", "ladder"}
    return {**{k: REFINE_DEFAULTS[k] for k in keys}, **copy.deepcopy(spec.refine)}


def _check_prediction(where: str, pred: Any) -> None:
    if not isinstance(pred, dict):
        raise ValueError(f"{where} deve ser um objeto com {list(PREDICTION_FIELDS)}; recebi {_kind(pred)}.")
    missing = [k for k in PREDICTION_FIELDS if k not in pred]
    unknown = sorted(set(pred) - set(PREDICTION_FIELDS))
    if missing or unknown:
        raise ValueError(f"{where}: {'faltam ' + str(missing) if missing else ''}"
                         f"{'; ' if missing and unknown else ''}{'campos desconhecidos ' + str(unknown) if unknown else ''}"
                         f"; os campos são exatamente {list(PREDICTION_FIELDS)}.")
    select = pred["select"]
    if select != "all":
        if not isinstance(select, dict) or not select:
            raise ValueError(f"{where}: 'select' deve ser \"all\" ou um objeto não vazio {{\"train.CAMPO\": valor}}; "
                             f"recebi {select!r:.80}.")
        for key, value in select.items():
            _check_dotted(f"{where}: select", key)
            if isinstance(value, (dict, list)):
                raise ValueError(f"{where}: select[{key!r}] deve ser um valor simples (número, texto); "
                                 f"recebi {_kind(value)}.")
    if not isinstance(pred["quantity"], str) or not pred["quantity"]:
        raise ValueError(f"{where}: 'quantity' deve ser o nome de um campo do registro (ex.: 'final_val_bpb'); "
                         f"recebi {pred['quantity']!r}.")
    value, interval, level = pred["value"], pred["interval"], pred["level"]
    if not _is_number(value):
        raise ValueError(f"{where}: 'value' deve ser um número finito; recebi {value!r}.")
    if not (isinstance(interval, list) and len(interval) == 2 and all(_is_number(v) for v in interval)
            and interval[0] <= value <= interval[1]):
        raise ValueError(f"{where}: 'interval' deve ser [lo, hi] com lo ≤ value ({value!r}) ≤ hi; "
                         f"recebi {interval!r:.80}.")
    if not (_is_number(level) and 0 < level < 1):
        raise ValueError(f"{where}: 'level' deve ser um número em (0, 1); recebi {level!r}.")
    if not isinstance(pred["method"], str) or not pred["method"].strip():
        raise ValueError(f"{where}: 'method' deve ser um texto não vazio (como a previsão foi feita).")
    inputs = pred["inputs"]
    if not isinstance(inputs, list):
        raise ValueError(f"{where}: 'inputs' deve ser uma lista de {{\"path\": ..., \"sha256\": ...}}; "
                         f"recebi {_kind(inputs)}.")
    for j, item in enumerate(inputs):
        sha = item.get("sha256") if isinstance(item, dict) else None
        if (not isinstance(item, dict) or set(item) != {"path", "sha256"} or not isinstance(item["path"], str)
                or not item["path"] or not isinstance(sha, str) or len(sha) != 64
                or any(c not in "0123456789abcdef" for c in sha)):
            raise ValueError(f"{where}: inputs[{j}] deve ser {{\"path\": texto, \"sha256\": 64 dígitos hexadecimais "
                             f"minúsculos}}; recebi {item!r:.80}.")


def _check_predictions(predictions: Any, source: str) -> None:
    """Valida o campo ``predictions`` (ver a documentação do módulo)."""
    if not isinstance(predictions, list):
        raise ValueError(f"{source}: 'predictions' deve ser uma lista de previsões; recebi {_kind(predictions)}.")
    seen: dict[str, int] = {}
    for i, pred in enumerate(predictions):
        _check_prediction(f"{source}: predictions[{i}]", pred)
        key = json.dumps([pred["select"], pred["quantity"]], sort_keys=True)
        if key in seen:
            raise ValueError(f"{source}: predictions[{i}] repete o 'select' e a 'quantity' de predictions[{seen[key]}] "
                             f"({key}); atualize a previsão em vez de repeti-la.")
        seen[key] = i


def format_spec(spec: dict) -> str:
    """O texto JSON de uma especificação, um treino e uma previsão por linha (diferenças legíveis no git)."""
    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def listing(key: str, items: list) -> list[str]:
        return [f' "{key}": ['] + ["  " + dump(x) + ("," if i < len(items) - 1 else "")
                                   for i, x in enumerate(items)] + [" ]"]

    blocks = []
    for key, value in spec.items():
        if key == "base" and isinstance(value, dict):
            inner = [f'  "{k}": {dump(v)}' for k, v in value.items()]
            blocks.append([' "base": {'] + [line + ("," if i < len(inner) - 1 else "") for i, line in enumerate(inner)]
                          + [" }"])
        elif key in ("runs", "predictions") and isinstance(value, list) and value:
            blocks.append(listing(key, value))
        else:
            blocks.append([f" {dump(key)}: {dump(value)}"])
    lines = ["{"]
    for i, block in enumerate(blocks):
        lines += block[:-1] + [block[-1] + ("," if i < len(blocks) - 1 else "")]
    return "\n".join(lines + ["}"]) + "\n"


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
    refine = raw.get("refine")
    if refine is not None:
        _check_refine(refine, source)
    predictions = raw.get("predictions")
    if predictions is not None:
        _check_predictions(predictions, source)
    return SweepSpec(
        name=raw["name"],
        description=raw.get("description", ""),
        base=base,
        grid=grid,
        runs=tuple(runs),
        mini=mini,
        mini_scale=mini_scale,
        mini_runs=tuple(mini_runs) if mini_runs is not None else None,
        refine=refine,
        predictions=tuple(predictions) if predictions is not None else None,
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
