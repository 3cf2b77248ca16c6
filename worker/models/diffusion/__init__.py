"""Image generation with diffusers pipelines: what the three image tasks (worker.models.tasks.diffusion)
are built from. Nothing here imports diffusers at module level: it is an optional extra (``images``),
imported by the first load of a pipeline.

    folder      model_index.json: is a folder a pipeline, which task it implies, does it need own code
    parameters  the typed run parameters and their bounds
    schedulers  scheduler names clients may ask for, built from the folder's scheduler config
    estimate    the working memory a call needs, checked before it runs
    preview     a cheap RGB preview of the latents (a fixed linear map, no VAE)
    runner      one batched pipeline call for several requests: seeds, progress, cancellation
    encoding    generated images as png/jpeg/webp bytes or uint8 arrays
"""
