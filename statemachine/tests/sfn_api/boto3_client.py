"""Drives `asl serve` with boto3, the real AWS client: argv[1] is the endpoint URL.

Exits non-zero (an AssertionError or a botocore error) on any mismatch with AWS's behaviour.
"""
import json
import sys
import time

import boto3
import botocore.exceptions
from botocore.config import Config

ENDPOINT = sys.argv[1]
ROLE = "arn:aws:iam::123456789012:role/StatesExecutionRole"
sfn = boto3.client(
    "stepfunctions",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    aws_access_key_id="AKIDANYTHING",
    aws_secret_access_key="any-secret",
    # StartSyncExecution goes to "sync-<host>" on AWS; a loopback endpoint has one host.
    config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
)

CHAIN = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Pass", "Next": "C"},
        "C": {"Type": "Pass", "End": True},
    },
}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "always"}}}


def expect_error(code, call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response}"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
        return
    raise AssertionError(f"expected {code}, the call succeeded")


def finished(arn, limit_s=120):
    """Polls DescribeExecution until the execution leaves RUNNING (bounded: a hung engine fails)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.02)
    raise AssertionError(f"{arn} still RUNNING after {limit_s}s")


def create(name, definition):
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def all_history_pages(arn, **kwargs):
    events, token, pages = [], None, 0
    while True:
        args = dict(kwargs, executionArn=arn)
        if token:
            args["nextToken"] = token
        page = sfn.get_execution_history(**args)
        events += page["events"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            return events, pages


# --- state machines
chain = create("chain", CHAIN)
assert create("chain", CHAIN) == chain, "CreateStateMachine with the same definition is idempotent"
d = sfn.describe_state_machine(stateMachineArn=chain)
assert d["name"] == "chain" and json.loads(d["definition"]) == CHAIN and d["status"] == "ACTIVE", d
wait = create("wait", WAIT)
fail = create("fail", FAIL)
listed = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
assert {chain, wait, fail} <= set(listed), listed
first = sfn.list_state_machines(maxResults=2)
assert len(first["stateMachines"]) == 2 and "nextToken" in first, first
rest = sfn.list_state_machines(nextToken=first["nextToken"])["stateMachines"]
assert len(first["stateMachines"]) + len(rest) == len(listed)

# --- executions, describe, list with a status filter and pages
runs = [
    sfn.start_execution(stateMachineArn=chain, name=f"run-{i}", input=json.dumps({"i": i}))
    for i in range(3)
]
for r in runs:
    d = finished(r["executionArn"])
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"])["a"] == {"n": 1}, d
waiting = sfn.start_execution(stateMachineArn=wait, name="sleeper")["executionArn"]
ok = sfn.list_executions(stateMachineArn=chain, statusFilter="SUCCEEDED")["executions"]
assert sorted(e["name"] for e in ok) == ["run-0", "run-1", "run-2"], ok
assert sfn.list_executions(stateMachineArn=chain, statusFilter="RUNNING")["executions"] == []
running = sfn.list_executions(stateMachineArn=wait, statusFilter="RUNNING")["executions"]
assert [e["executionArn"] for e in running] == [waiting], running
page1 = sfn.list_executions(stateMachineArn=chain, maxResults=2)
assert len(page1["executions"]) == 2 and page1.get("nextToken"), page1
page2 = sfn.list_executions(stateMachineArn=chain, maxResults=2, nextToken=page1["nextToken"])
assert len(page2["executions"]) == 1 and "nextToken" not in page2, page2

# --- history: pages in reverse order, includeExecutionData
done = runs[0]["executionArn"]
forward, _ = all_history_pages(done)
backward, pages = all_history_pages(done, reverseOrder=True, maxResults=2)
assert pages >= 2, pages
assert [e["id"] for e in backward] == [e["id"] for e in reversed(forward)], backward
assert backward[0]["type"] == "ExecutionSucceeded" and forward[0]["type"] == "ExecutionStarted"
assert "input" in forward[0]["executionStartedEventDetails"]
bare, _ = all_history_pages(done, includeExecutionData=False)
assert "input" not in bare[0]["executionStartedEventDetails"], bare[0]

# --- stop
stopped = sfn.stop_execution(executionArn=waiting, error="Stop.Test", cause="the test stops it")
assert "stopDate" in stopped
d = sfn.describe_execution(executionArn=waiting)
assert d["status"] == "ABORTED", d
assert all_history_pages(waiting)[0][-1]["type"] == "ExecutionAborted"

# --- redrive a failed execution
failed = sfn.start_execution(stateMachineArn=fail, name="boom")["executionArn"]
d = finished(failed)
assert d["status"] == "FAILED" and d["error"] == "Boom" and d["redriveStatus"] == "REDRIVABLE", d
assert "redriveDate" in sfn.redrive_execution(executionArn=failed)
d = finished(failed)
assert d["status"] == "FAILED" and d["redriveCount"] == 1, d
assert "ExecutionRedriven" in [e["type"] for e in all_history_pages(failed)[0]]
expect_error("ExecutionNotRedrivable", sfn.redrive_execution, executionArn=done)

# --- sync execution
sync = sfn.start_sync_execution(stateMachineArn=chain, input=json.dumps({"sync": True}))
assert sync["status"] == "SUCCEEDED" and json.loads(sync["output"])["sync"] is True, sync

# --- validation
assert sfn.validate_state_machine_definition(definition=json.dumps(CHAIN))["result"] == "OK"
bad = {"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": True}}}
v = sfn.validate_state_machine_definition(definition=json.dumps(bad))
assert v["result"] == "FAIL" and v["diagnostics"], v

# --- AWS's error codes
unknown = chain.replace(":stateMachine:", ":execution:") + ":no-such-run"
expect_error("ExecutionDoesNotExist", sfn.describe_execution, executionArn=unknown)
expect_error("ExecutionDoesNotExist", sfn.get_execution_history, executionArn=unknown)
expect_error("StateMachineDoesNotExist", sfn.describe_state_machine, stateMachineArn=chain + "-x")
expect_error("InvalidArn", sfn.describe_execution, executionArn="not-an-arn")
expect_error("InvalidDefinition", sfn.create_state_machine, name="bad", definition=json.dumps(bad), roleArn=ROLE)
expect_error("InvalidDefinition", sfn.create_state_machine, name="bad", definition="{not json", roleArn=ROLE)
expect_error("StateMachineAlreadyExists", sfn.create_state_machine, name="chain", definition=json.dumps(WAIT), roleArn=ROLE)
again = sfn.start_execution(stateMachineArn=chain, name="run-0", input=json.dumps({"i": 0}))
assert again["executionArn"] == done, "same name and input: the same execution"
expect_error("ExecutionAlreadyExists", sfn.start_execution, stateMachineArn=chain, name="run-0", input='{"i": 9}')
expect_error("InvalidExecutionInput", sfn.start_execution, stateMachineArn=chain, input="{oops")
expect_error("ValidationException", sfn.list_executions, stateMachineArn=chain, statusFilter="NOPE")

# --- update and delete
sfn.update_state_machine(stateMachineArn=wait, definition=json.dumps(CHAIN))
assert json.loads(sfn.describe_state_machine(stateMachineArn=wait)["definition"]) == CHAIN
sfn.delete_state_machine(stateMachineArn=fail)
expect_error("StateMachineDoesNotExist", sfn.describe_state_machine, stateMachineArn=fail)
assert sfn.describe_execution(executionArn=failed)["status"] == "FAILED", "histories outlive their machine"

print("boto3 client: all checks passed")
