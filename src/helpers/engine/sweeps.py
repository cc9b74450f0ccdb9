"""Varreduras declarativas: rodar, retomar e acompanhar; a linha de comando.

Uma *especificação* (um JSON em ``experiments/``, ver :mod:`helpers.engine.specs`) descreve
uma configuração base e uma grade de variações; cada combinação é um treino. Cada treino
terminado vira **uma linha JSON** em ``results/NOME.jsonl``, identificada pelo ``run_id``
(hash da configuração completa; ver :mod:`helpers.engine.results_store`). Rodar a mesma
varredura de novo pula o que já terminou; uma varredura interrompida — até por ``kill -9``,
do processo principal ou de qualquer *worker* — retoma sem perder, duplicar ou truncar
linhas (uma linha cortada ao meio é descartada e o treino refeito, a partir do seu ponto de
controle em ``results/NOME.jsonl.checkpoints/``).

``--workers N`` (padrão: um por núcleo) treina em ``N`` processos de uma *thread* que dividem
o arquivo (ver :mod:`helpers.engine.workers`); os números de cada treino não dependem de
``N``. ``--shard I/N`` divide a varredura entre máquinas (e se combina com ``--workers``).

Linha de comando::

    python -m helpers.engine.sweeps run experiments/NOME.json --out results/NOME.jsonl [--workers N] [--shard I/N] [--dry-run] [--mini]
    python -m helpers.engine.sweeps status experiments/NOME.json --out results/NOME.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from .data import prepare_data
from .results_store import append_result, clean_stale_temporaries, finished_ids, load_results, repair
from .specs import (PlannedRun, SweepSpec, build_model_config, build_train_config, expand, load_spec, parent_ids,
                    parse_spec)
from .workers import THREADS, data_handle, data_key, default_workers, run_in_process, run_pool

__all__ = [
    "SweepSpec",
    "PlannedRun",
    "load_spec",
    "parse_spec",
    "build_model_config",
    "build_train_config",
    "expand",
    "load_results",
    "append_result",
    "run_sweep",
    "sweep_status",
    "experiment_results",
    "select_runs",
    "default_workers",
    "THREADS",
    "main",
]


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


def _check_positive(name: str, value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} deve ser um inteiro ≥ 1 ({what}); recebi {value!r}.")
    return value


def _check_out(out: str | os.PathLike) -> Path:
    p = Path(out)
    if p.is_dir():
        raise ValueError(f"--out deve ser um arquivo .jsonl, não uma pasta; recebi {str(p)!r}.")
    if p.parent.exists() and not p.parent.is_dir():
        raise ValueError(f"--out: {str(p.parent)!r} não é uma pasta.")
    return p


def sweep_status(spec: SweepSpec, out: str | os.PathLike, *, mini: bool = False) -> dict:
    """Quantos treinos a varredura tem, quantos terminaram (e como) e quantos faltam."""
    planned = expand(spec, mini=mini)
    done = {r["run_id"]: r for r in load_results(_check_out(out))}
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
    workers: int = 1,
) -> list[dict]:
    """Roda os treinos que faltam (da fatia ``shard``) e devolve os registros novos.

    ``workers=1`` treina neste processo; ``workers > 1``, em tantos processos filhos (no máximo
    um por treino pendente). Em ambos os casos cada treino usa :data:`THREADS` *thread*, e os
    números saem idênticos.
    """
    out = _check_out(out)
    _check_positive("checkpoint_every", checkpoint_every, "passos entre pontos de controle")
    _check_positive("workers", workers, "processos")
    i, n = _parse_shard(shard)
    everything = expand(spec, mini=mini)
    planned = [p for p in everything if p.index % n == i]
    cut = repair(out)
    if cut and not quiet:
        print(f"aviso: {cut} bytes de uma linha incompleta foram descartados de {out}", file=sys.stderr)
    done = finished_ids(out)
    pending = [p for p in planned if p.run_id not in done]
    if dry_run:
        for p in planned:
            mark = "feito   " if p.run_id in done else "pendente"
            print(f"[{mark}] {p.run_id}  {json.dumps(p.overrides, ensure_ascii=False)}  ~{p.flops:.3g} FLOPs")
        return []
    if not pending:
        _tidy_checkpoints(out)
        return []
    data_cache: dict[str, Any] = {}

    def prepare(p: PlannedRun):
        key = data_key(p)
        if key not in data_cache:
            data_cache[key] = prepare_data(p.train.corpus, p.train.tokenizer)
        return data_cache[key]

    parents = parent_ids(everything)
    if workers == 1:
        new_records = run_in_process(spec, pending, out, mini=mini, checkpoint_every=checkpoint_every,
                                     parents=parents, quiet=quiet, prepare=prepare)
    else:
        # Lê e tokeniza cada corpus uma vez, aqui; os workers só abrem os arquivos do cache.
        # (enquanto os workers, já lançados, importam o PyTorch).
        def handles() -> dict:
            found = {data_key(p): data_handle(prepare(p)) for p in pending}
            data_cache.clear()
            return found

        new_records = run_pool(spec, pending, out, workers=workers, mini=mini, checkpoint_every=checkpoint_every,
                               parents=parents, quiet=quiet, data=handles)
    _tidy_checkpoints(out)
    return new_records


def _tidy_checkpoints(out: Path) -> None:
    """Apaga os pontos de controle de treinos que já têm linha gravada e a pasta, se ficar vazia.

    Um processo derrubado entre gravar a linha e apagar o ponto de controle deixa o ``.pt`` para trás;
    o treino não volta à fila, então é aqui que ele some (com os temporários de processos mortos).
    """
    ckpt_dir = out.with_name(out.name + ".checkpoints")
    if not ckpt_dir.is_dir():
        return
    for rid in finished_ids(out):
        (ckpt_dir / f"{rid}.pt").unlink(missing_ok=True)
    clean_stale_temporaries(ckpt_dir)
    try:
        ckpt_dir.rmdir()  # só some se estiver vazia
    except OSError:
        pass


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


class _Parser(argparse.ArgumentParser):
    """Erros de uso numa linha só, em português, e código de saída 2."""

    TRANSLATIONS = (("the following arguments are required", "faltam os argumentos obrigatórios"),
                    ("unrecognized arguments", "argumentos desconhecidos"),
                    ("invalid choice", "opção inválida"),
                    ("expected one argument", "falta o valor"),
                    ("argument ", "argumento "),
                    ("choose from", "escolha entre"))

    def error(self, message: str):
        message = re.sub(r"^argument (\S+): (?=\1 )", "", message)  # "argument --x: --x deve ser..." -> "--x deve..."
        for en, pt in self.TRANSLATIONS:
            message = message.replace(en, pt)
        self.exit(2, f"erro: {' '.join(message.split())} (veja {self.prog} --help)\n")


def _positive_int(name: str, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < 1:
            raise argparse.ArgumentTypeError(f"{name} deve ser um inteiro ≥ 1 ({what}); recebi {text!r}")
        return value

    parse.__name__ = name
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m helpers.engine.sweeps", description="Varreduras retomáveis de treinos.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, text in (("run", "roda os treinos que faltam"), ("status", "mostra o andamento")):
        p = sub.add_parser(name, help=text)
        p.add_argument("spec", help="arquivo JSON da varredura (em experiments/)")
        p.add_argument("--out", required=True, help="arquivo .jsonl de resultados")
        p.add_argument("--mini", action="store_true", help="versão miniatura (segundos, para testes)")
        if name == "run":
            p.add_argument("--workers", type=_positive_int("--workers", "processos"), default=default_workers(),
                           help=f"processos de {THREADS} thread (padrão: um por núcleo, aqui {default_workers()})")
            p.add_argument("--shard", default=None, help="fatia I/N desta máquina (ex.: 0/4)")
            p.add_argument("--dry-run", action="store_true", help="só lista os treinos e o que falta")
            p.add_argument("--checkpoint-every", type=_positive_int("--checkpoint-every", "passos"), default=200,
                           help="passos entre pontos de controle")
            p.add_argument("--quiet", action="store_true", help="sem barra de progresso")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # erro de uso (já impresso numa linha) ou --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        _check_out(args.out)
        spec = load_spec(args.spec)
        if args.command == "status":
            st = sweep_status(spec, args.out, mini=args.mini)
            print(json.dumps(st, ensure_ascii=False, indent=1))
            return 0
        records = run_sweep(spec, args.out, shard=args.shard, dry_run=args.dry_run, mini=args.mini,
                            checkpoint_every=args.checkpoint_every, quiet=args.quiet, workers=args.workers)
        if not args.dry_run:
            st = sweep_status(spec, args.out, mini=args.mini)
            print(f"{len(records)} treinos novos; {st['finished']}/{st['total']} terminados em {args.out}")
    except ValueError as exc:
        print(f"erro: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrompido; rode o mesmo comando de novo para retomar de onde parou.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
