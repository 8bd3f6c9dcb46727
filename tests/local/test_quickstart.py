"""The README's quick start, run as it stands: a server on its embedded defaults (the local
runner and the embedded object store), a shell set up with `sagepipe s3-env`, and the
README's Python script, which must print what its step computed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support.server import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"


def quick_start() -> tuple[str, str]:
    """The section's shell lines and its Python script."""
    section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    shell, script = re.findall(r"```(?:bash|python)\n(.*?)```", section, re.S)[:2]
    return shell, script


def test_the_readme_quick_start_runs_a_real_step_on_the_embedded_store(tmp_path: Path) -> None:
    shell, script = quick_start()
    assert "sagepipe s3-env" in shell and "AWS_ENDPOINT_URL_SAGEMAKER" in shell
    expected = script.strip().splitlines()[-1].removeprefix("# ")
    server = ServerProcess(["--data-dir", str(tmp_path / "data"), "--runner", "local"])
    server.start(timeout=120)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        # The shell lines, with this server's port and data directory in place of the defaults.
        exports = subprocess.run(
            [sys.executable, "-m", "sagepipe.cli", "s3-env", "--data-dir", str(tmp_path / "data")],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        for line in [
            *exports.splitlines(),
            shell.splitlines()[0].replace("8080", str(server.port)),
        ]:
            name, value = shlex.split(line.removeprefix("export "))[0].split("=", 1)
            env[name] = value
        (tmp_path / "quickstart.py").write_text(script)
        done = subprocess.run(
            [sys.executable, "quickstart.py"],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected == "Succeeded b'6'"
