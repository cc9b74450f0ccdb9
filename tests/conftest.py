"""Fixtures compartilhadas: um corpus minúsculo numa pasta temporária e um cache isolado."""

import random

import pytest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """Uma pasta com 60 "documentos" de texto sintético (determinístico, ~200 kB)."""
    root = tmp_path_factory.mktemp("corpus")
    rng = random.Random(0)
    words = "def class return import self data model loss token layer batch lista valor".split()
    for i in range(60):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(300)]
        (root / f"doc{i:03d}.txt").write_text(f"# documento {i}\n" + "\n".join(lines), encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Cada sessão de testes usa um cache de tokens próprio (nunca o do usuário)."""
    cache = tmp_path_factory.getbasetemp() / "cache-tokens"
    monkeypatch.setenv("LEIS_DE_ESCALA_CACHE", str(cache))
    return cache
