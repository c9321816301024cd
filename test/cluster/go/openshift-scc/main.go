// kubevirt-vduse-scc: OpenShift's own SecurityContextConstraints admission code, for the test of
// deploy/overlays/openshift. It is test infrastructure, never shipped, with no go.mod of its own:
// test/cluster/build.ts places it into an export of openshift/apiserver-library-go (the library
// OpenShift's API server runs SCC admission with) and builds it there with its vendor/.
//
//	kubevirt-vduse-scc --scc FILE --namespace FILE < pod.json
//
// It does for one SCC what sccadmission's computeSecurityContext does for each SCC a Pod's creator
// may use (pkg/securitycontextconstraints/sccadmission/admission.go): the API server's defaults on
// the Pod, the SCC's defaults (sccdefaults.SetDefaults_SCC), the Namespace's pre-allocated UID
// range, SELinux level and groups (sccmatching.CreateProviderFromConstraint), then
// sccmatching.AssignSecurityContext, which fills in and validates the Pod's and each container's
// security context. It prints {"errors": [...], "pod": THE POD AS ADMITTED}.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kapi "k8s.io/kubernetes/pkg/apis/core"
	kapiv1 "k8s.io/kubernetes/pkg/apis/core/v1"
	"sigs.k8s.io/yaml"

	securityv1 "github.com/openshift/api/security/v1"
	"github.com/openshift/apiserver-library-go/pkg/securitycontextconstraints/sccdefaults"
	"github.com/openshift/apiserver-library-go/pkg/securitycontextconstraints/sccmatching"
)

func main() {
	sccFile := flag.String("scc", "", "the SecurityContextConstraints (YAML or JSON)")
	namespaceFile := flag.String("namespace", "", "the Namespace, with the annotations OpenShift pre-allocates (YAML or JSON)")
	flag.Parse()
	if *sccFile == "" || *namespaceFile == "" {
		fail("usage: kubevirt-vduse-scc --scc FILE --namespace FILE < pod.json")
	}
	scc := &securityv1.SecurityContextConstraints{}
	namespace := &corev1.Namespace{}
	pod := &corev1.Pod{}
	read(*sccFile, scc)
	read(*namespaceFile, namespace)
	input, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = yaml.Unmarshal(input, pod)
	}
	if err != nil {
		fail("stdin: expected a Pod: %v", err)
	}

	sccdefaults.SetDefaults_SCC(scc)
	kapiv1.SetObjectDefaults_Pod(pod)
	internal := &kapi.Pod{}
	if err := kapiv1.Convert_v1_Pod_To_core_Pod(pod, internal, nil); err != nil {
		fail("converting the Pod: %v", err)
	}
	provider, err := sccmatching.CreateProviderFromConstraint(namespace, scc)
	if err != nil {
		fail("%v", err)
	}
	errs := sccmatching.AssignSecurityContext(provider, internal, field.NewPath(fmt.Sprintf("provider %s: ", provider.GetSCCName())))
	admitted := &corev1.Pod{}
	if err := kapiv1.Convert_core_Pod_To_v1_Pod(internal, admitted, nil); err != nil {
		fail("converting the Pod back: %v", err)
	}
	messages := []string{}
	for _, e := range errs {
		messages = append(messages, e.Error())
	}
	out, err := json.Marshal(map[string]any{"errors": messages, "pod": admitted})
	if err != nil {
		fail("printing: %v", err)
	}
	fmt.Println(string(out))
}

func read(file string, into any) {
	data, err := os.ReadFile(file)
	if err == nil {
		err = yaml.Unmarshal(data, into)
	}
	if err != nil {
		fail("%s: %v", file, err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kubevirt-vduse-scc: "+format+"\n", args...)
	os.Exit(1)
}
