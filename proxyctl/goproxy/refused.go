package goproxy

// Why the proxy refused a request before any function's counters (the
// reason label of MetricRefused): none of these is a user request for a
// function, so metricsrc.Counters do not see them.
const (
	refusedBadPath       = iota // 400: an invalid function name, a dot segment or a backslash
	refusedManagementAPI        // 403: the FaaS management API (/system)
	refusedNotFunction          // 404: a path outside /function/{name}
	refusedUnknownNode          // 403 unknown-node: a forwarded request whose identity or credential is not a current neighbour's
	numRefusedReasons
)

// refusedReasonName is the label value of a refusal reason.
func refusedReasonName(reason int) string {
	return [numRefusedReasons]string{"bad-path", "management-api", "not-a-function", "unknown-node"}[reason]
}
