package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tektoncd/pipeline/pkg/apis/config"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	kjson "knative.dev/pkg/webhook/json"
	"knative.dev/pkg/webhook/resourcesemantics"
)

// The webhooks' names as a default install registers them (WEBHOOK_ADMISSION_CONTROLLER_NAME).
const (
	defaultingWebhook = "webhook.pipeline.tekton.dev"
	validationWebhook = "validation.webhook.pipeline.tekton.dev"
)

// gates are the enable-api-fields values every manifest is admitted under.
var gates = []string{"stable", "beta"}

func newObject(apiVersion, kind string) (resourcesemantics.GenericCRD, error) {
	if apiVersion != v1.SchemeGroupVersion.String() {
		return nil, fmt.Errorf("apiVersion %q: only %s is checked", apiVersion, v1.SchemeGroupVersion)
	}
	switch kind {
	case "Task":
		return &v1.Task{}, nil
	case "Pipeline":
		return &v1.Pipeline{}, nil
	case "TaskRun":
		return &v1.TaskRun{}, nil
	case "PipelineRun":
		return &v1.PipelineRun{}, nil
	}
	return nil, fmt.Errorf("kind %q is not a Tekton Pipelines kind", kind)
}

// configContext is the context the webhook and the controllers derive from the config maps in
// Tekton's namespace (config.Store, as store.WatchConfigs fills it).
func configContext(ctx context.Context, featureFlags map[string]string) context.Context {
	store := config.NewStore(zap.NewNop().Sugar())
	store.OnConfigChanged(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: config.GetFeatureFlagsConfigName()},
		Data:       featureFlags,
	})
	store.OnConfigChanged(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: config.GetDefaultsConfigName()},
		Data:       map[string]string{},
	})
	return store.ToContext(ctx)
}

// admit does what the API server's two admission calls do with a create request: the defaulting
// webhook decodes the object strictly and runs SetDefaults; the validating webhook decodes the
// defaulted object and runs Validate (knative.dev/pkg/webhook/resourcesemantics). The returned
// error text is what the API server reports.
func admit(doc document, featureFlags map[string]string) (resourcesemantics.GenericCRD, error) {
	obj, err := newObject(doc.APIVersion, doc.Kind)
	if err != nil {
		return nil, err
	}
	ctx := configContext(context.Background(), featureFlags)
	ctx = apis.WithinCreate(ctx)
	ctx = apis.WithUserInfo(ctx, &authenticationv1.UserInfo{Username: "cachebuild-check"})

	if err := kjson.Decode(doc.JSON, obj, true); err != nil {
		return nil, denied(defaultingWebhook, fmt.Sprintf("mutation failed: cannot decode incoming new object: %v", err))
	}
	obj.SetDefaults(ctx)

	defaulted, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	validated, _ := newObject(doc.APIVersion, doc.Kind)
	if err := kjson.Decode(defaulted, validated, true); err != nil {
		return nil, denied(validationWebhook, fmt.Sprintf("decoding request failed: cannot decode incoming new object: %v", err))
	}
	if result := validated.Validate(ctx); result != nil {
		if errs := result.Filter(apis.ErrorLevel); errs != nil {
			return nil, denied(validationWebhook, fmt.Sprintf("validation failed: %v", errs))
		}
	}
	return validated, nil
}

func denied(webhook, message string) error {
	return fmt.Errorf("admission webhook %q denied the request: %s", webhook, message)
}

type validateResult struct {
	File   string `json:"file"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Gate   string `json:"gate"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Tekton string `json:"tekton"`
}

func cmdValidate(args []string, out io.Writer) int {
	fs := newFlags("validate")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		return fail(out, "validate needs at least one FILE")
	}
	var results []validateResult
	for _, path := range fs.Args() {
		docs, err := readDocuments(path)
		if err != nil {
			return fail(out, "%v", err)
		}
		for _, doc := range docs {
			for _, gate := range gates {
				r := validateResult{File: path, Kind: doc.Kind, Name: doc.Name, Gate: gate, OK: true, Tekton: tektonVersion()}
				if _, err := admit(doc, map[string]string{"enable-api-fields": gate}); err != nil {
					r.OK, r.Error = false, err.Error()
				}
				results = append(results, r)
			}
		}
	}
	code := 0
	for _, r := range results {
		if !r.OK {
			code = 1
		}
	}
	if *asJSON {
		printJSON(out, results)
		return code
	}
	for _, r := range results {
		status := "OK"
		if !r.OK {
			status = indent(r.Error)
		}
		fmt.Fprintf(out, "%s: %s/%s [tekton %s, enable-api-fields=%s]: %s\n", r.File, r.Kind, r.Name, r.Tekton, r.Gate, status)
	}
	return code
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

func printJSON(out io.Writer, v any) {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
