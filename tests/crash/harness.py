"""Crash-safety harness: a workload of executions (step failures, manual retries, stops,
callbacks) against a `sagepipe serve` process that is SIGKILLed at random moments and
restarted. At the end it checks that nothing acknowledged was lost and no step ran twice.

    python -m tests.crash.harness --seed 7 --kills 200           # the long version, SQLite
    python -m tests.crash.harness --seed 7 --kills 200 --db postgresql://.../db

A failing seed replays the same kill schedule and workload choices (timing still varies)."""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from tests.support.pipelines import ROLE, definition, processing
from tests.support.server import ServerProcess

NETWORK_ERRORS = (EndpointConnectionError, ConnectionClosedError, ConnectionError, OSError)


def _callback(name: str, depends_on: list[str]) -> dict[str, Any]:
    return {
        "Name": name, "Type": "Callback", "DependsOn": depends_on,
        "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "OutputParameters": [{"OutputName": "answer", "OutputType": "String"}],
        "Arguments": {"input": "x"},
    }  # fmt: skip


def _retrying(step: dict[str, Any]) -> dict[str, Any]:
    step["RetryPolicies"] = [
        {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 0.2,
         "BackoffRate": 1.0, "MaxAttempts": 3}
    ]  # fmt: skip
    return step


# Each shape: its steps, its fault rules, and the attempts every step must end with.
SHAPES: dict[str, dict[str, Any]] = {
    "chain": {  # C fails once without a retry policy: the client retries the execution
        "steps": [
            processing("A"),
            processing("B", ["A"]),
            processing("C", ["B"]),
            processing("D", ["C"]),
        ],
        "faults": [{"step": "C", "fail_attempts": 1}],
        "attempts": {"A": 1, "B": 1, "C": 2, "D": 1},
        "manual_retries": 1,
    },
    "auto": {  # X fails twice and its RetryPolicy retries it in place
        "steps": [processing("P"), _retrying(processing("X", ["P"])), processing("Y", ["X"])],
        "faults": [
            {"step": "X", "fail_attempts": 2, "exception_type": "SageMaker.JOB_INTERNAL_ERROR"}
        ],
        "attempts": {"P": 1, "X": 3, "Y": 1},
        "manual_retries": 0,
    },
    "callback": {  # the client answers the callback when it sees it
        "steps": [processing("P"), _callback("CB", ["P"]), processing("Q", ["CB"])],
        "faults": [],
        "attempts": {"P": 1, "CB": 1, "Q": 1},
        "manual_retries": 0,
    },
    "stopped": {  # the client stops it, then retries it to the end
        "steps": [processing("S1"), processing("S2", ["S1"]), processing("S3", ["S2"])],
        "faults": [],
        "attempts": None,  # depends on when the stop lands
        "manual_retries": 1,
    },
}


@dataclass
class Tracked:
    shape: str
    pipeline: str
    token: str
    arn: str | None = None
    stop_token: str | None = None
    retry_tokens: list[str] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)
    done: bool = False


