"""Faixas de compressibilidade gzip: a medida, a partição do corpus, as validações e o treino nelas."""

import gzip
import random

import numpy as np
import pytest

from helpers.engine import compressibility as C
from helpers.engine.data import CorpusSpec, corpus_spec, is_validation, list_documents, prepare_data


def test_gzip_ratio_is_deflate_of_each_chunk_and_orders_redundancy():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    text = b"def f(x):\n    return x * 2\n" * 5000
    # oráculo: o gzip da biblioteca padrão, sem o cabeçalho (10 bytes) e o rodapé (8 bytes), pedaço a pedaço
    want = sum(len(gzip.compress(noise[i:i + C.CHUNK_BYTES], 9, mtime=0)) - 18
               for i in range(0, len(noise), C.CHUNK_BYTES)) / len(noise)
    assert C.gzip_ratio(noise) == pytest.approx(want, abs=1e-12)
    assert C.gzip_ratio(noise) > 1.0 > 0.05 > C.gzip_ratio(text)
    with pytest.raises(ValueError, match="não vazio"):
        C.gzip_ratio(b"")


@pytest.mark.parametrize("band, fragment", [((0.5, 0.5), "lo < hi"), ((0, 1), "corpus inteiro"), ((-0.1, 0.3), "0 ≤ lo"),
                                            ("x", "par"), ((0.2, float("nan")), "0 ≤ lo")])
def test_bad_bands_are_refused_in_portuguese(band, fragment):
    with pytest.raises(ValueError, match=fragment):
        CorpusSpec(gzip_band=band)


def test_band_dict_keeps_the_clean_corpus_dict_and_round_trips():
    assert "gzip_band" not in CorpusSpec().to_dict()
    spec = CorpusSpec(gzip_band=[0.25, 0.5])
    assert spec.gzip_band == (0.25, 0.5)
    assert CorpusSpec.from_dict(spec.to_dict()) == spec


def test_bands_partition_the_documents_in_order_of_compressibility():
    rng = random.Random(1)
    sizes = np.array([rng.randint(1, 5000) for _ in range(400)], dtype=float)
    ratios = np.array([rng.random() for _ in range(400)])
    keys = [f"d{i}" for i in range(400)]
    masks = [C.band_mask(keys, sizes, ratios, (i / 4, (i + 1) / 4)) for i in range(4)]
    assert (np.sum(masks, axis=0) == 1).all()  # cada documento em exatamente uma faixa
    for m in masks:
        assert sizes[m].sum() / sizes.sum() == pytest.approx(0.25, abs=5000 / sizes.sum())
    for lo, hi in zip(masks, masks[1:]):
        assert ratios[lo].max() <= ratios[hi].min()


def _corpus_with_two_kinds(root):
    """Metade dos documentos muito repetitivos, metade quase aleatórios (texto imprimível)."""
    rng = random.Random(0)
    for i in range(400):
        if i % 2:
            body = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ()=+\n") for _ in range(1200))
        else:
            body = f"valor_{i} = 0\n" * 100
        (root / f"d{i:03d}.txt").write_text(body, encoding="utf-8")
    return corpus_spec(root, validation_fraction=0.1)


def test_a_band_trains_on_its_documents_and_keeps_both_validations_apart(tmp_path):
    base = _corpus_with_two_kinds(tmp_path)
    full = prepare_data(base)
    low, high = (prepare_data(CorpusSpec(**{**base.__dict__, "gzip_band": b})) for b in ((0, 0.5), (0.5, 1)))
    # a validação comum é a do corpus inteiro, igual em todo corpus
    assert np.array_equal(np.asarray(low.val), np.asarray(full.val))
    assert np.array_equal(np.asarray(high.val), np.asarray(full.val))
    docs = list_documents(base)
    common = {d.key for d in docs if is_validation(d.key, 0.1)}
    own = {d.key for d in docs if C.is_band_validation(d.key)} - common
    assert low.stats["own_validation_documents"] + high.stats["own_validation_documents"] == len(own)
    # os três conjuntos não se tocam, e juntos (com a validação comum) refazem o treino do corpus inteiro
    assert low.stats["train_bytes"] + high.stats["train_bytes"] + low.stats["own_val_bytes"] \
        + high.stats["own_val_bytes"] == full.stats["train_bytes"]
    assert low.stats["gzip_ratio_train"] < 0.1 < 0.5 < high.stats["gzip_ratio_train"]
    assert low.stats["gzip_ratio_val_own"] < 0.1 < 0.5 < high.stats["gzip_ratio_val_own"]
    assert low.val_own.size == low.stats["own_val_bytes"] and full.val_own is None
    assert low.train.filename != high.train.filename != full.train.filename
    # cache: a segunda preparação lê os arquivos gravados e dá os mesmos tokens
    again = prepare_data(CorpusSpec(**{**base.__dict__, "gzip_band": (0, 0.5)}))
    assert np.array_equal(np.asarray(again.val_own), np.asarray(low.val_own))
    assert again.stats == low.stats


def test_a_band_too_small_for_its_own_validation_is_a_clear_error(tmp_path):
    for i in range(6):
        (tmp_path / f"d{i}.txt").write_text("x = 1\n" * (50 + i), encoding="utf-8")
    spec = corpus_spec(tmp_path, validation_fraction=0.3)
    with pytest.raises(ValueError, match="validação própria da faixa"):
        prepare_data(CorpusSpec(**{**spec.__dict__, "gzip_band": (0, 0.25)}))


def test_a_run_on_a_band_is_evaluated_on_both_validations(tmp_path):
    from helpers.engine.runs import TrainConfig
    from helpers.engine.trainer import train
    from helpers.model.config import tiny

    base = _corpus_with_two_kinds(tmp_path)
    band = CorpusSpec(**{**base.__dict__, "gzip_band": (0, 0.5)})
    tc = TrainConfig(budget_flops=2e8, batch_size_tokens=256, lr=3e-3, seq_len=32, eval_points=2, eval_tokens=2048,
                     final_eval_tokens=4096, eval_sampling="spread", corpus=band)
    res = train(tiny(num_hidden_layers=1, hidden_size=16), tc, quiet=True)
    own, common = res.evaluation["in_distribution"], res.evaluation["final"]
    assert own["tokens"] == common["tokens"] == 4096
    # o texto repetitivo da faixa fica muito mais fácil que a validação comum (metade quase aleatória)
    assert own["bpb"] < common["bpb"]
    assert res.final_val_bpb == common["bpb"]
    assert res.data["gzip_ratio_train"] < 0.1
    clean = train(tiny(num_hidden_layers=1, hidden_size=16), TrainConfig(**{**tc.__dict__, "corpus": base}),
                  quiet=True)
    assert "in_distribution" not in clean.evaluation
