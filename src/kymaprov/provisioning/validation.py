"""Validation of Kyma provisioning and update parameters, with KEB's error messages.

Clients match on KEB's texts (``while validating input parameters: at '/name': maxLength: got 65,
want 64``), so JSON-schema errors are re-worded into the santhosh-tekuri/jsonschema format KEB uses,
and KEB's code-level checks (autoscaler, worker pools, volume, trial region) run in KEB's order: on
create before the schema, on update after it. Parameters are returned exactly as given: the service
stores what the client sent, and crossplane compares it back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache, lru_cache
from typing import Any, NamedTuple

from jsonschema import Draft4Validator, ValidationError, validators
from jsonschema.protocols import Validator

from kymaprov.provisioning.exceptions import InvalidParameters
from kymaprov.provisioning.plan import Plan
from kymaprov.provisioning.schemas import (
    CREATE_ONLY,
    HA_AUTOSCALER_MINIMUM,
    NETWORKING_DEFAULTS,
    create_schema,
    update_schema,
)

CREATE_PREFIX = "while validating input parameters: "
UPDATE_PREFIX = "while validating update parameters: "
POOLS = "additionalWorkerNodePools"
TRIAL_REGION_MESSAGE = "invalid region specified in request for trial"
# Parameters the plan's schema may lack, and KEB's answer when a request sets them anyway.
UNSUPPORTED_MESSAGES = {
    "accessControlList": "AccessControlList is not supported for this plan",
    "ingressFiltering": "ingress filtering option is not available",
    "gvisor": (
        "The gvisor parameter is not available for your account. Please contact us for further assistance."
    ),
}


class Problem(NamedTuple):
    """A rejected parameter: KEB's message and the top-level field it concerns."""

    message: str
    field: str | None


# -- public ------------------------------------------------------------------------------------------


def validate_create(plan: Plan, parameters: Any) -> dict[str, Any]:
    """Check provisioning parameters as KEB does; raise ``InvalidParameters`` or return them unchanged."""
    params = _require_object(parameters)
    _raise_first(check(plan, params) for check in _CREATE_CHECKS)
    _raise_first([_schema_problem(_validator(plan, update=False), params, CREATE_PREFIX)])
    _raise_first([_trial_region_problem(plan, params)])
    return params


def validate_update(plan: Plan, parameters: Any, current: dict[str, Any]) -> dict[str, Any]:
    """Check update parameters against the update schema, then against the instance's ``current`` ones."""
    params = _require_object(parameters)
    _raise_first([_schema_problem(_validator(plan, update=True), params, UPDATE_PREFIX)])
    _raise_first(check(plan, params, current or {}) for check in _UPDATE_CHECKS)
    return params


def _require_object(parameters: Any) -> dict[str, Any]:
    """KEB's parameters are a JSON object; anything else cannot even be decoded by the broker."""
    if not isinstance(parameters, dict):
        raise InvalidParameters(
            f"Field 'parameters' must be a JSON object, got {_json_type(parameters)}", field="parameters"
        )
    return parameters


def _raise_first(problems: Iterable[Problem | None]) -> None:
    """Stop at the first failing check, like KEB's validate() does."""
    for problem in problems:
        if problem is not None:
            raise InvalidParameters(problem.message, field=problem.field)


# -- JSON schema ------------------------------------------------------------------------------------


def _is_integer(_checker: Any, instance: Any) -> bool:
    """Go decodes every JSON number to float64, so KEB accepts ``3.0`` as an integer."""
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())


def _ecma_pattern(
    validator: Validator, pattern: str, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """``pattern`` with ECMAScript semantics (KEB uses regexp2): ``$`` never matches before a last newline."""
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=64)
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """Translate an unescaped ``$`` outside a character class to Python's ``\\Z``."""
    out: list[str] = []
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            ch = r"\Z"
        out.append(ch)
    return re.compile("".join(out))


