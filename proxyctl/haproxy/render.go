package haproxy

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// Files are the files of an HAProxy configuration.
type Files struct {
	// Config is the content of the configuration file.
	Config string
	// Maps are the contents of the map files, by file name relative to
	// the work directory (such as "maps/peers.map").
	Maps map[string]string
	// CAFiles are the contents of the CA files of the node-to-node TLS
	// (with a Certificate), by file name relative to the work directory
	// (such as "tls/members.pem"). The file of the node's own certificate
	// and key, tls/node.pem, is not among them: the Controller writes it.
	CAFiles map[string]string
}

// Render returns the configuration files that make HAProxy route as s says,
// with the Controller's layout for a first Apply of s: a backend for every
// function deployed here, run by a neighbour this node forwards to, or
// routed by the decision; neighbours in slots n1, n2, ... in the order of
// s.Neighbours. It is a pure function of cfg (which must name a Dir) and
// s; the files refer to the sockets and maps under cfg.Dir.
func Render(cfg Config, s proxyctl.State) (Files, error) {
	o, err := cfg.resolve()
	if err != nil {
		return Files{}, err
	}
	if o.dir == "" {
		return Files{}, fmt.Errorf("%w: Dir: required to render", ErrConfig)
	}
	if err := checkState(s); err != nil {
		return Files{}, fmt.Errorf("haproxy: %w", err)
	}
	if err := checkSchemes(&o, s); err != nil {
		return Files{}, fmt.Errorf("haproxy: %w", err)
	}
	users := slotUsers(s)
	lay := layout{configured: true, self: s.Self, functions: neededFunctions(s), slots: o.slots}
	for lay.slots < len(users) {
		lay.slots *= 2
	}
	slots := make([]slotState, lay.slots)
	for i, n := range users {
		ap, err := literalAddr(n.URL)
		if err != nil {
			return Files{}, fmt.Errorf("haproxy: neighbour %q: %w", n.ID, err)
		}
		slots[i] = slotState{node: n.ID, addr: ap}
	}
	return render(&o, lay, build(s, lay, slots, o.ownCert())), nil
}

// Paths inside the work directory.
func (o *settings) mapPath(name string) string { return filepath.Join(o.dir, "maps", name+".map") }
func (o *settings) sockPath(name string) string {
	return filepath.Join(o.dir, "sock", name+".sock")
}
func (o *settings) emptyPath() string { return filepath.Join(o.dir, "empty.http") }
func (o *settings) caPath(name string) string {
	return filepath.Join(o.dir, "tls", name+".pem")
}
func (o *settings) nodeCertPath() string { return filepath.Join(o.dir, "tls", "node.pem") }

// ownCert returns the DER of this node's data-plane certificate, nil
// without one.
func (o *settings) ownCert() []byte {
	if o.cert == nil {
		return nil
	}
	return o.cert.Certificate[0]
}

// writer writes configuration lines.
type writer struct{ b strings.Builder }

func (w *writer) line(format string, a ...any) { fmt.Fprintf(&w.b, format+"\n", a...) }

// confText gathers what every section needs: the settings, the layout, and
// expressions used in several places.
type confText struct {
	o    *settings
	lay  layout
	d    desired
	self string // log-format expression of this node's ID
	*writer
}

// render writes the configuration files for layout lay holding the
// run-time state d. It is pure: the same input gives the same bytes.
func render(o *settings, lay layout, d desired) Files {
	c := &confText{o: o, lay: lay, d: d, self: selfExpr(lay.self), writer: &writer{}}
	c.global()
	c.defaults()
	c.public()
	if lay.configured {
		c.retry()
	}
	c.metrics()
	c.invalid()
	c.tables()
	c.gateway()
	for _, fn := range lay.functions {
		c.function(fn)
	}
	for i := 0; i < lay.slots; i++ {
		c.slot(i)
	}
	f := Files{Config: c.b.String(), Maps: map[string]string{}}
	for _, name := range mapNames() {
		f.Maps[filepath.Join("maps", name+".map")] = d.maps[name]
	}
	f.Maps[filepath.Join("maps", mapFlags+".map")] = ""
	if len(d.cas) > 0 {
		f.CAFiles = map[string]string{}
		for name, content := range d.cas {
			f.CAFiles[filepath.Join("tls", name+".pem")] = content
		}
	}
	return f
}

// selfExpr is how the configuration writes this node's ID in a header
// value or message: literally when it needs no escaping (the common case,
// and the cheapest for HAProxy), else as the variable proc.self.
func selfExpr(id strategy.NodeID) string {
	if id == "" {
		return "%[var(proc.self)]"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "%[var(proc.self)]"
		}
	}
	return string(id)
}

// refuse writes a rule answering status with a DFaaS-Rejected reason (if
// any) and a message (a log-format string).
func (c *confText) refuse(status int, reason, msg, cond string) {
	c.answer("http-request", status, reason, msg, cond)
}

