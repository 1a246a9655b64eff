# Entry points for people and for `sam build` (BuildMethod: makefile). Everything here needs
# Go only (and git, for the version stamp).
.PHONY: build install test fuzz lambda build-TrailbellFunction

# The version and commit `trailbell --version` prints.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
export VERSION COMMIT

# The command, for this machine: bin/trailbell
build:
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/trailbell ./cmd/trailbell
	@bin/trailbell --version

# The command, into $(go env GOBIN) or ~/go/bin (on PATH, like go install)
install:
	go install -trimpath -ldflags '$(LDFLAGS)' ./cmd/trailbell

# The whole suite with the S3, SQS/SNS and Lambda stand-ins (see scripts/test.sh).
test:
	./scripts/test.sh

# Every fuzz test in turn, FUZZTIME each (default 30s; see scripts/fuzz.sh).
fuzz:
	./scripts/fuzz.sh

# Lambda packages for provided.al2023: build/lambda/trailbell-{arm64,amd64}.zip (no zip
# program needed: scripts/lambdazip writes them)
lambda:
	./scripts/build-lambda.sh

# Called by `sam build` for deploy/cloudformation/template.yaml; SAM sets ARTIFACTS_DIR.
# The architecture follows the template's Architecture parameter default (arm64); pass
# LAMBDA_ARCH=amd64 for x86_64.
LAMBDA_ARCH ?= arm64
build-TrailbellFunction:
	OUT=$(ARTIFACTS_DIR)/.build ./scripts/build-lambda.sh $(LAMBDA_ARCH)
	cp $(ARTIFACTS_DIR)/.build/$(LAMBDA_ARCH)/bootstrap $(ARTIFACTS_DIR)/bootstrap
	rm -rf $(ARTIFACTS_DIR)/.build