KebValidator = validators.extend(
    Draft4Validator,
    validators={"pattern": _ecma_pattern},
    type_checker=Draft4Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@cache
def _validator(plan: Plan, *, update: bool) -> Validator:
    schema = update_schema(plan) if update else create_schema(plan)
    validator: Validator = KebValidator(schema)
    return validator


def _schema_problem(validator: Validator, params: dict[str, Any], prefix: str) -> Problem | None:
    """All schema violations as one KEB message: ``<prefix>at '<ptr>': <msg>, at ...``."""
    errors = sorted(validator.iter_errors(params), key=lambda error: _error_order(params, error))
    if not errors:
        return None
    causes: list[str] = []
    for error in errors:
        cause = f"at {_quote(_pointer(error.absolute_path))}: {_describe(validator, error)}"
        if cause not in causes:
            causes.append(cause)
    return Problem(prefix + ", ".join(causes), _field_of(errors[0]))


# santhosh-tekuri checks a value's keywords in this order; its errors come out the same way.
_KEYWORD_ORDER = {
    "type": 0,
    "enum": 1,
    "required": 2,
    "additionalProperties": 3,
    "minLength": 4,
    "maxLength": 5,
    "pattern": 6,
    "minimum": 7,
    "maximum": 8,
    "minItems": 9,
    "maxItems": 10,
    "uniqueItems": 11,
}


def _error_order(params: dict[str, Any], error: ValidationError) -> tuple[tuple[int, ...], int]:
    """Errors in the order the client wrote the offending values, then by keyword."""
    positions: list[int] = []
    node: Any = params
    for step in error.absolute_path:
        positions.append(list(node).index(step) if isinstance(node, dict) else int(step))
        node = node[step]
    return (tuple(positions), _KEYWORD_ORDER.get(str(error.validator), 50))


def _field_of(error: ValidationError) -> str | None:
    """The top-level parameter an error is about, for ``InvalidParameters.field``."""
    if error.absolute_path:
        return str(error.absolute_path[0])
    if error.validator == "required":
        return _missing(error)[0] if _missing(error) else None
    return None


def _describe(validator: Validator, error: ValidationError) -> str:
    """The santhosh-tekuri/jsonschema v6 wording of one error (``kind/kind.go``)."""
    describe = _DESCRIBERS.get(str(error.validator))
    if describe is None:
        return error.message
    return describe(validator, error)


def _type_message(_v: Validator, e: ValidationError) -> str:
    want = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
    return f"got {_json_type(e.instance)}, want {' or '.join(want)}"


def _enum_message(_v: Validator, e: ValidationError) -> str:
    values = list(e.validator_value)
    if any(isinstance(v, dict | list) for v in values):
        return "enum failed"
    if len(values) == 1:
        return f"value must be {_display(values[0])}"
    return "value must be one of " + ", ".join(_display(v) for v in values)


def _required_message(_v: Validator, e: ValidationError) -> str:
    missing = _missing(e)
    noun = "property" if len(missing) == 1 else "properties"
    return f"missing {noun} " + ", ".join(_quote(m) for m in missing)


def _missing(error: ValidationError) -> list[str]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    return [str(name) for name in error.validator_value if name not in instance]


def _additional_message(_v: Validator, e: ValidationError) -> str:
    allowed = e.schema.get("properties", {}) if isinstance(e.schema, dict) else {}
    extra = [key for key in e.instance if key not in allowed]
    return "additional properties " + ", ".join(_quote(k) for k in extra) + " not allowed"


def _bound_message(_v: Validator, e: ValidationError) -> str:
    """minLength/maxLength/minItems/maxItems/minimum/maximum: ``<keyword>: got <x>, want <y>``."""
    got = len(e.instance) if e.validator in ("minLength", "maxLength", "minItems", "maxItems") else e.instance
    return f"{e.validator}: got {_number(got)}, want {_number(e.validator_value)}"


def _pattern_message(_v: Validator, e: ValidationError) -> str:
    return f"{_quote(e.instance)} does not match pattern {_quote(e.validator_value)}"


def _unique_message(_v: Validator, e: ValidationError) -> str:
    seen: dict[str, int] = {}
    for index, item in enumerate(e.instance):
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            return f"items at {seen[key]} and {index} are equal"
        seen[key] = index
    return e.message


def _one_of_message(validator: Validator, e: ValidationError) -> str:
    if e.context:
        return "oneOf failed, none matched"
    matched = [
        str(i) for i, sub in enumerate(e.validator_value) if validator.evolve(schema=sub).is_valid(e.instance)
    ]
    return "oneOf failed, subschemas " + ", ".join(matched) + " matched"


_DESCRIBERS: dict[str, Callable[[Validator, ValidationError], str]] = {
    "type": _type_message,
    "enum": _enum_message,
    "required": _required_message,
    "additionalProperties": _additional_message,
    "minLength": _bound_message,
    "maxLength": _bound_message,
    "minItems": _bound_message,
    "maxItems": _bound_message,
    "minimum": _bound_message,
    "maximum": _bound_message,
    "pattern": _pattern_message,
    "uniqueItems": _unique_message,
    "oneOf": _one_of_message,
    "anyOf": lambda _v, _e: "anyOf failed, none matched",
    "not": lambda _v, _e: "not failed",
}


# -- value formatting (Go's) -------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _quote(value: Any) -> str:
    """santhosh-tekuri's ``quote``: Go's ``%q`` with single quotes outside."""
    inner = json.dumps(str(value), ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'")
    return f"'{inner}'"


def _number(value: Any) -> str:
    """Go's ``%v`` of a float64 that holds an integral value prints no decimals."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _display(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return _number(value)


def _pointer(path: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


# -- code-level checks -------------------------------------------------------------------------------


def _as_int(value: Any) -> int | None:
    """The integer a Go ``*int`` would decode, or None (absent, null or not an integer)."""
    if _is_integer(None, value):
        return int(value)
    return None


def _is_bad_int(value: Any) -> bool:
    """Set, but not an integer: KEB could not decode it, the schema reports it instead."""
    return value is not None and _as_int(value) is None


def _pools_problem(
    plan: Plan, params: dict[str, Any], current: dict[str, Any] | None = None
) -> Problem | None:
    """KEB's additionalWorkerNodePools checks: plan support, unique names, autoscaler and HA per pool."""
    pools = params.get(POOLS)
    if pools is None:
        return None
    if POOLS not in plan.properties:
        return Problem(f"additional worker node pools are not supported for plan ID: {plan.id}", POOLS)
    if not isinstance(pools, list):
        return None
    entries = [pool for pool in pools if isinstance(pool, dict)]
    names = [pool.get("name", "") for pool in entries if isinstance(pool.get("name", ""), str)]
    if len(names) != len(set(names)):
        return Problem("names of additional worker node pools must be unique", POOLS)
    issues = [issue for issue in map(_pool_issue, entries) if issue]
    if issues:
        message = "The following additionalWorkerPools have validation issues: " + "; ".join(issues) + "."
        return Problem(message, POOLS)
    if current is not None:
        return _ha_zones_changed(entries, current.get(POOLS))
    return None


def _pool_issue(pool: dict[str, Any]) -> str | None:
    """``AdditionalWorkerNodePool.Validate``; absent numbers are Go's zero values."""
    low, high, ha = pool.get("autoScalerMin", 0), pool.get("autoScalerMax", 0), pool.get("haZones", False)
    name = pool.get("name", "")
    if _as_int(low) is None or _as_int(high) is None or not isinstance(ha, bool):
        return None
    low, high = int(low), int(high)
    if low > high:
        return (
            f"AutoScalerMax value {high} should be larger than AutoScalerMin value {low} "
            f"for {name} additional worker node pool"
        )
    if ha and low < HA_AUTOSCALER_MINIMUM:
        return (
            f"AutoScalerMin value {low} should be at least {HA_AUTOSCALER_MINIMUM} when HA zones are enabled "
            f"for {name} additional worker node pool"
        )
    return None


def _ha_zones_changed(pools: list[dict[str, Any]], current_pools: Any) -> Problem | None:
    """An existing pool's HA setting is permanent."""
    if not isinstance(current_pools, list):
        return None
    before = {p.get("name"): p.get("haZones", False) for p in current_pools if isinstance(p, dict)}
    for pool in pools:
        name = pool.get("name")
        if name in before and pool.get("haZones", False) != before[name]:
            return Problem(
                f"HA zones setting is permanent and cannot be changed for {name} additional worker node pool",
                POOLS,
            )
    return None


def _autoscaler_problem(plan: Plan, given_min: Any, given_max: Any) -> Problem | None:
    """``AutoScalerParameters.Validate``: a value the user left out is the plan default."""
    if "autoScalerMin" not in plan.properties or _is_bad_int(given_min) or _is_bad_int(given_max):
        return None
    user_min, user_max = _as_int(given_min), _as_int(given_max)
    low = plan.default_autoscaler_min if user_min is None else user_min
    high = plan.default_autoscaler_max if user_max is None else user_max
    if low <= high:
        return None
    message = (
        f"AutoScalerMax {high} should be larger than AutoScalerMin {low}. "
        f"User provided values min:{_go_ptr(user_min)}, max:{_go_ptr(user_max)}; "
        f"plan defaults min:{plan.default_autoscaler_min}, max:{plan.default_autoscaler_max}"
    )
    return Problem(message, "autoScalerMax" if user_max is not None else "autoScalerMin")


def _go_ptr(value: int | None) -> str:
    return "<nil>" if value is None else str(value)


def _volume_problem(plan: Plan, params: dict[str, Any]) -> Problem | None:
    field = "additionalVolumeSizeGi"
    value = params.get(field)
    if value is None:
        return None
    if field not in plan.properties:
        return Problem(f"additionalVolumeSizeGi is not available for plan {plan.name}", field)
    size = _as_int(value)
    if size is not None and size < 0:
        return Problem(f"additionalVolumeSizeGi must be >= 0, got {size}", field)
    return None


def _unsupported_problem(plan: Plan, params: dict[str, Any]) -> Problem | None:
    for field, message in UNSUPPORTED_MESSAGES.items():
        if params.get(field) is not None and field not in plan.properties:
            return Problem(message, field)
    return None


def _trial_region_problem(plan: Plan, params: dict[str, Any]) -> Problem | None:
    """Trial has no region in its schema; the code still accepts an abstract europe/us/asia."""
    region = params.get("region")
    if "region" in plan.properties or region is None or region == "":
        return None
    if region not in plan.regions:
        return Problem(TRIAL_REGION_MESSAGE, "region")
    return None


def _immutable_problem(plan: Plan, params: dict[str, Any], current: dict[str, Any]) -> Problem | None:
    """Region, networking and colocation are fixed at provisioning.

    KEB silently ignores them on update; kymaprov rejects a *change* (repeating the current value, as
    crossplane does with its full parameter set, is fine) so that clients do not believe it applied.
    """
    for field in sorted(CREATE_ONLY - {"modules"}):
        if field not in params:
            continue
        old, new = _effective(plan, field, current.get(field)), _effective(plan, field, params[field])
        if old == new:
            continue
        return Problem(UPDATE_PREFIX + _changed_cause(field, old, new), field)
    return None


def _effective(plan: Plan, field: str, value: Any) -> Any:
    """The value a runtime actually has when the parameter was left out or given partially."""
    if field == "networking":
        return (
            {**NETWORKING_DEFAULTS, **value}
            if isinstance(value, dict)
            else (value or dict(NETWORKING_DEFAULTS))
        )
    if field == "region":
        return plan.default_region if value is None else value
    return False if value is None else value


def _changed_cause(field: str, old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        key = next(k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
        return _changed_cause(f"{field}/{key}", old.get(key), new.get(key))
    if isinstance(old, dict | list) or isinstance(new, dict | list):
        return f"at {_quote('/' + field)}: cannot be changed"
    return f"at {_quote('/' + field)}: cannot be changed, got {_display(new)}, want {_display(old)}"


def _create_autoscaler(plan: Plan, params: dict[str, Any]) -> Problem | None:
    return _autoscaler_problem(plan, params.get("autoScalerMin"), params.get("autoScalerMax"))


def _update_autoscaler(plan: Plan, params: dict[str, Any], current: dict[str, Any]) -> Problem | None:
    """KEB validates the instance's parameters with the update applied on top."""
    merged = {**current, **{k: v for k, v in params.items() if v is not None}}
    return _autoscaler_problem(plan, merged.get("autoScalerMin"), merged.get("autoScalerMax"))


_CREATE_CHECKS: tuple[Callable[[Plan, dict[str, Any]], Problem | None], ...] = (
    _pools_problem,
    _create_autoscaler,
    _volume_problem,
    _unsupported_problem,
)
_UPDATE_CHECKS: tuple[Callable[[Plan, dict[str, Any], dict[str, Any]], Problem | None], ...] = (
    _immutable_problem,
    _pools_problem,
    _update_autoscaler,
    lambda plan, params, _current: _volume_problem(plan, params),
    lambda plan, params, _current: _unsupported_problem(plan, params),
)
