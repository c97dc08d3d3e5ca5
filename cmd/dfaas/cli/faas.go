package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/faas/openwhisk"
	"github.com/dfaas-go/dfaas/internal/stack"
)

// functionsFlag collects repeated --function NAME[,key=value...] flags.
type functionsFlag []embedded.Function

func (f *functionsFlag) String() string {
	names := make([]string, len(*f))
	for i, fn := range *f {
		names[i] = fn.Name
	}
	return strings.Join(names, ",")
}

// Set parses one function (embedded.ParseFunction).
func (f *functionsFlag) Set(v string) error {
	fn, err := embedded.ParseFunction(v)
	if err != nil {
		return err
	}
	*f = append(*f, fn)
	return nil
}

func runFaaS(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("faas", io)
	listen := fs.String("listen", envOr("FAAS_LISTEN", "127.0.0.1:8080"), "address to serve the gateway API on (env FAAS_LISTEN)")
	var fns functionsFlag
	fs.Var(&fns, "function", "a function to serve: NAME[,handler=H][,capacity=REQ_PER_S][,concurrency=N][,queue=N][,queue_timeout=DUR][,web=true (an OpenWhisk web action)]; repeatable; default: every built-in ("+strings.Join(embedded.Handlers(), ", ")+") with capacity 100")
	seed := fs.Uint64("seed", 1, "seed of the random service times")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	namespace := fs.String("namespace", "", "namespace to report functions in, and to append to the function_name metric label (as OpenFaaS does with openfaas-fn)")
	user := fs.String("basic-auth-user", "", "protect /system/ with basic auth for this user (as the gateway's basic_auth mode)")
	pwFile := fs.String("basic-auth-password-file", "", "file holding the basic-auth password (with --basic-auth-user)")
	api := fs.String("api", "openfaas", "API to serve: openfaas (the OpenFaaS gateway API) or openwhisk (OpenWhisk's REST API with web actions and its user-events metrics, --namespace default guest)")
	authFile := fs.String("auth-file", "", "with --api openwhisk: file holding the API key UUID:KEY, readable by its owner only; if empty, a fresh key is written to a new file named in the log")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(io.err, *logLevel)
	if err != nil {
		return err
	}
	var pw string
	if *pwFile != "" {
		data, err := os.ReadFile(*pwFile)
		if err != nil {
			return usageError{"--basic-auth-password-file: " + err.Error()}
		}
		pw = strings.TrimSpace(string(data))
	}
	if (*user == "") != (pw == "") {
		return usageError{"--basic-auth-user and --basic-auth-password-file go together"}
	}
	cfg := embedded.Config{Functions: fns, Seed: *seed, Logger: log, Namespace: *namespace, Username: *user, Password: pw}
	if *api == "openwhisk" {
		cfg.Namespace = "" // the OpenWhisk namespace, not the OpenFaaS suffix
	}
	srv, err := embedded.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	handler, closeAPI, err := faasAPI(srv, *api, *authFile, *namespace, *user, io, log)
	if err != nil {
		return err
	}
	defer closeAPI()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	log.Info("embedded FaaS serving", "addr", ln.Addr().String(), "functions", len(fns))
	fmt.Fprintf(io.out, "dfaas faas listening on http://%s\n", ln.Addr())
	if *api == "openfaas" {
		return srv.Serve(ctx, ln) // under the server's own limits
	}
	g, ctx := errgroup.WithContext(ctx)
	if err := stack.ServeHTTP(ctx, g, "faas", ln, handler, nil, log); err != nil {
		return err
	}
	return g.Wait()
}

// faasAPI returns the handler of the API dfaas faas serves and what closes
// it: the OpenFaaS gateway API, or the OpenWhisk API with the key of
// authFile (a fresh one, written to a new file, when authFile is empty).
func faasAPI(srv *embedded.Server, api, authFile, namespace, user string, io stdio, log *slog.Logger) (http.Handler, func(), error) {
	switch api {
	case "openfaas":
		if authFile != "" {
			return nil, nil, usageError{"--auth-file goes with --api openwhisk (the OpenFaaS API uses --basic-auth-user)"}
		}
		return srv.Handler(), func() {}, nil
	case "openwhisk":
	default:
		return nil, nil, usageError{fmt.Sprintf("--api %q: want openfaas or openwhisk", api)}
	}
	if user != "" {
		return nil, nil, usageError{"--basic-auth-user goes with --api openfaas (the OpenWhisk API uses --auth-file)"}
	}
	var key openwhisk.Key
	var err error
	if authFile != "" {
		if key, err = openwhisk.ReadKeyFile(authFile); err != nil {
			return nil, nil, usageError{"--auth-file: " + err.Error()}
		}
	} else {
		var path string
		if key, path, err = openwhisk.CreateKeyFile(""); err != nil {
			return nil, nil, err
		}
		log.Warn("no --auth-file: generated a fresh OpenWhisk API key", "file", path)
		fmt.Fprintf(io.out, "OpenWhisk API key written to %s\n", path)
	}
	ow, err := embedded.NewOpenWhisk(srv, embedded.OpenWhiskConfig{Key: key.Auth(), Namespace: namespace})
	if err != nil {
		return nil, nil, err
	}
	log.Info("serving the OpenWhisk API", "namespace", ow.Namespace(), "key", key.String())
	return ow.Handler(), func() { ow.Close() }, nil
}
