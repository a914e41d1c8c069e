#!/usr/bin/env python3
"""Regenerates tests/AwsServer/models from botocore's service models (pip install botocore, or Debian's
python3-botocore; the models in the repository come from botocore 1.43.11).

The AWS stand-in validates requests against these models: each keeps the service's metadata, the operations the
engine calls, and every shape those operations reach (inputs, outputs, errors), with documentation removed.
Usage: python3 tools/Update-AwsModels.py [botocore data directory]
"""
import gzip
import json
import os
import sys

OPERATIONS = {
    "sagemaker": ["CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob"],
    "ecr": ["GetAuthorizationToken", "DescribeImages"],
    "sts": ["GetCallerIdentity"],
    "logs": ["DescribeLogStreams", "GetLogEvents"],
}


def data_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    import botocore
    return os.path.join(os.path.dirname(botocore.__file__), "data")


def load(service_dir):
    version = sorted(os.listdir(service_dir))[-1]
    for name in ("service-2.json", "service-2.json.gz"):
        path = os.path.join(service_dir, version, name)
        if os.path.exists(path):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                return json.load(f)
    raise SystemExit(f"no service-2.json under {service_dir}/{version}")


def reach(shapes, name, seen):
    if name in seen:
        return
    seen.add(name)
    shape = shapes[name]
    for ref in [shape.get("member"), shape.get("key"), shape.get("value")] + list(shape.get("members", {}).values()):
        if ref:
            reach(shapes, ref["shape"], seen)


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in ("documentation", "documentationUrl", "deprecatedMessage")}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main():
    root = data_dir()
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "AwsServer", "models")
    os.makedirs(out, exist_ok=True)
    for service, operations in OPERATIONS.items():
        model = load(os.path.join(root, service))
        seen = set()
        kept_ops = {}
        for op in operations:
            o = model["operations"][op]
            kept_ops[op] = o
            for ref in [o.get("input"), o.get("output")] + o.get("errors", []):
                if ref:
                    reach(model["shapes"], ref["shape"], seen)
        trimmed = {
            "version": model.get("version", "2.0"),
            "metadata": model["metadata"],
            "operations": kept_ops,
            "shapes": {name: model["shapes"][name] for name in sorted(seen)},
        }
        with open(os.path.join(out, f"{service}.json"), "w", encoding="utf-8") as f:
            json.dump(strip(trimmed), f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{service}: {len(kept_ops)} operations, {len(seen)} shapes")


if __name__ == "__main__":
    main()
