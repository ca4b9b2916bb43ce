package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// The guests of these tests: the security, Prometheus and dashboard tests
// share them and only ever suspend and resume them.
const secGuests = "vadv-s"

const (
	secUser     = "prometheus"
	secPassword = "s3cret-scrape-password"
)

// pki is a throwaway certificate authority with a server certificate for
// 127.0.0.1/localhost and a client certificate, written as PEM files.
type pki struct {
	dir                    string
	caFile                 string
	serverCert, serverKey  string
	clientCert, clientKey  string
	pool                   *x509.CertPool
	client                 tls.Certificate
	caCert                 *x509.Certificate
	caKey                  *ecdsa.PrivateKey
	serial                 int64
	serverName, clientName string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool(), serverName: "localhost", clientName: "prometheus"}
	p.caKey = newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vadvisor test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.pool.AddCert(p.caCert)
	p.caFile = p.writePEM(t, "ca.crt", "CERTIFICATE", der)
	p.serverCert, p.serverKey = p.issue(t, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = p.issue(t, "client", x509.ExtKeyUsageClientAuth)
	if p.client, err = tls.LoadX509KeyPair(p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// issue signs a certificate for usage and returns the cert and key files.
func (p *pki) issue(t testing.TB, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	p.serial++
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial + 1),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{p.serverName}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.Subject.CommonName = p.clientName
		tmpl.DNSNames = []string{p.clientName}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.writePEM(t, name+".crt", "CERTIFICATE", der), p.writePEM(t, name+".key", "EC PRIVATE KEY", keyDER)
}

func (p *pki) writePEM(t testing.TB, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// httpsClient trusts the test CA and presents the client certificate if
// withCert is set.
func (p *pki) httpsClient(withCert bool) *http.Client {
	cfg := &tls.Config{RootCAs: p.pool}
	if withCert {
		cfg.Certificates = []tls.Certificate{p.client}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// bcryptUser returns "user: hash" as an operator makes it, with htpasswd.
func bcryptUser(t testing.TB, user, password string) string {
	t.Helper()
	testbed.Require(t) // htpasswd
	out, err := exec.Command("htpasswd", "-nbBC", "10", user, password).Output()
	if err != nil {
		t.Fatalf("htpasswd (Debian package apache2-utils): %v", err)
	}
	name, hash, ok := strings.Cut(strings.TrimSpace(string(out)), ":")
	if !ok || name != user || !strings.HasPrefix(hash, "$2y$10$") {
		t.Fatalf("htpasswd gave %q, not a bcrypt entry", out)
	}
	return fmt.Sprintf("%s: %s", name, hash)
}

// writeWebConfig writes an exporter-toolkit web config and returns its path.
func writeWebConfig(t testing.TB, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "web-config.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsAuthConfig is the secured deployment of docs/operating.md: TLS and one
// bcrypt user.
func tlsAuthConfig(t testing.TB, p *pki) string {
	return fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s\n",
		p.serverCert, p.serverKey, bcryptUser(t, secUser, secPassword))
}

// response is what get saw of one GET.
type response struct {
	status int
	header http.Header
	body   string
}

// get fetches url, with basic auth if user is set. Of an event stream it
// reads only the headers: an open stream never ends.
func get(t testing.TB, client *http.Client, url, user, password string) (response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	limit := int64(1 << 20)
	if strings.Contains(url, "stream=true") {
		limit = 0
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}, nil
}

// securedPaths is every path vadvisor serves, the REST API and the event
// stream included: --web.config.file must guard each of them.
func securedPaths(t testing.TB, guest string) []string {
	uuid := testbed.Virsh(t, "domuuid", guest)
	return []string{
		"/metrics", "/", "/-/healthy", "/-/ready",
		"/api/v1.0/stats", "/api/v1.0/stats/", "/api/v1.0/stats?live=true", "/api/v1.0/stats/" + uuid,
		"/api/v1.0/specs/", "/api/v1.0/specs/" + uuid, "/api/v1.0/specs/" + guest,
		"/api/v1.0/events", "/api/v1.0/events?all_events=true", "/api/v1.0/events?stream=true",
	}
}

func TestSecurityTLSAndBasicAuthGuardEveryPath(t *testing.T) {
	guest := testbed.Guests(t, secGuests, 1)[0]
	p := newPKI(t)
	vadv := Start(t, "--web.config.file="+writeWebConfig(t, p.dir, tlsAuthConfig(t, p)))
	client := p.httpsClient(false)

	for _, path := range securedPaths(t, guest) {
		url := "https://" + vadv.Addr + path
		for _, c := range []struct{ name, user, password string }{
			{"no credentials", "", ""},
			{"wrong password", secUser, "wrong"},
			{"unknown user", "admin", secPassword},
			{"empty password", secUser, ""},
		} {
			r, err := get(t, client, url, c.user, c.password)
			if err != nil {
				t.Fatalf("GET %s with %s: %v", path, c.name, err)
			}
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("GET %s with %s: status %d, WWW-Authenticate %q; want 401 with a challenge", path, c.name, r.status, r.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(r.body, "libvirt_") || strings.Contains(r.body, guest) {
				t.Errorf("GET %s with %s leaked data: %.200q", path, c.name, r.body)
			}
		}
		r, err := get(t, client, url, secUser, secPassword)
		if err != nil {
			t.Fatalf("GET %s with the right credentials: %v", path, err)
		}
		if r.status != http.StatusOK {
			t.Errorf("GET %s with the right credentials: status %d, want 200: %.300q", path, r.status, r.body)
		}
	}

	// The TLS port never answers plain HTTP with content.
	for _, path := range []string{"/metrics", "/api/v1.0/stats"} {
		r, err := get(t, &http.Client{Timeout: 10 * time.Second}, "http://"+vadv.Addr+path, secUser, secPassword)
		if err == nil && (r.status == http.StatusOK || strings.Contains(r.body, "libvirt_")) {
			t.Errorf("plain HTTP GET %s on the TLS port: status %d, body %.200q", path, r.status, r.body)
		}
	}
	// A client that does not trust the server's CA is refused by its own TLS.
	if _, err := get(t, &http.Client{Timeout: 10 * time.Second}, "https://"+vadv.Addr+"/metrics", secUser, secPassword); err == nil {
		t.Error("a client without the test CA reached the server without a certificate error")
	}
}

func TestSecurityMutualTLS(t *testing.T) {
	guest := testbed.Guests(t, secGuests, 1)[0]
	p := newPKI(t)
	config := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %s\n",
		p.serverCert, p.serverKey, p.caFile)
	vadv := Start(t, "--web.config.file="+writeWebConfig(t, p.dir, config))

	withCert := p.httpsClient(true)
	for _, path := range []string{"/metrics", "/api/v1.0/stats", "/api/v1.0/specs/" + guest} {
		r, err := get(t, withCert, "https://"+vadv.Addr+path, "", "")
		if err != nil {
			t.Fatalf("GET %s with a client certificate: %v", path, err)
		}
		if r.status != http.StatusOK {
			t.Errorf("GET %s with a client certificate: status %d, want 200", path, r.status)
		}
		if path == "/metrics" && !strings.Contains(r.body, `libvirt_domain_info{domain="`+guest+`"`) {
			t.Errorf("GET /metrics with a client certificate lacks %s", guest)
		}
	}

	if _, err := get(t, p.httpsClient(false), "https://"+vadv.Addr+"/metrics", "", ""); err == nil {
		t.Error("GET /metrics without a client certificate succeeded")
	}
	// A certificate from another CA is refused as well.
	other := newPKI(t)
	stranger := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: p.pool, Certificates: []tls.Certificate{other.client},
	}}}
	if _, err := get(t, stranger, "https://"+vadv.Addr+"/metrics", "", ""); err == nil {
		t.Error("GET /metrics with a certificate from a foreign CA succeeded")
	}
}

func TestSecurityRateLimit(t *testing.T) {
	p := newPKI(t)
	// Two requests at once, then one every 3s.
	config := tlsAuthConfig(t, p) + "rate_limit:\n  burst: 2\n  interval: 3s\n"
	vadv := Start(t, "--web.config.file="+writeWebConfig(t, p.dir, config))
	client := p.httpsClient(false)
	url := "https://" + vadv.Addr + "/metrics"

	// Four requests within the interval: two pass, two are refused. On a
	// loaded host four scrapes can outlast the interval and earn a new
	// token; such a burst proves nothing, and is tried again.
	want := []int{200, 200, 429, 429}
	for try := 1; ; try++ {
		var statuses []int
		start := time.Now()
		for range 4 {
			r, err := get(t, client, url, secUser, secPassword)
			if err != nil {
				t.Fatal(err)
			}
			statuses = append(statuses, r.status)
		}
		took := time.Since(start)
		if fmt.Sprint(statuses) == fmt.Sprint(want) {
			break
		}
		if took < 3*time.Second || try == 3 {
			t.Fatalf("statuses of 4 requests with burst 2 in %s: %v, want %v", took.Round(time.Millisecond), statuses, want)
		}
		t.Logf("4 requests took %s, longer than the interval: trying again", took.Round(time.Millisecond))
		time.Sleep(6500 * time.Millisecond) // the bucket full again
	}
	time.Sleep(3200 * time.Millisecond)
	if r, err := get(t, client, url, secUser, secPassword); err != nil || r.status != http.StatusOK {
		t.Errorf("after the interval: status %d, err %v; want 200", r.status, err)
	}
}

// A stream through TLS and basic auth flushes each event as promptly as a
// plain one: both see a suspend within a second or two of virsh.
func TestSecurityEventStreamOverTLS(t *testing.T) {
	guest := testbed.Guests(t, secGuests, 1)[0]
	p := newPKI(t)
	secured := Start(t, "--web.config.file="+writeWebConfig(t, p.dir, tlsAuthConfig(t, p)))
	plain := Start(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type arrival struct {
		name string
		at   time.Time
		err  error
	}
	arrivals := make(chan arrival, 3)
	open := func(name string, client *http.Client, url string, auth bool) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1.0/events?stream=true&suspended_events=true", nil)
		if auth {
			req.SetBasicAuth(secUser, secPassword)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s stream: %v", name, err)
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
			t.Fatalf("%s stream: status %d, content type %q", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if strings.HasPrefix(name, "TLS HTTP/2") != (resp.ProtoMajor == 2) {
			t.Fatalf("%s stream was served over %s", name, resp.Proto)
		}
		go func() {
			defer resp.Body.Close()
			lines := bufio.NewScanner(resp.Body)
			for lines.Scan() {
				var ev struct {
					Name string `json:"domain_name"`
					Type string `json:"event_type"`
				}
				if json.Unmarshal(lines.Bytes(), &ev) == nil && ev.Name == guest && ev.Type == "Suspended" {
					arrivals <- arrival{name: name, at: time.Now()}
					return
				}
			}
			arrivals <- arrival{name: name, err: errors.Join(errors.New("stream ended"), lines.Err())}
		}()
	}
	// The client needs no timeout of its own: the context ends the stream.
	// HTTP/1.1 and HTTP/2 (what curl and browsers speak over TLS) flush
	// differently; both must deliver at once.
	http1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	http2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}, ForceAttemptHTTP2: true}}
	open("TLS HTTP/1.1", http1, "https://"+secured.Addr, true)
	open("TLS HTTP/2", http2, "https://"+secured.Addr, true)
	open("plain", &http.Client{}, "http://"+plain.Addr, false)

	suspended := time.Now()
	testbed.Virsh(t, "suspend", guest)
	t.Cleanup(func() { testbed.Virsh(t, "resume", guest) })
	got := map[string]time.Duration{}
	timeout := time.After(15 * time.Second)
	for len(got) < 3 {
		select {
		case a := <-arrivals:
			if a.err != nil {
				t.Fatalf("%s stream: %v", a.name, a.err)
			}
			got[a.name] = a.at.Sub(suspended)
		case <-timeout:
			t.Fatalf("after 15s only these streams saw the suspend: %v", got)
		}
	}
	t.Logf("suspend seen after: %v", got)
	for _, name := range []string{"TLS HTTP/1.1", "TLS HTTP/2"} {
		if got[name] > 3*time.Second || got[name] > got["plain"]+time.Second {
			t.Errorf("the %s stream delivered the event after %v, the plain one after %v", name, got[name], got["plain"])
		}
	}
}

