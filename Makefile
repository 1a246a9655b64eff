# Entry points for people and for `sam build` (BuildMethod: makefile).
.PHONY: test lambda build-TrailbellFunction

# The whole suite with the S3, SQS/SNS and Lambda stand-ins (see scripts/test.sh).
test:
	./scripts/test.sh

# Lambda packages for provided.al2023: build/lambda/trailbell-{arm64,amd64}.zip
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