// answer writes a return rule of the given directive (http-request, or
// http-response to replace an answer), as refuse describes.
func (c *confText) answer(directive string, status int, reason, msg, cond string) {
	c.reply(directive+" return", status, reason, msg, cond)
}

// reply writes a rule of the given action (a return, or a deny: counted in
// the proxy's denied requests) as refuse describes.
func (c *confText) reply(action string, status int, reason, msg, cond string) {
	hdr := ""
	if reason != "" {
		hdr = " hdr " + proxyctl.HeaderRejected + " " + reason
	}
	if c.lay.configured {
		hdr += " hdr " + proxyctl.HeaderServedBy + " " + c.self
	}
	if status == 429 || status == 503 {
		hdr += " hdr Retry-After 1"
	}
	if cond != "" {
		cond = " " + cond
	}
	c.line("    %s status %d content-type text/plain%s lf-string \"dfaas: %s\\n\"%s", action, status, hdr, msg, cond)
}

func (c *confText) global() {
	o := c.o
	c.line("# Generated by dfaas (proxyctl/haproxy); the controller rewrites this file.")
	c.line("# Neighbour slots and maps change at run time; this file holds their")
	c.line("# latest values so that a restarted HAProxy starts where it was.")
	c.line("global")
	c.line("    master-worker")
	c.line("    nbthread %d", o.threads)
	c.line("    maxconn %d", o.maxConn)
	c.line("    stats socket %s mode 600 level admin expose-fd listeners", o.runtimeSocket)
	c.line("    stats timeout 30s")
	// A reload lets requests in flight finish, up to twice the server
	// time-out.
	c.line("    hard-stop-after %s", timeoutMS(max(30*time.Second, 2*o.server)))
	if c.lay.configured {
		c.line("    set-var proc.self str(%s),url_dec", urlEncode(string(c.lay.self)))
	}
	if o.cert != nil || o.userCert != "" {
		c.line("    ssl-default-bind-options ssl-min-ver TLSv1.3")
		c.line("    ssl-default-server-options ssl-min-ver TLSv1.3")
	}
	c.line("")
}

func (c *confText) defaults() {
	o := c.o
	c.line("defaults")
	c.line("    mode http")
	c.line("    timeout connect %s", timeoutMS(o.connect))
	c.line("    timeout client %s", timeoutMS(o.client))
	c.line("    timeout server %s", timeoutMS(o.server))
	c.line("    timeout queue %s", timeoutMS(o.queue))
	c.line("    timeout http-request %s", timeoutMS(o.header))
	c.line("    timeout http-keep-alive %s", timeoutMS(o.idle))
	c.line("    timeout check %s", timeoutMS(o.check))
	c.line("")
}

// public writes the public frontend: limits, the paths it serves, then
// forwarded requests (credentials, admission) and user requests (the
// route drawn from the route map).
func (c *confText) public() {
	o := c.o
	c.line("frontend public")
	c.binds()
	c.line("    maxconn %d", max(1, o.maxConn*9/10))
	if o.maxConnPerSrc > 0 {
		c.line("    # At most %d connections from one address, or one IPv6 /64 (the", o.maxConnPerSrc)
		c.line("    # prefix of one host), neighbours exempt.")
		c.line("    tcp-request connection track-sc2 src,ipmask(32,64) table st_src")
		c.line("    tcp-request connection reject if { sc_conn_cur(2) gt %d } !{ src,map_ip(%s) -m found }", o.maxConnPerSrc, o.mapPath(mapSources))
	}
	if o.cert != nil {
		c.line("    # The name of a neighbour's certificate and its node key, read once")
		c.line("    # per connection.")
		c.line("    tcp-request session set-var(sess.cn) ssl_c_s_dn(CN) if { so_id %d }", nodeBindID)
		c.line("    tcp-request session set-var(sess.idk) var(sess.cn),sha2(256),bytes(0,8),hex")
	}
	c.line("    # Before a reload, clients are asked to close their connections, so")
	c.line("    # that none is idle (and closed under a client about to reuse it)")
	c.line("    # when the old worker stops.")
	c.line("    http-after-response set-header Connection close if { str(drain),map(%s) -m found }", o.mapPath(mapFlags))
	c.line("    # A function request with a valid name and path gets txn.fn; any other")
	c.line("    # request is answered by the backend invalid.")
	c.line("    http-request set-var(txn.fn) path,field(3,/) if { path_reg '^(?!.*(?:/\\.\\.?(?:/|$)|%%2[eEfF]|%%5[cC]|\\\\))/function/[A-Za-z0-9][A-Za-z0-9._-]{0,%d}(?:/|$)' }", strategy.MaxNameLen-1)
	c.line("    http-request set-var(txn.nb) bool(1) if { req.fhdr(%s) -m len gt 0 } || { req.fhdr(%s) -m len gt 0 }", proxyctl.HeaderNodeID, proxyctl.HeaderNodeToken)
	c.line("    acl from_node var(txn.nb) -m bool")
	user := "!from_node"
	if o.nodeListen != "" {
		c.line("    acl node_port so_id %d", nodeBindID)
		user = "!from_node !node_port"
	}
	if c.lay.configured {
		c.line("    # User requests: the function's request count (st_fn http_req_cnt)")
		c.line("    # picks one of %d buckets (see below); the refusals that follow", buckets)
		c.line("    # count as rejected (gpc1).")
		c.line("    http-request track-sc0 var(txn.fn) table st_fn if %s { var(txn.fn),map(%s) -m found }", user, o.mapPath(mapFns))
	}
	c.bodyLimits()
	c.line("    acl valid var(txn.fn) -m found")
	c.line("    # Any other request leaves the rules for the backend invalid.")
	c.line("    http-request allow if !valid")
	if o.nodeListen != "" {
		c.line("    # Forwarded requests on the node port only, and only they there.")
		c.refuse(403, "unknown-node", "forwarded requests are taken on the node port only", "if from_node !node_port")
		c.refuse(403, "unknown-node", "the node port takes forwarded requests only", "if node_port !from_node")
	}
	if !c.lay.configured {
		c.line("    # Not configured yet: no neighbour is known, and every function")
		c.line("    # request is served locally.")
		c.refuse(403, "unknown-node", "node %[req.fhdr("+proxyctl.HeaderNodeID+")] is not a neighbour (yet)", "if from_node")
		c.line("    use_backend invalid if !valid")
		c.line("    default_backend gateway")
		c.line("")
		return
	}
	c.publicUser()
	// use_backend rules run after every http-request rule, in their order:
	// writing them last says so (HAProxy warns otherwise).
	c.line("    use_backend invalid if !valid")
	c.line("    use_backend gw.%%[var(txn.fn)] if from_node")
	// Without txn.t (a function without a route table) the name is empty
	// and HAProxy falls back to the default backend.
	c.line("    use_backend %%[var(txn.t),field(1,/)]")
	c.line("    default_backend noroute")
	c.line("")
}