// A broken --web.config.file stops vadvisor at start with a clear error;
// it never falls back to serving plain HTTP.
func TestSecurityBrokenWebConfigRefusesToStart(t *testing.T) {
	p := newPKI(t)
	for _, c := range []struct{ name, config, wantLog string }{
		{"missing file", "", "no such file"},
		{"not YAML", "tls_server_config: [cert_file: {\n", "yaml"},
		// A misspelt key would otherwise mean plain HTTP without TLS.
		{"misspelt key", fmt.Sprintf("tls_server_confg:\n  cert_file: %s\n  key_file: %s\n", p.serverCert, p.serverKey), "tls_server_confg"},
		{"missing certificate", "tls_server_config:\n  cert_file: /nonexistent/server.crt\n  key_file: /nonexistent/server.key\n", "/nonexistent/server.crt"},
		{"key without certificate", fmt.Sprintf("tls_server_config:\n  key_file: %s\n", p.serverKey), "cert"},
		{"plain-text password", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n", p.serverCert, p.serverKey, secUser, secPassword), "bcrypt"},
		{"unknown client auth type", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: Sometimes\n", p.serverCert, p.serverKey), "Sometimes"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "web-config.yml")
			if c.config != "" {
				if err := os.WriteFile(path, []byte(c.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			vadv := StartNoWait(t, "--web.config.file="+path)
			deadline := time.After(20 * time.Second)
			for {
				select {
				case <-vadv.Done():
					err := vadv.ExitErr()
					var exit *exec.ExitError
					if !errors.As(err, &exit) || exit.ExitCode() == 0 {
						t.Fatalf("vadvisor exited with %v, want a non-zero status", err)
					}
					if log := vadv.Log(); !strings.Contains(strings.ToLower(log), strings.ToLower(c.wantLog)) || !strings.Contains(log, "level=ERROR") {
						t.Errorf("the log does not name the problem (%q) as an error:\n%s", c.wantLog, log)
					}
					return
				case <-deadline:
					t.Fatal("vadvisor still runs 20s after start with a broken web config")
				case <-time.After(50 * time.Millisecond):
					if r, err := get(t, &http.Client{Timeout: time.Second}, vadv.URL("/metrics"), "", ""); err == nil && r.status == http.StatusOK {
						t.Fatalf("vadvisor serves plain HTTP with a broken web config")
					}
				}
			}
		})
	}
}

// examplePassword is the password whose bcrypt hash the example web configs
// under examples/web-config carry.
const examplePassword = "example-password"

// example returns a file under examples/ with each old string replaced by
// its new one (pairs); a pair that matches nothing fails the test, so the
// examples and the tests cannot drift apart.
func example(t testing.TB, name string, oldNew ...string) string {
	t.Helper()
	text := readFile(t, filepath.Join(testbed.Root(), "examples", name))
	s := string(text)
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("examples/%s no longer contains %q", name, oldNew[i])
		}
		s = strings.ReplaceAll(s, oldNew[i], oldNew[i+1])
	}
	return s
}

// exampleWebConfig is examples/web-config/name using the test's certificates.
func exampleWebConfig(t testing.TB, p *pki, name string) string {
	t.Helper()
	text := example(t, "web-config/"+name,
		"/etc/vadvisor/tls/vadvisor.crt", p.serverCert,
		"/etc/vadvisor/tls/vadvisor.key", p.serverKey)
	return strings.ReplaceAll(text, "/etc/vadvisor/tls/clients-ca.crt", p.caFile)
}

// Every shipped web config works as its comments say.
func TestSecurityExampleWebConfigs(t *testing.T) {
	testbed.Require(t) // libvirt_up 1
	p := newPKI(t)
	for _, c := range []struct {
		name       string
		clientCert bool
		user       bool
	}{
		{"web-config.yml", false, true},
		{"web-config-mtls.yml", true, false},
		{"web-config-rate-limit.yml", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			vadv := Start(t, "--web.config.file="+writeWebConfig(t, t.TempDir(), exampleWebConfig(t, p, c.name)))
			url := "https://" + vadv.Addr + "/metrics"
			user := ""
			if c.user {
				user = "prometheus"
			}
			r, err := get(t, p.httpsClient(c.clientCert), url, user, examplePassword)
			if err != nil || r.status != http.StatusOK || !strings.Contains(r.body, "libvirt_up 1") {
				t.Fatalf("GET /metrics as the example intends: status %d, err %v", r.status, err)
			}
			r, err = get(t, p.httpsClient(false), url, "", "")
			if err == nil && r.status != http.StatusUnauthorized {
				t.Errorf("GET /metrics without credentials: status %d, want 401 or a refused handshake", r.status)
			}
		})
	}
}

