package cadvisor

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// The service account files a pod finds (Kubernetes mounts them in every
// pod whose service account token is automounted).
const (
	DefaultTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// DefaultTimeout bounds a scrape or a query.
const DefaultTimeout = 5 * time.Second

// maxTokenSize bounds a token file.
const maxTokenSize = 64 << 10

// KubeletConfig configures a Kubelet reader.
type KubeletConfig struct {
	// URL is the kubelet's cAdvisor endpoint, such as
	// https://10.0.0.5:10250/metrics/cadvisor (in a pod, the node's
	// address comes from the downward API, status.hostIP). Required.
	URL string
	// TokenFile holds the bearer token sent with each scrape, read again
	// every time (projected service account tokens rotate). "" means
	// DefaultTokenFile when it exists (the agent runs in a pod), else no
	// token; "none" means no token. A token is only sent over https.
	TokenFile string
	// CAFile holds the certificates of the authorities that sign the
	// kubelet's serving certificate. "" means DefaultCAFile when it
	// exists, else the system's authorities. (Kubelets that sign their own
	// serving certificate need InsecureSkipVerify, or serverTLSBootstrap
	// and a CA that signs it.)
	CAFile string
	// InsecureSkipVerify skips the verification of the kubelet's
	// certificate.
	InsecureSkipVerify bool
	// Timeout bounds each scrape; if zero, DefaultTimeout.
	Timeout time.Duration
	// Limits bound what a scrape reads.
	Limits Limits
	// Transport, if not nil, carries the requests instead of the
	// Kubelet's own (CAFile and InsecureSkipVerify then do not apply).
	Transport http.RoundTripper
}

// Kubelet reads cAdvisor's series by scraping the kubelet's
// /metrics/cadvisor endpoint directly (or a cAdvisor's /metrics), and
// turns them into per-pod usage with a Tracker. It is a Reader, safe for
// concurrent use.
type Kubelet struct {
	url       string
	tokenFile string
	hc        *http.Client
	timeout   time.Duration
	own       *http.Transport
	lim       Limits
	tr        *Tracker
}

// NewKubelet validates cfg and returns a Kubelet. It reads the CA file but
// sends nothing.
func NewKubelet(cfg KubeletConfig) (*Kubelet, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("cadvisor: kubelet URL %q is not an http(s) URL with a host", cfg.URL)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("cadvisor: negative kubelet Timeout %v", cfg.Timeout)
	}
	k := &Kubelet{url: cfg.URL, lim: cfg.Limits.withDefaults(), tr: NewTracker()}
	switch cfg.TokenFile {
	case "none":
	case "":
		if _, err := os.Stat(DefaultTokenFile); err == nil && u.Scheme == "https" {
			k.tokenFile = DefaultTokenFile
		}
	default:
		if u.Scheme != "https" {
			return nil, fmt.Errorf("cadvisor: kubelet TokenFile %q given for %s: a token is only sent over https", cfg.TokenFile, cfg.URL)
		}
		k.tokenFile = cfg.TokenFile
	}
	rt := cfg.Transport
	if rt == nil {
		tc, err := tlsConfig(cfg.CAFile, cfg.InsecureSkipVerify)
		if err != nil {
			return nil, err
		}
		k.own = &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second}
		rt = k.own
	}
	k.hc = &http.Client{Transport: rt}
	k.timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	return k, nil
}

// tlsConfig returns the TLS configuration for a kubelet, with the CAs of
// caFile (see KubeletConfig.CAFile).
func tlsConfig(caFile string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	switch caFile {
	case "none":
		return tc, nil
	case "":
		if _, err := os.Stat(DefaultCAFile); err != nil {
			return tc, nil
		}
		caFile = DefaultCAFile
	}
	pem, err := readBounded(caFile, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("cadvisor: kubelet CAFile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cadvisor: kubelet CAFile %s: no PEM certificate in it", caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, nil
}

// URL returns the scraped URL.
func (k *Kubelet) URL() string { return k.url }

// Close releases the idle connections of the Kubelet's own transport.
func (k *Kubelet) Close() error {
	if k.own != nil {
		k.own.CloseIdleConnections()
	}
	return nil
}

// Read implements Reader: it scrapes the endpoint and returns the usage of
// the pods of namespace.
func (k *Kubelet) Read(ctx context.Context, now time.Time, window time.Duration, namespace string) (Reading, error) {
	ss, probs, err := k.Scrape(ctx, namespace)
	if err != nil {
		return Reading{}, err
	}
	return Reading{Pods: k.tr.Update(ss, now, window), Problems: probs}, nil
}

// Scrape fetches and parses the endpoint once, keeping the series of
// namespace.
func (k *Kubelet) Scrape(ctx context.Context, namespace string) ([]Series, Problems, error) {
	// The deadline covers reading the body too, and decides: a body cut
	// by it must not pass for a whole page.
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, Problems{}, fmt.Errorf("cadvisor: scrape %s: %w", k.url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1")
	if k.tokenFile != "" {
		tok, err := readBounded(k.tokenFile, maxTokenSize)
		if err != nil {
			return nil, Problems{}, fmt.Errorf("cadvisor: token: %w", err)
		}
		t := strings.TrimSpace(string(tok))
		if t == "" || strings.ContainsAny(t, "\r\n") {
			return nil, Problems{}, fmt.Errorf("cadvisor: token file %s is empty or holds several lines", k.tokenFile)
		}
		req.Header.Set("Authorization", "Bearer "+t)
	}
	resp, err := k.hc.Do(req)
	if err != nil {
		return nil, Problems{}, fmt.Errorf("cadvisor: scrape %s: %w", k.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		hint := ""
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			hint = " (no or bad token: see TokenFile)"
		case http.StatusForbidden:
			hint = " (the service account needs get on the nodes/metrics resource)"
		}
		return nil, Problems{}, fmt.Errorf("cadvisor: scrape %s: status %d%s: %q", k.url, resp.StatusCode, hint, snippet)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
			return nil, Problems{}, fmt.Errorf("cadvisor: scrape %s: content type %q, want text/plain", k.url, ct)
		}
	}
	ss, probs, err := Parse(resp.Body, namespace, k.lim)
	if cerr := ctx.Err(); cerr != nil {
		return nil, Problems{}, fmt.Errorf("cadvisor: scrape %s: %w", k.url, errors.Join(cerr, err))
	}
	if err != nil {
		return nil, Problems{}, fmt.Errorf("cadvisor: scrape %s: %w", k.url, err)
	}
	return ss, probs, nil
}

// Interface guards.
var _ Reader = (*Kubelet)(nil)
