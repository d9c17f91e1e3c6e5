"""What a Kyma plan offers; the data of each plan is in ``catalog``, its schemas in ``schemas``.

Its own module so that ``schemas`` and ``validation``, which ``catalog`` uses, need not import ``catalog``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """One ``kymaruntime`` plan. Hashable, so validators can be cached per plan.

    ``properties`` names the create-schema parameters the plan offers; a parameter outside it is
    either ignored (as KEB does) or rejected by a code-level check. For ``trial``, ``regions`` are the
    abstract regions the code accepts (the schema has no ``region``).
    """

    name: str
    id: str
    description: str
    provider: str
    regions: tuple[str, ...]
    regular_machines: tuple[str, ...]
    additional_machines: tuple[str, ...]
    autoscaler_min: int
    autoscaler_max: int
    default_autoscaler_min: int
    default_autoscaler_max: int
    default_region: str
    properties: frozenset[str]
    ha_zones: bool = True
    dual_stack: bool = False
    bindable: bool = True

    @property
    def default_machine_type(self) -> str:
        """KEB's rule: the first regular machine type."""
        return self.regular_machines[0]
