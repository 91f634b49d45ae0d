package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/test"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// runStatus is one run's Succeeded condition as its reconciler left it.
type runStatus struct {
	Kind         string `json:"kind"`
	Name         string `json:"name"`
	PipelineTask string `json:"pipelineTask,omitempty"`
	Status       string `json:"status"`
	Reason       string `json:"reason,omitempty"`
	Message      string `json:"message,omitempty"`
	Pod          string `json:"pod,omitempty"`
}

type runReport struct {
	File      string      `json:"file"`
	Kind      string      `json:"kind"`
	Name      string      `json:"name"`
	Tekton    string      `json:"tekton"`
	OK        bool        `json:"ok"`
	Admission string      `json:"admission,omitempty"`
	Run       *runStatus  `json:"run,omitempty"`
	TaskRuns  []runStatus `json:"taskRuns,omitempty"`
	Notes     []string    `json:"notes,omitempty"`
}

type runOptions struct {
	repo         string
	namespace    string
	featureFlags map[string]string
}

func parseFeatureFlags(flags []string) (map[string]string, error) {
	ff := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("--flag %q: want KEY=VALUE", f)
		}
		ff[k] = v
	}
	return ff, nil
}

// installedTasks are the Tasks a cluster has after `kubectl apply -f ROOT/tasks/*/*/NAME.yaml`:
// each one admitted by the webhooks; refused ones are not installed.
func installedTasks(repo string, featureFlags map[string]string) ([]*v1.Task, []string, error) {
	if repo == "" {
		return nil, nil, nil
	}
	paths, err := filepath.Glob(filepath.Join(repo, "tasks", "*", "*", "*.yaml"))
	if err != nil {
		return nil, nil, err
	}
	var tasks []*v1.Task
	var notes []string
	for _, path := range paths {
		docs, err := readDocuments(path)
		if err != nil {
			return nil, nil, err
		}
		for _, doc := range docs {
			if doc.Kind != "Task" || doc.Name != strings.TrimSuffix(filepath.Base(path), ".yaml") {
				continue
			}
			obj, err := admit(doc, featureFlags)
			if err != nil {
				notes = append(notes, fmt.Sprintf("Task %s from %s not installed: %v", doc.Name, path, err))
				continue
			}
			tasks = append(tasks, obj.(*v1.Task))
		}
	}
	return tasks, notes, nil
}

func condition(kind, name string, status *duckv1.Status) *runStatus {
	s := &runStatus{Kind: kind, Name: name, Status: "none"}
	if c := status.GetCondition(apis.ConditionSucceeded); c != nil {
		s.Status, s.Reason, s.Message = string(c.Status), c.Reason, c.Message
	}
	return s
}

func isFalse(tr *v1.TaskRun) bool {
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	return c != nil && c.IsFalse()
}

// setup admits the run and the Tasks and Pipelines beside it and seeds a cluster with them.
func setup(doc document, siblings []document, opts runOptions, report *runReport) (*cluster, error) {
	tasks, notes, err := installedTasks(opts.repo, opts.featureFlags)
	if err != nil {
		return nil, err
	}
	report.Notes = append(report.Notes, notes...)
	data := test.Data{Tasks: tasks}
	for _, sib := range siblings {
		if sib.Kind != "Task" && sib.Kind != "Pipeline" {
			continue
		}
		obj, err := admit(sib, opts.featureFlags)
		if err != nil {
			report.Notes = append(report.Notes, fmt.Sprintf("%s not created: %v", sib, err))
			continue
		}
		switch o := obj.(type) {
		case *v1.Task:
			o.Namespace = opts.namespace
			data.Tasks = append(data.Tasks, o)
		case *v1.Pipeline:
			o.Namespace = opts.namespace
			data.Pipelines = append(data.Pipelines, o)
		}
	}
	for _, t := range data.Tasks {
		t.Namespace = opts.namespace
	}
	obj, err := admit(doc, opts.featureFlags)
	if err != nil {
		report.Admission = err.Error()
		return nil, nil
	}
	switch o := obj.(type) {
	case *v1.PipelineRun:
		o.Namespace = opts.namespace
		data.PipelineRuns = append(data.PipelineRuns, o)
	case *v1.TaskRun:
		o.Namespace = opts.namespace
		data.TaskRuns = append(data.TaskRuns, o)
	}
	c, err := newCluster(opts.namespace, opts.featureFlags, data)
	if err != nil {
		return nil, err
	}
	c.repo = opts.repo
	return c, nil
}

