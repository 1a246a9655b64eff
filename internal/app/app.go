// Package app is the one place that wires trailbell together: it builds each program from
// the configuration (config.Config) and nothing else. Scan builds a backtest (internal/scan),
// NewDaemon the long-running watcher (internal/daemon) with its sources, Lambda the function's
// handler (internal/lambda) from the environment, Pipeline and SendTestAlert the delivery
// path (internal/notify and its destinations). Every integration is made here, once: the AWS
// configuration and its clients (S3, SQS, CloudTrail, SNS, DynamoDB, SSM, Secrets Manager),
// secrets, the rule selection, the state stores of detections with memory (in memory, bbolt
// under a state directory, DynamoDB) and the notification pipeline. The packages it wires
// know nothing of configuration files or of each other's construction.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trailbell/trailbell/internal/config"
)

// Process is what a program takes from the process that runs it.
type Process struct {
	// Stdin is read by scan for the path "-".
	Stdin io.Reader
	// Stdout receives scan's findings and what stdout receivers write; default os.Stdout.
	Stdout io.Writer
	// Logger receives the program's log; nil discards it.
	Logger *slog.Logger
}

// wiring holds what one program's parts share while it is built: the configuration, the
// process, and the AWS configuration, loaded once, on first use, from the environment (the
// SDK's default chain: AWS_* variables, shared files, the instance or task role).
type wiring struct {
	cfg *config.Config
	log *slog.Logger
	out io.Writer
	in  io.Reader

	awsOnce sync.Once
	aws     aws.Config
	awsErr  error
}

func newWiring(cfg *config.Config, p Process) *wiring {
	w := &wiring{cfg: cfg, log: p.Logger, out: p.Stdout, in: p.Stdin}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.out == nil {
		w.out = os.Stdout
	}
	if w.in == nil {
		w.in = os.Stdin
	}
	return w
}

// awsConfig is the SDK configuration, loaded on first use only: a program that needs no AWS
// service never looks for credentials.
func (w *wiring) awsConfig(ctx context.Context) (aws.Config, error) {
	w.awsOnce.Do(func() {
		w.aws, w.awsErr = awsconfig.LoadDefaultConfig(ctx)
		if w.awsErr != nil {
			w.awsErr = fmt.Errorf("load AWS configuration: %w", w.awsErr)
		}
	})
	return w.aws, w.awsErr
}

// awsFor is the SDK configuration with credentials of role when one is given (a log archive
// or member account); they are fetched on first use and renewed before they expire.
func (w *wiring) awsFor(ctx context.Context, role string) (aws.Config, error) {
	ac, err := w.awsConfig(ctx)
	if err != nil || role == "" {
		return ac, err
	}
	ac = ac.Copy()
	ac.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(ac), role,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "trailbell" }))
	return ac, nil
}

// s3Client is every S3 client trailbell makes: scan's archive reader, the daemon's pollers
// and queue readers, the Lambda's log-file reader. region and endpoint override the SDK
// configuration's; an endpoint (an S3-compatible server) or pathStyle asks for path-style
// addressing.
func s3Client(ac aws.Config, region, endpoint string, pathStyle bool) *s3.Client {
	return s3.NewFromConfig(ac, func(o *s3.Options) {
		// Log files are read whole and checked as gzip and JSON; the SDK's note about objects
		// stored without a checksum would only fill the log.
		o.DisableLogOutputChecksumValidationSkipped = true
		if region != "" {
			o.Region = region
		}
		if o.Region == "" {
			// listing works from any region, and the SDK needs one to sign
			o.Region = "us-east-1"
		}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle || endpoint != "" // S3-compatible servers rarely resolve bucket.host names
	})
}
