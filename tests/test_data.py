"""Corpus, divisão por documento, tokenizadores, cache e amostragem."""

import os

import numpy as np
import pytest
import torch

from helpers.engine import data as D


def test_default_corpus_is_the_installed_python_sources():
    docs = D.list_documents(D.CorpusSpec())
    keys = [d.key for d in docs]
    assert keys == sorted(keys)
    assert any(k.startswith("stdlib/json/") for k in keys)
    assert any(k.startswith("torch/nn/") for k in keys)
    assert not any("site-packages" in k for k in keys if k.startswith("stdlib/"))
    assert len(docs) > 3000


def test_folder_corpus_errors(tmp_path):
    with pytest.raises(ValueError, match="a pasta do corpus não existe"):
        D.corpus_spec(tmp_path / "nao-existe")
    (tmp_path / "vazia").mkdir()
    with pytest.raises(ValueError, match="corpus vazio"):
        D.list_documents(D.corpus_spec(tmp_path / "vazia"))


def test_split_is_by_document_and_deterministic(tiny_corpus):
    spec = D.corpus_spec(tiny_corpus, validation_fraction=0.2)
    docs = D.list_documents(spec)
    val = [d.key for d in docs if D.is_validation(d.key, 0.2)]
    assert 0 < len(val) < len(docs)
    assert val == [d.key for d in D.list_documents(spec) if D.is_validation(d.key, 0.2)]


