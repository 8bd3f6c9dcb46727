"""The runnable examples of examples/ (SDK v2), run by the test suite as a newcomer runs them:
`scripts/example NAME` against a server on its defaults (the local runner, the embedded object
store), with examples/images.json for the @step one. Each example prints what happened; these
tests read that, and the last line must be `result: Succeeded`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sdk import sdk_missing

if sdk_missing("2"):
    pytest.skip(str(sdk_missing("2")), allow_module_level=True)

from tests.support.examples import images_for_examples, run_scripts_example  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    data_dir = tmp_path_factory.mktemp("data")
    images = images_for_examples(tmp_path_factory.mktemp("conf"))
    server = ServerProcess(
        ["--data-dir", str(data_dir), "--runner", "local", "--images", str(images)]
    )
    server.start()
    try:
        yield server, data_dir
    finally:
        server.stop()


def test_the_tabular_example_trains_evaluates_and_registers(
    served: tuple[ServerProcess, Path],
) -> None:
    out = run_scripts_example("tabular_sdk_v2", served[0].url, served[1])
    for step in ("Preprocess", "Train", "Evaluate", "CheckAccuracy", "Register-RegisterModel"):
        assert re.search(rf"^  {step} +Succeeded +attempts=1$", out, re.M), out
    assert "the accuracy check came out True; registered arn:aws:sagemaker:" in out
    assert "model-package/tabular-models/" in out
    assert out.splitlines()[-1] == "result: Succeeded"


def test_the_fix_and_retry_example_runs_only_train_and_what_follows_again(
    served: tuple[ServerProcess, Path],
) -> None:
    out = run_scripts_example("fix_and_retry", served[0].url, served[1])
    first, _, after = out.partition("retrying the execution in place")
    assert "execution Failed:" in first
    assert re.search(r"^  Train +Failed +attempts=1 +\(NameError: name 'flaot'", first, re.M)
    assert "Evaluate" not in first  # nothing after Train ran
    assert re.search(r"^  Preprocess +Succeeded +attempts=1$", after, re.M), out
    assert re.search(r"^  Train +Succeeded +attempts=2$", after, re.M), out
    assert ("kept from the first run: Preprocess; run again: Train; run for the first time: "
            "Evaluate, CheckAccuracy, Register-RegisterModel") in after  # fmt: skip
    assert out.splitlines()[-1] == "result: Succeeded"


def test_the_step_functions_example_returns_the_fitted_line(
    served: tuple[ServerProcess, Path],
) -> None:
    out = run_scripts_example("step_functions", served[0].url, served[1])
    for step in ("Generate", "Fit", "SlopeNearTwo"):
        assert re.search(rf"^  {step} +Succeeded +attempts=1$", out, re.M), out
    slope = re.search(r"Fit returned slope ([0-9.]+), intercept ([0-9.]+)", out)
    assert slope is not None, out
    assert abs(float(slope[1]) - 2) < 0.2 and abs(float(slope[2]) - 1) < 0.2
    assert out.splitlines()[-1] == "result: Succeeded"
