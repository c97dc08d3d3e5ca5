package cli

import (
	"fmt"
	"strings"

	"github.com/dfaas-go/dfaas/internal/usage"
	"github.com/dfaas-go/dfaas/strategy/sim"
)

// help returns the synopsis of command name and what it does, for
// "dfaas <name> -h" (a command without an entry gets its summary).
func help(name string) (synopsis, about string) {
	scenarios := usage.Wrap(strings.Join(sim.BuiltinScenarios(), ", "), 72, "\n  ")
	switch name {
	case "agent":
		return "dfaas agent [flags]", aboutAgent
	case "faas":
		return "dfaas faas [--listen ADDR] [--function SPEC]... [--api openfaas|openwhisk [--auth-file FILE]]", aboutFaaS
	case "demo":
		return "dfaas demo [--strategy NAME] [--duration 30s] [--faas openfaas|openwhisk] [--json]", aboutDemo
	case "forecast":
		return "dfaas forecast --trace FILE [--trace FILE]... [--method NAME|all] [--json] [--skip DURATION]", aboutForecast
	case "keygen":
		return "dfaas keygen --out FILE\n  dfaas keygen --show FILE\n  dfaas keygen --issue ID --federation-key FILE --cert-out FILE [--valid DURATION]", aboutKeygen
	case "churn":
		return "dfaas churn [--proxy haproxy|embedded] [--updates N] [--rate R] [--json]", aboutChurn
	case "dataplane":
		return "dfaas dataplane [--duration 10s] [--rounds 3] [--conns 32] [--scenarios local,forwarded,rejected] [--pin] [--json]", aboutDataplane
	case "sim":
		return "dfaas sim --scenario FILE|NAME [--strategy NAME|all] [--repeat K] [--references=false] [--json]\n  dfaas sim --scenario FILE|NAME --trace FILE [--trace-to NODE/FUNCTION] [--trace-stage D] [--save FILE] ...\n  dfaas sim --generate N [--degree 4] [--rate 100] [--duration 120s] [--save FILE] ...\n  dfaas sim --family N [--family-seed S] [--strategy NAME|all] ...\n  dfaas sim --azure DIR [--azure-functions 12] [--azure-nodes 4] [--azure-minutes M] [--save FILE] ...",
			fmt.Sprintf(aboutSim, scenarios)
	case "bench":
		return "dfaas bench --scenario FILE|NAME [--strategy NAME|all] [--proxy embedded|haproxy] [--faas openfaas|openwhisk] [--repeat K] [--from D] [--until D|--duration D] [--out DIR] [--json]",
			fmt.Sprintf(aboutBench, scenarios)
	}
	return "dfaas " + name + " [flags]", strings.ToUpper(commands()[name].summary[:1]) + commands()[name].summary[1:] + "."
}

const aboutDataplane = `Measures what the data plane costs per request: starts a trivial backend,
plain HAProxy (the baseline), the agent's HAProxy data plane and the embedded
proxy, drives each in alternating rounds with one closed-loop load generator
(a child process on one thread, like wrk -t1), and reports req/s, p50/p99
latency and CPU per 1,000 requests, with the ratios to plain HAProxy (with
--tls, forwarded over mutual TLS also against two plain HAProxies chained
over the same TLS), for local, forwarded and rejected requests, and the p99
each adds at half its peak rate (open loop). With --pin the load generator
and the backend run on one CPU and every proxy under test on another.
Needs haproxy.`

const aboutAgent = `Runs the agent of one DFaaS node: its control loop (every --period it
observes the functions' load, exchanges state with its peers over QUIC and
lets the strategy set the shares of user requests served locally,
forwarded to each neighbour or rejected), the data plane that applies
them (--proxy: the embedded Go proxy or HAProxy), the FaaS (--faas: the
embedded one, an OpenFaaS gateway or an OpenWhisk controller), and the admin server (--http:
/healthz, /status, /metrics). Flags not given are read from the AGENT_*
environment variable shown with each flag (docs/deploy.md).`

