#!/usr/bin/env python3
"""Writes the fuzz seed corpora (seeds/<target>/) from real definitions.

Sources: statemachine/pipeline.asl.json, the benchmark definitions, and the ASL conformance
data set beside the repository (../shared/conformance: LocalStack's AWS-recorded templates,
JSON5, Apache-2.0) with each case's input. Needs the `json5` package
(`target/bench-venv/bin/pip install json5`). Seeds are small on purpose: libFuzzer's
default max_len follows the largest seed.

definition/  compact definition text (<= 4 KiB)
jsonpath/    "<path>\\0<JSON input>" (NUL: JSON text cannot hold one) for every JSONPath string in the definitions
intrinsics/  "<States.* expression>\\0<JSON input>" for every intrinsic call
"""

import hashlib
import json
import sys
from pathlib import Path

import json5

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFORMANCE = REPO.parent / "shared" / "conformance"
MAX_DEFINITION = 4096
MAX_PAIR = 2048


def write(target: str, text: str) -> None:
    data = text.encode()
    out = HERE / "seeds" / target
    out.mkdir(parents=True, exist_ok=True)
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


def strings(value, key=""):
    """Yields (key, string) for every string in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):
                yield k, v
            else:
                yield from strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v, key)


def definitions():
    """Yields (definition, input) pairs."""
    yield json.loads((REPO / "statemachine" / "pipeline.asl.json").read_text()), {
        "job_id": "0b0e6c1c-4a4b-4e0c-9d59-3f1f8d6f5f5a",
        "bucket": "uploads",
        "key": "uploads/x/original.jpg",
        "species_hint": None,
    }
    manifest = CONFORMANCE / "manifest.json"
    if not manifest.exists():
        print(f"no conformance data at {CONFORMANCE}: seeding from the pipeline only", file=sys.stderr)
        return
    seen = set()
    for case in json.loads(manifest.read_text())["cases"]:
        template = case.get("template")
        if not template or template in seen:
            continue
        seen.add(template)
        try:
            definition = json5.loads((CONFORMANCE / template).read_text())
        except Exception as e:  # a template the json5 package cannot read: skip it
            print(f"skip {template}: {e}", file=sys.stderr)
            continue
        yield definition, case.get("input", {})


def main() -> None:
    n = {"definition": 0, "jsonpath": 0, "intrinsics": 0}
    for definition, case_input in definitions():
        text = json.dumps(definition, separators=(",", ":"))
        if len(text) <= MAX_DEFINITION:
            write("definition", text)
            n["definition"] += 1
        input_text = json.dumps(case_input, separators=(",", ":"))
        for key, s in strings(definition):
            if s.startswith("States."):
                pair, target = f"{s}\0{input_text}", "intrinsics"
            elif s.startswith("$") and (key.endswith(".$") or key.endswith("Path")):
                pair, target = f"{s}\0{input_text}", "jsonpath"
            else:
                continue
            if len(pair) <= MAX_PAIR:
                write(target, pair)
                n[target] += 1
    print(json.dumps(n))


if __name__ == "__main__":
    main()