// drivePipelineRun reconciles the PipelineRun and every TaskRun it creates; a TaskRun whose pod
// was created is made to finish (placeholder results) so that the later tasks get created too.
// With stopAt, it returns the TaskRun of that pipeline task as soon as it was reconciled.
func (c *cluster) drivePipelineRun(name, stopAt string) *v1.TaskRun {
	reconciled := map[string]bool{}
	for range 20 {
		c.reconcile(c.prCtl, name)
		progressed := false
		for _, tr := range c.taskRunsInOrder() {
			if reconciled[tr.Name] {
				continue
			}
			reconciled[tr.Name] = true
			c.reconcile(c.trCtl, tr.Name)
			cur, err := c.taskRun(tr.Name)
			if err != nil {
				continue
			}
			if stopAt != "" && cur.Labels[pipeline.PipelineTaskLabelKey] == stopAt {
				return cur
			}
			if c.pod(cur) != nil && !isFalse(cur) {
				if err := c.finishPod(cur, nil); err == nil {
					c.reconcile(c.trCtl, tr.Name)
					c.notes = append(c.notes, fmt.Sprintf("TaskRun %s: its pod was made to succeed with placeholder results (%q) so that the PipelineRun goes on", tr.Name, placeholderResult))
					progressed = true
				}
			}
		}
		if !progressed {
			break
		}
	}
	// Once more, so that the PipelineRun's condition reflects how its TaskRuns ended.
	c.reconcile(c.prCtl, name)
	return nil
}

func (c *cluster) report(doc document, report *runReport) {
	trStatus := func(tr *v1.TaskRun) runStatus {
		s := *condition("TaskRun", tr.Name, &tr.Status.Status)
		s.PipelineTask = tr.Labels[pipeline.PipelineTaskLabelKey]
		if pod := c.pod(tr); pod != nil {
			s.Pod = pod.Name
		}
		return s
	}
	report.OK = true
	switch doc.Kind {
	case "PipelineRun":
		c.drivePipelineRun(doc.Name, "")
		pr, err := c.pipelineRun(doc.Name)
		if err != nil {
			report.OK = false
			report.Notes = append(report.Notes, err.Error())
			return
		}
		report.Run = condition("PipelineRun", pr.Name, &pr.Status.Status)
		report.OK = report.Run.Status == "True"
		for _, tr := range c.taskRunsInOrder() {
			s := trStatus(&tr)
			report.TaskRuns = append(report.TaskRuns, s)
			if s.Status == "False" {
				report.OK = false
			}
		}
	case "TaskRun":
		c.reconcile(c.trCtl, doc.Name)
		tr, err := c.taskRun(doc.Name)
		if err != nil {
			report.OK = false
			report.Notes = append(report.Notes, err.Error())
			return
		}
		s := trStatus(tr)
		report.Run = &s
		report.OK = s.Pod != "" && s.Status != "False"
	}
	report.Notes = append(report.Notes, c.notes...)
}

func cmdRun(args []string, out io.Writer) int {
	fs := newFlags("run")
	repo := fs.String("repo", "", "the checkout the git resolver and taskRef.name read Tasks from")
	namespace := fs.String("namespace", "default", "the namespace the runs are created in")
	asJSON := fs.Bool("json", false, "print a JSON array")
	var flags multiFlag
	fs.Var(&flags, "flag", "a feature-flags KEY=VALUE (repeatable; default: a default install)")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		return fail(out, "run needs at least one FILE")
	}
	ff, err := parseFeatureFlags(flags)
	if err != nil {
		return fail(out, "%v", err)
	}
	opts := runOptions{repo: *repo, namespace: *namespace, featureFlags: ff}
	var reports []runReport
	for _, path := range fs.Args() {
		docs, err := readDocuments(path)
		if err != nil {
			return fail(out, "%v", err)
		}
		for _, doc := range docs {
			if doc.Kind != "PipelineRun" && doc.Kind != "TaskRun" {
				continue
			}
			report := runReport{File: path, Kind: doc.Kind, Name: doc.Name, Tekton: tektonVersion()}
			c, err := setup(doc, docs, opts, &report)
			if err != nil {
				return fail(out, "%s: %v", doc, err)
			}
			if c != nil {
				c.report(doc, &report)
			}
			reports = append(reports, report)
		}
	}
	code := 0
	for _, r := range reports {
		if !r.OK {
			code = 1
		}
	}
	if *asJSON {
		printJSON(out, reports)
		return code
	}
	for _, r := range reports {
		verdict := "OK"
		if !r.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(out, "%s: %s/%s [tekton %s]: %s\n", r.File, r.Kind, r.Name, r.Tekton, verdict)
		if r.Admission != "" {
			fmt.Fprintf(out, "  admission: %s\n", indent(r.Admission))
		}
		for _, s := range append(nonNil(r.Run), r.TaskRuns...) {
			task := ""
			if s.PipelineTask != "" {
				task = " (pipeline task " + s.PipelineTask + ")"
			}
			fmt.Fprintf(out, "  %s/%s%s: Succeeded=%s reason=%s", s.Kind, s.Name, task, s.Status, s.Reason)
			if s.Pod != "" {
				fmt.Fprintf(out, " pod=%s", s.Pod)
			}
			if s.Message != "" {
				fmt.Fprintf(out, ": %s", indent(s.Message))
			}
			fmt.Fprintln(out)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(out, "  note: %s\n", n)
		}
	}
	return code
}

