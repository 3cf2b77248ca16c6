"""One pipeline call for the images of one or more requests, and the queue that feeds it.

Every request is split into image jobs (prompt, seed, starting image, mask) and submitted to the
pipeline's DynamicBatcher (worker.models.batching): its one thread is the only one that ever calls the
pipeline, in arrival order, and it coalesces waiting requests with the same call settings (size,
steps, guidance, strength, scheduler) into one call of up to MAX_IMAGES images. A lock around the
call keeps that true should anything else touch the pipeline (release).

Each image gets its own CPU torch.Generator seeded with its seed, so an image depends on its seed,
not on its neighbours in the batch. After every denoising step the callback reports progress to each
request still waiting and stops the call (before the VAE decode) once every request in it is
cancelled; a cancelled request in a call that goes on is answered -32800 by the dispatcher and its
images are dropped (the batcher's caller never reads them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from worker.errors import RequestCancelled
from worker.models import memory, runtime
from worker.models.batching import BatchingSettings, DynamicBatcher
from worker.models.diffusion import estimate, preview, schedulers
from worker.models.diffusion.parameters import MAX_IMAGES
from worker.runtime.context import RequestContext

# A diffusion call takes seconds: waiting this long for company costs nothing noticeable.
COALESCE_DELAY_MS = 50.0


@dataclass(frozen=True)
class CallSettings:
    """What every image of one pipeline call shares (the coalescing key)."""

    task: str
    width: int
    height: int
    steps: int | None
    guidance: float | None
    strength: float | None
    scheduler: str | None

    @property
    def key(self) -> bytes:
        return repr(self).encode()


@dataclass(eq=False)
class Request:
    """The part of a request its images share: where its progress goes."""

    ctx: RequestContext | None
    preview_every: int | None

    @property
    def cancelled(self) -> bool:
        return self.ctx is not None and self.ctx.cancelled


@dataclass(eq=False)
class ImageJob:
    request: Request
    prompt: str
    negative_prompt: str | None
    seed: int
    image: Any = None  # pillow RGB, at the call's size (image-to-image, inpainting)
    mask: Any = None  # pillow, at the call's size (inpainting)


@dataclass
class _Call:
    jobs: list[ImageJob]
    requests: list[Request] = field(default_factory=list)
    first_index: dict[int, int] = field(default_factory=dict)  # id(request) -> its first image

    def __post_init__(self) -> None:
        for index, job in enumerate(self.jobs):
            if id(job.request) not in self.first_index:
                self.first_index[id(job.request)] = index
                self.requests.append(job.request)


class PipelineRunner:
    def __init__(self, name: str, pipeline: Any, device: Any, itemsize: int) -> None:
        self.pipeline = pipeline
        self.device = device
        self.itemsize = itemsize
        self.original_scheduler = pipeline.scheduler
        self.projection = preview.projection_for(pipeline)
        self._lock = threading.Lock()
        self._state: Any = None  # the worker's state, from the first request's context
        self.batcher = DynamicBatcher(
            f"{name}-images",
            self._run,
            BatchingSettings(MAX_IMAGES, COALESCE_DELAY_MS),
            requests_in_flight=self._requests_in_flight,
        )

    def check_fits(self, settings: CallSettings, images: int) -> None:
        guided = settings.guidance is None or settings.guidance > 1
        needed = estimate.working_bytes(
            self.pipeline, settings.width, settings.height, images, guided, self.itemsize
        )
        memory.check_working_memory(
            f"{images} image(s) of {settings.width}x{settings.height}", needed, self.device
        )

    def submit(self, jobs: list[ImageJob], settings: CallSettings, ctx: RequestContext | None) -> list[Any]:
        """The pillow images of ``jobs``, in order (possibly made in one call with other requests')."""
        if ctx is not None:
            self._state = ctx.state
        return self.batcher.submit(jobs, settings, settings.key, ctx)

    def _requests_in_flight(self) -> int | None:
        """As the registry's batchers: a client sending one request at a time never waits for company."""
        dispatcher = getattr(self._state, "dispatcher", None)
        return None if dispatcher is None else int(dispatcher.unanswered)

    def close(self) -> None:
        self.batcher.close()
        with self._lock:
            self.pipeline = None

    # ---- on the batcher's thread ----------------------------------------------------------------

    def _run(self, jobs: list[ImageJob], settings: CallSettings) -> list[Any]:
        call = _Call(jobs)
        if all(request.cancelled for request in call.requests):
            raise RequestCancelled()
        self.check_fits(settings, len(jobs))
        torch = runtime.torch()
        with self._lock:
            pipeline = self.pipeline
            if pipeline is None:
                raise RequestCancelled("the model was unloaded")
            pipeline.scheduler = schedulers.build(settings.scheduler, self.original_scheduler)
            try:
                with runtime.no_grad():
                    output = pipeline(
                        **self._arguments(jobs, settings),
                        generator=[torch.Generator("cpu").manual_seed(job.seed) for job in jobs],
                        num_images_per_prompt=1,
                        output_type="pil",
                        callback_on_step_end=lambda pipe, i, t, tensors: self._after_step(
                            call, pipe, i, tensors
                        ),
                    )
            finally:
                pipeline.scheduler = self.original_scheduler
        return list(output.images)

    def _arguments(self, jobs: list[ImageJob], settings: CallSettings) -> dict[str, Any]:
        arguments: dict[str, Any] = {"prompt": [job.prompt for job in jobs]}
        if any(job.negative_prompt for job in jobs):
            arguments["negative_prompt"] = [job.negative_prompt or "" for job in jobs]
        if settings.steps is not None:
            arguments["num_inference_steps"] = settings.steps
        if settings.guidance is not None:
            arguments["guidance_scale"] = settings.guidance
        if settings.strength is not None:
            arguments["strength"] = settings.strength
        if settings.task != "image-to-image":  # image-to-image takes its size from the image
            arguments["width"], arguments["height"] = settings.width, settings.height
        if settings.task != "text-to-image":
            arguments["image"] = [job.image for job in jobs]
        if settings.task == "inpainting":
            arguments["mask_image"] = [job.mask for job in jobs]
        return arguments

    def _after_step(self, call: _Call, pipe: Any, index: int, tensors: dict[str, Any]) -> dict[str, Any]:
        waiting = [request for request in call.requests if not request.cancelled]
        if not waiting:
            # Raised, not pipe._interrupt: an interrupted diffusers call still decodes and returns images.
            raise RequestCancelled()
        step, steps = index + 1, int(getattr(pipe, "num_timesteps", 0) or index + 1)
        for request in waiting:
            if request.ctx is None or not request.ctx.wants_progress:
                continue
            report: dict[str, Any] = {"step": step, "steps": steps, "batch_images": len(call.jobs)}
            every = request.preview_every
            latents = tensors.get("latents")
            if (
                every
                and self.projection is not None
                and latents is not None
                and (step % every == 0 or step == steps)
            ):
                image, width, height = preview.preview_png(
                    latents[call.first_index[id(request)]], self.projection
                )
                report.update(preview=image, width=width, height=height)
            request.ctx.progress(report)
        return {}
