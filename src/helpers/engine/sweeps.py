"""Varreduras declarativas e o arquivo de resultados que nunca perde trabalho.

Uma *especificação* (um JSON em ``experiments/``) descreve uma configuração base e
uma grade de variações; cada combinação é um treino. Cada treino terminado vira
**uma linha JSON** em ``results/NOME.jsonl``, identificada pelo ``run_id`` (hash da
configuração completa). Rodar a mesma varredura de novo pula o que já terminou;
uma varredura interrompida — até por ``kill -9`` — retoma sem perder, duplicar ou
truncar linhas (uma linha cortada ao meio é descartada e o treino refeito, a partir
do seu ponto de controle). ``--shard I/N`` divide a varredura entre máquinas.

Linha de comando::

    python -m helpers.engine.sweeps run experiments/NOME.json --out results/NOME.jsonl [--shard I/N] [--dry-run] [--mini]
    python -m helpers.engine.sweeps status experiments/NOME.json --out results/NOME.jsonl
"""

from __future__ import annotations

import argparse
import copy
import fcntl
import hashlib
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.config import ModelConfig, tiny
from .data import CorpusSpec, TokenizerSpec, prepare_data
from .trainer import RunResult, TrainConfig, flops_per_token, planned_steps, run_id, train

__all__ = [
    "SweepSpec",
    "PlannedRun",
    "load_spec",
    "build_model_config",
    "build_train_config",
    "expand",
    "load_results",
    "append_result",
    "run_sweep",
    "sweep_status",
    "experiment_results",
    "select_runs",
    "main",
]


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


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Lê uma especificação JSON, com erros claros para campos faltando ou a mais."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"especificação não encontrada: {str(p)!r}.")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: JSON inválido ({exc}).") from exc
    allowed = {"name", "description", "base", "grid", "runs", "mini", "mini_scale", "mini_runs"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{p}: campos desconhecidos {unknown}; os válidos são {sorted(allowed)}.")
    for key in ("name", "base"):
        if key not in raw:
            raise ValueError(f"{p}: falta o campo obrigatório {key!r}.")
    return SweepSpec(
        name=raw["name"],
        description=raw.get("description", ""),
        base=raw["base"],
        grid=raw.get("grid", {}),
        runs=tuple(raw.get("runs", [{}])),
        mini=raw.get("mini", {}),
        mini_scale=raw.get("mini_scale", {}),
        mini_runs=tuple(raw["mini_runs"]) if "mini_runs" in raw else None,
    )


def build_model_config(d: dict) -> ModelConfig:
    """``{"preset": "tiny", "num_hidden_layers": 3, ...}`` ou os campos de ``ModelConfig``."""
    d = dict(d)
    preset = d.pop("preset", None)
    if preset is None:
        return ModelConfig.from_dict(d)
    if preset != "tiny":
        raise ValueError(f"preset de modelo desconhecido {preset!r}; o único válido é 'tiny'.")
    return tiny(**d)


def build_train_config(d: dict) -> TrainConfig:
    d = dict(d)
    if "corpus" in d and isinstance(d["corpus"], dict):
        d["corpus"] = CorpusSpec.from_dict(d["corpus"])
    if "tokenizer" in d and isinstance(d["tokenizer"], dict):
        d["tokenizer"] = TokenizerSpec(**d["tokenizer"])
    return TrainConfig.from_dict(d)


def _set(tree: dict, dotted: str, value: Any) -> None:
    section, _, key = dotted.partition(".")
    if section not in ("model", "train") or not key:
        raise ValueError(f"chave de variação inválida {dotted!r}; use 'model.CAMPO' ou 'train.CAMPO'.")
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
                if not isinstance(current, (int, float)):
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
        built[idx] = (build_model_config(tree.get("model", {})), build_train_config(tree.get("train", {})), overrides)
        return built[idx]

    indices = range(len(combos))
    if mini and spec.mini_runs is not None:
        bad = [i for i in spec.mini_runs if not (isinstance(i, int) and 0 <= i < len(combos))]
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


def _parent_ids(planned: list[PlannedRun]) -> set[str]:
    """Os ``run_id`` dos treinos de que outros partem (``init_from``): seus pesos são guardados."""
    return {run_id(ModelConfig.from_dict(p.train.init_from["model"]), TrainConfig.from_dict(p.train.init_from["train"]))
            for p in planned if p.train.init_from is not None}


# --- o arquivo de resultados ----------------------------------------------------

def _repair(path: Path) -> int:
    """Corta uma última linha incompleta (queda no meio da escrita). Devolve os bytes cortados."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with open(path, "rb+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            data = fh.read()
            if data.endswith(b"\n"):
                return 0
            keep = data.rfind(b"\n") + 1
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
            return len(data) - keep
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_results(path: str | os.PathLike) -> list[dict]:
    """Lê um ``.jsonl`` de resultados, ignorando uma última linha incompleta."""
    p = Path(path)
    if not p.exists():
        return []
    records = []
    lines = p.read_bytes().split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # a última linha, sem "\n": uma escrita interrompida
                continue
            raise ValueError(f"{p}: a linha {i + 1} não é JSON válido e não é a última; o arquivo foi editado à mão?")
    return records


def append_result(path: str | os.PathLike, record: dict) -> None:
    """Acrescenta uma linha inteira, com trava de arquivo e ``fsync`` (seguro entre processos)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    with open(p, "ab") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _parse_shard(shard: str | None) -> tuple[int, int]:
    if shard is None:
        return 0, 1
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard deve ter a forma I/N (por exemplo 0/4); recebi {shard!r}.") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard I/N exige 0 ≤ I < N; recebi {shard!r}.")
    return i, n


