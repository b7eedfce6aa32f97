"""Check a JSON payload against the official SDK's models (test-only dependency).

Unknown keys fail; enum values the SDK rejects fail (its setters store "outdated_sdk_version"
instead of raising, genesys-cloud.md §14); primitive types must match swagger_types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import PureCloudPlatformClientV2.models as sdk

OUTDATED = "outdated_sdk_version"
PRIMITIVES = {"str": str, "int": int, "float": (int, float), "bool": bool, "datetime": str, "date": str,
              "object": object}


def problems(payload: Any, model: str, path: str = "$") -> list[str]:
    """Every way ``payload`` departs from SDK model ``model``; empty when it conforms."""
    out: list[str] = []
    _check(payload, model, path, out)
    return out


def _check(value: Any, type_name: str, path: str, out: list[str]) -> None:
    if type_name.startswith("list["):
        if not isinstance(value, list):
            out.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            _check(item, type_name[5:-1], f"{path}[{i}]", out)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object")
            return
        inner = type_name[5:-1].split(",", 1)[1].strip()
        for key, item in value.items():
            _check(item, inner, f"{path}.{key}", out)
        return
    if type_name in PRIMITIVES:
        expected = PRIMITIVES[type_name]
        if not isinstance(value, expected) or (type_name == "int" and isinstance(value, bool)):
            out.append(f"{path}: expected {type_name}, got {type(value).__name__}")
        elif type_name == "datetime":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                out.append(f"{path}: not an ISO datetime: {value!r}")
        return
    cls = getattr(sdk, type_name, None)
    if cls is None:
        out.append(f"{path}: unknown SDK model {type_name}")
        return
    if not isinstance(value, dict):
        out.append(f"{path}: expected a {type_name} object")
        return
    instance = cls()
    by_json = {json_name: attr for attr, json_name in instance.attribute_map.items()}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            out.append(f"{path}.{key}: not a field of {type_name}")
            continue
        field_type = instance.swagger_types[attr]
        _check(item, field_type, f"{path}.{key}", out)
        if field_type in ("str", "list[str]") and item is not None:
            setattr(instance, attr, item)
            if getattr(instance, attr) == OUTDATED or (
                    isinstance(getattr(instance, attr), list) and OUTDATED in getattr(instance, attr)):
                out.append(f"{path}.{key}: {item!r} is not an allowed {type_name}.{key} value")
