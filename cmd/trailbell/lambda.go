package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/trailbell/trailbell/internal/app"
)

// inLambda reports whether the process was started by the Lambda runtime (the binary is the
// bootstrap of a provided.al2023 function): then it serves invocations whatever its arguments.
func inLambda() bool { return os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" }

// serveLambda serves Lambda invocations until the runtime stops the process. A setup error
// exits non-zero, which Lambda reports as an init failure and the error alarm catches.
func serveLambda(ctx context.Context, io stdio) int {
	logger := newLogger(io.err, slog.LevelInfo)
	// Go does not know the function's memory size: told nine tenths of it as a soft limit,
	// its GC keeps the heap inside it rather than let the function run out of memory.
	if mb, err := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && mb > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mb) << 20 / 10 * 9)
	}
	h, err := app.Lambda(ctx, os.Getenv, logger)
	if err != nil {
		logger.Error("trailbell lambda setup failed", "err", err)
		return exitError
	}
	awslambda.StartWithOptions(h.Invoke, awslambda.WithContext(ctx))
	return exitOK
}