class CrashProofClient:
    """SageMaker calls to a server that is killed and restarted under them: each is sent
    until answered, a request with a token resent unchanged (as botocore does), and every
    acknowledged one recorded by its token."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.lock = threading.Lock()  # held while the server restarts
        self.acknowledged: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        deadline = time.time() + 120
        while True:
            try:
                with self.lock:
                    client = self.server.client()
                response = getattr(client, operation)(**params)
                response.pop("ResponseMetadata", None)
                token = params.get("ClientRequestToken")
                if token:
                    self.acknowledged[token] = (operation, params, response)
                return response
            except NETWORK_ERRORS:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)


class Harness(CrashProofClient):
    def __init__(
        self, server: ServerProcess, seed: int, kills: int, executions: int, log: Any = print
    ) -> None:
        super().__init__(server)
        self.random = random.Random(seed)
        self.kills_wanted = kills
        self.executions = executions
        self.kills = 0
        self.log = log
        self.stop_killing = threading.Event()
        self.tracked: list[Tracked] = []
        self.duration = {"chain": 0.3, "auto": 0.2, "callback": 0.2, "stopped": 0.6}

    def extension(self, path: str) -> Any:
        while True:
            try:
                status, body = self.server.extension("GET", path)
                if status == 200:
                    return body
            except NETWORK_ERRORS:
                pass
            time.sleep(0.1)

    # ------------------------------------------------------------ the killer
    def killer(self) -> None:
        while self.kills < self.kills_wanted and not self.stop_killing.is_set():
            time.sleep(self.random.uniform(0.2, 1.2))
            with self.lock:
                self.server.kill()
                self.kills += 1
                self.server.start()
            if self.kills % 5 == 0:
                self.log(f"  {self.kills}/{self.kills_wanted} kills")

    # ------------------------------------------------------------ workload
    def setup(self) -> None:
        for shape, spec in SHAPES.items():
            pipeline = f"crash-{shape}-{uuid.uuid4().hex[:6]}"
            steps = json.loads(json.dumps(spec["steps"]))
            self.call(
                "create_pipeline", PipelineName=pipeline, RoleArn=ROLE,
                PipelineDefinition=definition(steps), ClientRequestToken=str(uuid.uuid4()),
            )  # fmt: skip
            SHAPES[shape]["pipeline"] = pipeline
        rules = []
        for shape, spec in SHAPES.items():
            for step in spec["steps"]:
                rule = {"pipeline": spec["pipeline"], "step": step["Name"],
                        "duration_seconds": self.duration[shape]}  # fmt: skip
                rule.update(next((f for f in spec["faults"] if f["step"] == step["Name"]), {}))
                if step["Type"] == "Callback":
                    rule.pop("duration_seconds")
                rules.append(rule)
        while True:
            try:
                self.server.set_faults(rules)
                break
            except NETWORK_ERRORS:
                time.sleep(0.1)
        self.rules = rules

    def run(self) -> None:
        shapes = list(SHAPES)
        for i in range(self.executions):
            shape = shapes[i % len(shapes)]
            self.tracked.append(Tracked(shape, SHAPES[shape]["pipeline"], str(uuid.uuid4())))
        thread = threading.Thread(target=self.killer, daemon=True)
        thread.start()
        started = 0
        deadline = time.time() + 600
        while not all(t.done for t in self.tracked) or (
            thread.is_alive() and self.kills < self.kills_wanted
        ):
            if time.time() > deadline:
                raise AssertionError("the workload did not finish within 10 minutes")
            # Keep a few executions running at once: under the quota, always busy.
            running = [t for t in self.tracked if t.arn and not t.done]
            if started < len(self.tracked) and len(running) < 4:
                t = self.tracked[started]
                t.arn = self.call("start_pipeline_execution", PipelineName=t.pipeline,
                                  ClientRequestToken=t.token)["PipelineExecutionArn"]  # fmt: skip
                started += 1
            for t in running:
                self.advance(t)
            all_done = all(t.done for t in self.tracked) and started == len(self.tracked)
            if all_done and self.kills < self.kills_wanted:
                # Keep the executions cycling until the kill quota is met.
                self.tracked.append(
                    Tracked("chain", SHAPES["chain"]["pipeline"], str(uuid.uuid4()))
                )
            time.sleep(0.05)
        self.stop_killing.set()
        thread.join()

    def advance(self, t: Tracked) -> None:
        assert t.arn
        status = self.call("describe_pipeline_execution", PipelineExecutionArn=t.arn)[
            "PipelineExecutionStatus"
        ]
        if t.shape == "stopped" and t.stop_token is None and status == "Executing":
            t.stop_token = str(uuid.uuid4())
            with contextlib.suppress(ClientError):  # it may have ended already
                self.call(
                    "stop_pipeline_execution",
                    PipelineExecutionArn=t.arn,
                    ClientRequestToken=t.stop_token,
                )
            return
        if t.shape == "callback" and status == "Executing":
            steps = self.call("list_pipeline_execution_steps", PipelineExecutionArn=t.arn)[
                "PipelineExecutionSteps"
            ]
            for step in steps:
                token = step.get("Metadata", {}).get("Callback", {}).get("CallbackToken")
                if token and step["StepStatus"] == "Executing" and token not in t.answered:
                    self.call(
                        "send_pipeline_execution_step_success", CallbackToken=token,
                        OutputParameters=[{"Name": "answer", "Value": "yes"}],
                        ClientRequestToken=str(uuid.uuid4()),
                    )  # fmt: skip
                    t.answered.add(token)
        if status in ("Failed", "Stopped") and len(t.retry_tokens) < 3:
            token = str(uuid.uuid4())
            t.retry_tokens.append(token)
            self.call(
                "retry_pipeline_execution", PipelineExecutionArn=t.arn, ClientRequestToken=token
            )
            return
        if status == "Succeeded":
            t.done = True

    # ------------------------------------------------------------ the checks
    def check(self) -> list[str]:
        problems: list[str] = []
        for t in self.tracked:
            if t.arn is None:
                continue
            described = self.call("describe_pipeline_execution", PipelineExecutionArn=t.arn)
            if described["PipelineExecutionStatus"] != "Succeeded":
                problems.append(
                    f"{t.arn}: ended {described['PipelineExecutionStatus']}, expected Succeeded"
                )
            listed = self.call("list_pipeline_execution_steps", PipelineExecutionArn=t.arn)[
                "PipelineExecutionSteps"
            ]
            history = self.extension(f"/_sagepipe/executions/{t.arn.rsplit('/', 1)[1]}/attempts")
            problems += self.check_history(t, listed, history)
        for token, (operation, params, response) in self.acknowledged.items():
            replay = self.call(operation, **params)
            if replay != response:
                problems.append(
                    f"{operation} token {token}: replay answered {replay}, first {response}"
                )
        for spec in SHAPES.values():
            arns = set()
            for page in (
                self.server.client()
                .get_paginator("list_pipeline_executions")
                .paginate(PipelineName=spec["pipeline"])
            ):
                arns |= {s["PipelineExecutionArn"] for s in page["PipelineExecutionSummaries"]}
            for t in self.tracked:
                if t.pipeline == spec["pipeline"] and t.arn and t.arn not in arns:
                    problems.append(
                        f"{t.arn}: acknowledged but missing from ListPipelineExecutions"
                    )
        return problems

    def check_history(
        self, t: Tracked, listed: list[dict[str, Any]], history: dict[str, Any]
    ) -> list[str]:
        problems = []
        by_step: dict[str, list[dict[str, Any]]] = {}
        for attempt in history["attempts"]:
            by_step.setdefault(attempt["step"], []).append(attempt)
        expected = SHAPES[t.shape]["attempts"]
        for row in listed:
            name = row["StepName"]
            attempts = sorted(by_step.get(name, []), key=lambda a: a["attempt"])
            numbers = [a["attempt"] for a in attempts]
            if numbers != list(range(1, len(numbers) + 1)) or row["AttemptCount"] != len(numbers):
                problems.append(
                    f"{t.arn} {name}: attempts {numbers}, AttemptCount {row['AttemptCount']}"
                )
            succeeded = [a for a in attempts if a["status"] == "Succeeded"]
            if len(succeeded) != 1 or attempts[-1]["status"] != "Succeeded":
                problems.append(
                    f"{t.arn} {name}: {len(succeeded)} succeeded attempts, last {attempts[-1]['status'] if attempts else None}"
                )
            jobs = [a["job_name"] for a in attempts if a["job_name"]]
            if len(jobs) != len(set(jobs)):
                problems.append(f"{t.arn} {name}: a job name was reused across attempts: {jobs}")
            if expected and len(numbers) != expected[name]:
                problems.append(
                    f"{t.arn} {name}: {len(numbers)} attempts, expected {expected[name]}"
                )
            duration = self.duration[t.shape]
            for a in attempts:
                # A simulated job keeps its planned start and duration across crashes.
                if (
                    a["status"] == "Succeeded"
                    and a["end_time"] < a["start_time"] + duration - 0.05
                    and name != "CB"
                ):
                    problems.append(
                        f"{t.arn} {name}#{a['attempt']}: ended before its planned duration"
                    )
        if len(history["manual_retries"]) != len(t.retry_tokens):
            problems.append(
                f"{t.arn}: {len(history['manual_retries'])} manual retries recorded, {len(t.retry_tokens)} acknowledged"
            )
        return problems


def run(
    server: ServerProcess, seed: int, kills: int, executions: int, log: Any = print
) -> list[str]:
    harness = Harness(server, seed, kills, executions, log)
    harness.setup()
    # The killer restarts the process, which forgets faults set over HTTP: pass a file.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as faults_file:
        json.dump({"rules": harness.rules}, faults_file)
    server.args += ["--faults", faults_file.name]
    server.restart(crash=True)
    log(f"workload: {executions} executions, {kills} kills (seed {seed})")
    harness.run()
    log(f"done: {harness.kills} kills, {len(harness.tracked)} executions; checking")
    return harness.check()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--executions", type=int, default=24)
    parser.add_argument("--db", help="postgresql://... (default: SQLite in a temp dir)")
    args = parser.parse_args()
    db_args = (
        ["--db", args.db, "--lease-seconds", "1"] if args.db else ["--data-dir", tempfile.mkdtemp()]
    )
    server = ServerProcess(db_args)
    server.start()
    try:
        problems = run(server, args.seed, args.kills, args.executions)
    finally:
        server.stop()
    for problem in problems:
        print("PROBLEM:", problem)
    print("crash harness:", "FAILED" if problems else "passed", f"({len(problems)} problems)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
