"""Which models generation holds to their configured length: only those with a table of absolute positions,
which has no row past it (IndexError half-way). Rotary, ALiBi and recurrent models run past what they were
trained on, so a real Qwen or Llama with RoPE scaling must not be refused at max_position_embeddings."""

from __future__ import annotations

import pytest

from worker.models.tasks.generation import positions

pytestmark = pytest.mark.models


def test_absolute_position_tables_are_hard_limits() -> None:
    from transformers import BartConfig, GPT2Config, OPTConfig, WhisperConfig

    assert positions(GPT2Config(n_positions=1024)) == 1024
    assert positions(OPTConfig(max_position_embeddings=2048)) == 2048
    assert positions(BartConfig(max_position_embeddings=1024)) == 1024
    assert positions(WhisperConfig(max_target_positions=448)) == 448


def test_positions_that_stretch_are_no_limit() -> None:
    from transformers import BloomConfig, GPTNeoXConfig, LlamaConfig, Qwen2Config, T5Config

    assert positions(LlamaConfig(max_position_embeddings=4096)) is None  # rotary
    assert positions(Qwen2Config(max_position_embeddings=32768)) is None  # rotary, YaRN-stretchable
    assert positions(GPTNeoXConfig()) is None  # partial rotary
    assert positions(BloomConfig()) is None  # ALiBi
    assert positions(T5Config()) is None  # relative positions
