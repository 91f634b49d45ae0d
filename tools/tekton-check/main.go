// Command tekton-check runs Tekton Pipelines' own code on cachebuild's manifests: the admission
// webhook's SetDefaults + Validate, the PipelineRun and TaskRun reconcilers against fake clients
// (the way Tekton's own reconciler tests drive them), and the Pod the TaskRun reconciler creates.
// It is built once per Tekton version (go.mod: the newest, go.min.mod: the Tasks' minVersion).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

const usage = `usage:
  tekton-check validate [--json] FILE...
  tekton-check run --repo ROOT [--flag KEY=VALUE]... [--json] FILE...
  tekton-check pod (--taskrun FILE [--task FILE] | --pipelinerun FILE --pipeline-task NAME) [--repo ROOT] [--flag KEY=VALUE]...
  tekton-check results (--taskrun FILE [--task FILE] | --pipelinerun FILE --pipeline-task NAME) [--repo ROOT] --termination CONTAINER=FILE...
  tekton-check version
Exit status: 0 all OK, 1 a finding, 2 bad usage or unreadable input.
`

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var code int
	switch os.Args[1] {
	case "validate":
		code = cmdValidate(os.Args[2:], os.Stdout)
	case "run":
		code = cmdRun(os.Args[2:], os.Stdout)
	case "pod":
		code = cmdPod(os.Args[2:], os.Stdout, false)
	case "results":
		code = cmdPod(os.Args[2:], os.Stdout, true)
	case "version":
		fmt.Println(tektonVersion())
	default:
		fmt.Fprint(os.Stderr, usage)
		code = 2
	}
	os.Exit(code)
}

// tektonVersion is the version of github.com/tektoncd/pipeline linked into this binary.
func tektonVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/tektoncd/pipeline" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	return fs
}

func fail(w io.Writer, format string, args ...any) int {
	fmt.Fprintf(w, "tekton-check: "+format+"\n", args...)
	return 2
}
