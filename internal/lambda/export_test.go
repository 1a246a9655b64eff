package lambda

// Helpers of the package's own tests that the end-to-end tests (package lambda_test: the
// bootstrap under the runtime emulator, the three modes) use too.
var (
	ExampleRecords = exampleRecords
	LogFile        = logFile
)