// Bind IDs of the public frontend's listeners.
const (
	userBindID = 1
	nodeBindID = 2
)

// binds writes the public frontend's listeners: the user port, and the
// node port when there is one (mutual TLS with a Certificate: the node's
// certificate, the current neighbours' as the only trusted ones). Both
// speak HTTP/1 only (proto h1): HAProxy would otherwise take the HTTP/2
// preface and carry up to 100 requests at once on each connection the
// per-address cap counts.
func (c *confText) binds() {
	o := c.o
	if o.nodeListen == "" && o.userCert == "" {
		c.line("    bind %s proto h1", o.listen)
		return
	}
	user := ""
	if o.userCert != "" {
		user = " ssl crt " + o.userCert
	}
	c.line("    bind %s id %d%s proto h1", o.listen, userBindID, user)
	if o.nodeListen == "" {
		return
	}
	node := ""
	if o.cert != nil {
		node = fmt.Sprintf(" ssl crt %s ca-file %s verify required alpn http/1.1", o.nodeCertPath(), o.caPath(caMembers))
	}
	c.line("    bind %s id %d%s proto h1", o.nodeListen, nodeBindID, node)
}

// bodyLimits writes the body limits (411 for a body of unknown length, 413
// above MaxBodySize, each counted as rejected for a user request of a
// routed function) and the wait for the body.
func (c *confText) bodyLimits() {
	o := c.o
	if o.maxBody > 0 {
		// A body of unknown length first: req.body_size is then what
		// arrived; else it is the Content-Length (what arrived and what is
		// announced to come), read from the parsed message rather than
		// from the headers again.
		c.line("    acl chunked req.hdr(transfer-encoding) -m found")
		c.line("    acl too_large req.body_size gt %d", o.maxBody)
		c.line("    http-request sc-inc-gpc(1,0) if chunked || too_large")
		c.line("    http-request return status 411 content-type text/plain string \"dfaas: a request body needs a Content-Length\\n\" if chunked")
		c.line("    http-request return status 413 content-type text/plain string \"dfaas: request body larger than %d bytes\\n\" if too_large", o.maxBody)
	}
	c.line("    # The whole request (what fits the buffer) within the time-out, else 408.")
	c.line("    http-request wait-for-body time %s", timeoutMS(o.request))
}

