#!/usr/bin/env python3
"""Fails when a type, trait or re-export of another crate than std (core, alloc) is reachable
from nsbox's public API: signatures, public fields, variants, trait impls, re-exports.

Reads rustdoc's JSON output, which only a nightly rustdoc writes:

    cargo +nightly rustdoc --lib -- -Z unstable-options --output-format json
    scripts/check-public-types.py target/doc/nsbox.json

Auto-trait and blanket impls (Send, From<T> for T, ...) are the compiler's and skipped.
"""

import json
import sys

ALLOWED = {"std", "core", "alloc"}
VISIBLE = {"public", "default"}


def main(path):
    doc = json.load(open(path))
    index, paths = doc["index"], doc["paths"]
    crates = {int(k): v["name"] for k, v in doc["external_crates"].items()}
    seen, problems = set(), []

    def foreign(item_id):
        summary = paths.get(str(item_id))
        if summary is None or summary["crate_id"] == 0:
            return None
        name = crates.get(summary["crate_id"], "?")
        return None if name in ALLOWED else "::".join(summary["path"])

    def scan(value, where):
        """Every path a type, bound or trait reference names, anywhere inside `value`."""
        if isinstance(value, dict):
            if "id" in value and ("path" in value or "name" in value or "source" in value):
                bad = foreign(value["id"])
                if bad:
                    problems.append(f"{where}: {bad}")
            for key, inner in value.items():
                if key not in ("links", "docs", "attrs", "items", "impls", "fields", "variants"):
                    scan(inner, where)
        elif isinstance(value, list):
            for inner in value:
                scan(inner, where)

    def visit(item_id, where):
        if item_id is None or item_id in seen:
            return
        seen.add(item_id)
        item = index.get(str(item_id))
        if item is None:
            bad = foreign(item_id)
            if bad:
                problems.append(f"{where}: re-exports {bad}")
            return
        name = f"{where}::{item['name']}".lstrip(":") if item.get("name") else where
        kind, inner = next(iter(item["inner"].items()))
        if kind == "use":
            visit(inner.get("id"), name)
            return
        if kind == "impl":
            if inner.get("is_synthetic") or inner.get("blanket_impl"):
                return
            trait = inner.get("trait")
            label = f"{where} impl {trait['path'] if trait else ''}".rstrip()
            scan({k: v for k, v in inner.items() if k not in ("items", "for")}, label)
            for child in inner["items"]:
                sub = index[str(child)]
                if trait or sub["visibility"] in VISIBLE:
                    visit(child, label)
            return
        scan(inner, name)
        children = list(inner.get("items", [])) if kind == "module" else []
        children += inner.get("variants", []) + inner.get("impls", [])
        kind_of_struct = inner.get("kind", {})
        if isinstance(kind_of_struct, dict):
            for fields in kind_of_struct.values():
                if isinstance(fields, dict):
                    fields = fields.get("fields", [])
                children += [f for f in fields or [] if f is not None]
        for child in children:
            sub = index.get(str(child))
            if sub is None or sub["visibility"] in VISIBLE or sub["inner"].keys() & {"impl"}:
                visit(child, name)

    visit(doc["root"], "")
    for problem in sorted(set(problems)):
        print(problem)
    print(f"{len(seen)} public items checked, {len(set(problems))} foreign types", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/doc/nsbox.json"))
