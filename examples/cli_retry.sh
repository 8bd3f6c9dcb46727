#!/usr/bin/env bash
# Fail a step, then resume the execution with RetryPipelineExecution - AWS CLI and curl only.
#
# Run a server on the simulate runner first (scripts/serve --runner simulate: the fault rules
# below decide the steps' outcomes; the default local runner would run their code), then:
#
#     SAGEPIPE_URL=http://127.0.0.1:8080 examples/cli_retry.sh
#
# The pipeline is Prepare -> Train -> Evaluate. A fault rule (PUT /_sagepipe/faults) makes the
# first attempt of Train fail, so the execution ends Failed; `aws sagemaker
# retry-pipeline-execution` (the CLI fills in the ClientRequestToken) re-runs Train only and the
# execution ends Succeeded, under the same ARN. Needs the AWS CLI (v1 or v2), curl and python3.
set -euo pipefail

URL="${SAGEPIPE_URL:-http://127.0.0.1:8080}"
URL="${URL%/}"
# Any key works (sagepipe maps unknown keys to account 123456789012); nothing here reaches AWS.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_PAGER=""

ROLE="arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE="123456789012.dkr.ecr.us-east-1.amazonaws.com/demo:latest"
NAME="cli-retry-$(date +%s)-$RANDOM"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

sm() { aws sagemaker --endpoint-url "$URL" "$@"; }

processing() { # name depends-on
  cat <<EOF
{"Name": "$1", "Type": "Processing", "DependsOn": [$2],
 "Arguments": {"AppSpecification": {"ImageUri": "$IMAGE"}, "RoleArn": "$ROLE",
   "ProcessingResources": {"ClusterConfig":
     {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}}}}
EOF
}

cat >"$WORK/definition.json" <<EOF
{"Version": "2020-12-01", "Steps": [
$(processing Prepare ""),
{"Name": "Train", "Type": "Training", "DependsOn": ["Prepare"],
 "Arguments": {"AlgorithmSpecification": {"TrainingImage": "$IMAGE", "TrainingInputMode": "File"},
   "OutputDataConfig": {"S3OutputPath": "s3://demo-bucket/models"},
   "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
   "StoppingCondition": {"MaxRuntimeInSeconds": 3600}, "RoleArn": "$ROLE"}},
$(processing Evaluate '"Train"')
]}
EOF

sm create-pipeline --pipeline-name "$NAME" --role-arn "$ROLE" \
  --pipeline-definition "file://$WORK/definition.json" --query PipelineArn --output text
echo "created pipeline $NAME at $URL"

# Add a fault rule for this pipeline's Train step (PUT replaces the list: keep existing rules).
curl -fsS "$URL/_sagepipe/faults" >"$WORK/faults.json"
python3 - "$WORK/faults.json" "$NAME" <<'EOF'
import json, sys
path, name = sys.argv[1], sys.argv[2]
rules = json.load(open(path))["rules"]
rules.append({"pipeline": name, "step": "Train", "fail_attempts": 1,
              "exception_type": "SageMaker.CAPACITY_ERROR",
              "failure_reason": "CapacityError: not enough ml.m5.xlarge capacity"})
json.dump({"rules": rules}, open(path, "w"))
EOF
curl -fsS -X PUT -H 'Content-Type: application/json' --data "@$WORK/faults.json" \
  "$URL/_sagepipe/faults" >/dev/null

ARN="$(sm start-pipeline-execution --pipeline-name "$NAME" \
  --query PipelineExecutionArn --output text)"
echo "started $ARN"

wait_done() { # prints the final status; gives up after 60 s
  local status deadline=$((SECONDS + 60))
  while :; do
    status="$(sm describe-pipeline-execution --pipeline-execution-arn "$ARN" \
      --query PipelineExecutionStatus --output text)"
    case "$status" in Executing | Stopping) ;; *) echo "$status"; return 0 ;; esac
    if ((SECONDS > deadline)); then echo "timed out: still $status" >&2; return 1; fi
    sleep 0.3
  done
}

show_steps() {
  sm list-pipeline-execution-steps --pipeline-execution-arn "$ARN" --sort-order Ascending \
    --query 'PipelineExecutionSteps[].[StepName,StepStatus,AttemptCount,FailureReason]' \
    --output text | sed 's/^/  /'
}

STATUS="$(wait_done)"
echo "execution $STATUS"
show_steps
if [ "$STATUS" != "Failed" ]; then
  echo "expected Failed, got $STATUS" >&2
  exit 1
fi

sm retry-pipeline-execution --pipeline-execution-arn "$ARN" --output text >/dev/null
echo "retried"
STATUS="$(wait_done)"
show_steps
echo "result: $STATUS"
[ "$STATUS" = "Succeeded" ]