def sweep_status(spec: SweepSpec, out: str | os.PathLike, *, mini: bool = False) -> dict:
    """Quantos treinos a varredura tem, quantos terminaram (e como) e quantos faltam."""
    planned = expand(spec, mini=mini)
    done = {r["run_id"]: r for r in load_results(out)}
    statuses: dict[str, int] = {}
    for p in planned:
        if p.run_id in done:
            s = done[p.run_id]["status"]
            statuses[s] = statuses.get(s, 0) + 1
    pending = [p for p in planned if p.run_id not in done]
    return {"total": len(planned), "finished": len(planned) - len(pending), "statuses": statuses,
            "pending": len(pending), "pending_flops": sum(p.flops for p in pending)}


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike,
    *,
    shard: str | None = None,
    dry_run: bool = False,
    mini: bool = False,
    checkpoint_every: int = 200,
    quiet: bool = False,
) -> list[dict]:
    """Roda os treinos que faltam (da fatia ``shard``) e devolve os registros novos."""
    out = Path(out)
    i, n = _parse_shard(shard)
    planned = [p for p in expand(spec, mini=mini) if p.index % n == i]
    cut = _repair(out)
    if cut and not quiet:
        print(f"aviso: {cut} bytes de uma linha incompleta foram descartados de {out}", file=sys.stderr)
    done = {r["run_id"] for r in load_results(out)}
    pending = [p for p in planned if p.run_id not in done]
    if dry_run:
        for p in planned:
            mark = "feito   " if p.run_id in done else "pendente"
            print(f"[{mark}] {p.run_id}  {json.dumps(p.overrides, ensure_ascii=False)}  ~{p.flops:.3g} FLOPs")
        return []
    new_records: list[dict] = []
    if not pending:
        return new_records
    from tqdm.auto import tqdm

    data_cache: dict[str, Any] = {}
    parents = _parent_ids(expand(spec, mini=mini))
    ckpt_dir = out.with_name(out.name + ".checkpoints")
    bar = tqdm(total=sum(p.flops for p in pending), unit="FLOP", unit_scale=True, disable=quiet,
               desc=f"{spec.name}: {len(pending)} treinos", smoothing=0.0)
    try:
        for k, p in enumerate(pending):
            key = json.dumps([p.train.corpus.to_dict(), p.train.tokenizer.__dict__], sort_keys=True)
            if key not in data_cache:
                data_cache[key] = prepare_data(p.train.corpus, p.train.tokenizer)
            bar.set_description(f"{spec.name} [{k + 1}/{len(pending)}] {p.run_id[:8]}")
            result: RunResult = train(
                p.model, p.train, data=data_cache[key], quiet=True,
                checkpoint_path=ckpt_dir / f"{p.run_id}.pt", checkpoint_every=checkpoint_every,
                keep_checkpoint=True, save_weights=p.run_id in parents,
            )
            record = {**result.to_dict(), "sweep": spec.name, "spec_hash": spec.spec_hash,
                      "overrides": p.overrides, "mini": mini,
                      "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            append_result(out, record)
            # Só depois de gravada a linha o ponto de controle deixa de ser necessário.
            (ckpt_dir / f"{p.run_id}.pt").unlink(missing_ok=True)
            new_records.append(record)
            bar.update(p.flops)
    finally:
        bar.close()
    try:
        ckpt_dir.rmdir()  # só some se estiver vazia
    except OSError:
        pass
    return new_records


ROOT = Path(__file__).resolve().parents[3]


def experiment_results(name: str, *, recompute: bool = False, quiet: bool = True) -> list[dict]:
    """Os resultados de ``experiments/NOME.json`` para um capítulo.

    Por padrão lê ``results/NOME.jsonl`` (os resultados versionados). Com
    ``recompute=True`` roda a versão **miniatura** da mesma varredura num arquivo
    temporário (segundos) — o mesmo código, orçamentos menores — e devolve esses
    registros. Para refazer a versão completa, use a linha de comando.
    """
    spec_path = ROOT / "experiments" / f"{name}.json"
    spec = load_spec(spec_path)
    if recompute:
        import tempfile

        out = Path(tempfile.mkdtemp(prefix=f"{name}-")) / f"{name}.jsonl"
        run_sweep(spec, out, mini=True, quiet=quiet)
        return load_results(out)
    out = ROOT / "results" / f"{name}.jsonl"
    if not out.exists():
        raise ValueError(
            f"{out} não existe; gere-o com: python -m helpers.engine.sweeps run {spec_path.relative_to(ROOT)} "
            f"--out {out.relative_to(ROOT)} (ou use recompute=True para a versão miniatura)."
        )
    return load_results(out)


def select_runs(records: list[dict], **criteria) -> list[dict]:
    """Os registros cujos campos batem: ``select_runs(rs, schedule="cosine", seed=1)``.

    Cada critério é procurado em ``train`` e depois em ``model``; um valor que é um
    dicionário (como ``tokenizer``) é comparado campo a campo.
    """
    def matches(r: dict) -> bool:
        for key, want in criteria.items():
            section = r["train"] if key in r["train"] else r["model"] if key in r["model"] else None
            if section is None:
                raise ValueError(f"campo {key!r} não existe em train nem em model.")
            have = section[key]
            if isinstance(want, dict):
                if any(have.get(k) != v for k, v in want.items()):
                    return False
            elif have != want:
                return False
        return True

    return [r for r in records if matches(r)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.engine.sweeps", description="Varreduras retomáveis de treinos.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "roda os treinos que faltam"), ("status", "mostra o andamento")):
        p = sub.add_parser(name, help=text)
        p.add_argument("spec", help="arquivo JSON da varredura (em experiments/)")
        p.add_argument("--out", required=True, help="arquivo .jsonl de resultados")
        p.add_argument("--mini", action="store_true", help="versão miniatura (segundos, para testes)")
        if name == "run":
            p.add_argument("--shard", default=None, help="fatia I/N desta máquina (ex.: 0/4)")
            p.add_argument("--dry-run", action="store_true", help="só lista os treinos e o que falta")
            p.add_argument("--checkpoint-every", type=int, default=200, help="passos entre pontos de controle")
            p.add_argument("--quiet", action="store_true", help="sem barra de progresso")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        if args.command == "status":
            st = sweep_status(spec, args.out, mini=args.mini)
            print(json.dumps(st, ensure_ascii=False, indent=1))
            return 0
        records = run_sweep(spec, args.out, shard=args.shard, dry_run=args.dry_run, mini=args.mini,
                            checkpoint_every=args.checkpoint_every, quiet=args.quiet)
    except ValueError as exc:
        print(f"erro: {exc}", file=sys.stderr)
        return 2
    if not args.dry_run:
        st = sweep_status(spec, args.out, mini=args.mini)
        print(f"{len(records)} treinos novos; {st['finished']}/{st['total']} terminados em {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
