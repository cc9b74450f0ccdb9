"""Vazão de uma varredura IsoFLOP pequena: 1 *worker*, N *workers* e o código de um *commit* antigo.

Mede o que o leitor sente ao rodar ``python -m helpers.engine.sweeps run ...``: o tempo de
parede do comando inteiro (importar o PyTorch, tokenizar do cache, treinar, gravar), numa
varredura IsoFLOP fixa — modelos minúsculos de d = 16 a 48, dois orçamentos —, em três
configurações, na mesma execução:

1. o código de ``--old`` (padrão: 67ae944) rodado como o README daquele *commit* manda: um
   processo, ``python -m helpers.sweeps run ...`` de uma cópia ``git worktree`` com
   ``PYTHONPATH=<cópia>/src`` (o número de *threads* é o padrão do PyTorch);
2. o código atual com ``--workers 1`` (um processo de uma *thread*);
3. o código atual com ``--workers N`` (padrão: um por núcleo).

Imprime os tempos e as razões e grava um JSON com os metadados da máquina. Não é um teste:
as figuras dependem da máquina e da carga dela (a carga média é registrada no começo e no fim).

Uso::

    python benchmarks/varredura.py                       # ~2–4 min numa máquina de 2 núcleos
    python benchmarks/varredura.py --scale 0.3 --skip-old   # rápido, só o código atual
    python benchmarks/varredura.py --scale 3 --repeats 3    # mais longo, medianas de 3 rodadas
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from comum import cpu_name  # o mesmo nome de processador dos outros benchmarks

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# (camadas, largura): a escada de tamanhos dos perfis IsoFLOP, de d = 16 a d = 48
SIZES = [(1, 16), (1, 32), (2, 32), (2, 48), (3, 48)]
BUDGETS = [1e10, 3e10]  # FLOPs na convenção M do DeepSeek


def build_spec(scale: float, device: str) -> dict:
    """A varredura do benchmark: 5 tamanhos × 2 orçamentos = 10 treinos (o formato de 67ae944 também)."""
    train = {"budget_flops": BUDGETS[0] * scale, "flops_convention": "M", "seq_len": 64, "batch_size_tokens": 512,
             "lr": 3e-3, "warmup_fraction": 0.05, "schedule": "multistep", "eval_points": 5, "eval_tokens": 16384,
             "seed": 0}
    if device != "auto":
        train["device"] = device
    return {
        "name": "bench_varredura",
        "description": "benchmark de vazão: IsoFLOP pequeno, d = 16–48, dois orçamentos (benchmarks/varredura.py)",
        "base": {"model": {"preset": "tiny", "num_hidden_layers": 1, "hidden_size": 16}, "train": train},
        "runs": [{"train.budget_flops": b * scale, "model.num_hidden_layers": n, "model.hidden_size": d}
                 for b in BUDGETS for n, d in SIZES],
    }


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True).stdout.strip()


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def prepare_old(commit: str, where: Path) -> Path:
    """Uma cópia do código de ``commit`` (``git worktree add``); devolve a pasta."""
    if not (where / "src" / "helpers").exists():
        if where.exists():
            shutil.rmtree(where)
        done = subprocess.run(["git", "worktree", "add", "--detach", str(where), commit], cwd=ROOT,
                              capture_output=True, text=True)
        if done.returncode != 0:  # sem permissão de mexer em .git: a mesma árvore, por git archive
            where.mkdir(parents=True)
            archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def _env(pythonpath: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pythonpath)
    return env


def run_config(label: str, cmd: list[str], env: dict, cwd: Path, out: Path, n_runs: int) -> dict:
    """Roda uma varredura do zero e mede o tempo de parede do comando inteiro."""
    if out.exists():
        out.unlink()
    t0 = time.perf_counter()
    done = subprocess.run(cmd + ["--out", str(out), "--quiet"], env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"erro: a configuração {label!r} falhou (código {done.returncode}): "
                         f"{' '.join(done.stderr.split())[-500:]}")
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    if len(records) != n_runs:
        raise SystemExit(f"erro: a configuração {label!r} gravou {len(records)} treinos; esperava {n_runs}.")
    return {"wall_s": wall, "records": records}


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def main(argv: list[str] | None = None) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser = argparse.ArgumentParser(description="Vazão de varreduras: 1 e N workers contra um commit antigo.")
    parser.add_argument("--workers", type=int, default=cores, help=f"N (padrão: um por núcleo, aqui {cores})")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplica os orçamentos (e o tempo)")
    parser.add_argument("--repeats", type=int, default=1, help="rodadas intercaladas (a mediana é relatada)")
    parser.add_argument("--old", default="67ae944", help="o commit de comparação (padrão: 67ae944)")
    parser.add_argument("--old-path", default=None, help="onde pôr a cópia do commit antigo (padrão: temporária)")
    parser.add_argument("--skip-old", action="store_true", help="não mede o commit antigo")
    parser.add_argument("--device", default="cpu", help="cpu (padrão), cuda ou auto")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_varredura_cpu.json"),
                        help="o JSON de resultados (padrão: results/bench_varredura_cpu.json)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.repeats < 1 or not args.scale > 0:
        parser.error("--workers e --repeats devem ser ≥ 1 e --scale > 0")

    sys.path.insert(0, str(SRC))
    from helpers.engine.data import CorpusSpec, TokenizerSpec, prepare_data
    from helpers.engine.specs import expand, parse_spec

    import torch

    spec = build_spec(args.scale, args.device)
    planned = expand(parse_spec(spec))
    n_runs = len(planned)
    work = Path(tempfile.mkdtemp(prefix="bench-varredura-"))
    spec_path = work / "bench_varredura.json"
    spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    print(f"varredura: {n_runs} treinos ({len(SIZES)} tamanhos, d = 16–48 × orçamentos "
          f"{', '.join(f'{b * args.scale:.2g}' for b in BUDGETS)} FLOPs), ~{sum(p.flops for p in planned):.3g} FLOPs "
          f"medidos; {cores} núcleos; carga média {_load()}")
    prepare_data(CorpusSpec(), TokenizerSpec())  # o cache de tokens quente para todas as configurações

    python = sys.executable
    configs = []
    old_dir = None
    if not args.skip_old:
        old_dir = prepare_old(args.old, Path(args.old_path) if args.old_path else work / "antigo")
        check = subprocess.run([python, "-c", "import helpers; print(helpers.__file__)"], env=_env(old_dir / "src"),
                               cwd=old_dir, capture_output=True, text=True)
        if not check.stdout.strip().startswith(str(old_dir)):
            raise SystemExit(f"erro: PYTHONPATH não pegou o código antigo (helpers veio de {check.stdout.strip()!r}).")
        configs.append((f"{args.old} (1 processo, threads padrão)", "antigo",
                        [python, "-m", "helpers.sweeps", "run", str(spec_path)], _env(old_dir / "src"), old_dir))
    new_cmd = [python, "-m", "helpers.engine.sweeps", "run", str(spec_path)]
    configs.append(("atual, --workers 1", "atual_1", new_cmd + ["--workers", "1"], _env(SRC), ROOT))
    if args.workers > 1:
        configs.append((f"atual, --workers {args.workers}", "atual_n", new_cmd + ["--workers", str(args.workers)],
                        _env(SRC), ROOT))

    load_start = _load()
    walls: dict[str, list[float]] = {key: [] for _, key, *_ in configs}
    last: dict[str, list[dict]] = {}
    for r in range(args.repeats):
        order = configs if r % 2 == 0 else configs[::-1]  # intercaladas, alternando a ordem
        for label, key, cmd, env, cwd in order:
            res = run_config(label, cmd, env, cwd, work / f"{key}.jsonl", n_runs)
            walls[key].append(res["wall_s"])
            last[key] = res["records"]
            print(f"  rodada {r + 1}: {label:<42} {_fmt(res['wall_s'])} s")
    load_end = _load()

    results = []
    med = {key: statistics.median(v) for key, v in walls.items()}
    for label, key, cmd, *_ in configs:
        recs = last[key]
        train_s = sum(x["wall_time_s"] for x in recs)
        tok = sum(x["tokens"] for x in recs)
        results.append({"config": label, "key": key, "command": " ".join(Path(c).name if i == 0 else c
                                                                          for i, c in enumerate(cmd)),
                        "wall_s": walls[key], "wall_s_median": med[key], "runs_per_hour": n_runs * 3600 / med[key],
                        "tokens": tok, "train_time_s_sum": train_s, "tokens_per_s_per_run": tok / train_s,
                        "threads": sorted({x.get("threads") for x in recs}, key=str)})
    ratios = {}
    if "atual_n" in med:
        ratios["atual_n_sobre_atual_1"] = med["atual_1"] / med["atual_n"]
    if "antigo" in med:
        ratios["atual_1_sobre_antigo"] = med["antigo"] / med["atual_1"]
        if "atual_n" in med:
            ratios["atual_n_sobre_antigo"] = med["antigo"] / med["atual_n"]
    # Razões rodada a rodada (as configurações rodam intercaladas): resistem melhor à deriva da
    # máquina que a razão das medianas; a mediana delas é o número a citar, com o intervalo.
    pairs = {"atual_n_sobre_atual_1": ("atual_1", "atual_n"), "atual_1_sobre_antigo": ("antigo", "atual_1"),
             "atual_n_sobre_antigo": ("antigo", "atual_n")}
    paired = {}
    for name, (slow, fast) in pairs.items():
        if slow in walls and fast in walls:
            per_round = [a / b for a, b in zip(walls[slow], walls[fast])]
            paired[name] = {"median": statistics.median(per_round), "min": min(per_round), "max": max(per_round),
                            "per_round": per_round}
    identical = None
    if "atual_n" in last:
        a = {x["run_id"]: (x["final_val_loss"], x["trace"]) for x in last["atual_1"]}
        b = {x["run_id"]: (x["final_val_loss"], x["trace"]) for x in last["atual_n"]}
        identical = a == b

    print()
    print(f"{'configuração':<42} {'parede (s)':>11} {'treinos/h':>10}")
    for res in results:
        print(f"{res['config']:<42} {_fmt(res['wall_s_median']):>11} {_fmt(res['runs_per_hour'], 0):>10}")
    names = {"atual_n_sobre_atual_1": f"{args.workers} workers / 1 worker",
             "atual_1_sobre_antigo": f"1 worker / {args.old}", "atual_n_sobre_antigo": f"{args.workers} workers / {args.old}"}
    for k, v in ratios.items():
        p = paired[k]
        print(f"  {names[k]}: {_fmt(v, 2)}× mais rápido (razão das medianas); rodada a rodada, mediana "
              f"{_fmt(p['median'], 2)}× ({_fmt(p['min'], 2)}–{_fmt(p['max'], 2)}×)")
    if identical is not None:
        print(f"  números de cada treino idênticos com 1 e {args.workers} workers: {'sim' if identical else 'NÃO'}")

    meta = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": platform.machine(), "cpu": cpu_name(), "platform": platform.platform(),
        "cores": cores, "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
        "commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain", "--", "src", "benchmarks")),
        "old_commit": _git("rev-parse", args.old) if not args.skip_old else None,
        "load_average_start": load_start, "load_average_end": load_end,
        "args": vars(args), "device": args.device,
    }
    report = {"benchmark": "varredura", "meta": meta, "spec": spec, "runs": n_runs,
              "planned_flops_measured": sum(p.flops for p in planned), "results": results, "ratios": ratios,
              "ratios_paired": paired,
              "identical_1_vs_n": identical}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"gravado em {out}")
    if old_dir is not None and not args.old_path:
        subprocess.run(["git", "worktree", "remove", "--force", str(old_dir)], cwd=ROOT, capture_output=True)
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
