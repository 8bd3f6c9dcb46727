"""Step types whose work happens in a service sagepipe does not run (docs/behaviour.md §8).

Under `simulate` they are simulated like every step. A runner that does real work refuses
them with this reason instead of recording a success: a QualityCheck or Tuning step that
"succeeded" without running would tell its pipeline something untrue."""

from __future__ import annotations

WHY: dict[str, str] = {
    "EMR": "they run on an Amazon EMR cluster",
    "EMRServerless": "they run on an EMR Serverless application",
    "Athena": "they run an Amazon Athena query",
    "Tuning": (
        "a hyperparameter tuning job runs training jobs that SageMaker's tuner chooses; train "
        "with fixed hyperparameters in a Training step instead"
    ),
    "AutoML": "SageMaker Autopilot chooses and trains the candidates itself",
    "QualityCheck": "they run SageMaker Model Monitor's own container image",
    "ClarifyCheck": "they run SageMaker Clarify's own container image",
}


def refusal(step_type: str, runner: str) -> str:
    """The FailureReason of a `step_type` step under `runner`."""
    return (
        f"ClientError: the {runner} runner cannot run {step_type} steps: {WHY[step_type]}. "
        "Run the pipeline on a server with --runner simulate to record them without the work."
    )
