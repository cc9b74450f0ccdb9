"""ModelConfig: validação com mensagens em português, predefinições publicadas, família minúscula."""

import json

import pytest

from helpers.model import config as cfg


def test_defaults_are_valid_and_mha():
    c = cfg.ModelConfig()
    assert c.num_key_value_heads == c.num_attention_heads
    assert c.num_key_value_groups == 1
    assert c.head_dim == c.hidden_size // c.num_attention_heads


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"hidden_size": 0}, "hidden_size deve ser um inteiro ≥ 1; recebi 0"),
        ({"vocab_size": -5}, "vocab_size deve ser um inteiro ≥ 1; recebi -5"),
        ({"num_hidden_layers": 2.5}, "num_hidden_layers deve ser um inteiro positivo"),
        ({"num_hidden_layers": True}, "num_hidden_layers deve ser um inteiro positivo"),
        ({"hidden_size": 64, "num_attention_heads": 5}, "hidden_size (64) deve ser múltiplo de num_attention_heads (5)"),
        ({"num_attention_heads": 4, "num_key_value_heads": 3}, "num_attention_heads (4) deve ser múltiplo de num_key_value_heads (3)"),
        ({"rms_norm_eps": 0.0}, "rms_norm_eps deve ser finito e > 0; recebi 0.0"),
        ({"rope_theta": float("nan")}, "rope_theta deve ser finito e > 0"),
        ({"tie_word_embeddings": "sim"}, "tie_word_embeddings deve ser True ou False"),
        ({"hidden_size": 12, "num_attention_heads": 4, "intermediate_size": 32}, "deve ser par"),
    ],
)
def test_invalid_values_raise_portuguese_errors(changes, fragment):
    with pytest.raises(ValueError) as err:
        cfg.ModelConfig(**changes)
    assert fragment in str(err.value)


def test_divisor_hint_lists_valid_values():
    with pytest.raises(ValueError, match=r"valores válidos de num_key_value_heads: \[1, 2, 4\]"):
        cfg.ModelConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=3)


def test_deepseek_7b_matches_published_config():
    c = cfg.deepseek_7b()
    assert (c.vocab_size, c.hidden_size, c.intermediate_size) == (102400, 4096, 11008)
    assert (c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads) == (30, 32, 32)
    assert (c.max_position_embeddings, c.rms_norm_eps, c.rope_theta) == (4096, 1e-6, 10000.0)
    assert c.tie_word_embeddings is False


def test_deepseek_67b_matches_published_config():
    c = cfg.deepseek_67b()
    assert (c.vocab_size, c.hidden_size, c.intermediate_size) == (102400, 8192, 22016)
    assert (c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads) == (95, 64, 8)
    assert c.num_key_value_groups == 8 and c.head_dim == 128
    assert (c.max_position_embeddings, c.rms_norm_eps, c.rope_theta) == (4096, 1e-6, 10000.0)
    assert c.tie_word_embeddings is False


def test_swiglu_rule_reproduces_published_widths():
    assert cfg.swiglu_intermediate_size(4096) == 11008
    assert cfg.swiglu_intermediate_size(8192) == 22016
    assert cfg.swiglu_intermediate_size(48, multiple_of=1) == 128  # 8/3 · 48 exato


@pytest.mark.parametrize("layers", [1, 2, 3, 6])
def test_tiny_family_shapes(layers):
    c = cfg.tiny(layers)
    assert c.hidden_size == 16 * layers
    assert c.head_dim == 16
    assert c.vocab_size == 256 and c.max_position_embeddings == 128
    assert c.intermediate_size % 8 == 0 and c.intermediate_size >= 8 * c.hidden_size / 3


def test_tiny_rejects_incompatible_head_dim():
    with pytest.raises(ValueError, match="deve ser múltiplo de head_dim"):
        cfg.tiny(1, aspect_ratio=24, head_dim=16)


def test_round_trip_through_json_and_unknown_keys():
    c = cfg.deepseek_67b()
    again = cfg.ModelConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c
    with pytest.raises(ValueError, match="campos desconhecidos"):
        cfg.ModelConfig.from_dict({**c.to_dict(), "n_embd": 3})


def test_replace_revalidates():
    with pytest.raises(ValueError):
        cfg.deepseek_67b().replace(num_key_value_heads=7)


def test_from_shape_table3_row():
    c = cfg.from_shape(8, 512)
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.vocab_size) == (8, 512, 4, 102400)


def test_tiny_hidden_size_overrides_aspect_ratio():
    c = cfg.tiny(3, hidden_size=64)
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads) == (3, 64, 4)
    # sem hidden_size, a família de sempre não muda
    assert cfg.tiny(3) == cfg.tiny(3, hidden_size=48)
    with pytest.raises(ValueError, match="hidden_size = 40 deve ser múltiplo de head_dim"):
        cfg.tiny(2, hidden_size=40)
    with pytest.raises(ValueError, match="hidden_size"):
        cfg.tiny(2, hidden_size=0)
