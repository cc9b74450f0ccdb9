"""Degradações de corpus: determinísticas, com a dose pedida, só no treino, com erros claros."""

import json

import numpy as np
import pytest

from helpers.chapters import cap10

from helpers.engine import degradations
from helpers.engine.data import CorpusSpec, corpus_spec, prepare_data

DOC = b"".join(f"linha {i}: valor = {i * i}  # comentario\n".encode() for i in range(400))


def test_none_is_identity_and_everything_is_deterministic():
    assert degradations.degrade(DOC, "k", "none", 0.0) == DOC
    for kind, level in (("boilerplate", 0.5), ("ruido", 0.1), ("embaralhado", 1.0)):
        assert degradations.degrade(DOC, "k", kind, level) == degradations.degrade(DOC, "k", kind, level)
        assert degradations.degrade(DOC, "k", kind, level) != degradations.degrade(DOC, "outra", kind, level)


@pytest.mark.parametrize("level", [0.02, 0.1, 0.3])
def test_noise_replaces_the_requested_fraction_with_printable_bytes(level):
    out = degradations.degrade(DOC, "k", "ruido", level)
    a, b = np.frombuffer(DOC, np.uint8), np.frombuffer(out, np.uint8)
    assert a.size == b.size
    changed = a != b
    # uma troca pode sortear o mesmo byte (1/95 das vezes): a fração observada fica um pouco abaixo
    assert changed.mean() == pytest.approx(level * 94 / 95, abs=4 * np.sqrt(level / a.size) + 1e-3)
    assert b[changed].min() >= 32 and b[changed].max() <= 126


@pytest.mark.parametrize("level", [0.25, 0.5, 0.75])
def test_boilerplate_takes_the_requested_share_and_keeps_the_text_in_order(level):
    out = degradations.degrade(DOC, "k", "boilerplate", level)
    extra = len(out) - len(DOC)
    assert extra / len(out) == pytest.approx(level, abs=0.02)
    kept = b"".join(ln for ln in out.splitlines(keepends=True) if ln.startswith(b"linha"))
    assert kept == DOC  # o texto original continua inteiro e na ordem


def test_shuffle_is_a_permutation_of_lines():
    out = degradations.degrade(DOC, "k", "embaralhado", 1.0)
    assert out != DOC
    assert sorted(out.splitlines()) == sorted(DOC.splitlines())


@pytest.mark.parametrize("kind, level, fragment", [
    ("lixo", 0.1, "degradação desconhecida"), ("none", 0.3, "sem degradação"),
    ("boilerplate", 1.0, "deve estar em \\(0, 1\\)"), ("ruido", 0.0, "deve estar em \\(0, 1\\]"),
    ("ruido", float("nan"), "deve ser um número")])
def test_bad_degradations(kind, level, fragment):
    with pytest.raises(ValueError, match=fragment):
        CorpusSpec(degradation=kind, degradation_level=level)


def test_clean_corpus_dict_is_unchanged():
    assert "degradation" not in CorpusSpec().to_dict()
    assert CorpusSpec(degradation="ruido", degradation_level=0.1).to_dict()["degradation"] == "ruido"


def test_only_the_training_split_is_degraded(tiny_corpus):
    clean = corpus_spec(tiny_corpus, validation_fraction=0.2)
    noisy = CorpusSpec(**{**clean.__dict__, "degradation": "ruido", "degradation_level": 0.2})
    a, b = prepare_data(clean), prepare_data(noisy)
    assert np.array_equal(np.asarray(a.val), np.asarray(b.val))
    assert a.train.size == b.train.size
    assert (np.asarray(a.train) != np.asarray(b.train)).mean() == pytest.approx(0.2 * 94 / 95, abs=0.01)
    assert a.fingerprint == b.fingerprint  # o corpus bruto é o mesmo; o cache é outro
    assert prepare_data(noisy).train.filename != a.train.filename


def test_quality_spec_repeats_the_isoflop_runs_per_corpus():
    iso = {"base": {"model": {}, "train": {}}, "runs": [{"train.budget_flops": 1e11}, {"train.budget_flops": 1e12}],
           "mini": {}, "mini_scale": {}, "mini_runs": [0]}
    spec = cap10.quality_spec(iso)
    assert len(spec["runs"]) == 2 * len(cap10.QUALITY_CORPORA)
    assert "train.corpus" not in spec["runs"][0]
    assert spec["runs"][2]["train.corpus"] == {"degradation": "boilerplate", "degradation_level": 0.5}
    assert spec["mini_runs"] == [0, 2, 4, 6]  # o primeiro índice da miniatura IsoFLOP, em cada corpus
    json.dumps(spec)


def test_committed_spec_is_what_the_command_writes(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "q.json"
    assert cap10.main(["spec", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads((root / "experiments" / "cap10_qualidade.json").read_text())
