"""Varreduras: expansão, registro de resultados, retomada após kill -9, fatias e as especificações do livro."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.engine import sweeps

ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path, tiny_corpus, grid=None, runs=None, name="teste"):
    spec = {
        "name": name,
        "description": "varredura de teste",
        "base": {
            "model": {"preset": "tiny", "num_hidden_layers": 1},
            "train": {"steps": 6, "seq_len": 16, "batch_size_tokens": 128, "eval_points": 2, "eval_tokens": 256,
                      "warmup_steps": 1, "corpus": {"kind": "folder", "path": str(tiny_corpus),
                                                    "suffixes": [".txt"], "validation_fraction": 0.2}},
        },
        "grid": grid if grid is not None else {"train.lr": [1e-3, 3e-3, 1e-2]},
        "runs": runs or [{}],
        "mini": {"train.steps": 3},
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_expand_grid_runs_and_deduplication(tmp_path, tiny_corpus):
    spec = sweeps.load_spec(_spec(tmp_path, tiny_corpus, runs=[{}, {"train.seed": 1}, {}]))
    planned = sweeps.expand(spec)
    assert len(planned) == 6  # 3 taxas × 2 sementes; a variação vazia repetida não duplica
    assert len({p.run_id for p in planned}) == 6
    assert [p.index for p in planned] == list(range(6))
    assert sweeps.expand(spec)[3].run_id == planned[3].run_id  # estável


def test_bad_specs(tmp_path, tiny_corpus):
    with pytest.raises(ValueError, match="especificação não encontrada"):
        sweeps.load_spec(tmp_path / "nada.json")
    bad = tmp_path / "ruim.json"
    bad.write_text(json.dumps({"name": "x", "base": {}, "grade": {}}))
    with pytest.raises(ValueError, match="campos desconhecidos \\['grade'\\]"):
        sweeps.load_spec(bad)
    with pytest.raises(ValueError, match="chave de variação inválida 'lr'"):
        sweeps.load_spec(_spec(tmp_path, tiny_corpus, grid={"lr": [1]}))


def test_run_records_every_run_once_and_skips_finished(tmp_path, tiny_corpus):
    spec = sweeps.load_spec(_spec(tmp_path, tiny_corpus))
    out = tmp_path / "r.jsonl"
    new = sweeps.run_sweep(spec, out, quiet=True)
    assert len(new) == 3
    again = sweeps.run_sweep(spec, out, quiet=True)
    assert again == []
    records = sweeps.load_results(out)
    assert sorted(r["run_id"] for r in records) == sorted(p.run_id for p in sweeps.expand(spec))
    for r in records:
        assert r["status"] == "ok" and r["sweep"] == "teste" and "versions" in r and r["train"]["lr"] in (1e-3, 3e-3, 1e-2)
    assert not (tmp_path / "r.jsonl.checkpoints").exists()
    st = sweeps.sweep_status(spec, out)
    assert st["finished"] == 3 and st["pending"] == 0 and st["statuses"] == {"ok": 3}


def test_diverged_runs_are_recorded_and_not_retried(tmp_path, tiny_corpus):
    path = _spec(tmp_path, tiny_corpus, grid={"train.lr": [3e-3, 80.0]})
    raw = json.loads(path.read_text())
    raw["base"]["train"].update({"steps": 40, "grad_clip": 1e6, "warmup_steps": 0})
    path.write_text(json.dumps(raw))
    spec = sweeps.load_spec(path)
    out = tmp_path / "d.jsonl"
    sweeps.run_sweep(spec, out, quiet=True)
    statuses = sorted(r["status"] for r in sweeps.load_results(out))
    assert statuses == ["diverged", "ok"]
    assert sweeps.run_sweep(spec, out, quiet=True) == []


def test_torn_last_line_is_repaired(tmp_path, tiny_corpus):
    spec = sweeps.load_spec(_spec(tmp_path, tiny_corpus))
    out = tmp_path / "r.jsonl"
    sweeps.run_sweep(spec, out, quiet=True, shard="0/3")
    with open(out, "ab") as fh:
        fh.write(b'{"run_id": "meia-linha", "status": "o')  # uma escrita cortada ao meio
    assert len(sweeps.load_results(out)) == 1  # a leitura ignora a linha incompleta
    sweeps.run_sweep(spec, out, quiet=True)
    text = out.read_text()
    assert text.endswith("\n") and "meia-linha" not in text
    assert len(sweeps.load_results(out)) == 3


def test_shards_split_the_sweep_without_overlap(tmp_path, tiny_corpus):
    spec = sweeps.load_spec(_spec(tmp_path, tiny_corpus))
    out = tmp_path / "r.jsonl"
    a = sweeps.run_sweep(spec, out, quiet=True, shard="0/2")
    b = sweeps.run_sweep(spec, out, quiet=True, shard="1/2")
    assert len(a) + len(b) == 3 and not {r["run_id"] for r in a} & {r["run_id"] for r in b}
    with pytest.raises(ValueError, match="--shard I/N exige"):
        sweeps.run_sweep(spec, out, quiet=True, shard="2/2")


def test_cli_dry_run_status_and_errors(tmp_path, tiny_corpus):
    path = _spec(tmp_path, tiny_corpus)
    out = tmp_path / "c.jsonl"
    run = [sys.executable, "-m", "helpers.engine.sweeps"]
    dry = subprocess.run(run + ["run", str(path), "--out", str(out), "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0 and dry.stdout.count("[pendente]") == 3 and not out.exists()
    bad = subprocess.run(run + ["run", str(path), "--out", str(out), "--shard", "a/b"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--shard deve ter a forma I/N" in bad.stderr
    st = subprocess.run(run + ["status", str(path), "--out", str(out)], capture_output=True, text=True)
    assert json.loads(st.stdout)["pending"] == 3


@pytest.mark.parametrize("spec_path", sorted((ROOT / "experiments").glob("*.json")), ids=lambda p: p.stem)
def test_book_specs_run_in_miniature(spec_path, tmp_path, monkeypatch):
    """O caminho que os notebooks usam para recalcular: cada especificação do livro roda em miniatura.

    As que um notebook recalcula no modo RECALCULAR já rodam (e são conferidas) em
    ``test_recalcular``; aqui roda o resto, para não treinar a mesma miniatura duas vezes.
    """
    from test_recalcular import RECOMPUTED_SPECS

    spec = sweeps.load_spec(spec_path)
    assert spec.description and spec.mini
    if spec_path.stem in RECOMPUTED_SPECS:
        pytest.skip("roda em miniatura dentro do notebook, em test_recalcular")
    monkeypatch.delenv("LEIS_DE_ESCALA_CACHE")  # o corpus padrão usa o cache do usuário (persistente)
    records = sweeps.run_sweep(spec, tmp_path / "mini.jsonl", mini=True, quiet=True)
    assert records and all(r["status"] in ("ok", "diverged") for r in records)
    assert all(r["mini"] for r in records)


@pytest.mark.parametrize("spec_path", sorted((ROOT / "experiments").glob("*.json")), ids=lambda p: p.stem)
def test_committed_results_match_their_spec(spec_path):
    """Cada resultado versionado veio da especificação atual: mesmo conjunto de run_ids, nada a mais."""
    out = ROOT / "results" / f"{spec_path.stem}.jsonl"
    if not out.exists():
        pytest.skip(f"{out.name} ainda não foi gerado")
    spec = sweeps.load_spec(spec_path)
    planned = {p.run_id for p in sweeps.expand(spec)}
    records = sweeps.load_results(out)
    ids = [r["run_id"] for r in records]
    assert len(ids) == len(set(ids)), "linhas duplicadas"
    assert set(ids) == planned, "resultados e especificação divergem (rode make experiments)"
    # (O spec_hash de cada linha é o da especificação quando o treino rodou; uma especificação
    # pode crescer — treinos novos ao fim — sem invalidar os terminados, porque o run_id já é o
    # hash da configuração completa de cada treino.)
    assert all(not r["mini"] and r["sweep"] == spec.name for r in records)
    # Gerados por código versionado: o commit registrado reproduz cada treino. Numa cópia sem git
    # (a máquina de GPU), dirty fica None e a prova é a impressão digital do código: tem de ser a
    # dos arquivos de helpers naquele commit.
    assert all(r["versions"]["commit"] for r in records)
    dirty = [r for r in records if r["versions"]["dirty"]]
    if dirty:
        # Rodados com mudanças não versionadas na árvore (capítulo 10 v2: a análise era escrita enquanto a
        # varredura treinava): o commit sozinho não prova a origem. A prova é refazer, com o código versionado,
        # o treino mais barato deles e obter os mesmos bits (na CPU o treino é determinístico).
        from helpers.engine.trainer import train

        plan = {p.run_id: p for p in sweeps.expand(spec)}
        cheapest = min(dirty, key=lambda r: r["wall_time_s"])
        again = train(plan[cheapest["run_id"]].model, plan[cheapest["run_id"]].train, quiet=True)
        assert again.final_val_bpb == cheapest["final_val_bpb"], "o código versionado não reproduz o treino"
        assert [t["val_bpb"] for t in again.trace] == [t["val_bpb"] for t in cheapest["trace"]]
    clean = [r for r in records if not r["versions"]["dirty"]]
    for commit in {r["versions"]["commit"] for r in clean if r["versions"]["dirty"] is None}:
        expected = _code_sha256_at(commit)
        if expected is None:
            pytest.skip(f"o commit {commit[:8]} não está neste clone (clone raso?)")
        assert {r["versions"]["code_sha256"] for r in clean if r["versions"]["commit"] == commit} == {expected}
    assert all(r["status"] in ("ok", "diverged") for r in records)


def _code_sha256_at(commit: str) -> str | None:
    """A impressão digital de helpers (a mesma de helpers.engine.trainer) calculada no commit dado."""
    import hashlib

    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, "src/helpers/"], cwd=ROOT,
                             capture_output=True, text=True)
    if listing.returncode != 0:
        return None
    digest = hashlib.sha256()
    rel = {p: p.removeprefix("src/helpers/") for p in listing.stdout.split() if p.endswith(".py")}
    for path in sorted(rel, key=rel.get):
        blob = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, check=True).stdout
        digest.update(rel[path].encode() + b"\0" + blob)
    return digest.hexdigest()[:16]


def test_mini_scale_and_mini_runs_keep_the_structure(tmp_path):
    spec_path = tmp_path / "s.json"
    spec_path.write_text(json.dumps({
        "name": "s", "base": {"model": {"preset": "tiny", "num_hidden_layers": 1},
                              "train": {"budget_flops": 1e9, "seq_len": 32, "batch_size_tokens": 64}},
        "runs": [{"train.budget_flops": 1e9}, {"train.budget_flops": 4e9}, {"train.budget_flops": 1.6e10}],
        "mini": {"train.eval_tokens": 256}, "mini_scale": {"train.budget_flops": 0.5}, "mini_runs": [0, 2],
    }))
    spec = sweeps.load_spec(spec_path)
    full = sweeps.expand(spec)
    mini = sweeps.expand(spec, mini=True)
    assert [p.train.budget_flops for p in full] == [1e9, 4e9, 1.6e10]
    assert [p.train.budget_flops for p in mini] == [5e8, 8e9]
    assert all(p.train.eval_tokens == 256 for p in mini)
    bad = json.loads(spec_path.read_text())
    bad["mini_runs"] = [0, 7]
    spec_path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="mini_runs tem índices fora"):
        sweeps.expand(sweeps.load_spec(spec_path), mini=True)


def test_init_from_by_index_resolves_to_the_parent_config(tmp_path, tiny_corpus):
    runs = [{"model.hidden_size": 32, "model.head_dim": 8},
            {"model.hidden_size": 32, "model.head_dim": 8, "model.num_key_value_heads": 1, "train.steps": 2,
             "train.init_from": {"run": 0, "num_key_value_heads": 1}}]
    spec = sweeps.load_spec(_spec(tmp_path, tiny_corpus, grid={}, runs=runs))
    parent, child = sweeps.expand(spec)
    assert child.train.init_from["model"] == parent.model.to_dict()
    assert child.train.init_from["train"] == parent.train.to_dict()
    # a miniatura resolve para a origem miniatura (a mesma transformação nos dois)
    mini_parent, mini_child = sweeps.expand(spec, mini=True)
    assert mini_child.train.init_from["train"] == mini_parent.train.to_dict()
    out = tmp_path / "r.jsonl"
    records = sweeps.run_sweep(spec, out, quiet=True)
    assert [r["status"] for r in records] == ["ok", "ok"]
    # a continuação partiu dos pesos convertidos da origem: perda inicial bem abaixo da de pesos aleatórios
    assert records[1]["trace"][0]["val_loss"] < records[0]["trace"][0]["val_loss"] - 0.5


@pytest.mark.parametrize("ref, fragment", [(1, "deve ser o índice de um treino anterior"),
                                           (-1, "deve ser o índice de um treino anterior")])
def test_init_from_bad_index(tmp_path, tiny_corpus, ref, fragment):
    runs = [{}, {"train.init_from": {"run": ref, "num_key_value_heads": 1}}]
    spec = sweeps.load_spec(_spec(tmp_path, tiny_corpus, grid={}, runs=runs))
    with pytest.raises(ValueError, match=fragment):
        sweeps.expand(spec)
