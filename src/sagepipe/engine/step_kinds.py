"""What each step type is to the engine, in one table: the engine evaluates it, a runner does
its work (or refuses work it cannot do), it waits for a callback, or it records a resource
(docs/behaviour.md §8)."""

from __future__ import annotations

from enum import StrEnum

from sagepipe.runners.contracts import elsewhere
from sagepipe.runners.port import Runner


class StepKind(StrEnum):
    EVALUATED = "evaluated"  # Condition, Fail: decided in the tick that starts them
    CALLBACK = "callback"  # waits for SendPipelineExecutionStepSuccess/Failure
    LAMBDA = "lambda"  # a function call: at --lambda-endpoint-url, else simulated
    COMPUTE = "compute"  # real work: the configured runner (--runner)
    ELSEWHERE = "elsewhere"  # work in a service sagepipe does not run: the runner refuses it
    RESOURCE = "resource"  # records its resource and succeeds, as under `simulate`


STEP_KINDS: dict[str, StepKind] = {
    "Condition": StepKind.EVALUATED,
    "Fail": StepKind.EVALUATED,
    "Callback": StepKind.CALLBACK,
    "Lambda": StepKind.LAMBDA,
    "Processing": StepKind.COMPUTE,
    "Training": StepKind.COMPUTE,
    "Transform": StepKind.COMPUTE,
    **{step_type: StepKind.ELSEWHERE for step_type in elsewhere.WHY},
}


def kind_of(step_type: str) -> StepKind:
    return STEP_KINDS.get(step_type, StepKind.RESOURCE)


# The job document's `kind` as stored since the first release: "job" for every runner job.
STORED_KIND = {StepKind.CALLBACK: "callback", StepKind.LAMBDA: "lambda"}
RUNNER_JOB_KINDS = ("job", "lambda")  # stored kinds a runner follows


class Runners:
    """The configured runner for compute steps, the lambda runner for Lambda steps when
    --lambda-endpoint-url is given, and the simulate runner for what is only recorded or
    simulated under every runner. Jobs name the runner that started them, so a job started by
    one runner is followed by the same one after a restart."""

    def __init__(self, compute: Runner, simulate: Runner, functions: Runner | None = None) -> None:
        self.compute = compute
        self.simulate = simulate
        self.functions = functions or simulate
        self._by_name = {r.name: r for r in (simulate, compute, self.functions)}

    def for_kind(self, kind: StepKind) -> Runner:
        if kind is StepKind.LAMBDA:
            return self.functions
        return self.compute if kind in (StepKind.COMPUTE, StepKind.ELSEWHERE) else self.simulate

    async def close(self) -> None:
        for runner in {id(r): r for r in self._by_name.values()}.values():
            await runner.close()

    def named(self, name: str | None) -> Runner | None:
        # Jobs stored before runners were named were all simulated.
        return self._by_name.get(name or self.simulate.name)
