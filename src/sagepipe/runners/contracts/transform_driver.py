"""Batch transform inside a local job (docs/behaviour.md §11.3), run by the job's own Python.

It does what the SageMaker inference toolkit does for a batch transform behind its HTTP
server: unpack the model at /opt/ml/model, import the inference script (SAGEMAKER_PROGRAM from
SAGEMAKER_SUBMIT_DIRECTORY's archive or the model's code/), load the model with `model_fn`,
and send every input object through `input_fn` -> `predict_fn` -> `output_fn` (or
`transform_fn`) in mini-batches, writing `<input>.out` under /opt/ml/transform.

Standard library only: it runs in the job's environment, which need not have sagepipe."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import sys
import tarfile
import traceback
from pathlib import Path

OPT_ML = Path("/opt/ml")
MODEL_DIR = OPT_ML / "model"
DATA = OPT_ML / "input" / "data"
OUT = OPT_ML / "transform"
FAILURE = OPT_ML / "output" / "failure"


class TransformError(Exception):
    """The job fails with this message as its FailureReason."""


def unpack(archive_dir: Path, target: Path) -> None:
    for archive in sorted(archive_dir.glob("*.tar.gz")) if archive_dir.is_dir() else []:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.8.17+ security releases
                tar.extractall(target, filter="data")
                continue
            for member in tar.getmembers():
                inside = (target / member.name).resolve()
                if not inside.is_relative_to(target.resolve()) or member.issym() or member.islnk():
                    raise TransformError(f"ClientError: {archive.name} holds an unsafe path.")
            tar.extractall(target)


def load_script() -> object:
    unpack(OPT_ML / "input" / "model", MODEL_DIR)
    code_dir = MODEL_DIR / "code"
    unpack(OPT_ML / "input" / "code", code_dir)
    program = os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
    path = code_dir / program
    if not path.is_file():
        raise TransformError(
            f"ClientError: the model's inference script {program} was not found (looked in "
            "SAGEMAKER_SUBMIT_DIRECTORY and the model archive's code/); set SAGEMAKER_PROGRAM "
            "on the model, or give its entry_point."
        )
    sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_input(body: bytes, content_type: str) -> object:
    text = body.decode("utf-8")
    if content_type.startswith("application/json"):
        return json.loads(text)
    if content_type.startswith("text/csv"):
        rows = [[float(x) for x in line.split(",")] for line in text.splitlines() if line.strip()]
        try:
            import numpy

            return numpy.array(rows)
        except ImportError:
            return rows
    raise TransformError(
        f"ClientError: no input_fn in the inference script, and content type {content_type} "
        "has no default decoder (text/csv and application/json do)."
    )


def default_output(prediction: object, accept: str) -> bytes:
    values = prediction.tolist() if hasattr(prediction, "tolist") else prediction
    if accept.startswith("application/json"):
        return json.dumps(values).encode()
    if not isinstance(values, list):
        values = [values]
    lines = [",".join(str(v) for v in row) if isinstance(row, list) else str(row) for row in values]
    return "\n".join(lines).encode()


class Handler:
    def __init__(self, module: object) -> None:
        self.module = module
        model_fn = getattr(module, "model_fn", None)
        if model_fn is None:
            raise TransformError("ClientError: the inference script defines no model_fn.")
        self.model = model_fn(str(MODEL_DIR))

    def __call__(self, body: bytes, content_type: str, accept: str) -> bytes:
        module = self.module
        transform_fn = getattr(module, "transform_fn", None)
        if transform_fn is not None:
            result = transform_fn(self.model, body, content_type, accept)
        else:
            data = getattr(module, "input_fn", default_input)(body, content_type)
            predict_fn = getattr(module, "predict_fn", None)
            prediction = predict_fn(data, self.model) if predict_fn else self.model.predict(data)
            result = getattr(module, "output_fn", default_output)(prediction, accept)
        if isinstance(result, tuple):  # (body, content type), as output_fn may answer
            result = result[0]
        return result.encode() if isinstance(result, str) else bytes(result)


def batches(records: list[bytes], settings: dict) -> list[bytes]:
    """Mini-batches of records joined by newlines, each at most MaxPayloadInMB (a record
    larger than that goes alone); one record each for SingleRecord."""
    if settings["split"] == "None":
        return records
    if settings["strategy"] != "MultiRecord":
        return records
    limit = settings["max_payload_bytes"] or float("inf")
    out: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if current and size + len(record) + 1 > limit:
            out.append(b"\n".join(current))
            current, size = [], 0
        current.append(record)
        size += len(record) + 1
    if current:
        out.append(b"\n".join(current))
    return out


def transform(handler: Handler, settings: dict) -> int:
    inputs = sorted(p for p in DATA.rglob("*") if p.is_file())
    for path in inputs:
        body = path.read_bytes()
        if settings["compression"] == "Gzip":
            body = gzip.decompress(body)
        records = [body] if settings["split"] == "None" else [
            line for line in body.splitlines() if line.strip()]  # fmt: skip
        answers = []
        for batch in batches(records, settings):
            try:
                answers.append(handler(batch, settings["content_type"], settings["accept"]))
            except Exception as exc:
                raise TransformError(
                    f"AlgorithmError: transforming {path.relative_to(DATA)} failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        joiner = b"\n" if settings["assemble_with"] == "Line" else b""
        target = OUT / (str(path.relative_to(DATA)) + ".out")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(joiner.join(a.rstrip(b"\n") if joiner else a for a in answers)
                           + (b"\n" if joiner and answers else b""))  # fmt: skip
        print(f"transformed {path.relative_to(DATA)}: {len(records)} record(s)", flush=True)
    return len(inputs)


def main() -> int:
    settings = json.loads((OPT_ML / "input" / "config" / "transform.json").read_text())
    try:
        handler = Handler(load_script())
        count = transform(handler, settings)
    except TransformError as exc:
        traceback.print_exc()
        FAILURE.parent.mkdir(parents=True, exist_ok=True)
        FAILURE.write_text(str(exc))
        return 1
    except Exception as exc:  # the inference script's own error, as the toolkit reports it
        traceback.print_exc()
        FAILURE.parent.mkdir(parents=True, exist_ok=True)
        FAILURE.write_text(f"AlgorithmError: {type(exc).__name__}: {exc}")
        return 1
    print(f"transformed {count} input object(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
