"""A linha de comando das varreduras recusa entradas ruins com uma linha em português, nunca um traceback.

Cada caso roda duas vezes: por ``main([...])`` (no mesmo processo) e por
``python -m helpers.engine.sweeps`` (um processo novo, como o leitor roda). Em ambos: código de
saída ≠ 0, exatamente uma linha na saída de erros, que nomeia o valor recusado e o que seria
válido, e nenhum "Traceback".
"""

import json
import subprocess
import sys

import pytest

from helpers.engine import sweeps


def _good(tiny_corpus) -> dict:
    return {
        "name": "cli",
        "base": {"model": {"preset": "tiny", "num_hidden_layers": 1},
                 "train": {"steps": 2, "seq_len": 16, "batch_size_tokens": 64, "eval_points": 1, "eval_tokens": 128,
                           "corpus": {"kind": "folder", "path": str(tiny_corpus), "suffixes": [".txt"]}}},
        "grid": {"train.lr": [1e-3]},
    }


def _with(change):
    def build(tiny_corpus):
        spec = _good(tiny_corpus)
        change(spec)
        return json.dumps(spec)
    return build


# (identificador, texto da especificação, argumentos extras, trechos que a mensagem deve ter)
CASES = [
    ("grade-sem-lista", _with(lambda s: s["grid"].update({"train.lr": 0.001})), [],
     ["grid['train.lr']", "0.001", "lista não vazia"]),
    ("grade-lista-vazia", _with(lambda s: s["grid"].update({"train.lr": []})), [],
     ["grid['train.lr']", "[]", "lista não vazia"]),
    ("campo-tiny-desconhecido", _with(lambda s: s["base"]["model"].update({"num_layers": 2})), [],
     ["'num_layers'", "preset 'tiny'", "num_hidden_layers"]),
    ("base-nao-objeto", lambda c: json.dumps({"name": "cli", "base": [1, 2]}), [],
     ["'base' deve ser um objeto", "[1, 2]"]),
    ("especificacao-lista", lambda c: json.dumps([{"name": "cli"}]), [],
     ["deve ser um objeto JSON", "uma lista"]),
    ("especificacao-numero", lambda c: "42", [], ["deve ser um objeto JSON", "um número"]),
    ("json-invalido", lambda c: '{"name": "cli", "base": ', [], ["JSON inválido"]),
    ("out-pasta", _with(lambda s: None), ["--out", "{tmp}"], ["--out", "não uma pasta", "{tmp}"]),
    ("checkpoint-zero", _with(lambda s: None), ["--checkpoint-every", "0"],
     ["--checkpoint-every", "inteiro ≥ 1", "'0'"]),
    ("checkpoint-negativo", _with(lambda s: None), ["--checkpoint-every", "-5"],
     ["--checkpoint-every", "inteiro ≥ 1", "'-5'"]),
    ("checkpoint-texto", _with(lambda s: None), ["--checkpoint-every", "muitos"],
     ["--checkpoint-every", "inteiro ≥ 1", "'muitos'"]),
    ("workers-zero", _with(lambda s: None), ["--workers", "0"], ["--workers", "inteiro ≥ 1", "'0'"]),
    ("workers-texto", _with(lambda s: None), ["--workers", "dois"], ["--workers", "inteiro ≥ 1", "'dois'"]),
    ("shard-ruim", _with(lambda s: None), ["--shard", "3/2"], ["--shard", "0 ≤ I < N", "'3/2'"]),
]


def _argv(case, tmp_path, tiny_corpus):
    _, text, extra, fragments = case
    spec = tmp_path / "spec.json"
    spec.write_text(text(tiny_corpus), encoding="utf-8")
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    args = ["run", str(spec), "--out", str(tmp_path / "r.jsonl"), "--quiet"]
    if "--out" in extra:
        args = ["run", str(spec), "--quiet"]
    return args + extra, [f.replace("{tmp}", str(tmp_path)) for f in fragments]


def _check(code, stderr, fragments, tmp_path):
    assert code != 0
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("erro: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "r.jsonl").exists()  # nada rodou


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_main_rejects_bad_input_in_one_line(case, tmp_path, tiny_corpus, capsys):
    argv, fragments = _argv(case, tmp_path, tiny_corpus)
    code = sweeps.main(argv)
    _check(code, capsys.readouterr().err, fragments, tmp_path)


def test_command_line_rejects_bad_input_in_one_line(tmp_path, tiny_corpus):
    """Os mesmos casos num processo novo cada (vários ao mesmo tempo, para não demorar)."""
    procs = []
    for case in CASES:
        folder = tmp_path / case[0]
        folder.mkdir()
        argv, fragments = _argv(case, folder, tiny_corpus)
        procs.append((folder, fragments, subprocess.Popen([sys.executable, "-m", "helpers.engine.sweeps", *argv],
                                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        if len(procs) % 4 == 0:
            procs[-4][2].wait()
    for folder, fragments, proc in procs:
        _, err = proc.communicate(timeout=300)
        _check(proc.returncode, err, fragments, folder)


def test_status_also_rejects_a_folder_as_out(tmp_path, tiny_corpus, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_good(tiny_corpus)), encoding="utf-8")
    code = sweeps.main(["status", str(spec), "--out", str(tmp_path)])
    _check(code, capsys.readouterr().err, ["--out", "não uma pasta"], tmp_path)


def test_run_sweep_validates_its_arguments(tmp_path, tiny_corpus):
    spec = sweeps.parse_spec(_good(tiny_corpus))
    for kwargs, fragment in (({"workers": 0}, "workers deve ser um inteiro ≥ 1 (processos); recebi 0"),
                             ({"workers": True}, "recebi True"),
                             ({"checkpoint_every": -1}, "checkpoint_every deve ser um inteiro ≥ 1")):
        with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            sweeps.run_sweep(spec, tmp_path / "r.jsonl", quiet=True, **kwargs)
