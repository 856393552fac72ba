package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rca-engine/api/internal/config"
)

// There is no Docker engine where the tests run, so these check the files
// statically: the properties the deployment relies on, not their syntax
// alone.

func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   any               `yaml:"depends_on"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
			Volumes []string `yaml:"volumes"`
			Ports   []string `yaml:"ports"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml is not valid YAML: %v", err)
	}
	for _, name := range []string{"postgres", "redis", "api"} {
		svc, ok := compose.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if len(svc.Healthcheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	api := compose.Services["api"]
	if api.Build == nil {
		t.Error("api is not built from this repository")
	}
	if deps, ok := api.DependsOn.(map[string]any); ok {
		for name, v := range deps {
			if strings.Contains(strings.ToLower(toString(v)), "healthy") {
				t.Errorf("api waits for %s to be healthy; it must start without its dependencies", name)
			}
		}
	}
	if !slices.Equal(api.Healthcheck.Test, []string{"CMD", "/api", "healthcheck"}) {
		t.Errorf("api healthcheck = %v; it must run the binary's own check (no shell or curl in the image)", api.Healthcheck.Test)
	}
	if u := api.Environment["DATABASE_URL"]; !strings.Contains(u, "@postgres:5432/") {
		t.Errorf("api DATABASE_URL %q does not point at the postgres service", u)
	}
	if u := api.Environment["REDIS_URL"]; !strings.Contains(u, "redis://redis:6379") {
		t.Errorf("api REDIS_URL %q does not point at the redis service", u)
	}
	if api.Environment["PORT"] != "8001" || !slices.Contains(api.Ports, "8001:8001") {
		t.Errorf("api port: %v %v", api.Environment["PORT"], api.Ports)
	}
	if _, ok := compose.Volumes["pgdata"]; !ok || !slices.Contains(compose.Services["postgres"].Volumes, "pgdata:/var/lib/postgresql/data") {
		t.Error("PostgreSQL data is not on a named volume")
	}
	// Every variable the api service sets must be one the binary reads.
	for k := range api.Environment {
		if !slicesContains(configVars(), k) {
			t.Errorf("compose sets %s, which the service does not read", k)
		}
	}
}

func toString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	stages := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(df, -1)
	if len(stages) < 3 {
		t.Error("Dockerfile does not have its three stages (UI, Go build, final image)")
	}
	for _, want := range []string{"npm ci", "npm run build", "COPY --from=ui /ui/dist ./ui/dist"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile does not build the UI into the binary: lacks %q", want)
		}
	}
	final := df[stages[len(stages)-1][0]:]
	for _, want := range []struct{ re, why string }{
		{`CGO_ENABLED=0`, "a static binary"},
		{`-trimpath`, "reproducible paths"},
		{`(?m)^FROM \S*(distroless|scratch)`, "a minimal final image"},
		{`(?m)^USER \S*nonroot|^USER [1-9]`, "a non-root user in the final image"},
		{`(?m)^HEALTHCHECK .*CMD \["/api", "healthcheck"\]`, "a healthcheck that needs no shell"},
		{`org\.opencontainers\.image\.title`, "OCI labels"},
	} {
		target := df
		if strings.Contains(want.why, "final") || strings.Contains(want.why, "healthcheck") {
			target = final
		}
		if !regexp.MustCompile(want.re).MatchString(target) {
			t.Errorf("Dockerfile lacks %s (%s)", want.re, want.why)
		}
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	for _, want := range []string{".git", ".env", "ui/node_modules"} {
		if err != nil || !strings.Contains(string(ignore), want) {
			t.Errorf(".dockerignore must keep %s out of the build context", want)
		}
	}
}

func configVars() []string { return config.Vars }