// publicUser writes the rules for user requests: the function's request
// count picks a bucket, the route map its target backend; a local target
// with a local limit overflows above it. User requests then leave the
// rules ("allow"), so that they skip those of forwarded requests.
func (c *confText) publicUser() {
	o := c.o
	c.line("    # User requests: the function's request count picks one of %d", buckets)
	c.line("    # buckets, the route map its target backend: gw.<f>/<overflow>,")
	c.line("    # L/<overflow> (local with a limit), reject, noroute or out.n<i>")
	c.line("    # (the neighbour in slot i).")
	c.line("    http-request set-var(txn.t) sc_http_req_cnt(0),mod(%d),concat(/,txn.fn,),map(%s)", buckets, o.mapPath(mapRoute))
	c.line("    acl limited var(txn.t) -m beg %s/", targetLimited)
	c.line("    acl fwd var(txn.t) -m beg out.")
	c.line("    acl more var(txn.t) -m beg %s/ out.", targetLimited)
	c.line("    http-request allow if !more !from_node")
	c.line("    # Above the local limit, a local request overflows.")
	c.line("    http-request set-var(txn.lim) var(txn.fn),map_str_int(%s) if limited", o.mapPath(mapFns))
	c.line("    http-request set-var(txn.t) var(txn.t),field(2,/) if limited { sc_gpc_rate(0,0),sub(txn.lim) ge 0 }")
	c.line("    http-request sc-inc-gpc(0,0) if limited")
	c.line("    http-request set-var(txn.t) str(gw.),concat(,txn.fn,) if limited")
	c.line("    http-request allow if !from_node !fwd")
	// What remains: forwarded requests, then user requests bound to a
	// neighbour. Forwarded requests go first and leave the rules once
	// accepted, so that they skip the forwarding caps (each rule of theirs
	// costs a user request one failed variable lookup).
	c.publicFromNode()
	c.capRules()
}

// capRules writes the forwarding caps (proxyctl.ForwardCap) of user
// requests bound to a neighbour: the slot's cap from the caps map; within
// it if what the slot was sent of the function in the last second
// (st_out's request rate) is below the cap's rate or its growth times the
// slot's successful answers of the function then (st_out's gpc0 rate), or
// within one request more than its share of the function's user requests
// in the last second (st_fn's request rate, this one included). Beyond it, the request is
// served locally if the route has a local share and the local limit
// allows, else rejected (429 policy). (The embedded proxy would try
// another neighbour of the route within its cap first.)
func (c *confText) capRules() {
	o := c.o
	c.line("    # Forwarding caps: a neighbour gets at most its share of the function's")
	c.line("    # user requests in the last second, or its trusted rate if more.")
	c.line("    http-request set-var(txn.cap) var(txn.t),map(%s)", o.mapPath(mapCaps))
	c.line("    http-request allow if !{ var(txn.cap) -m found }")
	c.line("    http-request set-var(txn.ck) var(txn.fn),concat(/,txn.t,),regsub(/out[.],/)")
	c.line("    http-request set-var(txn.cn) var(txn.ck),table_http_req_rate(st_out)")
	c.line("    http-request allow if { var(txn.cap),field(2,/),sub(txn.cn) gt 0 }")
	c.line("    # ... or its growth (in tenths) times its successful answers then.")
	c.line("    http-request set-var(txn.cg) var(txn.cap),field(3,/)")
	c.line("    http-request set-var(txn.cf) var(txn.cn),mul(10)")
	c.line("    http-request allow if { var(txn.ck),table_gpc_rate(0,st_out),mul(txn.cg),sub(txn.cf) gt 0 }")
	c.line("    http-request set-var(txn.cs) var(txn.cap),field(1,/)")
	c.line("    http-request set-var(txn.cn) var(txn.cn),mul(1000)")
	c.line("    http-request allow if { sc_http_req_rate(0),mul(txn.cs),sub(txn.cn) ge 0 }")
	c.line("    # Beyond the cap (counted in gpc2): local service if the route has a")
	c.line("    # local share, within the local limit, else rejected.")
	c.line("    http-request sc-inc-gpc(2,0)")
	c.line("    http-request set-var(txn.lim) var(txn.fn),map_str_int(%s,0)", o.mapPath(mapFns))
	c.line("    acl lshare str(%s/),concat(,txn.fn,),map(%s) -m found", targetLimited, o.mapPath(mapCaps))
	c.line("    http-request set-var(txn.t) str(reject)")
	c.line("    http-request set-var(txn.t) str(gw.),concat(,txn.fn,) if lshare { var(txn.lim) -m int eq 0 }")
	c.line("    http-request set-var(txn.t) str(gw.),concat(,txn.fn,) if lshare { sc_gpc_rate(0,0),sub(txn.lim) lt 0 }")
	c.line("    http-request sc-inc-gpc(0,0) if { var(txn.lim) -m int gt 0 } { var(txn.t) -m beg gw. }")
}

