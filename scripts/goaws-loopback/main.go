// Command goaws-loopback serves goaws (github.com/Admiral-Piett/goaws), the SQS and SNS
// stand-in of trailbell's tests, on the loopback interface only: goaws's own command listens
// on every interface, and the tests must not be reachable from the network. It reads the
// same configuration file, listens on 127.0.0.1 at the port(s) it names, and runs goaws's
// periodic tasks (visibility timeouts, delays) as goaws's command does. scripts/test.sh
// builds it into .bin/.
//
// It is a module of its own so that goaws and its dependencies stay out of trailbell's.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
)

func main() {
	config := flag.String("config", "", "goaws configuration `file` (required: without one goaws searches the whole directory tree)")
	flag.Parse()
	if *config == "" {
		fmt.Fprintln(os.Stderr, "goaws-loopback: -config FILE is required")
		os.Exit(2)
	}
	ports := conf.LoadYamlConfig(*config, "Local")
	handler := router.New()
	errs := make(chan error, len(ports))
	for _, port := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			fmt.Fprintf(os.Stderr, "goaws-loopback: %v\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "goaws-loopback: listening on %s\n", ln.Addr())
		go func() { errs <- http.Serve(ln, handler) }()
	}
	quit := make(chan bool)
	go gosqs.PeriodicTasks(time.Second, quit)
	err := <-errs
	fmt.Fprintf(os.Stderr, "goaws-loopback: %v\n", err)
	os.Exit(1)
}
