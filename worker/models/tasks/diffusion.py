"""Image generation tasks: ``text-to-image``, ``image-to-image`` and ``inpainting``, each a diffusers
pipeline (worker.models.diffusion has the parts). Results per input: a list with one entry per image,
``{"image": bytes, "format", "width", "height", "seed"}``, or with ``keep: true`` the image kept as a
uint8 ``[height, width, 3]`` tensor: ``{"tensor": info, "width", "height", "seed"}``.

The registry's batcher is not used (``batchable`` is False): the pipeline's own runner coalesces
requests, because each image needs its request's context in the pipeline's step callback (progress,
previews, cancellation), which the registry's batcher does not pass.
"""

from __future__ import annotations

import importlib.util
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from worker.errors import InvalidInput, InvalidParams, UnsupportedTask
from worker.models import runtime
from worker.models.diffusion import folder, schedulers
from worker.models.diffusion.encoding import as_array, encode
from worker.models.diffusion.parameters import ImageParameters, check_bounds, check_pixels, round_down
from worker.models.diffusion.runner import CallSettings, ImageJob, PipelineRunner, Request
from worker.models.inputs.image import load_image
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.inputs.text import load_text
from worker.models.tasks.base import LoadContext, Task
from worker.runtime.context import RequestContext

IMAGE_PRECISION = (
    "one image's agreement in 16 bits cannot vouch for other prompts, seeds and step counts; "
    "ask for float16 or bfloat16 by name"
)
# Seeds drawn for requests that give none stay below 2^53, exact in every JSON client (JavaScript's numbers).
_DRAWN_SEED_BITS = 53


@dataclass(frozen=True)
class _Run:
    """A request's parameters with what they name looked up: the mask image, and the pixel bound."""

    params: ImageParameters
    mask: Any  # pillow RGB, or None
    max_image_pixels: int


@dataclass(frozen=True)
class Generated:
    image: Any  # pillow RGB
    seed: int


