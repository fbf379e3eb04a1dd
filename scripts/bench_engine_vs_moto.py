#!/usr/bin/env python3
"""Helper of scripts/bench-engine-vs-moto.

`moto DEFS_DIR`   runs the definitions the Rust bench wrote (`<case>.asl.json`,
                  `<case>.input.json`) on moto's Step Functions interpreter, in process
                  (`mock_aws` with `stepfunctions.execute_state_machine` on and the non-docker
                  Lambda echo backend), and prints one JSON line per case.
`table ENGINE_JSONL MOTO_JSONL`
                  prints the comparison table: transitions/s per case and mode, and the ratio
                  engine/moto.

A transition is a state entered: one `*StateEntered` event in the execution's history, on
both sides.
"""

import argparse
import io
import itertools
import json
import logging
import os
import sys
import time
import zipfile
from pathlib import Path

CASES = ["pass_chain", "map_inline", "task_chain"]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account: the Task ARNs in the definitions use it
NOOP_FUNCTION = "bench-noop"
EXECUTION_NUMBERS = itertools.count()


def lambda_zip() -> bytes:
    # Never run: the non-docker backend echoes the payload instead of running code.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def create_noop_lambda(session) -> None:
    iam = session.client("iam")
    role = iam.create_role(
        RoleName="bench-lambda-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    session.client("lambda").create_function(
        FunctionName=NOOP_FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": lambda_zip()},
    )


def run_once(sfn, sm_arn: str, input_text: str, poll: float) -> tuple[float, str, str]:
    # moto names an unnamed execution "None": every execution needs a name of its own.
    name = f"run-{next(EXECUTION_NUMBERS)}"
    started = time.perf_counter()
    arn = sfn.start_execution(stateMachineArn=sm_arn, name=name, input=input_text)["executionArn"]
    while True:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            return time.perf_counter() - started, arn, status
        time.sleep(poll)


def history(sfn, arn: str) -> list[dict]:
    events, token = [], None
    while True:
        kwargs = {"executionArn": arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def measure(sfn, case: str, defs: Path, args) -> dict:
    definition = (defs / f"{case}.asl.json").read_text()
    input_text = (defs / f"{case}.input.json").read_text()
    sm_arn = sfn.create_state_machine(
        name=f"bench-{case}",
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/bench-sfn-role",
    )["stateMachineArn"]
    run_once(sfn, sm_arn, input_text, args.poll)  # warm-up, untimed
    executions = transitions = events = 0
    seconds, best = 0.0, float("inf")
    wall = time.perf_counter()
    while executions < args.max_executions and (
        executions < args.min_executions or time.perf_counter() - wall < args.min_seconds
    ):
        elapsed, arn, status = run_once(sfn, sm_arn, input_text, args.poll)
        if status != "SUCCEEDED":
            raise SystemExit(f"moto: {case} execution {arn} ended {status}")
        evs = history(sfn, arn)
        executions += 1
        transitions += sum(1 for e in evs if e["type"].endswith("StateEntered"))
        events += len(evs)
        seconds += elapsed
        best = min(best, elapsed)
    return {
        "engine": "moto",
        "case": case,
        "mode": "moto",
        "executions": executions,
        "transitions": transitions,
        "transitions_per_execution": transitions // max(executions, 1),
        "events": events,
        "seconds": seconds,
        "best_execution_seconds": best,
        "transitions_per_second": transitions / seconds,
    }


def run_moto(args) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[var] = "testing"
    logging.disable(logging.CRITICAL)
    import boto3
    import moto
    from moto import mock_aws

    config = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }
    defs = Path(args.defs)
    cases = [c for c in CASES if not args.case or c in args.case.split(",")]
    with mock_aws(config=config):
        session = boto3.Session(region_name=REGION)
        create_noop_lambda(session)
        sfn = session.client("stepfunctions")
        for case in cases:
            result = measure(sfn, case, defs, args)
            expected = int((defs / f"{case}.expected_transitions").read_text())
            if result["transitions"] != expected * result["executions"]:
                raise SystemExit(
                    f"moto: {case}: counted {result['transitions']} transitions in "
                    f"{result['executions']} executions, expected {expected} each"
                )
            result["moto_version"] = moto.__version__
            print(json.dumps(result), flush=True)


def read_jsonl(path: str) -> list[dict]:
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def print_table(args) -> None:
    engine = {(r["case"], r["mode"]): r for r in read_jsonl(args.engine)}
    moto = {r["case"]: r for r in read_jsonl(args.moto)}
    header = (
        f"{'case':<11} {'mode':<8} {'trans/exec':>10} {'engine tr/s':>12} "
        f"{'moto tr/s':>10} {'engine/moto':>12}"
    )
    print(header)
    print("-" * len(header))
    worst_durable = None
    for case in CASES:
        m = moto.get(case)
        for mode in ("memory", "durable"):
            e = engine.get((case, mode))
            if e is None:
                continue
            ratio = e["transitions_per_second"] / m["transitions_per_second"] if m else None
            if m and e["transitions_per_execution"] != m["transitions_per_execution"]:
                raise SystemExit(f"{case}: engine and moto entered a different number of states")
            if mode == "durable" and ratio is not None:
                worst_durable = ratio if worst_durable is None else min(worst_durable, ratio)
            print(
                f"{case:<11} {mode:<8} {e['transitions_per_execution']:>10} "
                f"{e['transitions_per_second']:>12,.0f} "
                f"{(m['transitions_per_second'] if m else float('nan')):>10,.0f} "
                f"{(ratio if ratio is not None else float('nan')):>11,.1f}x"
            )
    if worst_durable is not None:
        verdict = "met" if worst_durable >= args.target else "NOT met"
        print(
            f"\ntarget >= {args.target:g}x moto with durable history: {verdict} "
            f"(lowest durable ratio {worst_durable:,.1f}x)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("moto")
    m.add_argument("defs")
    m.add_argument("--case", default="")
    m.add_argument("--min-seconds", type=float, default=2.0)
    m.add_argument("--min-executions", type=int, default=3)
    m.add_argument("--max-executions", type=int, default=100_000)
    m.add_argument("--poll", type=float, default=0.001, help="seconds between DescribeExecution polls")
    t = sub.add_parser("table")
    t.add_argument("engine")
    t.add_argument("moto")
    t.add_argument("--target", type=float, default=100.0)
    args = p.parse_args()
    if args.command == "moto":
        run_moto(args)
    else:
        print_table(args)


if __name__ == "__main__":
    sys.exit(main())
