"""The Python 3 + boto3 side of the cold-start benchmark (handlers/examples/cold-start.rs).

A custom-runtime bootstrap written the way a Python Lambda is: boto3 clients built once at init,
then the Runtime API loop (next -> handler -> response/error). Each handler does the same AWS
work as its Rust counterpart in handlers/src/lambda/, against the same endpoint:

  record-failure        DynamoDB conditional UpdateItem (status never leaves a terminal state)
  api-status            DynamoDB GetItem + the status JSON, as an API Gateway proxy response
  sqs-worker            GetItem, StartExecution(name = job_id), UpdateItem execution_arn
  s3-event              GetItem, SendMessage
  execution-reconciler  conditional UpdateItem to failed

Select one with PETAVATAR_HANDLER. Standard library + boto3 only.
"""

import json
import os
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError

RUNTIME = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
TABLE = os.environ["JOBS_TABLE"]
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
sfn = boto3.client("stepfunctions")

NOT_TERMINAL = "attribute_exists(job_id) AND #status IN (:queued, :processing)"


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def guard_values():
    return {":queued": {"S": "queued"}, ":processing": {"S": "processing"}, ":now": {"S": now()}}


def fail_job(job_id, code, message):
    try:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET #status = :failed, #updated_at = :now, #error = :error",
            ConditionExpression=NOT_TERMINAL,
            ExpressionAttributeNames={"#status": "status", "#updated_at": "updated_at", "#error": "error"},
            ExpressionAttributeValues={
                **guard_values(),
                ":failed": {"S": "failed"},
                ":error": {"M": {"code": {"S": code}, "message": {"S": message}}},
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return "failed"
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return e.response.get("Item", {}).get("status", {}).get("S", "unknown")
        raise


def get_job(job_id):
    item = dynamodb.get_item(TableName=TABLE, Key={"job_id": {"S": job_id}}, ConsistentRead=True).get("Item")
    return item


def record_failure(event):
    error = event["error"]
    cause = error.get("Cause") or ""
    try:
        message = json.loads(cause)["errorMessage"]
    except (ValueError, KeyError, TypeError):
        message = cause or "the pipeline failed with " + error["Error"]
    status = fail_job(event["job_id"], error["Error"], message)
    return {"job_id": event["job_id"], "status": status, "code": error["Error"], "message": message}


def api_status(event):
    owner = (event.get("requestContext", {}).get("identity") or {}).get("apiKeyId")
    if not owner:
        return proxy(401, {"error": {"code": "Unauthorized", "message": "missing or invalid API key"}})
    job_id = event["path"].rsplit("/", 1)[-1]
    item = get_job(job_id)
    if item is None or item["owner"]["S"] != owner:
        return proxy(404, {"error": {"code": "JobNotFound", "message": "no such job"}})
    body = {
        "job_id": job_id,
        "status": item["status"]["S"],
        "stage": item["stage"]["S"],
        "progress": int(item["progress"]["N"]),
        "created_at": item["created_at"]["S"],
        "updated_at": item["updated_at"]["S"],
        "expires_at": datetime.fromtimestamp(int(item["ttl"]["N"]), timezone.utc).isoformat(),
    }
    return proxy(200, body)


def proxy(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def sqs_worker(event):
    failures = []
    for record in event["Records"]:
        try:
            message = json.loads(record["body"])
            job = get_job(message["job_id"])
            if job is None:
                raise ValueError("no such job")
            if job["status"]["S"] in ("completed", "failed"):
                continue
            job_id = message["job_id"]
            name = job_id
            execution_input = json.dumps(
                {"job_id": job_id, "bucket": os.environ["UPLOADS_BUCKET"], "key": job["upload_key"]["S"], "species_hint": None},
                separators=(",", ":"),
            )
            try:
                arn = sfn.start_execution(
                    stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=name, input=execution_input
                )["executionArn"]
            except ClientError as e:
                if e.response["Error"]["Code"] != "ExecutionAlreadyExists":
                    raise
                arn = os.environ["STATE_MACHINE_ARN"].replace(":stateMachine:", ":execution:", 1) + ":" + name
            dynamodb.update_item(
                TableName=TABLE,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET execution_arn = :arn, #updated_at = :now",
                ConditionExpression="attribute_exists(job_id)",
                ExpressionAttributeNames={"#updated_at": "updated_at"},
                ExpressionAttributeValues={":arn": {"S": arn}, ":now": {"S": now()}},
            )
        except Exception:  # noqa: BLE001 - any failure leaves the message for redelivery
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def s3_event(event):
    queued = 0
    for record in event["Records"]:
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        job_id = key.split("/")[1]
        job = get_job(job_id)
        if job is None or job["upload_key"]["S"] != key or job["status"]["S"] != "queued":
            continue
        body = json.dumps({"job_id": job_id, "s3_upload_key": key, "timestamp": now()})
        sqs.send_message(QueueUrl=os.environ["JOBS_QUEUE_URL"], MessageBody=body)
        queued += 1
    return {"records": len(event["Records"]), "queued": queued}


def execution_reconciler(event):
    detail = event["detail"]
    codes = {"TIMED_OUT": "States.Timeout", "ABORTED": "PetAvatar.Aborted", "FAILED": "States.TaskFailed"}
    if detail["status"] not in codes:
        return {"outcome": "Ignored"}
    job_id = json.loads(detail["input"])["job_id"]
    status = fail_job(job_id, detail.get("error") or codes[detail["status"]], "the pipeline ended: " + detail["status"])
    return {"outcome": status}


HANDLERS = {
    "record-failure": record_failure,
    "api-status": api_status,
    "sqs-worker": sqs_worker,
    "s3-event": s3_event,
    "execution-reconciler": execution_reconciler,
}
handler = HANDLERS[os.environ["PETAVATAR_HANDLER"]]


def post(path, payload, headers=None):
    request = urllib.request.Request(RUNTIME + path, data=json.dumps(payload).encode(), method="POST", headers=headers or {})
    urllib.request.urlopen(request).read()


while True:
    with urllib.request.urlopen(RUNTIME + "/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    try:
        result = handler(event)
    except Exception as e:  # noqa: BLE001 - reported to the Runtime API like a Lambda error
        post(
            f"/invocation/{request_id}/error",
            {"errorType": type(e).__name__, "errorMessage": str(e)},
            {"Lambda-Runtime-Function-Error-Type": type(e).__name__},
        )
        continue
    post(f"/invocation/{request_id}/response", result)