// publicFromNode writes the rules for requests forwarded by a neighbour
// (user requests served here left the rules before; those bound to a
// neighbour skip these): its credential, then the admission limit; they
// are served here or refused, never forwarded again, and leave the rules
// once accepted.
//
// A rule whose first fetch is a variable only forwarded requests set
// needs no from_node guard (sess.idk exists on node-port connections
// only, where no other request gets past the node-port rules). The node key (the SHA-256 of the identity)
// comes, with a Certificate, from the certificate's name, hashed once per
// connection (the identity must equal it); the credential's SHA-256 is
// kept for the connection in sess.tokc with the credential it hashes, and
// a request presenting another one hashes it again. The maps are read for
// every request, so a credential revoked is refused on a connection kept
// alive too.
func (c *confText) publicFromNode() {
	o := c.o
	c.line("    # A forwarded request must name a current neighbour and present the")
	c.line("    # credential this node gave it over the peer channel (or, during its")
	c.line("    # grace after a rotation, the previous one). The credential's hash is")
	c.line("    # kept for the connection (sess.tokc: hash, then credential), and")
	c.line("    # computed again only for another credential.")
	key, cond := "sess.idk", "if from_node !one_id || from_node !one_token || from_node !token_seen || from_node !token_ok !token_prev"
	if o.cert == nil {
		// Without a certificate, the node key is kept for the connection
		// as the credential's hash is (sess.idc: key, then identity), and
		// copied for the request: a user request on the same connection
		// must find no key.
		key = "txn.idk"
		cond += " || from_node !id_seen"
		c.line("    http-request set-var(txn.id) req.fhdr(%s) if from_node", proxyctl.HeaderNodeID)
		c.line("    acl id_seen var(sess.idc),bytes(16),strcmp(txn.id) eq 0")
		c.line("    http-request set-var(sess.idc) var(txn.id),sha2(256),bytes(0,8),hex,concat(,txn.id,) if from_node !id_seen")
		c.line("    http-request set-var(txn.idk) var(sess.idc),bytes(0,16) if from_node")
	}
	c.line("    http-request set-var(txn.tok) req.fhdr(%s) if from_node", proxyctl.HeaderNodeToken)
	c.line("    acl token_seen var(sess.tokc),bytes(64),strcmp(txn.tok) eq 0")
	c.line("    http-request set-var(sess.tokc) var(txn.tok),sha2(256),hex,concat(,txn.tok,) if from_node !token_seen")
	c.line("    http-request set-var(txn.want) var(%s),map(%s)", key, o.mapPath(mapPeers))
	c.line("    acl one_id req.fhdr_cnt(%s) eq 1", proxyctl.HeaderNodeID)
	c.line("    acl one_token req.fhdr_cnt(%s) eq 1", proxyctl.HeaderNodeToken)
	c.line("    acl token_ok var(sess.tokc),bytes(0,64),strcmp(txn.want) eq 0")
	c.line("    http-request set-var(txn.wantp) var(%s),map(%s) if !token_ok", key, o.mapPath(mapPrev))
	c.line("    acl token_prev var(sess.tokc),bytes(0,64),strcmp(txn.wantp) eq 0")
	if o.cert != nil {
		c.line("    # ... over a connection authenticated by its own certificate.")
		c.line("    acl cert_ok req.fhdr(%s),strcmp(sess.cn) eq 0", proxyctl.HeaderNodeID)
		cond += " || from_node !cert_ok"
	}
	c.refuse(403, "unknown-node", "node %[req.fhdr("+proxyctl.HeaderNodeID+")] is not a neighbour of node "+c.self+" or its credential is wrong", cond)
	c.line("    # A forwarded request is served here or refused, never forwarded again.")
	c.refuse(404, "no-route", "function %[var(txn.fn)] is not deployed on node "+c.self, "if from_node !{ var(txn.fn),map("+o.mapPath(mapLocal)+") -m found }")
	c.line("    # Admission: by node key and function.")
	c.line("    http-request set-var(txn.alim) var(%s),concat(/,txn.fn,),map_str_int(%s)", key, o.mapPath(mapAdmit))
	c.line("    http-request track-sc1 var(%s),concat(/,txn.fn,) table st_in", key)
	c.refuse(429, "admission", "node %[req.fhdr("+proxyctl.HeaderNodeID+")] is above its admission limit for %[var(txn.fn)]", "if { var(txn.alim) -m found } { sc_gpc0_rate(1),sub(txn.alim) ge 0 }")
	c.line("    http-request sc-inc-gpc0(1) if from_node")
	c.line("    http-request allow if from_node")
}

