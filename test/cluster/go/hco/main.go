// kubevirt-vduse-hco: HCO's own code, for the tests of the project's OpenShift Virtualization steps.
// It is test infrastructure, never shipped. It has no go.mod of its own: test/cluster/build.ts
// places this file into an export of github.com/kubevirt/hyperconverged-cluster-operator
// (test/cluster/sources.ts) with `go build -overlay`, and builds it there against HCO's committed
// vendor/ (GOFLAGS=-mod=vendor), offline. Nothing of HCO is in this repository.
//
//	kubevirt-vduse-hco kubevirt < hyperconverged.json
//	    prints the KubeVirt CR that HCO writes for the HyperConverged CR on stdin (JSON or YAML,
//	    hco.kubevirt.io/v1 or v1beta1): handlers.NewKubeVirt (controllers/handlers/kubevirt.go),
//	    which applies the kubevirt.kubevirt.io/jsonpatch annotation last (operands.ApplyPatchToSpec).
//	    HCO's refusal (an annotation that does not apply, say) is exit 2 with its error on stderr.
//	kubevirt-vduse-hco hyperconverged v1|v1beta1 < hyperconverged.json
//	    prints the HyperConverged CR on stdin in that version, converted by HCO's own conversion
//	    (api/v1beta1/conversion.go; v1 is the hub), as the API server serves it through HCO's webhook.
//	kubevirt-vduse-hco convert --cert FILE --key FILE --listen ADDR
//	    serves HCO's CRD conversion webhook for HyperConverged on https://ADDR/convert: the handler
//	    HCO's webhook server registers (controller-runtime's, over HCO's Hub and Convertible types,
//	    pkg/webhooks/setup.go), so the API server can serve both versions as on OpenShift.
//
// What it leaves out: HCO's node facts (pkg/nodeinfo) stay at their zero values, as before HCO
// has read any Node, so infra placement is that of a single-node cluster; and HCO's admission
// webhooks for the HyperConverged CR do not run (their validation calls the same NewKubeVirt).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/conversion"
	webhookconversion "sigs.k8s.io/controller-runtime/pkg/webhook/conversion"
	"sigs.k8s.io/yaml"

	kubevirtcorev1 "kubevirt.io/api/core/v1"

	hcoapi "github.com/kubevirt/hyperconverged-cluster-operator/api"
	hcov1 "github.com/kubevirt/hyperconverged-cluster-operator/api/v1"
	hcov1beta1 "github.com/kubevirt/hyperconverged-cluster-operator/api/v1beta1"
	"github.com/kubevirt/hyperconverged-cluster-operator/controllers/handlers"
)

func main() {
	if len(os.Args) < 2 {
		fail(1, "usage: kubevirt-vduse-hco kubevirt < hyperconverged.json | hyperconverged v1|v1beta1 < hyperconverged.json | convert --cert FILE --key FILE --listen ADDR")
	}
	scheme := runtime.NewScheme()
	if err := hcoapi.AddToScheme(scheme); err != nil {
		fail(1, "HCO's scheme: %v", err)
	}
	switch os.Args[1] {
	case "kubevirt":
		kubevirt(scheme)
	case "hyperconverged":
		if len(os.Args) != 3 || (os.Args[2] != "v1" && os.Args[2] != "v1beta1") {
			fail(1, "hyperconverged: expected the version to print, v1 or v1beta1")
		}
		hyperconverged(scheme, os.Args[2])
	case "convert":
		serveConversion(scheme, os.Args[2:])
	default:
		fail(1, "unknown command %q: expected kubevirt, hyperconverged or convert", os.Args[1])
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kubevirt-vduse-hco: "+format+"\n", args...)
	os.Exit(code)
}

// The HyperConverged CR on stdin (JSON or YAML), either version.
func readHyperConverged(scheme *runtime.Scheme) runtime.Object {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(1, "reading stdin: %v", err)
	}
	data, err := yaml.YAMLToJSON(input)
	if err != nil {
		fail(1, "stdin: not JSON or YAML: %v", err)
	}
	object, _, err := serializer.NewCodecFactory(scheme).UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		fail(1, "stdin: expected a HyperConverged of hco.kubevirt.io/v1 or v1beta1: %v", err)
	}
	return object
}

