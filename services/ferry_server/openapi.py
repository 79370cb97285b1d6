"""Write the control plane's OpenAPI document, its Markdown reference and the access table.

``python -m ferry_server.openapi`` regenerates ``docs/api/openapi.json``, ``docs/api.md``
and the generated part of ``docs/security.md`` (who may do what, from the policy table);
a test fails when they are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ferry_platform.application import POLICY
from ferry_server._app import openapi_spec

ROOT = Path(__file__).resolve().parents[2]


def _schema_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"[{_schema_name(schema['$ref'])}](#{_schema_name(schema['$ref']).lower()})"
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    return str(schema.get("type", "any"))


def markdown(spec: dict[str, Any]) -> str:
    out = [f"# Control-plane API reference (v{spec['info']['version'].split('+')[0]})", "",
           "Generated from the OpenAPI document (`docs/api/openapi.json`) by "
           "`python -m ferry_server.openapi`; do not edit by hand.", "",
           spec["info"]["description"].strip(), ""]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op.get("tags", ["other"])[0], []).append((method, path, op))
    for tag, ops in by_tag.items():
        out += [f"## {tag}", ""]
        for method, path, op in ops:
            rule = POLICY[op["operationId"]]
            out += [f"### `{method.upper()} {path}`", "", f"Operation id: `{op['operationId']}`."
                    f" Who may: {rule.describe()}"
                    f"{' (also a predict-only token)' if rule.predict_token else ''}.", ""]
            if op.get("description"):
                out += [op["description"].strip(), ""]
            params = op.get("parameters", [])
            if params:
                out += ["| parameter | in | type | required |", "|---|---|---|---|"]
                out += [f"| `{p['name']}` | {p['in']} | {_type(p.get('schema', {}))} | "
                        f"{'yes' if p.get('required') else 'no'} |" for p in params]
                out.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                out += [f"Body: {_type(body['schema'])}", ""]
            answers, errors = [], []
            for status, resp in op.get("responses", {}).items():
                content = resp.get("content", {}).get("application/json", {})
                if status.startswith(("4", "5")):
                    errors.append(status)
                    continue
                what = _type(content["schema"]) if "schema" in content else "no body"
                answers.append(f"`{status}` {what}")
            out += [f"Answers: {'; '.join(answers)}. Errors ([ErrorBody](#errorbody)): "
                    f"{', '.join(errors)}.", ""]
    out += ["## Schemas", ""]
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        out += [f"### {name}", ""]
        if schema.get("description"):
            out += [schema["description"].strip(), ""]
        props = schema.get("properties", {})
        if props:
            required = set(schema.get("required", []))
            out += ["| field | type | required | description |", "|---|---|---|---|"]
            for field, fs in props.items():
                desc = str(fs.get("description", "")).replace("\n", " ").replace("|", "\\|")
                out.append(f"| `{field}` | {_type(fs)} | {'yes' if field in required else 'no'}"
                           f" | {desc} |")
            out.append("")
        elif "enum" in schema:
            out += ["One of " + ", ".join(f"`{v}`" for v in schema["enum"]), ""]
    return "\n".join(out).rstrip() + "\n"


START, END = "<!-- policy:start (generated) -->", "<!-- policy:end -->"


def access_table(spec: dict[str, Any]) -> str:
    """Every action, who may do it, and the route it is (docs/security.md)."""
    routes = {op["operationId"]: f"`{method.upper()} {path}`"
              for path, methods in spec["paths"].items() for method, op in methods.items()}
    rows = ["| action | route | who may | predict-only token | note |", "|---|---|---|---|---|"]
    elsewhere = {"predict": "data plane: `POST /<deployment>/predict`, gRPC `Predict`"}
    for action, rule in POLICY.items():
        where = routes.get(action) or elsewhere.get(action, "within the actions in its note")
        rows.append(f"| `{action}` | {where} | {rule.describe()} | "
                    f"{'yes' if rule.predict_token else 'no'} | {rule.note} |")
    return "\n".join(rows)


def security_doc(spec: dict[str, Any]) -> str:
    path = ROOT / "docs" / "security.md"
    text = path.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{access_table(spec)}\n{END}{tail}"


def render() -> dict[Path, str]:
    spec = openapi_spec()
    spec["info"]["version"] = spec["info"]["version"].split("+")[0]
    return {ROOT / "docs" / "api" / "openapi.json": json.dumps(spec, indent=2) + "\n",
            ROOT / "docs" / "api.md": markdown(spec),
            ROOT / "docs" / "security.md": security_doc(spec)}


def main() -> int:
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