// retry writes the internal frontend that takes the requests HAProxy
// retries: those the local gateway could not take (socket retry-l, from
// gw.<f>) and those a neighbour refused with 403 or could not be reached
// for (socket r<i>, from out.n<i>). Each gets one more target: for a
// neighbour's failure, the local gateway if the function is deployed, up
// and within its local limit, else the fallback neighbour; for the
// gateway's, the route's other targets. Neighbours are then reached
// through once.n<j>, which does not retry again.
func (c *confText) retry() {
	o := c.o
	c.line("frontend retry")
	c.line("    bind unix@%s id 1000 mode 600", o.sockPath("retry-l"))
	for i := 0; i < c.lay.slots; i++ {
		c.line("    bind unix@%s id %d mode 600", o.sockPath("r"+strconv.Itoa(i+1)), 1001+i)
	}
	c.line("    acl after_local so_id 1000")
	c.line("    http-request set-var(txn.fn) path,field(3,/)")
	c.line("    # A forwarded request the gateway could not take: closed unanswered,")
	c.line("    # so that its sender retries it elsewhere.")
	c.line("    http-request reject if after_local { req.fhdr(%s) -m len gt 0 }", proxyctl.HeaderNodeID)
	c.line("    http-request del-header %s", proxyctl.HeaderNodeID)
	c.line("    http-request del-header %s", proxyctl.HeaderNodeToken)
	c.line("    http-request set-var(txn.lim) var(txn.fn),map_str_int(%s,0)", o.mapPath(mapFns))
	c.line("    acl can_local var(txn.fn),map(%s) -m found", o.mapPath(mapLocal))
	c.line("    acl under var(txn.lim) -m int eq 0")
	c.line("    acl under var(txn.fn),table_gpc_rate(0,st_fn),sub(txn.lim) lt 0")
	c.line("    http-request set-var(txn.t) str(gw.),concat(,txn.fn,) if !after_local can_local { nbsrv(gateway) gt 0 } under")
	c.line("    http-request set-var(txn.slot) so_id,sub(1000) if !after_local")
	c.line("    http-request set-var(txn.t) var(txn.fn),concat(/n,txn.slot,),map(%s,%s) if !after_local !{ var(txn.t) -m found }", o.mapPath(mapFallback), targetUnavailable)
	c.line("    http-request set-var(txn.t) rand(%d),concat(/,txn.fn,),map(%s,%s) if after_local", buckets, o.mapPath(mapRoute), targetNoRoute)
	c.line("    http-request set-var(txn.t) var(txn.t),field(2,/) if after_local { var(txn.t) -m sub / }")
	c.line("    http-request set-var(txn.t) var(txn.t),regsub(^out,once) if after_local")
	c.line("    use_backend %%[var(txn.t)] if { var(txn.t) -m found }")
	c.line("    default_backend noroute")
	c.line("")
}

func (c *confText) metrics() {
	if c.o.metrics == "" {
		return
	}
	c.line("frontend metrics")
	c.line("    bind %s", c.o.metrics)
	c.line("    http-request use-service prometheus-exporter if { path /metrics }")
	c.line("    http-request return status 404 if !{ path /metrics }")
	c.line("")
}

// invalid writes the backend that answers every request but a valid
// function request: the health path, and errors for the others.
func (c *confText) invalid() {
	served := ""
	if c.lay.configured {
		served = " hdr " + proxyctl.HeaderServedBy + " " + c.self
	}
	c.line("backend invalid")
	c.line("    http-request return status 200 content-type text/plain%s string \"ok\\n\" if { path %s } { nbsrv(gateway) gt 0 }", served, HealthPath)
	c.line("    http-request return status 503 content-type text/plain%s string \"dfaas: the local FaaS is down\\n\" if { path %s }", served, HealthPath)
	c.line("    http-request return status 403 content-type text/plain string \"dfaas: the FaaS management API is not exposed on the public port\\n\" if { path /system } || { path_beg /system/ }")
	c.line("    http-request return status 404 content-type text/plain string \"dfaas: only /function/{name} is served here\\n\" if !{ path_beg /function/ }")
	c.line("    http-request return status 400 content-type text/plain string \"dfaas: bad path\\n\" if { path_reg -i '(/\\.\\.?(/|$))|%%2e|%%2f|%%5c|\\\\' }")
	c.line("    http-request return status 400 content-type text/plain string \"dfaas: bad function name\\n\"")
	c.line("")
}

