"""What a step's expressions see of the execution (docs/behaviour.md §7: Execution.* variables)."""

from sagepipe.domain.definition import parse_definition
from sagepipe.domain.expressions import resolve
from sagepipe.domain.records import ExecutionRecord
from sagepipe.engine.evaluation import StepContext

DEFINITION = '{"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Fail", "Arguments": {}}]}'
PIPELINE = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p"


def _context(created: float, now: float) -> StepContext:
    execution = ExecutionRecord(
        arn=f"{PIPELINE}/execution/abcdefghijkl", exec_id="abcdefghijkl",
        account="123456789012", region="us-east-1", pipeline_arn=PIPELINE, status="Executing",
        parallelism=None, pipeline_parallelism=None, retry_count=0, epoch=1, created=created,
        definition_text=DEFINITION, parameters={},
    )  # fmt: skip
    return StepContext(execution, parse_definition(DEFINITION), {}, now)


def test_execution_variables_resolve_to_their_values():
    context = _context(created=1_700_000_000.25, now=1_700_000_060.5)
    value = resolve(
        {
            "start": {"Get": "Execution.StartDateTime"},
            "now": {"Get": "Execution.CurrentDateTime"},
            "id": {"Get": "Execution.PipelineExecutionId"},
            "name": {"Get": "Execution.PipelineName"},
        },
        context,
    )
    assert value == {
        "start": "2023-11-14T22:13:20.250000Z",
        "now": "2023-11-14T22:14:20.500000Z",
        "id": "abcdefghijkl",
        "name": "p",
    }
    assert set(context.execution_vars) >= {"StartDateTime", "CurrentDateTime", "PipelineArn"}
    assert "StartDateTime" in context.execution_vars and "Nope" not in context.execution_vars