const aboutFaaS = `Serves the embedded FaaS: the OpenFaaS gateway API (/function/NAME,
/system/functions, /healthz, /metrics) with built-in functions whose
service time follows a capacity model (capacity req/s with concurrency
slots and a bounded queue). dfaas bench runs one per node; an agent with
--faas openfaas can use it as its gateway. With --api openwhisk it serves
OpenWhisk's API instead (the functions as actions, Basic auth with the key
UUID:KEY of --auth-file or a generated one; docs/openwhisk.md), for an
agent with --faas openwhisk.`

const aboutDemo = `Starts three complete nodes in this process on loopback — each with the
embedded FaaS (function figlet), the embedded proxy and its agent on the
QUIC peer network — waits until they have formed a federation, then sends
open-loop Poisson traffic for --duration: node a gets 170 req/s for a
capacity of 100, b and c 30 req/s for 120 each. It reports what the users
saw per node, against the fluid bound. Progress goes to standard error.
With --faas openwhisk the nodes' FaaS serves OpenWhisk's API, which the
agents list the functions through and the proxies invoke them through.`

const aboutForecast = `Scores load forecasters one step ahead on request-rate traces (CSV
time,rate, as in docs/scenarios.md): each rate is predicted from the
earlier ones only, and WAPE = sum |actual - forecast| / sum actual over
the samples after --skip.`

const aboutKeygen = `Writes a new Ed25519 node key (--out) and prints its node ID, prints the
ID of an existing key (--show), or issues a certificate that makes a node
ID a member of a federation (--issue, signed by --federation-key). The
node ID is the libp2p peer ID of the key (12D3KooW...). The private key is
never printed.`

const aboutChurn = `Measures a proxy under weight churn: --rate user requests per second
through a local proxy (HAProxy driven by its runtime API, or the embedded
proxy) while --updates random weight changes, two neighbour leaves and
joins and one function addition are applied; it reports failed requests
and the latency of the updates. With --baseline it repeats the run the
original prototype's way, HAProxy rewritten and reloaded at every update.`

const aboutSim = `Simulates a federation request by request, running the same strategy code
as the agent, and reports the success rate against the oracle (the fluid
bound). --scenario takes a scenario file (the format is in
docs/scenarios.md) or the name of a scenario shipped with dfaas; --trace
replaces its load with a trace, as dfaas bench --trace does (the same
flags and formats). --strategy defaults to flow, as in every command; all
runs every registered strategy that needs no outside model (the built-ins
but external, and those a program added with cli.Main).

Each result also carries two references (docs/evaluation.md): the
clairvoyant controller's success rate (a central controller that knows
every period's true rates), and the strategy's with a perfect forecast;
the gap to the oracle is split into granularity+queueing (oracle -
clairvoyant), forecasting and coordination. --references=false skips
them. --repeat K reruns with K arrival seeds and reports 95%% confidence
intervals. --family N runs N random federations of the family generator
and prints each strategy's distribution. --azure DIR builds a scenario
from the Azure Functions 2019 trace (per-minute counts, durations,
memory).

Shipped scenarios (--scenario NAME):
  %s`

const aboutBench = `Runs a scenario on real processes on this machine: per node a dfaas faas
with the scenario's functions and capacities and a dfaas agent with QUIC
peers and the chosen proxy; as root, each node in its own network
namespace, with the scenario's links and RTTs (otherwise on loopback, and
the report says so). Sends the scenario's load as open-loop Poisson HTTP
traffic, simulates the same scenario, and writes a report with plots and
data (docs/bench.md). Everything it starts is torn down at the end and on
Ctrl-C. --scenario takes a file (docs/scenarios.md) or the name of a
scenario shipped with dfaas. --strategy defaults to flow, as in every
command. --repeat K runs each strategy K times (seeds seed to seed+K-1,
strategies interleaved, a fresh federation each run) and reports means
with 95%% confidence intervals; --from and --until run a window of the
scenario, and nodes it sends no load to are reported n/a.

Shipped scenarios (--scenario NAME):
  %s`