def test_prepare_bytes_and_cache(tiny_corpus, isolated_cache):
    spec = D.corpus_spec(tiny_corpus, validation_fraction=0.2)
    first = D.prepare_data(spec)
    files = sorted(isolated_cache.glob(f"{first.fingerprint[:16]}-bytes*"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    second = D.prepare_data(spec)
    assert [f.stat().st_mtime_ns for f in files] == mtimes  # reutilizou o cache
    assert np.array_equal(first.train, second.train) and first.fingerprint == second.fingerprint
    assert first.vocab_size == 256 and first.stats["train_tokens"] == first.stats["train_bytes"]
    text = first.decode(first.val[:40])
    assert first.encode(text) == list(np.asarray(first.val[:40]))


def test_fingerprint_changes_with_content(tmp_path):
    for i in range(30):
        (tmp_path / f"a{i}.txt").write_text(f"texto {i} " * 50)
    spec = D.corpus_spec(tmp_path, validation_fraction=0.2)
    before = D.prepare_data(spec).fingerprint
    (tmp_path / "a3.txt").write_text("mudou")
    assert D.prepare_data(spec).fingerprint != before


def _rglob_reference(spec):
    """A listagem de antes (``Path.rglob`` e filtros depois): o oráculo da poda com ``os.walk``."""
    docs = []
    for label, root in D._roots(spec):
        for p in root.rglob("*"):
            if p.suffix not in spec.suffixes or not p.is_file():
                continue
            rel = p.relative_to(root)
            if label == "stdlib" and ("site-packages" in rel.parts or "dist-packages" in rel.parts):
                continue
            if "__pycache__" in rel.parts:
                continue
            docs.append(D.Document(f"{label}/{rel.as_posix()}", p))
    return sorted(docs, key=lambda d: d.key)


def test_listing_equals_the_rglob_reference(tmp_path):
    assert D.list_documents(D.CorpusSpec()) == _rglob_reference(D.CorpusSpec())
    (tmp_path / "sub" / "__pycache__").mkdir(parents=True)
    (tmp_path / "sub" / "__pycache__" / "x.py").write_text("fora")
    (tmp_path / "sub" / "a.py").write_text("dentro")
    (tmp_path / "b.txt").write_text("texto")
    (tmp_path / "c.bin").write_text("outra extensão")
    (tmp_path / ".oculto.py").write_text("oculto")
    (tmp_path / "link.py").symlink_to(tmp_path / "sub" / "a.py")
    (tmp_path / "pasta-link").symlink_to(tmp_path / "sub", target_is_directory=True)
    spec = D.corpus_spec(tmp_path, suffixes=(".py", ".txt"))
    got = D.list_documents(spec)
    assert got == _rglob_reference(spec)
    assert [d.key for d in got] == ["pasta/.oculto.py", "pasta/b.txt", "pasta/link.py", "pasta/sub/a.py"]


def test_index_skips_the_reading_until_a_file_changes(tmp_path, monkeypatch, isolated_cache):
    for i in range(30):
        (tmp_path / f"a{i}.txt").write_text(f"texto {i} " * 50)
    spec = D.corpus_spec(tmp_path, validation_fraction=0.2)
    first = D.prepare_data(spec)
    reads = []
    real = D._read_split
    monkeypatch.setattr(D, "_read_split", lambda *a, **k: reads.append(1) or real(*a, **k))
    again = D.prepare_data(spec)
    assert reads == [] and again.fingerprint == first.fingerprint and again.stats == first.stats
    assert np.array_equal(again.train, first.train) and np.array_equal(again.val, first.val)
    # mesmo tamanho, outro conteúdo (e outra data de modificação): lê de novo
    target = tmp_path / "a3.txt"
    st = target.stat()
    target.write_text(target.read_text().replace("texto", "TEXTO"))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    changed = D.prepare_data(spec)
    assert reads == [1] and changed.fingerprint != first.fingerprint
    # sem os arquivos de tokens (cache apagado à mão), o índice não basta: lê e refaz
    for f in isolated_cache.glob(f"{changed.fingerprint[:16]}-bytes*"):
        f.unlink()
    assert D.prepare_data(spec).fingerprint == changed.fingerprint and reads == [1, 1]
    # um índice corrompido é ignorado
    for f in (isolated_cache / "indice").glob("*.json"):
        if changed.fingerprint in f.read_text():  # só o deste corpus (o cache é dividido entre processos)
            f.write_text("{quebrado")
    assert D.prepare_data(spec).fingerprint == changed.fingerprint and reads == [1, 1, 1]


def test_bpe_tokenizer_round_trip_and_exact_byte_counts(tiny_corpus):
    spec = D.corpus_spec(tiny_corpus, validation_fraction=0.2)
    d = D.prepare_data(spec, D.TokenizerSpec("bpe", 300))
    assert d.vocab_size == 300 and int(np.max(d.train)) < 300
    assert d.stats["train_tokens"] < d.stats["train_bytes"]  # o BPE comprime
    # Cada token conta exatamente os bytes que representa.
    assert int(d.token_bytes[np.asarray(d.val)].sum()) == d.stats["val_bytes"]
    sample = "def model return loss\nlista valor"
    assert d.decode(d.encode(sample)) == sample


def test_bad_tokenizer_specs():
    with pytest.raises(ValueError, match="tokenizador desconhecido"):
        D.TokenizerSpec("wordpiece")
    with pytest.raises(ValueError, match="vocab_size = 256"):
        D.TokenizerSpec("bytes", 300)
    with pytest.raises(ValueError, match="entre 257 e 65535"):
        D.TokenizerSpec("bpe", 100)


def test_sample_batch_is_shifted_and_reproducible():
    tokens = np.arange(1000, dtype=np.uint16) % 251
    x1, y1 = D.sample_batch(tokens, 4, 16, torch.Generator().manual_seed(3))
    x2, y2 = D.sample_batch(tokens, 4, 16, torch.Generator().manual_seed(3))
    assert x1.shape == (4, 16) and torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.equal(x1[:, 1:], y1[:, :-1])
    with pytest.raises(ValueError, match="menos que uma janela"):
        D.sample_batch(tokens[:10], 2, 16, torch.Generator())


def test_validation_batches_are_fixed_consecutive_windows():
    tokens = np.arange(1000, dtype=np.int64)
    batches = list(D.validation_batches(tokens, seq_len=10, max_tokens=95, batch_size=4))
    xs = torch.cat([x for x, _ in batches])
    assert xs.shape == (9, 10)
    assert xs[1, 0].item() == 10 and batches[0][1][0, -1].item() == 10


def test_bits_per_byte():
    import math

    assert D.bits_per_byte(math.log(2) * 80, 10) == pytest.approx(8.0)
    with pytest.raises(ValueError):
        D.bits_per_byte(1.0, 0)
