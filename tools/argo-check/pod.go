package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strconv"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	fileutil "github.com/argoproj/argo-workflows/v4/util/file"
	"github.com/argoproj/argo-workflows/v4/util/logging"
	"github.com/argoproj/argo-workflows/v4/util/template"
	"github.com/argoproj/argo-workflows/v4/workflow/common"
	"github.com/argoproj/argo-workflows/v4/workflow/templateresolution"
	wfutil "github.com/argoproj/argo-workflows/v4/workflow/util"
	apiv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// generatedSuffix stands in for the API server's random generateName suffix.
const generatedSuffix = "cbchk"

// creationTime is the Workflow's fixed creationTimestamp, so that workflow.creationTimestamp is stable.
var creationTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type templates struct {
	namespaced map[string]*wfv1.WorkflowTemplate
	cluster    map[string]*wfv1.ClusterWorkflowTemplate
}

func (t *templates) Get(_ context.Context, name string) (*wfv1.WorkflowTemplate, error) {
	if v, ok := t.namespaced[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("couldn't find workflow template %q", name)
}

type clusterTemplates struct{ *templates }

func (t clusterTemplates) Get(_ context.Context, name string) (*wfv1.ClusterWorkflowTemplate, error) {
	if v, ok := t.cluster[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("couldn't find cluster workflow template %q", name)
}

// loadObjects reads manifests the way the offline client does (util/file.WalkManifests, common.ParseObjects).
func loadObjects(ctx context.Context, paths []string) (*templates, []*wfv1.Workflow, error) {
	t := &templates{namespaced: map[string]*wfv1.WorkflowTemplate{}, cluster: map[string]*wfv1.ClusterWorkflowTemplate{}}
	var workflows []*wfv1.Workflow
	for _, base := range paths {
		err := fileutil.WalkManifests(ctx, base, func(path string, data []byte) error {
			for _, pr := range common.ParseObjects(ctx, data, false) {
				if pr.Err != nil {
					return fmt.Errorf("%s: %w", path, pr.Err)
				}
				switch v := pr.Object.(type) {
				case *wfv1.WorkflowTemplate:
					t.namespaced[v.Name] = v
				case *wfv1.ClusterWorkflowTemplate:
					t.cluster[v.Name] = v
				case *wfv1.Workflow:
					workflows = append(workflows, v)
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return t, workflows, nil
}

// noConfigMaps is the controller's config-map informer with no config maps in it.
type noConfigMaps struct{}

func (noConfigMaps) GetByKey(string) (interface{}, bool, error) { return nil, false, nil }

// globalParams mirrors wfOperationCtx.setGlobalParameters (workflow/controller/operator.go), which
// is private: the workflow.* variables of a Workflow with literal parameter values.
func globalParams(wf *wfv1.Workflow) (common.Parameters, error) {
	p := common.Parameters{
		common.GlobalVarWorkflowName:               wf.Name,
		common.GlobalVarWorkflowNamespace:          wf.Namespace,
		common.GlobalVarWorkflowMainEntrypoint:     wf.Spec.Entrypoint,
		common.GlobalVarWorkflowServiceAccountName: wf.Spec.ServiceAccountName,
		common.GlobalVarWorkflowUID:                string(wf.UID),
		common.GlobalVarWorkflowCreationTimestamp:  wf.CreationTimestamp.Format(time.RFC3339),
	}
	p[common.GlobalVarWorkflowCreationTimestamp+".s"] = strconv.FormatInt(wf.CreationTimestamp.Unix(), 10)
	p[common.GlobalVarWorkflowCreationTimestamp+".RFC3339"] = wf.CreationTimestamp.Format(time.RFC3339)
	if wf.Spec.Priority != nil {
		p[common.GlobalVarWorkflowPriority] = strconv.Itoa(int(*wf.Spec.Priority))
	}
	if b, err := json.Marshal(wf.Spec.Arguments.Parameters); err == nil {
		p[common.GlobalVarWorkflowParameters] = string(b)
		p[common.GlobalVarWorkflowParametersJSON] = string(b)
	}
	for _, param := range wf.Spec.Arguments.Parameters {
		switch {
		case param.Value != nil:
			p["workflow.parameters."+param.Name] = param.Value.String()
		case param.ValueFrom != nil && param.ValueFrom.ConfigMapKeyRef != nil && param.ValueFrom.Default != nil:
			p["workflow.parameters."+param.Name] = param.ValueFrom.Default.String()
		default:
			return nil, fmt.Errorf("either value or valueFrom must be specified in order to set global parameter %s", param.Name)
		}
	}
	if b, err := json.Marshal(wf.Annotations); err == nil {
		p[common.GlobalVarWorkflowAnnotations] = string(b)
		p[common.GlobalVarWorkflowAnnotationsJSON] = string(b)
	}
	for k, v := range wf.Annotations {
		p["workflow.annotations."+k] = v
	}
	if b, err := json.Marshal(wf.Labels); err == nil {
		p[common.GlobalVarWorkflowLabels] = string(b)
		p[common.GlobalVarWorkflowLabelsJSON] = string(b)
	}
	for k, v := range wf.Labels {
		p["workflow.labels."+k] = v
	}
	if md := wf.Spec.WorkflowMetadata; md != nil {
		for k, v := range md.Labels {
			p["workflow.labels."+k] = v
		}
		for k, v := range md.Annotations {
			p["workflow.annotations."+k] = v
		}
	}
	return p, nil
}

// nodeTask is a DAG task or a step the controller executes, with its node name.
type nodeTask struct {
	holder   wfv1.TemplateReferenceHolder
	args     wfv1.Arguments
	nodeName string
	local    map[string]string
}

// findTask looks for the DAG task or step called name in the processed entrypoint template.
func findTask(tmpl *wfv1.Template, parentNode, name string) (*nodeTask, error) {
	if tmpl.DAG != nil {
		for i := range tmpl.DAG.Tasks {
			t := tmpl.DAG.Tasks[i]
			if t.Name == name {
				return &nodeTask{holder: &t, args: t.Arguments, nodeName: parentNode + "." + t.Name, local: map[string]string{"tasks.name": t.Name}}, nil
			}
		}
	}
	for i, group := range tmpl.Steps {
		for j := range group.Steps {
			s := group.Steps[j]
			if s.Name == name {
				return &nodeTask{holder: &s, args: s.Arguments, nodeName: fmt.Sprintf("%s[%d].%s", parentNode, i, s.Name), local: map[string]string{"steps.name": s.Name}}, nil
			}
		}
	}
	return nil, fmt.Errorf("the entrypoint template %q has no DAG task or step %q", tmpl.Name, name)
}

func cmdPod(ctx context.Context, args []string) int {
	fs := newFlags("pod")
	workflowFile := fs.String("workflow", "", "the Workflow")
	taskName := fs.String("task", "", "the DAG task or step of the entrypoint template")
	name := fs.String("name", "", "the Workflow's name (default: generateName + \""+generatedSuffix+"\")")
	namespace := fs.String("namespace", "default", "the Workflow's namespace")
	var templatePaths multiFlag
	fs.Var(&templatePaths, "templates", "a file or folder of WorkflowTemplates/ClusterWorkflowTemplates (repeatable)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *workflowFile == "" || *taskName == "" {
		return fail("pod needs --workflow FILE and --task NAME")
	}
	tmpls, _, err := loadObjects(ctx, templatePaths)
	if err != nil {
		return fail("%v", err)
	}
	_, wfs, err := loadObjects(ctx, []string{*workflowFile})
	if err != nil {
		return fail("%v", err)
	}
	if len(wfs) != 1 {
		return fail("%s: want exactly one Workflow, found %d", *workflowFile, len(wfs))
	}
	wf := wfs[0]
	switch {
	case *name != "":
		wf.Name = *name
	case wf.Name == "":
		wf.Name = wf.GenerateName + generatedSuffix
	}
	wf.Namespace = *namespace
	wf.UID = types.UID("00000000-0000-0000-0000-000000000000")
	wf.CreationTimestamp = metav1.NewTime(creationTime)
	pod, err := workflowPod(ctx, wf, tmpls, *taskName)
	if err != nil {
		fmt.Fprintf(os.Stderr, "argo-check: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(pod)
	return 0
}

// workflowPod follows the controller from the Workflow to the pod of one task: the entrypoint
// template executed with the Workflow's arguments (wfOperationCtx.executeTemplate), the task's
// template resolved and its arguments processed the same way, then the parts of
// createWorkflowPod that shape the main container, its volumes, securityContext and metadata.
func workflowPod(ctx context.Context, wf *wfv1.Workflow, tmpls *templates, taskName string) (*apiv1.Pod, error) {
	if wf.Spec.WorkflowTemplateRef != nil {
		return nil, fmt.Errorf("a Workflow with workflowTemplateRef is not supported; give the Workflow with its entrypoint")
	}
	global, err := globalParams(wf)
	if err != nil {
		return nil, err
	}
	log := logging.RequireLoggerFromContext(ctx)
	tmplCtx := templateresolution.NewContext(tmpls, clusterTemplates{tmpls}, wf, wf, log)

	entry := &wfv1.WorkflowStep{Template: wf.Spec.Entrypoint}
	entryCtx, entryTmpl, _, err := tmplCtx.ResolveTemplate(ctx, entry)
	if err != nil {
		return nil, err
	}
	entryProcessed, err := common.ProcessArgs(ctx, entryTmpl, &wf.Spec.Arguments, global, map[string]string{"node.name": wf.Name}, false, wf.Namespace, noConfigMaps{})
	if err != nil {
		return nil, err
	}
	task, err := findTask(entryProcessed, wf.Name, taskName)
	if err != nil {
		return nil, err
	}
	_, resolved, _, err := entryCtx.ResolveTemplate(ctx, task.holder)
	if err != nil {
		return nil, err
	}
	if resolved.Container == nil {
		return nil, fmt.Errorf("task %q runs template %q, which is not a container template", taskName, resolved.Name)
	}
	nodeID := wf.NodeID(task.nodeName)
	podName := wfutil.GeneratePodName(wf.Name, task.nodeName, resolved.Name, nodeID, wfutil.GetWorkflowPodNameVersion(wf))
	local := map[string]string{common.LocalVarPodName: podName, "node.name": task.nodeName}
	maps.Copy(local, task.local)
	tmpl, err := common.ProcessArgs(ctx, resolved, &task.args, global, local, false, wf.Namespace, noConfigMaps{})
	if err != nil {
		return nil, err
	}

	main := *tmpl.Container.DeepCopy()
	main.Name = common.MainContainerName
	pod := &apiv1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName,
			Namespace: wf.Namespace,
			Labels:    map[string]string{common.LabelKeyWorkflow: wf.Name, common.LabelKeyCompleted: "false"},
			Annotations: map[string]string{
				common.AnnotationKeyNodeName:         task.nodeName,
				common.AnnotationKeyNodeID:           nodeID,
				common.AnnotationKeyDefaultContainer: common.MainContainerName,
			},
		},
		Spec: apiv1.PodSpec{
			RestartPolicy:      apiv1.RestartPolicyNever,
			Volumes:            append([]apiv1.Volume{}, tmpl.Volumes...),
			Containers:         []apiv1.Container{main},
			ServiceAccountName: serviceAccount(wf, tmpl),
		},
	}
	if err := addVolumeReferences(pod, wf, tmpl); err != nil {
		return nil, err
	}
	// addSchedulingConstraints: the template's securityContext, else the Workflow's.
	if tmpl.SecurityContext != nil {
		pod.Spec.SecurityContext = tmpl.SecurityContext
	} else if wf.Spec.SecurityContext != nil {
		pod.Spec.SecurityContext = wf.Spec.SecurityContext
	}
	// addMetadata: the Workflow's podMetadata, then the template's metadata.
	if wf.Spec.PodMetadata != nil {
		maps.Copy(pod.Annotations, wf.Spec.PodMetadata.Annotations)
		maps.Copy(pod.Labels, wf.Spec.PodMetadata.Labels)
	}
	maps.Copy(pod.Annotations, tmpl.Metadata.Annotations)
	maps.Copy(pod.Labels, tmpl.Metadata.Labels)

	if pod, err = substitutePodParams(ctx, pod, global, tmpl); err != nil {
		return nil, err
	}
	// processPodSpecPatch, then util.ApplyPodSpecPatch: the Workflow's patch, then the template's.
	var patches []string
	for _, patch := range []string{wf.Spec.PodSpecPatch, tmpl.PodSpecPatch} {
		if patch == "" {
			continue
		}
		withPatch := tmpl.DeepCopy()
		withPatch.PodSpecPatch = patch
		processed, err := common.ProcessArgs(ctx, withPatch, &wfv1.Arguments{}, global, map[string]string{common.LocalVarPodName: pod.Name}, false, wf.Namespace, noConfigMaps{})
		if err != nil {
			return nil, fmt.Errorf("Failed to substitute the PodSpecPatch variables: %w", err)
		}
		patches = append(patches, processed.PodSpecPatch)
	}
	if len(patches) > 0 {
		spec, err := wfutil.ApplyPodSpecPatch(pod.Spec, patches...)
		if err != nil {
			return nil, fmt.Errorf("Error applying PodSpecPatch: %w", err)
		}
		pod.Spec = *spec
	}
	return pod, nil
}

// serviceAccount mirrors setupServiceAccount: the template's, else the Workflow's.
func serviceAccount(wf *wfv1.Workflow, tmpl *wfv1.Template) string {
	if tmpl.ServiceAccountName != "" {
		return tmpl.ServiceAccountName
	}
	return wf.Spec.ServiceAccountName
}

// addVolumeReferences mirrors the controller's private function (workflow/controller/workflowpod.go):
// each volumeMount is looked up in the template's volumes, then the Workflow's spec.volumes, then
// the claims made from its volumeClaimTemplates (named <workflow>-<claim template>).
func addVolumeReferences(pod *apiv1.Pod, wf *wfv1.Workflow, tmpl *wfv1.Template) error {
	var pvcs []apiv1.Volume
	for _, vct := range wf.Spec.VolumeClaimTemplates {
		pvcs = append(pvcs, apiv1.Volume{Name: vct.Name, VolumeSource: apiv1.VolumeSource{
			PersistentVolumeClaim: &apiv1.PersistentVolumeClaimVolumeSource{ClaimName: fmt.Sprintf("%s-%s", wf.Name, vct.Name)},
		}})
	}
	lookup := func(name string) *apiv1.Volume {
		for _, group := range [][]apiv1.Volume{tmpl.Volumes, wf.Spec.Volumes, pvcs} {
			for i := range group {
				if group[i].Name == name {
					return &group[i]
				}
			}
		}
		return nil
	}
	for _, mnt := range tmpl.GetVolumeMounts() {
		vol := lookup(mnt.Name)
		if vol == nil {
			return fmt.Errorf("volume '%s' not found in workflow spec", mnt.Name)
		}
		found := false
		for _, v := range pod.Spec.Volumes {
			if v.Name == vol.Name {
				found = true
			}
		}
		if !found {
			pod.Spec.Volumes = append(pod.Spec.Volumes, *vol)
		}
	}
	return nil
}

// substitutePodParams mirrors the controller's private function: the global params and the
// template's input parameters substituted into the whole pod once more.
func substitutePodParams(ctx context.Context, pod *apiv1.Pod, global common.Parameters, tmpl *wfv1.Template) (*apiv1.Pod, error) {
	params := global.DeepCopy()
	for _, in := range tmpl.Inputs.Parameters {
		params["inputs.parameters."+in.Name] = in.Value.String()
	}
	params[common.LocalVarPodName] = pod.Name
	b, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	replaced, err := template.Replace(ctx, string(b), params, true)
	if err != nil {
		return nil, err
	}
	var out apiv1.Pod
	if err := json.Unmarshal([]byte(replaced), &out); err != nil {
		return nil, err
	}
	return &out, nil
}
