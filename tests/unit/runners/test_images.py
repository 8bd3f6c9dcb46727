"""The --images file: how a job's image finds its local environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagepipe.runners.local.images import ImageMap, ImagesFileError


def write(tmp_path: Path, images: object) -> str:
    path = tmp_path / "conf" / "images.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"images": images}))
    return str(path)


def test_the_first_matching_glob_wins_and_a_relative_venv_is_the_files_neighbour(
    tmp_path: Path,
) -> None:
    images = ImageMap.load(write(tmp_path, [
        {"match": "*sklearn*", "venv": "../venvs/sk", "environment": {"A": "1"}},
        {"match": "*", "venv": "/opt/any"},
    ]))  # fmt: skip
    sklearn = images.lookup("123.dkr.ecr/sagemaker-sklearn:1.2")
    assert sklearn is not None and sklearn.venv == str(tmp_path / "venvs" / "sk")
    assert sklearn.environment == {"A": "1"}
    other = images.lookup("python:3")
    assert other is not None and other.venv == "/opt/any"
    assert ImageMap().lookup("python:3") is None


@pytest.mark.parametrize(
    ("images", "says"),
    [
        ([{"venv": "/v"}], 'needs a "match" glob'),
        ([{"match": "*", "venv": 3}], "venv must be a directory path"),
        ([{"match": "*", "entrypoint": "train"}], "entrypoint must be a list of strings"),
        ([{"match": "*", "environment": {"A": 1}}], "environment must map names to strings"),
        ([{"match": "*", "image": "x"}], "unknown member(s): image"),
    ],
)
def test_a_bad_entry_is_refused_naming_it(tmp_path: Path, images: object, says: str) -> None:
    with pytest.raises(ImagesFileError, match=r"images\[0\]") as refused:
        ImageMap.load(write(tmp_path, images))
    assert says in str(refused.value)
