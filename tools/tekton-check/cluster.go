package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/reconciler/pipelinerun"
	"github.com/tektoncd/pipeline/pkg/reconciler/taskrun"
	ttesting "github.com/tektoncd/pipeline/pkg/reconciler/testing"
	"github.com/tektoncd/pipeline/pkg/result"
	"github.com/tektoncd/pipeline/test"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"knative.dev/pkg/apis"
	filteredinformerfactory "knative.dev/pkg/client/injection/kube/informers/factory/filtered"
	cminformer "knative.dev/pkg/configmap/informer"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"
	pkgreconciler "knative.dev/pkg/reconciler"
	"knative.dev/pkg/system"

	// The fake informers and clients that test.SeedTestData and the controllers read.
	_ "github.com/tektoncd/pipeline/pkg/pipelinerunmetrics/fake"
	_ "github.com/tektoncd/pipeline/pkg/taskrunmetrics/fake"
	_ "knative.dev/pkg/client/injection/kube/informers/factory/filtered/fake"
)

// tektonNamespace is where a default install keeps its config maps.
const tektonNamespace = "tekton-pipelines"

// images names the images the pod builder puts into a Pod; the pod runner provides them.
var images = pipeline.Images{
	EntrypointImage:        "cachebuild.test/tekton/entrypoint",
	SidecarLogResultsImage: "cachebuild.test/tekton/sidecarlogresults",
	NopImage:               "cachebuild.test/tekton/nop",
	ShellImage:             "cachebuild.test/tekton/shell",
	ShellImageWin:          "cachebuild.test/tekton/shell-win",
	WorkingDirInitImage:    "cachebuild.test/tekton/workingdirinit",
}

// placeholderResult is the value a TaskRun's results get when the check lets a pod "finish" so
// the PipelineRun reconciler goes on to the next tasks.
const placeholderResult = "cachebuild-check-placeholder"

// cluster is Tekton's two reconcilers over fake clients, seeded the way Tekton's own reconciler
// tests seed them (test.SeedTestData), plus a stand-in for the git resolver that answers
// ResolutionRequests with files of a checkout.
type cluster struct {
	ctx       context.Context
	clients   test.Clients
	namespace string
	prCtl     *controller.Impl
	trCtl     *controller.Impl
	repo      string // the git resolver's pathInRepo is read under repo
	task      []byte // when set, every Task resolution answers this file (pod --task)
	notes     []string
}

func init() {
	// system.Namespace() reads this: the config maps live in Tekton's namespace.
	if os.Getenv(system.NamespaceEnvKey) == "" {
		_ = os.Setenv(system.NamespaceEnvKey, tektonNamespace)
	}
}

func newCluster(namespace string, featureFlags map[string]string, data test.Data) (*cluster, error) {
	ctx := logging.WithLogger(context.Background(), zap.NewNop().Sugar())
	ctx = controller.WithEventRecorder(ctx, record.NewFakeRecorder(1000))
	ctx = filteredinformerfactory.WithSelectors(ctx, v1.ManagedByLabelKey)
	ctx, _ = injection.Fake.SetupInformers(ctx, &rest.Config{})
	ctx = ttesting.SetupFakeCloudClientContext(ctx, 0)

	data.Namespaces = append(data.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	data.ServiceAccounts = append(data.ServiceAccounts, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: namespace}})
	data.ConfigMaps = append(data.ConfigMaps, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "feature-flags", Namespace: system.Namespace()},
		Data:       featureFlags,
	})
	test.EnsureConfigurationConfigMapsExist(&data)
	// SeedTestData only calls t.Helper, and t.Fatal when the fake clients refuse a seed object.
	clients, _ := test.SeedTestData(&testing.T{}, ctx, data)

	cmw := cminformer.NewInformedWatcher(clients.Kube, system.Namespace())
	opts := &pipeline.Options{Images: images}
	c := &cluster{ctx: ctx, clients: clients, namespace: namespace}
	c.prCtl = pipelinerun.NewController(opts, clock.RealClock{})(ctx, cmw)
	c.trCtl = taskrun.NewController(opts, clock.RealClock{})(ctx, cmw)
	for _, ctl := range []*controller.Impl{c.prCtl, c.trCtl} {
		if la, ok := ctl.Reconciler.(pkgreconciler.LeaderAware); ok {
			if err := la.Promote(pkgreconciler.UniversalBucket(), func(pkgreconciler.Bucket, types.NamespacedName) {}); err != nil {
				return nil, err
			}
		}
	}
	if err := cmw.Start(ctx.Done()); err != nil {
		return nil, err
	}
	return c, nil
}

// reconcile runs a reconciler on one object until it stops asking for resolved references.
func (c *cluster) reconcile(ctl *controller.Impl, name string) {
	for range 10 {
		_ = ctl.Reconciler.Reconcile(c.ctx, c.namespace+"/"+name)
		if c.serveResolutionRequests() == 0 {
			return
		}
	}
}

