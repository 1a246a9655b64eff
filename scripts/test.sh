#!/usr/bin/env bash
# Runs trailbell's whole test suite on a clean machine: installs the AWS stand-ins and Slack's
# TypeScript types into .bin/ (reusing what is there), starts them and moto_server (DynamoDB) on loopback only, exports their
# endpoints for the tests, runs `go test -race ./...`, and stops what it started. Extra
# arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/.bin
mkdir -p "$bin"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=testsecret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

install() { # name module@version [rename-from]
	local name=$1 mod=$2 from=${3:-}
	[ -x "$bin/$name" ] && return 0
	echo "installing $name ($mod)" >&2
	GOBIN=$bin go install "$mod"
	[ -n "$from" ] && mv "$bin/$from" "$bin/$name"
	return 0
}
install versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0
install aws-lambda-rie github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
# SQS and SNS: goaws v0.5.4 served on loopback by scripts/goaws-loopback (goaws's own command
# listens on every interface). Its binary is named by a hash of its sources, so a change is
# rebuilt and worktrees sharing .bin/ never overwrite each other's.
goaws_src=scripts/goaws-loopback
goaws=$bin/goaws-loopback-$(cat "$goaws_src/main.go" "$goaws_src/go.mod" "$goaws_src/go.sum" | sha256sum | cut -c1-12)
if [ ! -x "$goaws" ]; then
	echo "building $(basename "$goaws") (goaws v0.5.4 on loopback)" >&2
	(cd "$goaws_src" && go build -o "$goaws.tmp.$$" .) && mv "$goaws.tmp.$$" "$goaws"
fi

# Slack's own TypeScript types, for TestGoldenTypeCheck: typescript and @slack/types at the
# versions internal/notify/slack/testdata/slack-types pins, installed with npm ci into .bin/
# (a folder named by a hash of the lockfile, so a version change installs anew).
types_src=internal/notify/slack/testdata/slack-types
slack_types=$bin/slack-types-$(cat "$types_src/package.json" "$types_src/package-lock.json" | sha256sum | cut -c1-12)
if [ ! -x "$slack_types/node_modules/.bin/tsc" ]; then
	command -v npm >/dev/null || { echo "npm is not on PATH (needed to type-check Slack messages)" >&2; exit 1; }
	echo "installing typescript and @slack/types into $(basename "$slack_types") (npm ci)" >&2
	rm -rf "$slack_types.tmp.$$" && mkdir -p "$slack_types.tmp.$$"
	cp "$types_src/package.json" "$types_src/package-lock.json" "$slack_types.tmp.$$/"
	(cd "$slack_types.tmp.$$" && npm ci --no-audit --no-fund --silent) && rm -rf "$slack_types" && mv "$slack_types.tmp.$$" "$slack_types"
fi
export TRAILBELL_TEST_SLACK_TYPES=$slack_types

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()
PY
}

wait_http() { # url [tries, 0.1 s apart]
	for _ in $(seq 1 "${2:-100}"); do
		if curl -s -o /dev/null "$1"; then return 0; fi
		sleep 0.1
	done
	echo "server at $1 did not start" >&2
	return 1
}

# S3: versitygw with a posix backend.
s3port=$(free_port)
mkdir -p "$tmp/s3"
ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
	"$bin/versitygw" --port "127.0.0.1:$s3port" --quiet posix "$tmp/s3" >"$tmp/versitygw.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$s3port/"
export TRAILBELL_TEST_S3_ENDPOINT=http://127.0.0.1:$s3port

# SQS and SNS: goaws on 127.0.0.1, at the port its configuration names.
sqsport=$(free_port)
sed "s/__PORT__/$sqsport/g" testdata/goaws.yaml >"$tmp/goaws.yaml"
"$goaws" -config "$tmp/goaws.yaml" >"$tmp/goaws.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$sqsport/health"
export TRAILBELL_TEST_SQS_ENDPOINT=http://127.0.0.1:$sqsport
export TRAILBELL_TEST_SNS_ENDPOINT=http://127.0.0.1:$sqsport

# DynamoDB: moto_server (installed on these machines and in CI; pip cannot install here), for
# the Lambda's state of detections with memory.
command -v moto_server >/dev/null || { echo "moto_server is not on PATH (needed for the DynamoDB tests)" >&2; exit 1; }
ddbport=$(free_port)
moto_server -H 127.0.0.1 -p "$ddbport" >"$tmp/moto.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$ddbport/" 600 # a Python server: slow to start on a busy machine
export TRAILBELL_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$ddbport

# The Lambda Runtime Interface Emulator is started by the tests that need it, per test.
export TRAILBELL_TEST_RIE=$bin/aws-lambda-rie

go vet ./...
(cd scripts/goaws-loopback && go vet ./...)
go test -race -timeout 20m "$@" ./...