func kubevirt(scheme *runtime.Scheme) {
	object := readHyperConverged(scheme)
	// release-1.18's NewKubeVirt takes a v1beta1 HyperConverged and release-1.19's a v1: called
	// through reflection, with the input converted to what it takes, one main builds on both.
	newKubeVirt := reflect.ValueOf(handlers.NewKubeVirt)
	hc, err := convertTo(object, newKubeVirt.Type().In(0))
	if err != nil {
		fail(1, "stdin: %v", err)
	}
	results := newKubeVirt.Call([]reflect.Value{reflect.ValueOf(hc)})
	if err, _ := results[1].Interface().(error); err != nil {
		fail(2, "HCO refuses the HyperConverged CR: %v", err)
	}
	kv := results[0].Interface().(runtime.Object)
	// HCO leaves the type empty (the client fills it in); a printed CR carries it.
	kv.GetObjectKind().SetGroupVersionKind(kubevirtcorev1.KubeVirtGroupVersionKind)
	printJSON(kv)
}

func hyperconverged(scheme *runtime.Scheme, version string) {
	want := reflect.TypeOf(&hcov1.HyperConverged{})
	if version == "v1beta1" {
		want = reflect.TypeOf(&hcov1beta1.HyperConverged{})
	}
	hc, err := convertTo(readHyperConverged(scheme), want)
	if err != nil {
		fail(1, "stdin: %v", err)
	}
	gvks, _, err := scheme.ObjectKinds(hc)
	if err != nil {
		fail(1, "HCO's scheme: %v", err)
	}
	hc.GetObjectKind().SetGroupVersionKind(gvks[0])
	printJSON(hc)
}

func printJSON(object runtime.Object) {
	out, err := json.Marshal(object)
	if err != nil {
		fail(1, "printing %T: %v", object, err)
	}
	fmt.Println(string(out))
}

// The HyperConverged as the type want, converted with HCO's own conversion (the hub is v1;
// v1beta1 converts to and from it) when it is the other version.
func convertTo(object runtime.Object, want reflect.Type) (runtime.Object, error) {
	if reflect.TypeOf(object) == want {
		return object, nil
	}
	target, ok := reflect.New(want.Elem()).Interface().(runtime.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not a Kubernetes object", want)
	}
	if convertible, ok := target.(conversion.Convertible); ok {
		if hub, ok := object.(conversion.Hub); ok {
			return target, convertible.ConvertFrom(hub)
		}
	}
	if convertible, ok := object.(conversion.Convertible); ok {
		if hub, ok := target.(conversion.Hub); ok {
			return target, convertible.ConvertTo(hub)
		}
	}
	return nil, fmt.Errorf("%T is not a HyperConverged HCO converts to %s", object, want)
}

func serveConversion(scheme *runtime.Scheme, args []string) {
	flags := flag.NewFlagSet("convert", flag.ExitOnError)
	cert := flags.String("cert", "", "serving certificate (PEM)")
	key := flags.String("key", "", "its key (PEM)")
	listen := flags.String("listen", "127.0.0.1:9443", "address to listen on")
	_ = flags.Parse(args)
	if *cert == "" || *key == "" {
		fail(1, "convert: --cert and --key are required")
	}
	mux := http.NewServeMux()
	mux.Handle("/convert", webhookconversion.NewWebhookHandler(scheme, webhookconversion.NewRegistry()))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	fmt.Fprintf(os.Stderr, "kubevirt-vduse-hco: HCO's conversion webhook on https://%s/convert\n", *listen)
	if err := http.ListenAndServeTLS(*listen, *cert, *key, mux); err != nil {
		fail(1, "convert: %v", err)
	}
}
