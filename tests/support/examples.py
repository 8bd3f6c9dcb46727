"""Running the real examples (examples/*.py) the way the README says: `scripts/example NAME`
against a running server, with nothing of this test process's AWS set-up in their
environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_scripts_example(name: str, server_url: str, data_dir: Path) -> str:
    """stdout of `scripts/example NAME`, run in this virtualenv (the one the example needs),
    the object store found with `sagepipe s3-env --data-dir`; fails on a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    venv_variable = "SAGEPIPE_SDK3_VENV" if name.endswith("_v3") else "SAGEPIPE_SDK_VENV"
    env.update({
        "SAGEPIPE_URL": server_url, "SAGEPIPE_DATA_DIR": str(data_dir), venv_variable: sys.prefix,
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    })  # fmt: skip
    done = subprocess.run([str(ROOT / "scripts" / "example"), name], capture_output=True,
                          text=True, timeout=600, env=env, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def images_for_examples(tmp_path: Path) -> Path:
    """examples/images.json with its virtualenvs replaced by this one, which has the SDK the
    @step examples pickle with (CI's SDK virtualenvs are not where the file says)."""
    shipped = json.loads((EXAMPLES / "images.json").read_text())
    for image in shipped["images"]:
        image["venv"] = sys.prefix
    path = tmp_path / "images.json"
    path.write_text(json.dumps(shipped))
    return path
