"""The console's step graph: which edges a definition has, and a layout that keeps every
step in its own box, upstream to the left of downstream."""

from __future__ import annotations

import json

from sagepipe.domain.definition import parse_definition
from sagepipe.domain.step_graph import NODE_H, NODE_W, edges_of, layout


def definition(steps: list[dict]) -> str:
    return json.dumps({"Version": "2020-12-01", "Steps": steps})


def step(name: str, kind: str = "Processing", **extra: object) -> dict:
    return {"Name": name, "Type": kind, "Arguments": {}, **extra}


STEPS = [
    step("Prepare"),
    step("Train", "Training", Arguments={"InputDataConfig": [{"DataSource": {"S3DataSource": {
        "S3Uri": {"Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['o'].S3Output.S3Uri"}}}}]}),
    step("Check", "Condition", Arguments={
        "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Train.TrainingJobStatus"},
                        "RightValue": "Completed"}],
        "IfSteps": [step("Publish")], "ElseSteps": [step("Stop", "Fail")]}),
    step("Notify", DependsOn=[{"Step": "Train", "Trigger": "Failed"}]),
]  # fmt: skip


def test_each_kind_of_edge_is_found_once() -> None:
    edges = {(e["from"], e["to"], e["kind"], e["label"])
             for e in edges_of(parse_definition(definition(STEPS)))}  # fmt: skip
    assert edges == {
        ("Prepare", "Train", "data", ""),
        ("Train", "Check", "data", ""),
        ("Check", "Publish", "if", "if"),
        ("Check", "Stop", "else", "else"),
        ("Train", "Notify", "depends", "Failed"),
    }


def test_the_layout_runs_left_to_right_without_overlaps() -> None:
    drawn = layout(parse_definition(definition(STEPS)))
    boxes = {n["name"]: n for n in drawn["nodes"]}
    assert set(boxes) == {"Prepare", "Train", "Check", "Publish", "Stop", "Notify"}
    for edge in drawn["edges"]:
        assert boxes[edge["from"]]["x"] + NODE_W <= boxes[edge["to"]]["x"], edge
        assert len(edge["points"]) >= 2
    placed = sorted((n["x"], n["y"]) for n in drawn["nodes"])
    for i, (x, y) in enumerate(placed):
        for x2, y2 in placed[i + 1 :]:
            assert abs(x - x2) >= NODE_W or abs(y - y2) >= NODE_H  # no two boxes overlap
    assert all(n["x"] >= 0 and n["x"] + NODE_W <= drawn["width"] for n in drawn["nodes"])
    assert all(n["y"] >= 0 and n["y"] + NODE_H <= drawn["height"] for n in drawn["nodes"])
    assert boxes["Publish"]["branch"] == {"condition": "Check", "outcome": True}


def test_unconnected_steps_are_stacked_not_piled_up() -> None:
    drawn = layout(parse_definition(definition([step("A"), step("B"), step("C")])))
    ys = sorted(n["y"] for n in drawn["nodes"])
    assert ys[1] - ys[0] >= NODE_H and ys[2] - ys[1] >= NODE_H
    assert drawn["edges"] == []
