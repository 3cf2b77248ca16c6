"""Model serving: load HuggingFace models, run their tasks, batch concurrent calls.

    sources     where a model's files come from (folder, HF cache, hub, the bundled MiniLM)
    loading     from files to a ready Task: device, dtype, memory check, trust_remote_code policy
    registry    loaded models by handle, reference counted
    batching    the dynamic batcher that coalesces concurrent calls into one forward pass
    inputs      text, audio, image and tensor inputs decoded into what a model takes
    tasks       one module per task family, each with the life cycle validate -> load inputs ->
                infer -> shape output
    running     model/run end to end: a Task's life cycle, batching, ``keep``
    embed       sentence embeddings as arrays, for other services (tensor/search)

Nothing in this package imports torch or transformers at module import time; ``runtime.torch()``
does it on first use, so the worker's ready handshake stays fast.
"""
