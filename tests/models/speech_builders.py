"""Tiny random-weight text-to-speech models, written to a folder as a hub download would be: a VITS
(MMS-TTS layout: a character vocabulary), a SpeechT5 with its HiFi-GAN vocoder in a folder of its
own, a MusicGen (both with a sentencepiece model trained here on a few sentences, since there is
no hub at test time) and a Bark (a BERT word-piece vocabulary written here)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

SAMPLING_RATE = 16_000
SPEAKER_EMBEDDING_DIM = 8
MUSICGEN_SAMPLING_RATE = 8_000
# Bark's codec decodes at this rate; its generation config keeps transformers' default (24 kHz), so a
# result that says 8000 was told by the codec that made the samples.
BARK_SAMPLING_RATE = 8_000
# Bark's semantic model generates this many tokens unless a request says otherwise (Bark's own: 768).
BARK_SEMANTIC_NEW_TOKENS = 24
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
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _character_tokenizer(folder)
    text = T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    audio = _tiny_codec(bandwidth=5.0, sampling_rate=MUSICGEN_SAMPLING_RATE, codebook_size=16)
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


def bark(folder: Path) -> None:
    """A Bark: semantic, coarse and fine models of one layer each, over 32 semantic tokens and an EnCodec
    at 8 kHz with 4 codebooks of 16 codes, and a BarkProcessor whose BERT tokenizer knows a few words.

    Bark lays its vocabularies end to end: the semantic model reads semantic tokens (0-31, 32 is the
    end and padding) and text tokens shifted past them (48 + BERT id), the coarse model reads semantic
    tokens and writes codes of 2 codebooks (32 + 16 * codebook + code), the fine model fills the other 2
    codebooks (16 pads). The input windows are cut down from Bark's hundreds of tokens to a few dozen."""
    from transformers import (
        BarkCoarseConfig,
        BarkConfig,
        BarkFineConfig,
        BarkModel,
        BarkProcessor,
        BarkSemanticConfig,
        BertTokenizer,
    )
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    folder.mkdir(parents=True, exist_ok=True)
    words = ["hello", "world", "still", "here", "the", "quick", "brown", "fox", "##s", "."]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *_CHARACTERS.strip(" ")]
    vocab_file = folder / "_bark_vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)

    semantic_vocab, codebook_size, coarse_codebooks, fine_codebooks = 32, 16, 2, 4
    text_offset = 48
    assert text_offset + len(vocab) < 96  # the text pad (96) and infer (99) tokens follow the text
    # 64 positions: the semantic prompt takes 17 (16 of text, 1 infer), and the last of 48 generated
    # tokens is never fed back, so 48 can be generated (Bark: 1024 - 256 = 768, its default).
    layers = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "block_size": 64}
    semantic = BarkSemanticConfig(input_vocab_size=100, output_vocab_size=40, **layers)
    coarse_tokens = semantic_vocab + codebook_size * coarse_codebooks  # 64: then pad, infer
    coarse = BarkCoarseConfig(input_vocab_size=72, output_vocab_size=72, **layers)
    fine = BarkFineConfig(
        input_vocab_size=codebook_size + 8,
        output_vocab_size=codebook_size + 8,
        n_codes_total=fine_codebooks,
        n_codes_given=1,
        **layers,
    )
    # 8 kbit/s at 500 frames/s of 4-bit codes: 4 codebooks
    codec = _tiny_codec(bandwidth=8.0, sampling_rate=BARK_SAMPLING_RATE, codebook_size=codebook_size)
    assert codec.num_quantizers == fine_codebooks
    config = BarkConfig(
        semantic_config=semantic.to_dict(),
        coarse_acoustics_config=coarse.to_dict(),
        fine_acoustics_config=fine.to_dict(),
        codec_config=codec.to_dict(),
    )
    generation = BarkGenerationConfig.from_sub_model_configs(
        BarkSemanticGenerationConfig(
            eos_token_id=semantic_vocab,
            max_new_tokens=BARK_SEMANTIC_NEW_TOKENS,
            text_encoding_offset=text_offset,
            text_pad_token=96,
            semantic_infer_token=99,
            semantic_vocab_size=semantic_vocab,
            max_input_semantic_length=16,
        ),
        BarkCoarseGenerationConfig(
            coarse_semantic_pad_token=coarse_tokens,
            coarse_infer_token=coarse_tokens + 2,
            n_coarse_codebooks=coarse_codebooks,
            max_coarse_input_length=16,
            max_coarse_history=24,
            sliding_window_len=8,
        ),
        BarkFineGenerationConfig(
            n_fine_codebooks=fine_codebooks, max_fine_history_length=8, max_fine_input_length=16
        ),
        codebook_size=codebook_size,
    )
    BarkModel(config).eval().save_pretrained(folder)
    # Written as the hub's Bark folders hold it: BarkGenerationConfig cannot save itself (it skips
    # GenerationConfig's __init__, which save_pretrained's checks need).
    (folder / "generation_config.json").write_text(json.dumps(generation.to_dict()), encoding="utf-8")
    BarkProcessor(tokenizer).save_pretrained(folder)


def _tiny_codec(bandwidth: float, sampling_rate: int, codebook_size: int) -> Any:
    """An EnCodec of a few kilobytes: MusicGen's and Bark's audio codec, random weights."""
    from transformers import EncodecConfig

    return EncodecConfig(
        target_bandwidths=[bandwidth],
        sampling_rate=sampling_rate,
        audio_channels=1,
        hidden_size=8,
        num_filters=4,
        num_residual_layers=1,
        upsampling_ratios=[4, 4],
        codebook_size=codebook_size,
        codebook_dim=8,
        num_lstm_layers=1,
        compress=2,
    )


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
