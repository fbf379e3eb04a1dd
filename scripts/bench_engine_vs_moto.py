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


def run_once(sfn, sm_arn: str, input_text: str, poll: float) -> tuple[float, float, str, str]:
    # moto names an unnamed execution "None": every execution needs a name of its own.
    name = f"run-{next(EXECUTION_NUMBERS)}"
    cpu_before = time.process_time()  # all threads of this process: moto runs executions in threads
    started = time.perf_counter()
    arn = sfn.start_execution(stateMachineArn=sm_arn, name=name, input=input_text)["executionArn"]
    while True:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            return time.perf_counter() - started, time.process_time() - cpu_before, arn, status
        # Each poll costs moto CPU and the GIL (polling every 1 ms slowed it by ~30 %): back
        # off to 2 % of the time so far, which bounds the overshoot to ~2 % (+ `poll`).
        time.sleep(max(poll, 0.02 * (time.perf_counter() - started)))


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
    seconds, cpu_seconds, best = 0.0, 0.0, float("inf")
    wall = time.perf_counter()
    while executions < args.max_executions and (
        executions < args.min_executions or time.perf_counter() - wall < args.min_seconds
    ):
        elapsed, cpu, arn, status = run_once(sfn, sm_arn, input_text, args.poll)
        if status != "SUCCEEDED":
            raise SystemExit(f"moto: {case} execution {arn} ended {status}")
        evs = history(sfn, arn)
        executions += 1
        transitions += sum(1 for e in evs if e["type"].endswith("StateEntered"))
        events += len(evs)
        seconds += elapsed
        cpu_seconds += cpu
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
        "cpu_seconds": cpu_seconds,
        "transitions_per_cpu_second": transitions / cpu_seconds if cpu_seconds else float("nan"),
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
        f"{'case':<11} {'mode':<8} {'trans/exec':>10} {'engine tr/s':>12} {'moto tr/s':>10} "
        f"{'engine/moto':>12} {'engine tr/cpu-s':>16} {'moto tr/cpu-s':>14} {'ratio (cpu)':>12}"
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
            if m and e["transitions_per_execution"] != m["transitions_per_execution"]:
                raise SystemExit(f"{case}: engine and moto entered a different number of states")
            nan = float("nan")
            ratio = e["transitions_per_second"] / m["transitions_per_second"] if m else nan
            e_cpu = e.get("transitions_per_cpu_second", nan)
            m_cpu = m.get("transitions_per_cpu_second", nan) if m else nan
            if mode == "durable" and m:
                worst_durable = ratio if worst_durable is None else min(worst_durable, ratio)
            print(
                f"{case:<11} {mode:<8} {e['transitions_per_execution']:>10} "
                f"{e['transitions_per_second']:>12,.0f} "
                f"{(m['transitions_per_second'] if m else nan):>10,.0f} {ratio:>11,.1f}x "
                f"{e_cpu:>16,.0f} {m_cpu:>14,.0f} {e_cpu / m_cpu:>11,.1f}x"
            )
    print(
        "\ntr/s: transitions per wall-clock second (what a caller sees; moves with the machine's load)."
        "\ntr/cpu-s: per CPU second of the whole process (barely moves with load; excludes I/O waits,"
        "\nso it flatters durable history)."
    )
    if worst_durable is not None:
        verdict = "met" if worst_durable >= args.target else "NOT met"
        print(
            f"\ntarget >= {args.target:g}x moto with durable history (wall clock): {verdict} "
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
    m.add_argument("--poll", type=float, default=0.001, help="shortest pause between DescribeExecution polls")
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