// The openssl commands of the secured-deployment walkthrough in
// docs/operating.md give a certificate vadvisor serves and clients trust;
// the web config names the files relative to itself.
func TestSecurityOpenSSLWalkthrough(t *testing.T) {
	dir := t.TempDir()
	const host = "localhost"
	if err := os.WriteFile(filepath.Join(dir, "vadvisor.ext"), []byte("subjectAltName=DNS:"+host+"\nextendedKeyUsage=serverAuth\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "3650",
			"-subj", "/CN=vadvisor CA", "-keyout", "ca.key", "-out", "ca.crt"},
		{"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + host,
			"-keyout", "vadvisor.key", "-out", "vadvisor.csr"},
		{"x509", "-req", "-in", "vadvisor.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "825",
			"-extfile", "vadvisor.ext", "-out", "vadvisor.crt"},
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	config := "tls_server_config:\n  cert_file: vadvisor.crt\n  key_file: vadvisor.key\n  min_version: TLS12\nbasic_auth_users:\n  " +
		bcryptUser(t, secUser, secPassword) + "\n"
	vadv := Start(t, "--web.config.file="+writeWebConfig(t, dir, config))

	ca := readFile(t, filepath.Join(dir, "ca.crt"))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("ca.crt holds no certificate")
	}
	_, port, _ := net.SplitHostPort(vadv.Addr)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	r, err := get(t, client, "https://"+host+":"+port+"/metrics", secUser, secPassword)
	if err != nil || r.status != http.StatusOK || !strings.Contains(r.body, "libvirt_up") {
		t.Fatalf("GET /metrics with the walkthrough's certificate: status %d, err %v", r.status, err)
	}
	// TLS 1.1 is below the configured minimum.
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := get(t, old, "https://"+host+":"+port+"/metrics", secUser, secPassword); err == nil {
		t.Error("a TLS 1.1 client was served despite min_version: TLS12")
	}
}