class _ImageTask(Task):
    Parameters = ImageParameters
    keepable = True
    precision_reason = IMAGE_PRECISION
    auto_pipeline: ClassVar[str]
    takes_image: ClassVar[bool] = True

    def __init__(self, name: str, pipeline: Any, device: Any, itemsize: int, source_name: str) -> None:
        super().__init__(name, runtime.torch().nn.ModuleList(_modules(pipeline)))
        self.runner = PipelineRunner(source_name, pipeline, device, itemsize)

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        path = lc.source.path
        if not folder.is_pipeline(path):
            raise UnsupportedTask(
                f"{lc.task} needs a diffusers pipeline folder (with {folder.INDEX}); "
                f"{lc.source.name!r} has none"
            )
        folder.refuse_custom_code(path, lc.options, lc.trust_remote_code)
        folder.refuse_component_options(path, lc.options)
        try:
            import diffusers
        except ModuleNotFoundError:
            raise UnsupportedTask(
                "image tasks need hf-worker's 'images' extra (diffusers), which is not installed in this "
                "worker: pip install 'hf-worker[images]'",
                data={"extra": "images", "missing": "diffusers"},
            ) from None
        diffusers.utils.logging.disable_progress_bar()
        lc.report("loading pipeline")
        options = {"dtype": lc.dtype, **lc.options}
        if importlib.util.find_spec("accelerate") is None:
            # What diffusers falls back to anyway, said here so that it does not log a warning per load.
            options.setdefault("low_cpu_mem_usage", False)
        if lc.trust_remote_code:
            pipeline = diffusers.DiffusionPipeline.from_pretrained(lc.path, trust_remote_code=True, **options)
        else:
            pipeline = getattr(diffusers, cls.auto_pipeline).from_pretrained(lc.path, **options)
        if "callback_on_step_end" not in _call_parameters(pipeline):
            raise UnsupportedTask(
                f"{type(pipeline).__name__} reports no steps (callback_on_step_end): it could not report "
                "progress or be cancelled"
            )
        pipeline.set_progress_bar_config(disable=True)
        pipeline = pipeline.to(lc.device)
        itemsize = int(lc.dtype.itemsize)
        return cls(lc.task, pipeline, lc.device, itemsize, lc.source.name)

    # ---- validate, load inputs ------------------------------------------------------------------

    def validate(self, parameters: dict[str, Any]) -> Any:
        params: ImageParameters = super().validate(parameters)
        schedulers.check_name(params.scheduler)
        pipeline = self.runner.pipeline
        if pipeline is not None:
            # The folder's scheduler: pipeline.scheduler is whichever a running request swapped in.
            original = self.runner.original_scheduler
            schedulers.check_steps(
                params.scheduler, original, pipeline, params.num_inference_steps, params.strength
            )
        if not self.takes_image:
            for name in ("prompt", "strength", "mask"):
                if getattr(params, name) is not None:
                    where = "the input" if name == "prompt" else "image-to-image and inpainting"
                    raise InvalidParams(f"{self.task_name} takes no {name!r} parameter (it is for {where})")
        if self.task_name != "inpainting" and params.mask is not None:
            raise InvalidParams(f"{self.task_name} takes no mask (inpainting does)")
        if self.task_name == "inpainting" and params.mask is None:
            raise InvalidParams("inpainting needs a mask: parameters.mask, an image input")
        return params

    def resolve(self, params: Any, sources: InputSources) -> Any:
        mask = None
        if params.mask is not None:
            mask = load_image(params.mask, sources, f"{self.task_name} mask")
        return _Run(params, mask, sources.max_image_pixels)

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        if not self.takes_image:
            return load_text(value, self.task_name)
        if value.kind == "text":
            raise InvalidInput(
                f"{self.task_name} takes an image (path, bytes or tensor) as its input; the prompt is "
                "parameters.prompt"
            )
        return load_image(value, sources, self.task_name)

    # ---- infer ----------------------------------------------------------------------------------

    def infer(self, items: list[Any], run: Any, ctx: RequestContext | None) -> list[Any]:
        params: ImageParameters = run.params
        check_bounds(params, len(items), run.max_image_pixels)
        settings = self._settings(items, params)
        check_pixels(settings.width, settings.height, run.max_image_pixels)
        # Refused before it waits in the queue; a coalesced call is checked again for all its images.
        self.runner.check_fits(settings, len(items) * params.num_images)
        mask = None if run.mask is None else _resized(run.mask, settings).convert("L")
        request = Request(ctx, params.preview_every)
        first_seed = params.seed if params.seed is not None else secrets.randbits(_DRAWN_SEED_BITS)
        jobs: list[ImageJob] = []
        for item in items:
            image = None if not self.takes_image else _resized(item, settings)
            for _ in range(params.num_images):
                prompt = item if not self.takes_image else params.prompt or ""
                jobs.append(
                    ImageJob(request, prompt, params.negative_prompt, first_seed + len(jobs), image, mask)
                )
        images = self.runner.submit(jobs, settings, ctx)
        generated = [Generated(image, job.seed) for image, job in zip(images, jobs, strict=True)]
        per_input = params.num_images
        return [generated[i : i + per_input] for i in range(0, len(generated), per_input)]

    def _settings(self, items: list[Any], params: ImageParameters) -> CallSettings:
        if self.takes_image:
            first = items[0]
            width = params.width or round_down(first.width)
            height = params.height or round_down(first.height)
        else:
            pipeline = self.runner.pipeline
            default = int(pipeline.unet.config.sample_size) * int(pipeline.vae_scale_factor)
            width, height = params.width or default, params.height or default
        return CallSettings(
            self.task_name,
            width,
            height,
            params.num_inference_steps,
            params.guidance_scale,
            params.strength,
            params.scheduler,
        )

    # ---- results --------------------------------------------------------------------------------

    def shape(self, output: Any, run: Any) -> Any:
        image_format = run.params.format
        return [
            {
                "image": encode(item.image, image_format),
                "format": image_format,
                "width": item.image.width,
                "height": item.image.height,
                "seed": item.seed,
            }
            for item in output
        ]

    def keep(self, store: Any, outputs: list[Any], params: Any) -> list[Any] | None:
        """Each image as a uint8 [height, width, 3] tensor, all of the request's or none."""
        arrays = [as_array(item.image) for output in outputs for item in output]
        infos = iter(store.put_arrays(arrays, copy=False))
        return [
            [
                {
                    "tensor": next(infos),
                    "width": item.image.width,
                    "height": item.image.height,
                    "seed": item.seed,
                }
                for item in output
            ]
            for output in outputs
        ]

    def release(self) -> None:
        self.runner.close()
        super().release()


class TextToImage(_ImageTask):
    name = "text-to-image"
    auto_pipeline = "AutoPipelineForText2Image"
    takes_image = False


class ImageToImage(_ImageTask):
    name = "image-to-image"
    auto_pipeline = "AutoPipelineForImage2Image"


class Inpainting(_ImageTask):
    name = "inpainting"
    auto_pipeline = "AutoPipelineForInpainting"


def _resized(image: Any, settings: CallSettings) -> Any:
    if image.size == (settings.width, settings.height):
        return image
    from PIL import Image

    return image.resize((settings.width, settings.height), Image.Resampling.LANCZOS)


def _modules(pipeline: Any) -> list[Any]:
    """The pipeline's torch modules (UNet, VAE, text encoders), for memory accounting."""
    module_class = runtime.torch().nn.Module
    return [c for c in pipeline.components.values() if isinstance(c, module_class)]


def _call_parameters(pipeline: Any) -> set[str]:
    import inspect

    return set(inspect.signature(type(pipeline).__call__).parameters)
