"""Schedulers a request may name. Each is built from the pipeline's own scheduler config
(``from_config``), so the folder's noise schedule (betas, prediction type, timestep spacing) is kept
and only the sampling method changes. A fresh scheduler per call: schedulers keep state while they run.
"""

from __future__ import annotations

from typing import Any

from worker.errors import InvalidParams

# name -> (diffusers class, extra config)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "lms": ("LMSDiscreteScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {}),
    "dpm++_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "deis": ("DEISMultistepScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}


def check_name(name: str | None) -> None:
    if name is not None and name not in SCHEDULERS:
        raise InvalidParams(f"unknown scheduler {name!r}; known: {', '.join(sorted(SCHEDULERS))}")


def build(name: str | None, original: Any) -> Any:
    """A fresh scheduler for one call: ``name``'s, or one like the folder's when None."""
    import diffusers

    if name is None:
        return type(original).from_config(original.config)
    class_name, extra = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(original.config, **extra)


def check_steps(
    name: str | None, original: Any, pipeline: Any, steps: int | None, strength: float | None
) -> None:
    """LCM samples a subset of the steps it was distilled with (``original_inference_steps``): more is
    diffusers' ValueError half-way into the call. LCM's own image-to-image pipeline also hands the scheduler
    its ``strength`` (default 0.8), which shrinks that subset; Stable Diffusion's pipelines do not.
    ``original`` is the folder's scheduler (never one a request swapped in); ``steps`` is the request's,
    None for the pipeline's default (50 for Stable Diffusion, 4 for LCM's own)."""
    uses_lcm = name == "lcm" or (name is None and type(original).__name__ == "LCMScheduler")
    if not uses_lcm:
        return
    if steps is None:
        steps = int(_call_default(pipeline, "num_inference_steps", 50))
    distilled = int(original.config.get("original_inference_steps") or 50)
    limit, why = distilled, f"{distilled} distilled steps"
    if type(pipeline).__name__ == "LatentConsistencyModelImg2ImgPipeline":
        scaled = strength if strength is not None else _call_default(pipeline, "strength", 0.8)
        limit, why = int(distilled * scaled), f"{distilled} distilled steps x strength {scaled:g}"
    if steps > limit:
        raise InvalidParams(
            f"the lcm scheduler takes at most {limit} num_inference_steps here ({why}), got {steps}"
        )


def _call_default(pipeline: Any, parameter: str, fallback: Any) -> Any:
    """What ``pipeline(...)`` takes for ``parameter`` when a request names none (``fallback`` where its
    signature has no default for it)."""
    import inspect

    found = inspect.signature(pipeline.__call__).parameters.get(parameter)
    default = None if found is None else found.default
    return fallback if default is None or default is inspect.Parameter.empty else default
