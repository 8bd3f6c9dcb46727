"""What a job asks Ray for (docs/behaviour.md §12): each instance's vCPUs and GPUs from the
shipped table of ml.* instance types (instance_types.json), which --ray-instance-types FILE
overrides or extends; each instance is a Ray job of its own that asks for one instance's
worth. Ray resources are admission control, not limits: a job may use more than it asked
for."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sagepipe.runners.contracts.plan import ContractError


class InstanceTypesError(Exception):
    """--ray-instance-types names a file sagepipe cannot use; the message says why."""


@dataclass(frozen=True)
class InstanceResources:
    cpus: float
    gpus: float = 0
    memory_gb: float | None = None  # reserved only when an override gives it
    resource: str | None = None  # a custom Ray resource, one unit per instance


class InstanceTypes:
    def __init__(self, table: dict[str, InstanceResources], max_cpus: float | None = None):
        self.table = table
        self.max_cpus = max_cpus  # per instance: a small cluster can still run big types

    @classmethod
    def load(cls, overrides: str | None = None, max_cpus: float | None = None) -> InstanceTypes:
        shipped = json.loads(
            resources.files("sagepipe.runners.ray").joinpath("instance_types.json").read_text()
        )
        table = {name: _entry(name, entry, "instance_types.json")
                 for name, entry in shipped["instance_types"].items()}  # fmt: skip
        if overrides:
            try:
                with open(overrides) as handle:
                    document = json.load(handle)
                entries = document["instance_types"]
                assert isinstance(entries, dict)
            except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
                raise InstanceTypesError(
                    f"--ray-instance-types {overrides}: expected a readable JSON file "
                    f'{{"instance_types": {{"ml.m5.xlarge": {{"cpus": 4, "gpus": 0}}}}}} ({exc})'
                ) from None
            table.update({name: _entry(name, e, overrides) for name, e in entries.items()})
        return cls(table, max_cpus)

    def request(self, instance_type: str) -> dict[str, Any]:
        """The submit_job arguments that reserve one instance of `instance_type`."""
        found = self.table.get(instance_type)
        if found is None:
            raise ContractError(
                f"ClientError: the ray runner has no resources for instance type "
                f"'{instance_type}'. Add it to a file given with --ray-instance-types, e.g. "
                f'{{"instance_types": {{"{instance_type}": {{"cpus": 4, "gpus": 0}}}}}}.'
            )
        cpus = min(found.cpus, self.max_cpus) if self.max_cpus else found.cpus
        request: dict[str, Any] = {"entrypoint_num_cpus": cpus}
        if found.gpus:
            request["entrypoint_num_gpus"] = found.gpus
        if found.memory_gb:
            request["entrypoint_memory"] = int(found.memory_gb * 1024**3)
        if found.resource:
            request["entrypoint_resources"] = {found.resource: 1}
        return request


def _entry(name: str, entry: Any, where: str) -> InstanceResources:
    try:
        assert isinstance(entry, dict) and set(entry) <= {"cpus", "gpus", "memory_gb", "resource"}
        cpus, gpus = float(entry["cpus"]), float(entry.get("gpus", 0))
        memory = entry.get("memory_gb")
        resource = entry.get("resource")
        assert cpus > 0 and gpus >= 0 and (memory is None or float(memory) > 0)
        assert resource is None or isinstance(resource, str)
    except (AssertionError, KeyError, TypeError, ValueError):
        raise InstanceTypesError(
            f"{where}: instance type '{name}' needs cpus (> 0), and may give gpus, memory_gb "
            "and resource (a custom Ray resource name)."
        ) from None
    return InstanceResources(cpus, gpus, float(memory) if memory is not None else None, resource)
