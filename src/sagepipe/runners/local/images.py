"""`--images FILE`: which local environment stands in for which container image
(docs/behaviour.md §11.2). First match wins; without one a job runs in sagepipe's own. A
relative `venv` is taken from the images file's directory."""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass, field
from typing import Any


class ImagesFileError(Exception):
    pass


@dataclass(frozen=True)
class ImageProfile:
    match: str
    venv: str | None = None  # its bin/ goes first on PATH
    entrypoint: list[str] | None = None  # the image's ENTRYPOINT
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageMap:
    profiles: tuple[ImageProfile, ...] = ()

    def lookup(self, image: str) -> ImageProfile | None:
        return next((p for p in self.profiles if fnmatch.fnmatchcase(image, p.match)), None)

    @classmethod
    def load(cls, path: str | None) -> ImageMap:
        if not path:
            return cls()
        try:
            with open(path) as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ImagesFileError(f"cannot read the images file {path}: {exc}") from None
        return cls(tuple(_profile(item, i, path) for i, item in enumerate(_items(document, path))))


def _items(document: Any, path: str) -> list[Any]:
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise ImagesFileError(f'{path} must hold {{"images": [{{"match": "...", ...}}]}}.')
    return list(document["images"])


def _profile(item: Any, i: int, path: str) -> ImageProfile:
    where = f"{path}: images[{i}]"
    if not isinstance(item, dict) or not isinstance(item.get("match"), str):
        raise ImagesFileError(f'{where} needs a "match" glob (e.g. "*sagemaker-scikit-learn*").')
    unknown = set(item) - {"match", "venv", "entrypoint", "environment"}
    if unknown:
        raise ImagesFileError(f"{where} has unknown member(s): {', '.join(sorted(unknown))}.")
    entrypoint = item.get("entrypoint")
    if entrypoint is not None and (
        not isinstance(entrypoint, list) or not all(isinstance(a, str) for a in entrypoint)
    ):
        raise ImagesFileError(f"{where}: entrypoint must be a list of strings.")
    environment = item.get("environment") or {}
    if not isinstance(environment, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in environment.items()
    ):
        raise ImagesFileError(f"{where}: environment must map names to strings.")
    venv = item.get("venv")
    if venv is not None and not isinstance(venv, str):
        raise ImagesFileError(f"{where}: venv must be a directory path.")
    if venv is not None:
        # A relative venv is relative to the images file, so a project can ship one.
        venv = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), venv))
    return ImageProfile(item["match"], venv, entrypoint, environment)
