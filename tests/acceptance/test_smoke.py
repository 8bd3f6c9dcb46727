from tests.support.pipelines import create, processing, steps_by_name, wait_status


def test_a_chain_runs_to_success(sm, name):
    create(sm, name, [processing("A"), processing("B", ["A"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_status(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_by_name(sm, arn)
    assert {s: v["StepStatus"] for s, v in steps.items()} == {"A": "Succeeded", "B": "Succeeded"}
    assert steps["B"]["StartTime"] >= steps["A"]["EndTime"]
