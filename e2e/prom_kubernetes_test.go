package e2e

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

type k8sContainer struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		ContainerPort int `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe  k8sProbe `yaml:"readinessProbe"`
	LivenessProbe   k8sProbe `yaml:"livenessProbe"`
	SecurityContext struct {
		RunAsUser    int  `yaml:"runAsUser"`
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	VolumeMounts []k8sVolumeMount `yaml:"volumeMounts"`
}

type k8sVolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
}

type k8sDaemonSet struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name     string `yaml:"name"`
					HostPath struct {
						Path string `yaml:"path"`
					} `yaml:"hostPath"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// The DaemonSet example agrees with vadvisor and with the scrape config of
// prometheus-kubernetes.yml: its flags start vadvisor, its probes and
// annotated port answer, the libvirt directory is mounted read-only, the
// state directory writable, and the user is the Dockerfile's. (No API
// server here to apply it to.)
func TestPromKubernetesDaemonSet(t *testing.T) {
	guest := testbed.Guests(t, secGuests, 1)[0]
	f, err := os.Open(filepath.Join(testbed.Root(), "examples", "kubernetes", "vadvisor-daemonset.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ds *k8sDaemonSet
	dec := yaml.NewDecoder(f)
	dec.SetStrict(false)
	for {
		var doc k8sDaemonSet
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("vadvisor-daemonset.yml: %v", err)
		}
		if doc.Kind == "DaemonSet" {
			ds = &doc
		}
	}
	if ds == nil {
		t.Fatal("vadvisor-daemonset.yml has no DaemonSet")
	}
	pod := ds.Spec.Template
	for k, v := range ds.Spec.Selector.MatchLabels {
		if pod.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels %v", k, v, pod.Metadata.Labels)
		}
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	ann := pod.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "8181" || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v, want scrape true, port 8181, path /metrics", ann)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8181 {
		t.Errorf("container ports %v, want 8181", c.Ports)
	}
	scrape := readFile(t, filepath.Join(testbed.Root(), "examples", "prometheus", "prometheus-kubernetes.yml"))
	for label, value := range pod.Metadata.Labels {
		meta := "__meta_kubernetes_pod_label_" + regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(label, "_")
		if strings.Contains(string(scrape), meta) && !strings.Contains(string(scrape), "regex: "+value) {
			t.Errorf("prometheus-kubernetes.yml keeps %s by another value than the pod's %q", meta, value)
		}
	}
	for _, a := range []string{"scrape", "port", "path"} {
		if !strings.Contains(string(scrape), "__meta_kubernetes_pod_annotation_prometheus_io_"+a) {
			t.Errorf("prometheus-kubernetes.yml does not use the prometheus.io/%s annotation", a)
		}
	}

	mounted := false
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.HostPath.Path == "/var/run/libvirt" && m.MountPath == "/var/run/libvirt" {
				mounted = true
				if !m.ReadOnly {
					t.Error("the libvirt directory is mounted read-write")
				}
			}
		}
	}
	if !mounted {
		t.Error("the host's /var/run/libvirt directory is not mounted at /var/run/libvirt")
	}
	// The root filesystem is read-only: the state needs a volume.
	if !slices.ContainsFunc(c.VolumeMounts, func(m k8sVolumeMount) bool { return m.MountPath == "/var/lib/vadvisor" && !m.ReadOnly }) {
		t.Error("nothing writable is mounted at /var/lib/vadvisor, --storage.path's default")
	}
	dockerfile := readFile(t, filepath.Join(testbed.Root(), "Dockerfile"))
	if user := regexp.MustCompile(`(?m)^USER (\d+):`).FindSubmatch(dockerfile); user == nil || string(user[1]) != strconv.Itoa(c.SecurityContext.RunAsUser) || !c.SecurityContext.RunAsNonRoot {
		t.Errorf("runAsUser %d (runAsNonRoot %v) is not the Dockerfile's non-root USER", c.SecurityContext.RunAsUser, c.SecurityContext.RunAsNonRoot)
	}

	vadv := Start(t, c.Args...)
	for _, path := range []string{c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path} {
		if status, _ := vadv.Get(t, path); path == "" || status != http.StatusOK {
			t.Errorf("probe path %q: status %d", path, status)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := vadv.Get(t, ann["prometheus.io/path"])
		if status == http.StatusOK && strings.Contains(body, `domain="`+guest+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vadvisor with the DaemonSet's args %v: status %d, no %s", c.Args, status, guest)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
