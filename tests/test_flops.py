"""Convenções de FLOPs: valores calculados à mão, a Tabela 3 do DeepSeek e o FlopCounterMode."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from helpers.model import config as cfg
from helpers.model.attention import attention_backend
from helpers.laws import deepseek
from helpers.model.flops import analytic_flops_per_token, count_params, deepseek_m, measured_flops_per_token, six_n, six_n1, six_n2
from helpers.model.transformer import Transformer


def test_conventions_by_hand_for_the_7b():
    c = cfg.deepseek_7b()
    assert six_n1(c) == 72 * 30 * 4096**2 == 36_238_786_560
    assert six_n2(c) == 36_238_786_560 + 6 * 102400 * 4096
    assert deepseek_m(c, 4096) == 36_238_786_560 + 12 * 30 * 4096 * 4096 == 42_278_584_320
    assert six_n(c) == 6 * 6_910_365_696


def test_m_is_the_number_the_paper_uses_for_the_67b():
    # facts.md §1.5: M(67B) = 4,973e11 FLOPs/token com l_seq = 4096.
    assert deepseek_m(cfg.deepseek_67b(), 4096) == pytest.approx(4.973e11, rel=1e-3)


@pytest.mark.parametrize("row", deepseek.TABLE3, ids=lambda r: f"{r.num_hidden_layers}x{r.hidden_size}")
def test_table3_recomputed(row):
    c = cfg.from_shape(row.num_hidden_layers, row.hidden_size, vocab_size=deepseek.TABLE3_VOCAB)
    n1, n2, m = six_n1(c) / 6, six_n2(c) / 6, deepseek_m(c, deepseek.TABLE3_SEQ_LEN)
    # O artigo imprime 3 algarismos significativos: até 0,5% de diferença é arredondamento.
    assert n1 == pytest.approx(row.n1, rel=5e-3)
    assert n2 == pytest.approx(row.n2, rel=5e-3)
    assert m == pytest.approx(row.m, rel=5e-3)
    # Razões impressas com 2 casas; a linha (32, 4096) dá 0,857 e o artigo imprime 0,85.
    assert 6 * n1 / m == pytest.approx(row.ratio_6n1_m, abs=0.01)
    assert 6 * n2 / m == pytest.approx(row.ratio_6n2_m, abs=0.006)


def test_table3_known_misprint_is_documented():
    row = next(r for r in deepseek.TABLE3 if r.hidden_size == 4096)
    c = cfg.from_shape(32, 4096)
    assert round(six_n1(c) / deepseek_m(c, 4096), 2) == 0.86 != row.ratio_6n1_m


def test_count_params_matches_the_real_module():
    for c in [cfg.tiny(1), cfg.tiny(3, num_key_value_heads=1), cfg.ModelConfig(vocab_size=50, tie_word_embeddings=True)]:
        model = Transformer(c)
        assert count_params(c).total == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "config, seq_len",
    [
        (cfg.tiny(1), 32),
        (cfg.tiny(3), 128),
        (cfg.tiny(4, num_key_value_heads=2), 64),
        (cfg.tiny(2, num_key_value_heads=1), 50),
        (cfg.ModelConfig(vocab_size=300, hidden_size=96, intermediate_size=200, num_attention_heads=6, num_key_value_heads=3), 40),
    ],
)
def test_measured_equals_analytic_count(config, seq_len):
    model = Transformer(config)
    measured = measured_flops_per_token(model, seq_len, batch_size=2)
    assert measured == analytic_flops_per_token(config, seq_len).total


def test_measured_against_an_independent_flop_counter_run():
    """A função só divide o total do FlopCounterMode; refazemos a medida aqui, à mão."""
    c = cfg.tiny(2)
    model = Transformer(c)
    ids = torch.randint(0, 256, (3, 65))
    counter = FlopCounterMode(display=False)
    with counter, attention_backend("math"):
        logits = model(ids[:, :-1])
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
    assert measured_flops_per_token(model, 64, batch_size=3) == counter.get_total_flops() / (3 * 64)


def test_fused_kernel_is_invisible_to_the_flop_counter():
    """O FlopCounterMode não conta o kernel fundido de atenção com máscara da CPU:
    com o backend padrão, somem exatamente os 12·n_layer·d·l_seq FLOPs da atenção."""
    c = cfg.tiny(2)
    model = Transformer(c)
    ids = torch.randint(0, 256, (2, 33))
    counter = FlopCounterMode(display=False)
    with counter:  # backend padrão: "fused"
        logits = model(ids[:, :-1])
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
    fused = counter.get_total_flops() / (2 * 32)
    assert measured_flops_per_token(model, 32, batch_size=2) - fused == 12 * 2 * 32 * 32


def test_m_is_exact_for_an_ideal_shape():
    """Com MHA e d_ff = 8d/3 exato, cada camada tem 12d² parâmetros e M é exato:
    FLOPs medidos = M + cabeça de saída (6·V·d)."""
    c = cfg.ModelConfig(vocab_size=64, hidden_size=48, intermediate_size=128, num_hidden_layers=3, num_attention_heads=3)
    assert count_params(c).attention + count_params(c).mlp == 12 * 3 * 48**2
    model = Transformer(c)
    for seq_len in (16, 64, 100):
        measured = measured_flops_per_token(model, seq_len)
        assert measured == deepseek_m(c, seq_len) + 6 * 64 * 48
        assert measured - 6 * 64 * 48 == six_n1(c) + 12 * 3 * 48 * seq_len


def test_measuring_the_67b_on_meta_device():
    with torch.device("meta"):
        model = Transformer(cfg.deepseek_67b())
    measured = measured_flops_per_token(model, 512)
    assert measured == analytic_flops_per_token(cfg.deepseek_67b(), 512).total
    # Sem o vocabulário, M superestima o 67B (a GQA tem menos que 4d² de atenção).
    non_vocab = measured - 6 * 102400 * 8192
    # À mão: (72·95·8192² + 12·95·8192·512) / (6·65 745 715 200 + 12·95·8192·512) ≈ 1,162.
    assert deepseek_m(cfg.deepseek_67b(), 512) / non_vocab == pytest.approx(1.162, abs=0.002)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_seq_len(bad):
    with pytest.raises(ValueError, match="seq_len deve ser um inteiro ≥ 1"):
        deepseek_m(cfg.tiny(1), bad)


def test_measure_rejects_context_beyond_the_model():
    with pytest.raises(ValueError, match="excede max_position_embeddings"):
        measured_flops_per_token(Transformer(cfg.tiny(1)), 129)
    with pytest.raises(ValueError, match="batch_size"):
        measured_flops_per_token(Transformer(cfg.tiny(1)), 8, batch_size=0)


def test_measurement_leaves_no_gradients_behind():
    model = Transformer(cfg.tiny(1))
    measured_flops_per_token(model, 16)
    assert all(p.grad is None for p in model.parameters())
