"""A pipeline definition as a drawing: its steps laid out left to right, with the edges the
console shows (docs/behaviour.md §15).

Edges come in three kinds: `depends` (DependsOn), `data` (a step reads another's properties
or property file) and `if`/`else` (a Condition's branches). grandalf's Sugiyama layout places
the steps in layers (its layer axis is drawn as x) and routes long edges through the layers
between; a definition never changes once stored, so a layout is computed once per version."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout
from grandalf.routing import EdgeViewer, route_with_lines

from sagepipe.domain.definition import Definition, stored_definition

NODE_W, NODE_H = 180, 48  # as drawn: wide and low, left to right
LAYER_GAP, NODE_GAP, COMPONENT_GAP = 70, 18, 40
MARGIN = 20


@dataclass
class _View:
    """grandalf's vertex view, in its own axes: w along a layer, h across layers."""

    w: float = NODE_H
    h: float = NODE_W
    xy: tuple[float, float] = (0.0, 0.0)


def edges_of(definition: Definition) -> list[dict[str, Any]]:
    """Every edge once, upstream first: DependsOn, Condition branches, then data references."""
    edges: list[dict[str, Any]] = []
    for spec in definition.steps.values():
        seen = set()
        for upstream, trigger in spec.run_conditions:
            label = "" if trigger == "Succeeded" else trigger
            edges.append({"from": upstream, "to": spec.name, "kind": "depends", "label": label})
            seen.add(upstream)
        if spec.branch is not None:
            condition, outcome = spec.branch
            edges.append({"from": condition, "to": spec.name, "kind": "if" if outcome else "else",
                          "label": "if" if outcome else "else"})  # fmt: skip
            seen.add(condition)
        for upstream in spec.upstream:
            if upstream not in seen:
                edges.append({"from": upstream, "to": spec.name, "kind": "data", "label": ""})
    return edges


def layout(definition: Definition) -> dict[str, Any]:
    """Nodes with their boxes and edges with the points they pass through, in pixels."""
    names = list(definition.steps)
    vertices = {name: Vertex(name) for name in names}
    for vertex in vertices.values():
        vertex.view = _View()
    edges = edges_of(definition)
    drawn = []
    for edge in edges:
        e = Edge(vertices[edge["from"]], vertices[edge["to"]])
        e.view = EdgeViewer()
        drawn.append((edge, e))
    graph = Graph(list(vertices.values()), [e for _, e in drawn])
    offset = 0.0  # components are stacked top to bottom
    width = 0.0
    for component in graph.C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.xspace, sugiyama.yspace = NODE_GAP, LAYER_GAP
        sugiyama.route_edge = route_with_lines
        sugiyama.init_all()
        sugiyama.draw(3)
        members = list(component.sV)
        low = min(v.view.xy[0] - v.view.w / 2 for v in members)
        for v in members:
            x, y = v.view.xy
            v.view.xy = (
                y + MARGIN,
                x - low + offset + MARGIN,
            )  # transposed: layers run left to right
        for e in component.sE:
            points = getattr(e.view, "_pts", None) or []
            e.view._pts = [(py + MARGIN, px - low + offset + MARGIN) for px, py in points]
        high = max(v.view.xy[1] + NODE_H / 2 for v in members)
        width = max(width, max(v.view.xy[0] + NODE_W / 2 for v in members))
        offset = high - MARGIN + COMPONENT_GAP
    nodes = []
    for name in names:
        spec, (cx, cy) = definition.steps[name], vertices[name].view.xy
        nodes.append({
            "name": name, "type": spec.type, "x": round(cx - NODE_W / 2), "y": round(cy - NODE_H / 2),
            "w": NODE_W, "h": NODE_H,
            "branch": {"condition": spec.branch[0], "outcome": spec.branch[1]} if spec.branch else None,
        })  # fmt: skip
    for edge, e in drawn:
        edge["points"] = [[round(x), round(y)] for x, y in e.view._pts]
    return {
        "width": round(width + MARGIN), "height": round(offset - COMPONENT_GAP + MARGIN),
        "nodes": nodes, "edges": edges,
    }  # fmt: skip


@lru_cache(maxsize=32)
def layout_of(definition_text: str) -> dict[str, Any]:
    """The layout of a stored definition (cached: versions never change). Callers must not
    change what it returns."""
    return layout(stored_definition(definition_text))