func nonNil(s *runStatus) []runStatus {
	if s == nil {
		return nil
	}
	return []runStatus{*s}
}

// cmdPod prints the Pod the TaskRun reconciler creates (or, with results, the TaskRun results it
// reads from that pod once its steps wrote the given termination messages).
func cmdPod(args []string, out io.Writer, results bool) int {
	fs := newFlags("pod")
	taskRunFile := fs.String("taskrun", "", "a TaskRun")
	taskFile := fs.String("task", "", "the Task every Task reference resolves to")
	pipelineRunFile := fs.String("pipelinerun", "", "a PipelineRun")
	pipelineTask := fs.String("pipeline-task", "", "the pipeline task whose TaskRun's Pod to print")
	repo := fs.String("repo", "", "the checkout the git resolver and taskRef.name read Tasks from")
	namespace := fs.String("namespace", "default", "the namespace the run is created in")
	var flags, terminations multiFlag
	fs.Var(&flags, "flag", "a feature-flags KEY=VALUE (repeatable)")
	fs.Var(&terminations, "termination", "results: CONTAINER=FILE, the termination message a step container wrote (repeatable)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || (*taskRunFile == "") == (*pipelineRunFile == "") || (*pipelineRunFile != "" && *pipelineTask == "") {
		return fail(os.Stderr, "pod needs --taskrun FILE, or --pipelinerun FILE with --pipeline-task NAME")
	}
	ff, err := parseFeatureFlags(flags)
	if err != nil {
		return fail(os.Stderr, "%v", err)
	}
	opts := runOptions{repo: *repo, namespace: *namespace, featureFlags: ff}
	runFile, kind := *taskRunFile, "TaskRun"
	if *pipelineRunFile != "" {
		runFile, kind = *pipelineRunFile, "PipelineRun"
	}
	docs, err := readDocuments(runFile)
	if err != nil {
		return fail(os.Stderr, "%v", err)
	}
	var doc *document
	for i := range docs {
		if docs[i].Kind == kind {
			doc = &docs[i]
			break
		}
	}
	if doc == nil {
		return fail(os.Stderr, "%s holds no %s", runFile, kind)
	}
	siblings := docs
	var taskBytes []byte
	if *taskFile != "" {
		if taskBytes, err = os.ReadFile(*taskFile); err != nil {
			return fail(os.Stderr, "%v", err)
		}
		taskDocs, err := readDocuments(*taskFile)
		if err != nil {
			return fail(os.Stderr, "%v", err)
		}
		siblings = append(siblings, taskDocs...)
	}
	report := runReport{File: runFile, Kind: doc.Kind, Name: doc.Name, Tekton: tektonVersion()}
	c, err := setup(*doc, siblings, opts, &report)
	if err != nil {
		return fail(os.Stderr, "%v", err)
	}
	if c == nil {
		fmt.Fprintf(os.Stderr, "tekton-check: %s: %s\n", doc, report.Admission)
		return 1
	}
	c.task = taskBytes
	var tr *v1.TaskRun
	if kind == "TaskRun" {
		c.reconcile(c.trCtl, doc.Name)
		tr, _ = c.taskRun(doc.Name)
	} else {
		tr = c.drivePipelineRun(doc.Name, *pipelineTask)
		if tr == nil {
			pr, _ := c.pipelineRun(doc.Name)
			s := condition("PipelineRun", doc.Name, &pr.Status.Status)
			fmt.Fprintf(os.Stderr, "tekton-check: no TaskRun for pipeline task %q: PipelineRun Succeeded=%s reason=%s: %s\n", *pipelineTask, s.Status, s.Reason, s.Message)
			return 1
		}
	}
	pod := c.pod(tr)
	if pod == nil {
		s := condition("TaskRun", tr.Name, &tr.Status.Status)
		fmt.Fprintf(os.Stderr, "tekton-check: TaskRun %s created no pod: Succeeded=%s reason=%s: %s\n", tr.Name, s.Status, s.Reason, s.Message)
		return 1
	}
	if !results {
		printJSON(out, podForOutput(pod))
		return 0
	}
	messages := map[string]string{}
	for _, t := range terminations {
		name, path, ok := strings.Cut(t, "=")
		if !ok {
			return fail(os.Stderr, "--termination %q: want CONTAINER=FILE", t)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fail(os.Stderr, "%v", err)
		}
		messages[name] = string(data)
	}
	if err := c.finishPod(tr, messages); err != nil {
		return fail(os.Stderr, "%v", err)
	}
	c.reconcile(c.trCtl, tr.Name)
	tr, _ = c.taskRun(tr.Name)
	s := condition("TaskRun", tr.Name, &tr.Status.Status)
	printJSON(out, map[string]any{"taskRun": tr.Name, "condition": s, "results": tr.Status.Results})
	if s.Status != "True" {
		return 1
	}
	return 0
}

// podForOutput is the Pod as the API server would hold it after the create: kind and apiVersion set.
func podForOutput(pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	p.APIVersion, p.Kind = "v1", "Pod"
	return p
}