// tables writes the stick tables: rate caps and counters.
func (c *confText) tables() {
	c.line("backend %s", targetReject)
	c.line("    http-request sc-inc-gpc(1,0)")
	c.refuse(429, "policy", "node "+c.self+" is overloaded for %[var(txn.fn)]; request rejected", "")
	c.line("")
	c.line("backend %s", targetNoRoute)
	c.line("    # A name this node routes nothing for (made up, typically) is")
	c.line("    # counted in one aggregate, never per name.")
	c.line("    http-request track-sc1 str(other) table st_other if !{ sc_tracked(0) }")
	c.line("    http-request sc-inc-gpc(1,0)")
	c.refuse(404, "no-route", "function %[var(txn.fn)] is not deployed on node "+c.self+" nor on any neighbour it forwards to", "")
	c.line("")
	c.line("backend %s", targetUnavailable)
	c.refuse(503, "", "no node could take the request for %[var(txn.fn)]", "")
	c.line("")
	c.line("# Forwarded requests admitted (gpc0; gpc0_rate enforces admission")
	c.line("# limits), refused after that by the queue cap (gpc1) and received")
	c.line("# (http_req_cnt), by function/node key.")
	c.line("backend st_in")
	c.line("    stick-table type string len 96 size 100k expire 24h store http_req_cnt,gpc0,gpc1,gpc0_rate(1s)")
	c.line("")
	c.line("# User requests by function: http_req_cnt offered (the route counter;")
	c.line("# http_req_rate: the forwarding caps' share),")
	c.line("# gpc0 served locally (gpc_rate: the local limit), gpc1 rejected here,")
	c.line("# gpc2 turned away by a neighbour's forwarding cap, http_fail_cnt failed.")
	c.line("backend st_fn")
	c.line("    stick-table type string len 64 size 10k expire 24h store http_req_cnt,http_req_rate(1s),gpc(3),gpc_rate(1,1s),http_fail_cnt")
	c.line("")
	c.line("# User requests for names not routed here, in one entry.")
	c.line("backend st_other")
	c.line("    stick-table type string len 8 size 1 expire 24h store http_req_cnt")
	c.line("")
	c.line("# User requests forwarded, by function/slot: http_req_cnt sent (and its")
	c.line("# rate, and gpc0's, for the forwarding caps), gpc0")
	c.line("# answered by the neighbour itself, successfully, gpc1 sent elsewhere")
	c.line("# (refused as unknown-node or unreachable: not answered).")
	c.line("backend st_out")
	c.line("    stick-table type string len 80 size 100k expire 24h store http_req_cnt,http_req_rate(1s),gpc(2),gpc_rate(1,1s)")
	c.line("")
	if c.o.maxConnPerSrc > 0 {
		c.line("backend st_src")
		c.line("    stick-table type ipv6 size %d expire 30s store conn_cur", max(c.o.maxConn, 1024))
		c.line("")
	}
}

// gateway writes the backend of the local gateway, checked once; every
// function's gateway server tracks it.
func (c *confText) gateway() {
	o := c.o
	c.line("backend gateway")
	c.line("    option httpchk")
	c.line("    http-check send meth GET uri %s hdr Host dfaas", o.gatewayHealth)
	c.line("    http-request del-header %s", proxyctl.HeaderNodeToken)
	c.line("    server gw %s check inter %s fall 2 rise 2", o.gateway, timeoutMS(o.check))
	c.line("")
}

// timeoutExpr is the expression of a function's server time-out, plus
// extra milliseconds.
func (c *confText) timeoutExpr(extra int) string {
	e := fmt.Sprintf("var(txn.fn),map_str_int(%s,%d)", c.o.mapPath(mapTimeouts), c.o.server.Milliseconds())
	if extra > 0 {
		e += ",add(" + strconv.Itoa(extra) + ")"
	}
	return e
}

// function writes the backend of function fn: the gateway with the
// function's concurrency limit (its queue) and queue cap (its rules last),
// and the retry server that takes a request the gateway cannot.
func (c *confText) function(fn string) {
	o := c.o
	c.line("backend gw.%s", fn)
	c.line("    # A connection to the gateway that fails (or a gateway down) sends")
	c.line("    # the request to the retry frontend, which routes it elsewhere.")
	c.line("    retries 1")
	c.line("    option redispatch 1")
	c.line("    errorfile 502 %s", o.emptyPath())
	c.line("    http-request del-header %s if { var(txn.nb) -m bool }", proxyctl.HeaderNodeToken)
	c.line("    http-request set-timeout server %s", c.timeoutExpr(0))
	c.queueCap(fn)
	if c.lay.configured {
		c.line("    http-response set-header %s %s if { srv_name gw }", proxyctl.HeaderServedBy, c.self)
	}
	c.line("    use-server gw if TRUE")
	mc := ""
	if m := c.d.maxconn[fn]; m > 0 {
		mc = " maxconn " + strconv.Itoa(m)
	}
	c.line("    server gw %s%s track gateway/gw", o.gateway, mc)
	c.line("    server retry unix@%s", o.sockPath("retry-l"))
	c.line("")
}

// queueCap writes the queue cap of function fn's backend
// (proxyctl.Function.MaxQueue, from the map queue): a request that would
// join a queue of the gateway server already holding the cap is refused at
// once, 429 queue-full, and counted: a user's as rejected (st_fn gpc1), a
// neighbour's as refused after its admission (st_in gpc1), both in the
// backend's denied requests (dreq, which Totals takes from the local
// ones). These must be the backend's last http-request rules: while
// nothing waits (the fast path) the first one ends them, so the map is not
// read and no other rule is evaluated.
func (c *confText) queueCap(fn string) {
	c.line("    # At most the function's queue cap (map queue) wait for a slot; one")
	c.line("    # more is refused. While nothing waits, the rules end here (last rules).")
	c.line("    http-request allow if { srv_queue(gw.%s/gw) eq 0 }", fn)
	c.line("    http-request set-var(txn.qmax) var(txn.fn),map_str_int(%s,0)", c.o.mapPath(mapQueue))
	c.line("    acl room var(txn.qmax) -m int le 0")
	c.line("    acl room srv_queue(gw.%s/gw),sub(txn.qmax) lt 0", fn)
	c.line("    http-request allow if room || !{ var(txn.qmax) -m found }")
	c.line("    http-request sc-inc-gpc(1,0)")
	c.line("    http-request sc-inc-gpc1(1)")
	c.reply("http-request deny", 429, proxyctl.RejectedQueueFull, "the queue of "+fn+" on node "+c.self+" is full; request rejected", "")
}

