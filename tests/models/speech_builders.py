"""Tiny random-weight text-to-speech models, written to a folder as a hub download would be: a VITS
(MMS-TTS layout: a character vocabulary), a SpeechT5 with its HiFi-GAN vocoder in a folder of its
own, and a MusicGen (both with a sentencepiece model trained here on a few sentences, since there is
no hub at test time)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

SAMPLING_RATE = 16_000
SPEAKER_EMBEDDING_DIM = 8
MUSICGEN_SAMPLING_RATE = 8_000
_CHARACTERS = " abcdefghijklmnopqrstuvwxyz'.,!?-"


def vits(folder: Path) -> None:
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {char: index for index, char in enumerate(_CHARACTERS)}
    vocab["<pad>"] = len(vocab)
    vocab["<unk>"] = len(vocab)
    vocab_file = folder / "_vocab.json"
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = VitsTokenizer(
        str(vocab_file), pad_token="<pad>", unk_token="<unk>", add_blank=True, phonemize=False
    )
    config = VitsConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=8,
        spectrogram_bins=17,
        upsample_initial_channel=16,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16,
        depth_separable_num_layers=1,
        sampling_rate=SAMPLING_RATE,
    )
    VitsModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def speecht5(folder: Path) -> Path:
    """The SpeechT5 folder; its vocoder goes to ``folder / "vocoder"``, which is returned."""
    from transformers import SpeechT5Config, SpeechT5ForTextToSpeech, SpeechT5HifiGan, SpeechT5HifiGanConfig

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _character_tokenizer(folder)
    config = SpeechT5Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        speech_decoder_prenet_units=16,
        speech_decoder_postnet_units=16,
        speech_decoder_postnet_layers=1,
        speaker_embedding_dim=SPEAKER_EMBEDDING_DIM,
        num_mel_bins=8,
        max_text_positions=64,
        max_speech_positions=512,
        conv_dim=(8,),
        conv_stride=(5,),
        conv_kernel=(10,),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    SpeechT5ForTextToSpeech(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    vocoder_folder = folder / "vocoder"
    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(
            model_in_dim=8,
            upsample_initial_channel=16,
            upsample_rates=[4, 4],
            upsample_kernel_sizes=[8, 8],
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3]],
            sampling_rate=SAMPLING_RATE,
        )
    )
    vocoder.eval().save_pretrained(vocoder_folder)
    return vocoder_folder


def musicgen(folder: Path) -> None:
    """A MusicGen (T5 text encoder, EnCodec at 8 kHz with 2 codebooks, one decoder layer): the kind
    of model the worker runs through transformers' text-to-audio pipeline."""
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _character_tokenizer(folder)
    text = T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    audio = EncodecConfig(
        target_bandwidths=[5.0],
        sampling_rate=MUSICGEN_SAMPLING_RATE,
        audio_channels=1,
        hidden_size=8,
        num_filters=4,
        num_residual_layers=1,
        upsampling_ratios=[4, 4],
        codebook_size=16,
        codebook_dim=8,
        num_lstm_layers=1,
        compress=2,
    )
    # Token 16, one past the codebook, starts and pads the decoder (MusicGen's convention).
    decoder = MusicgenDecoderConfig(
        vocab_size=16,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        num_codebooks=audio.num_quantizers,
        max_position_embeddings=2048,
        pad_token_id=16,
        bos_token_id=16,
    )
    config = MusicgenConfig(
        text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict()
    )
    model = MusicgenForConditionalGeneration(config).eval()
    model.generation_config.decoder_start_token_id = 16
    model.generation_config.pad_token_id = 16
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=MUSICGEN_SAMPLING_RATE).save_pretrained(folder)


def _character_tokenizer(folder: Path) -> Any:
    """A SpeechT5 tokenizer over a character-level sentencepiece model trained on two sentences."""
    import sentencepiece
    from transformers import SpeechT5Tokenizer

    sentences = [
        "hello world, this is a test of speech synthesis.",
        "the quick brown fox jumps over the lazy dog!",
    ]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 10),
        model_writer=model,
        model_type="char",
        vocab_size=40,
        bos_id=0,
        pad_id=1,
        eos_id=2,
        unk_id=3,
        character_coverage=1.0,
        minloglevel=2,
    )
    model_file = folder / "_spm_char.model"
    model_file.write_bytes(model.getvalue())
    return SpeechT5Tokenizer(str(model_file))
