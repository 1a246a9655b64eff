package main

import (
	"context"
	"log/slog"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/trailbell/trailbell/internal/lambda"
)

// inLambda reports whether the process was started by the Lambda runtime (the binary is the
// bootstrap of a provided.al2023 function): then it serves invocations whatever its arguments.
func inLambda() bool { return os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" }

// serveLambda serves Lambda invocations until the runtime stops the process. A setup error
// exits non-zero, which Lambda reports as an init failure and the error alarm catches.
func serveLambda(ctx context.Context, io stdio) int {
	logger := newLogger(io.err, slog.LevelInfo)
	h, err := lambda.Setup(ctx, os.Getenv, logger)
	if err != nil {
		logger.Error("trailbell lambda setup failed", "err", err)
		return exitError
	}
	awslambda.StartWithOptions(h.Invoke, awslambda.WithContext(ctx))
	return exitOK
}