// slot writes the backends of neighbour slot i: out.n<i> sets this node's
// identity and the credential for the neighbour, checks it, marks it down
// at the first failed connection, and sends a request it refuses with 403
// or cannot reach to the retry frontend; once.n<i> does the same without
// retry (for requests already retried).
func (c *confText) slot(i int) {
	o := c.o
	n := slotName(i)
	sl := slotState{}
	if i < len(c.d.slots) {
		sl = c.d.slots[i]
	}
	addr, state := "0.0.0.0:1", " disabled"
	if sl.node != "" && sl.addr.IsValid() {
		addr, state = haproxyAddr(sl.addr), ""
	}
	if o.cert != nil {
		// Mutual TLS: this node's certificate, the slot's neighbour's as
		// the only one accepted (its CA file changes with the slot).
		state += fmt.Sprintf(" ssl crt %s ca-file %s verify required", o.nodeCertPath(), o.caPath(n))
	}
	headers := func() {
		c.line("    http-request set-header %s %s", proxyctl.HeaderNodeID, c.self)
		c.line("    http-request set-header %s %%[str(%s),map(%s),url_dec]", proxyctl.HeaderNodeToken, n, o.mapPath(mapTokens))
		c.line("    http-request set-timeout server %s", c.timeoutExpr(1000))
		c.line("    http-response set-header %s %%[str(%s),map(%s),url_dec] if { srv_name nb }", proxyctl.HeaderForwardedTo, n, o.mapPath(mapIDs))
		c.line("    # The neighbour's refusal of this node (403 unknown-node: it restarted,")
		c.line("    # say), not retried elsewhere, is no answer for a user: 503.")
		c.answer("http-response", 503, "", "no node could take the request for %[var(txn.fn)]", "if { status 403 } { res.fhdr("+proxyctl.HeaderRejected+") -m str unknown-node }")
	}
	c.line("backend out.%s", n)
	c.line("    http-request track-sc1 var(txn.fn),concat(/%s) table st_out", n)
	c.line("    # The neighbour's own successful answer: neither a 5xx nor a refusal;")
	c.line("    # or a request it did not take, retried elsewhere.")
	c.line("    http-response sc-inc-gpc(0,1) if { srv_name nb } { status lt 500 } !{ status 429 } !{ res.fhdr(%s) -m found }", proxyctl.HeaderRejected)
	c.line("    http-response sc-inc-gpc(1,1) if { srv_name retry }")
	c.line("    # A user request retried here and refused by the local queue cap is")
	c.line("    # rejected (the retry frontend tracks no counter).")
	c.line("    http-response sc-inc-gpc(1,0) if { srv_name retry } { status 429 } { res.fhdr(%s) -m str %s } !{ res.fhdr(%s) -m found }", proxyctl.HeaderRejected, proxyctl.RejectedQueueFull, proxyctl.HeaderForwardedTo)
	c.line("    retries 1")
	c.line("    option redispatch 1")
	c.line("    retry-on conn-failure empty-response 403")
	c.reuse()
	headers()
	c.line("    option httpchk")
	c.line("    http-check send meth GET uri %s hdr Host dfaas", HealthPath)
	c.line("    use-server nb if TRUE")
	c.line("    server nb %s%s check inter %s fastinter %s fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down", addr, state, timeoutMS(o.check), timeoutMS(max(o.check/2, time.Millisecond)))
	c.line("    server retry unix@%s", o.sockPath("r"+strconv.Itoa(i+1)))
	c.line("")
	c.line("backend once.%s", n)
	headers()
	c.line("    # No health check: a request retried here is tried even when the")
	c.line("    # checks are slow (a busy node), rather than refused unanswered.")
	c.line("    server nb %s%s", addr, state)
	c.line("")
}

// reuse writes the connection reuse rule of a neighbour's backend. HAProxy's
// default (http-reuse safe) sends the first request of every client
// connection over a new connection to the neighbour: with mutual TLS, a
// handshake per client connection on both nodes. Here every request carries
// this node's identity and credential, set by the rules of the backend
// whatever the client sent, and over TLS this node's certificate, so a
// connection to the neighbour belongs to no client and may carry any
// client's request; a request sent on one the neighbour closed meanwhile
// is retried (retry-on empty-response) like any other request that fits
// HAProxy's buffer (docs/haproxy.md, "Connections to a neighbour").
func (c *confText) reuse() {
	c.line("    # Connections to the neighbour carry this node's credential, never a")
	c.line("    # client's: any request may reuse them (no handshake per client).")
	c.line("    http-reuse always")
}
