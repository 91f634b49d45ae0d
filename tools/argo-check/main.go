// Command argo-check runs Argo Workflows' own code on cachebuild's manifests: `argo lint --offline`
// (cmd/argo/lint with the offline API client, so templateRefs resolve against the given files), and
// the main container of the Pod the workflow controller would create for one DAG task or step.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/argoproj/argo-workflows/v4/cmd/argo/lint"
	"github.com/argoproj/argo-workflows/v4/pkg/apiclient"
	"github.com/argoproj/argo-workflows/v4/util/logging"
)

const usage = `usage:
  argo-check lint [--templates PATH]... FILE...
  argo-check pod --workflow FILE --templates PATH [--templates PATH]... --task NAME [--name WORKFLOW_NAME] [--namespace NS]
  argo-check version
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
	ctx := logging.WithLogger(context.Background(), logging.NewSlogLogger(logging.Error, logging.Text))
	var code int
	switch os.Args[1] {
	case "lint":
		code = cmdLint(ctx, os.Args[2:])
	case "pod":
		code = cmdPod(ctx, os.Args[2:])
	case "version":
		fmt.Println(argoVersion())
	default:
		fmt.Fprint(os.Stderr, usage)
		code = 2
	}
	os.Exit(code)
}

func argoVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/argoproj/argo-workflows/v4" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	return fs
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "argo-check: "+format+"\n", args...)
	return 2
}

// cmdLint is `argo lint --offline --output simple FILE...` (strict, every kind), except that the
// templates given with --templates only resolve references and are not linted themselves.
func cmdLint(ctx context.Context, args []string) int {
	fs := newFlags("lint")
	var templates multiFlag
	fs.Var(&templates, "templates", "a file or folder of WorkflowTemplates/ClusterWorkflowTemplates that templateRefs resolve to (repeatable)")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		return fail("lint needs at least one FILE")
	}
	files := fs.Args()
	ctx, client, err := apiclient.NewClientFromOptsWithContext(ctx, apiclient.Opts{Offline: true, OfflineFiles: append(append([]string{}, templates...), files...)})
	if err != nil {
		return fail("%v", err)
	}
	var clients lint.ServiceClients
	clients.WorkflowsClient = client.NewWorkflowServiceClient(ctx)
	if clients.WorkflowTemplatesClient, err = client.NewWorkflowTemplateServiceClient(); err != nil {
		return fail("%v", err)
	}
	if clients.CronWorkflowsClient, err = client.NewCronWorkflowServiceClient(); err != nil {
		return fail("%v", err)
	}
	if clients.ClusterWorkflowTemplateClient, err = client.NewClusterWorkflowTemplateServiceClient(); err != nil {
		return fail("%v", err)
	}
	formatter, err := lint.GetFormatter("simple")
	if err != nil {
		return fail("%v", err)
	}
	// DefaultNamespace "": what `argo lint --offline` uses (client.Namespace in offline mode).
	res, err := lint.Lint(ctx, &lint.LintOptions{Files: files, Strict: true, DefaultNamespace: "", Formatter: formatter, ServiceClients: clients, Printer: os.Stdout})
	if err != nil {
		return fail("%v", err)
	}
	if !res.Success {
		return 1
	}
	return 0
}