// serveResolutionRequests answers pending ResolutionRequests as the git resolver would: the
// bytes of the file at pathInRepo (base64 in status.data), or a failed request.
func (c *cluster) serveResolutionRequests() int {
	rrs, err := c.clients.ResolutionRequests.ResolutionV1beta1().ResolutionRequests(c.namespace).List(c.ctx, metav1.ListOptions{})
	if err != nil {
		return 0
	}
	served := 0
	for i := range rrs.Items {
		rr := rrs.Items[i].DeepCopy()
		if rr.Status.GetCondition(apis.ConditionSucceeded) != nil {
			continue
		}
		data, err := c.resolve(rr.Labels["resolution.tekton.dev/type"], rr.Spec.Params)
		if err != nil {
			rr.Status.MarkFailed("ResolutionFailed", err.Error())
		} else {
			rr.Status.Data = base64.StdEncoding.Strict().EncodeToString(data)
			rr.Status.MarkSucceeded()
		}
		if _, err := c.clients.ResolutionRequests.ResolutionV1beta1().ResolutionRequests(c.namespace).UpdateStatus(c.ctx, rr, metav1.UpdateOptions{}); err == nil {
			served++
		}
	}
	return served
}

func (c *cluster) resolve(resolver string, params v1.Params) ([]byte, error) {
	values := map[string]string{}
	for _, p := range params {
		values[p.Name] = p.Value.StringVal
	}
	if resolver != "git" {
		return nil, fmt.Errorf("tekton-check answers only the git resolver, not %q", resolver)
	}
	if c.task != nil {
		c.notes = append(c.notes, fmt.Sprintf("git resolver: %s answered with the --task file", values["pathInRepo"]))
		return c.task, nil
	}
	if c.repo == "" {
		return nil, fmt.Errorf("tekton-check: a git resolver reference (%s) needs --repo", values["pathInRepo"])
	}
	path := filepath.Join(c.repo, filepath.Clean("/"+values["pathInRepo"]))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tekton-check: pathInRepo %q of %s at %s: %v", values["pathInRepo"], values["url"], values["revision"], err)
	}
	c.notes = append(c.notes, fmt.Sprintf("git resolver: %s@%s %s answered with %s", values["url"], values["revision"], values["pathInRepo"], path))
	return data, nil
}

func (c *cluster) taskRun(name string) (*v1.TaskRun, error) {
	return c.clients.Pipeline.TektonV1().TaskRuns(c.namespace).Get(c.ctx, name, metav1.GetOptions{})
}

func (c *cluster) pipelineRun(name string) (*v1.PipelineRun, error) {
	return c.clients.Pipeline.TektonV1().PipelineRuns(c.namespace).Get(c.ctx, name, metav1.GetOptions{})
}

func (c *cluster) pod(tr *v1.TaskRun) *corev1.Pod {
	if tr.Status.PodName == "" {
		return nil
	}
	pod, err := c.clients.Kube.CoreV1().Pods(c.namespace).Get(c.ctx, tr.Status.PodName, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return pod
}

// taskRunsInOrder lists the TaskRuns the PipelineRun reconciler created, oldest first.
func (c *cluster) taskRunsInOrder() []v1.TaskRun {
	list, err := c.clients.Pipeline.TektonV1().TaskRuns(c.namespace).List(c.ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	trs := list.Items
	sort.SliceStable(trs, func(i, j int) bool { return trs[i].ResourceVersion < trs[j].ResourceVersion })
	return trs
}

// finishPod makes the TaskRun's pod end the way the kubelet reports a finished pod: every step
// container terminated with exit code 0 and the termination message its entrypoint wrote. With
// messages nil, each step writes a placeholder for every result the Task declares. The TaskRun
// reconciler then reads the results from the pod with its own code.
func (c *cluster) finishPod(tr *v1.TaskRun, messages map[string]string) error {
	pod := c.pod(tr)
	if pod == nil {
		return fmt.Errorf("TaskRun %s has no pod", tr.Name)
	}
	if messages == nil {
		var results []result.RunResult
		if tr.Status.TaskSpec != nil {
			for _, r := range tr.Status.TaskSpec.Results {
				results = append(results, result.RunResult{Key: r.Name, Value: placeholderResult, ResultType: result.TaskRunResultType})
			}
		}
		msg, _ := json.Marshal(results)
		messages = map[string]string{}
		for _, ctr := range pod.Spec.Containers {
			if strings.HasPrefix(ctr.Name, "step-") {
				messages[ctr.Name] = string(msg)
				msg = []byte("[]")
			}
		}
	}
	now := metav1.Now()
	pod.Status.Phase = corev1.PodSucceeded
	pod.Status.StartTime = &now
	pod.Status.ContainerStatuses = nil
	for _, ctr := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:    ctr.Name,
			ImageID: "docker-pullable://" + ctr.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", Message: messages[ctr.Name], StartedAt: now, FinishedAt: now,
			}},
		})
	}
	_, err := c.clients.Kube.CoreV1().Pods(c.namespace).UpdateStatus(c.ctx, pod, metav1.UpdateOptions{})
	return err
}
