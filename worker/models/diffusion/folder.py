"""A diffusers pipeline folder: recognised by its ``model_index.json``, which names the pipeline class
and each component as ``[library, class]``. Read as JSON only (no diffusers import), so that settling a
task stays cheap and a folder that needs its own code is refused before anything of it is imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.errors import Forbidden, InvalidInput, InvalidParams

INDEX = "model_index.json"
# Component libraries whose classes come with installed packages; any other library names a
# module in the folder (or on the hub): code that would run with the worker's rights.
_LIBRARIES = {"diffusers", "transformers"}


def is_pipeline(folder: Path) -> bool:
    return (folder / INDEX).is_file()


def read_index(folder: Path) -> dict[str, Any]:
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{folder.name}/{INDEX} cannot be read: {exc}") from None
    if not isinstance(index, dict):
        raise InvalidInput(f"{folder.name}/{INDEX} is not a JSON object")
    return index


def task_of(folder: Path) -> str:
    """The task a pipeline folder implies, from its pipeline class name."""
    name = str(read_index(folder).get("_class_name", ""))
    if "Inpaint" in name:
        return "inpainting"
    if "Img2Img" in name or "ImageToImage" in name:
        return "image-to-image"
    return "text-to-image"


def custom_code(folder: Path, options: dict[str, Any]) -> str | None:
    """What in this pipeline would run code that is not an installed library's, or None."""
    if options.get("custom_pipeline") is not None:
        return f"options.custom_pipeline {options['custom_pipeline']!r}"
    index = read_index(folder)
    pipeline = index.get("_class_name")
    if not isinstance(pipeline, str) or not _is_diffusers_class(pipeline):
        return f"pipeline class {pipeline!r}"
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        library, cls = value
        if library is None and cls is None:  # an optional component left out (safety_checker)
            continue
        if library not in _LIBRARIES:
            return f"component {name!r} ({library}.{cls})"
    return None


def refuse_component_options(folder: Path, options: dict[str, Any]) -> None:
    """Components are objects built from the folder: a name of one in options could only drop it (null)
    or fail, and a pipeline left without its UNet fails every run instead of its load."""
    components = sorted(name for name in read_index(folder) if not name.startswith("_") and name in options)
    if components:
        raise InvalidParams(
            f"options {components} name components of pipeline {folder.name!r}; they are loaded from its "
            "folder and cannot be replaced or left out through options"
        )


def refuse_custom_code(folder: Path, options: dict[str, Any], trusted: bool) -> None:
    found = custom_code(folder, options)
    if found is not None and not trusted:
        raise Forbidden(
            f"pipeline {folder.name!r} needs its own code ({found}), which this worker refuses; start the "
            "worker with --trust-remote-code and pass options.trust_remote_code to allow it"
        )


def _is_diffusers_class(name: str) -> bool:
    import importlib.util

    if importlib.util.find_spec("diffusers") is None:
        return True  # the load itself reports the missing extra
    import diffusers

    return hasattr(diffusers, name)
