//go:build tools

// Package tools pins the Tekton Pipelines programs scripts/cluster-tools.sh builds, each made into
// an image where ko puts it. `go install github.com/tektoncd/pipeline/cmd/...@v1.15.1` is refused
// here: it looks up the module's version list, which the Go module proxy here refuses (403).
package tools

import (
	_ "github.com/tektoncd/pipeline/cmd/controller"
	_ "github.com/tektoncd/pipeline/cmd/entrypoint"
	_ "github.com/tektoncd/pipeline/cmd/events"
	_ "github.com/tektoncd/pipeline/cmd/nop"
	_ "github.com/tektoncd/pipeline/cmd/resolvers"
	_ "github.com/tektoncd/pipeline/cmd/sidecarlogresults"
	_ "github.com/tektoncd/pipeline/cmd/webhook"
	_ "github.com/tektoncd/pipeline/cmd/workingdirinit"
)
