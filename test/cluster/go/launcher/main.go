// launcher plays the part of virt-launcher that meets the binding sidecars, with KubeVirt's own
// code, compiled from the KubeVirt module this binary is built against:
//
//  1. hooks.GetManager().Collect, as virt-launcher's main does before anything else
//     (cmd/virt-launcher/virt-launcher.go);
//  2. the converter context virt-launcher builds (pkg/virt-launcher/virtwrap/manager.go
//     generateConverterContext) from the options virt-handler sends (pkg/virt-handler/options.go
//     virtualMachineOptions, vm.go syncVirtualMachine: the binding plugins' domain attachments from
//     the KubeVirt CR), then converter.Convert_v1_VirtualMachineInstance_To_api_Domain and the
//     domain defaulter, as SyncVMI does;
//  3. preStartHook's cloud-init part: cloudinit.ReadCloudInitVolumeDataSource, then the hook
//     manager's PreCloudInitIso;
//  4. the hook manager's OnDefineDomain on the converted domain, and on KubeVirt 1.9 the plugin
//     pipeline after it (util.SetDomainSpecStrWithHooks; plugins.go); then, when the test closes
//     stdin (the VM stops), Shutdown;
//  5. the memlock rlimit virt-handler sets for QEMU (pkg/hypervisor/kvm CalculateMemlockSize), and
//     the virtio-mem device a memory hotplug up to maxGuest attaches (pkg/liveupdate/memory).
//
// What it cannot reproduce, and so leaves out:
//   - preStartHook's pod network set-up (SetupPodNetworkPhase2): it needs the pod's network
//     namespace and the caches virt-handler's phase 1 writes. A binding plugin with no domain
//     attachment, like ours, gets nothing from it;
//   - the disks' files: a containerDisk's image info comes from qemu-img on the image in the pod,
//     so it is given here as what a qcow2 image reports; ephemeral and empty disks are not created;
//   - libvirt itself in the second, libvirt-normalised define: allocateHotplugPorts
//     (network.WithNetworkIfacesResources) defines the domain with placeholder interfaces, reads
//     libvirt's XML back and defines it again, each time through the hooks. That needs libvirt
//     through cgo; the tests define the domain with virsh and send its XML back (Redefine), and
//     the harness does the rest with KubeVirt's code. The placeholder interfaces are not added.
//
// The hook manager's socket directory is a constant, /var/run/kubevirt-hooks. The harness runs
// itself again in a mount namespace of its own (as root) and mounts --hooks-dir, a scratch
// directory, there. Everything it meets, a panic included, is a result on stdout
// (JSON lines), not a crash.
package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"syscall"
	"time"

	v1 "kubevirt.io/api/core/v1"
	"kubevirt.io/client-go/log"

	cloudinit "kubevirt.io/kubevirt/pkg/cloud-init"
	ephemeraldisk "kubevirt.io/kubevirt/pkg/ephemeral-disk"
	cmdv1 "kubevirt.io/kubevirt/pkg/handler-launcher-com/cmd/v1"
	"kubevirt.io/kubevirt/pkg/hooks"
	"kubevirt.io/kubevirt/pkg/hypervisor/kvm"
	liveupdatememory "kubevirt.io/kubevirt/pkg/liveupdate/memory"
	"kubevirt.io/kubevirt/pkg/network/domainspec"
	"kubevirt.io/kubevirt/pkg/os/disk"
	"kubevirt.io/kubevirt/pkg/testutils"
	kutil "kubevirt.io/kubevirt/pkg/util"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/api"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/converter"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/converter/arch"
	convertertypes "kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/converter/types"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/efi"
)

// Input is what the tests send on stdin.
type Input struct {
	// The VMI as the API server stored it, after virt-api and virt-controller.
	VMI *v1.VirtualMachineInstance `json:"vmi"`
	// The KubeVirt CR: its configuration is what virt-handler reads.
	KubeVirt *v1.KubeVirt `json:"kubevirt"`
	// virt-launcher's --hook-sidecars: how many sidecar sockets to wait for.
	Sidecars uint `json:"sidecars"`
	// How long Collect waits; virt-launcher uses its --qemu-timeout (4 min by default).
	CollectTimeoutSeconds int `json:"collectTimeoutSeconds"`
	// The pod's cpuset, for dedicated CPUs (virt-launcher reads it from its cgroup).
	CPUSet []int `json:"cpuSet"`
	// virt-launcher's --ovmf-path: the OVMF files under the names its image gives them.
	OVMFPath string `json:"ovmfPath"`
	// The Plugin CRs virt-handler sends with the Plugins feature gate on (KubeVirt 1.9 and later).
	Plugins json.RawMessage `json:"plugins,omitempty"`
}

// Redefine is a further message on stdin: libvirt's XML of the defined domain (virsh dumpxml),
// which virt-launcher reads back into its own domain model and defines again through the hooks
// (network.WithNetworkIfacesResources, allocateHotplugPorts), and the VMI.
type Redefine struct {
	LibvirtXML string                     `json:"libvirtXML"`
	VMI        *v1.VirtualMachineInstance `json:"vmi"`
}

// redefine is that second define: libvirt's XML through KubeVirt's api.DomainSpec (which keeps
// only what its structs know), then OnDefineDomain again.
func redefine(manager hooks.Manager, again Redefine) Output {
	out := Output{}
	step(&out, "OnDefineDomain (the libvirt-normalised define)", func() error {
		spec := &api.DomainSpec{}
		if err := xml.Unmarshal([]byte(again.LibvirtXML), spec); err != nil {
			return fmt.Errorf("reading libvirt's XML into KubeVirt's domain model: %w", err)
		}
		model, err := xml.MarshalIndent(spec, "", "\t")
		if err != nil {
			return err
		}
		out.Converted = string(model)
		out.Domain, err = manager.OnDefineDomain(spec, again.VMI)
		return err
	})
	return out
}

// Output is one line of JSON on stdout: the start, then, after stdin closes, the shutdown.
type Output struct {
	// The converter's domain, as the hook manager marshals it for OnDefineDomain.
	Converted string `json:"converted,omitempty"`
	// The cloud-init data before and after PreCloudInitIso (Go field names: the struct has no JSON tags).
	CloudInitBefore *cloudinit.CloudInitData `json:"cloudInitBefore,omitempty"`
	CloudInit       *cloudinit.CloudInitData `json:"cloudInit,omitempty"`
	// The domain virt-launcher hands to libvirt: the sidecars', or the plugin pipeline's after them.
	Domain string `json:"domain,omitempty"`
	// The sidecars' domain, when the plugin pipeline rebuilt it.
	SidecarDomain string `json:"sidecarDomain,omitempty"`
	// Whether this KubeVirt has the plugin pipeline.
	PluginPipeline bool `json:"pluginPipeline"`
	// The sockets the hook manager calls OnDefineDomain on, in its order.
	OnDefineDomainOrder []string `json:"onDefineDomainOrder,omitempty"`
	// KubeVirt's memlock rlimit for QEMU, in bytes.
	MemlockBytes int64 `json:"memlockBytes"`
	// KubeVirt's memory overhead for the VMI, addedOverhead included, in bytes.
	OverheadBytes int64 `json:"overheadBytes"`
	// The virtio-mem device a memory hotplug up to maxGuest attaches, when the VMI has maxGuest.
	HotplugMemoryDevice string `json:"hotplugMemoryDevice,omitempty"`
	// The step that failed and virt-launcher's error, or the panic it would crash with.
	Step  string `json:"step,omitempty"`
	Error string `json:"error,omitempty"`
	Panic string `json:"panic,omitempty"`
}

const hookSocketsDir = hooks.HookSocketsSharedDirectory

func main() {
	hooksDir := flag.String("hooks-dir", "", "scratch directory mounted on "+hookSocketsDir+", in a mount namespace of the harness's own (required; needs root)")
	flag.Parse()
	if os.Getenv(inNamespaceEnv) == "" {
		reexecInOwnMountNamespace()
	}
	// KubeVirt's logger writes JSON lines; they go to stderr, for the test's diagnostics.
	log.InitializeLogging("virt-launcher")

	out := Output{}
	stdin := json.NewDecoder(os.Stdin)
	manager, err := run(*hooksDir, stdin, &out)
	if err != nil {
		out.Error = err.Error()
	}
	emit(out)
	if manager == nil {
		return
	}
	// The domain is defined. Each further message is libvirt's XML of it, for a define again; when
	// the test closes stdin, the VM stops, and virt-launcher's shutdown calls the sidecars' Shutdown.
	for {
		var again Redefine
		if err := stdin.Decode(&again); err != nil {
			break
		}
		emit(redefine(manager, again))
	}
	stopped := Output{}
	step(&stopped, "Shutdown", manager.Shutdown)
	emit(stopped)
}

// emit writes one result as one line of JSON.
func emit(out Output) {
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// inNamespaceEnv marks the harness re-executed in a mount namespace of its own.
const inNamespaceEnv = "LAUNCHER_HARNESS_IN_MOUNT_NAMESPACE"

// reexecInOwnMountNamespace runs this binary again in a new mount namespace (Go makes its mounts
// private), with the same stdin, stdout and stderr, and exits with its status. A Go process cannot
// unshare its own mount namespace once its runtime threads run.
func reexecInOwnMountNamespace() {
	command := exec.Command("/proc/self/exe", os.Args[1:]...)
	command.Stdin, command.Stdout, command.Stderr = os.Stdin, os.Stdout, os.Stderr
	command.Env = append(os.Environ(), inNamespaceEnv+"=1")
	command.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if err := command.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintf(os.Stderr, "launcher: cannot run in a mount namespace of its own (it needs root): %v\n", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// mountHooksDir puts the scratch directory where the hook manager looks, in this process's own
// mount namespace only: the host's /run is never written.
func mountHooksDir(scratch string) error {
	if scratch == "" {
		return fmt.Errorf("--hooks-dir is required")
	}
	// A tmpfs on /run first, so the mount point is not created on the host's /run.
	if err := syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs on /run: %w", err)
	}
	if err := os.MkdirAll(hookSocketsDir, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(scratch, hookSocketsDir, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on %s: %w", scratch, hookSocketsDir, err)
	}
	return nil
}

// step runs one part of the start; a panic there is recorded as virt-launcher's crash.
func step(out *Output, name string, work func() error) (ok bool) {
	defer func() {
		if recovered := recover(); recovered != nil {
			out.Step = name
			out.Panic = fmt.Sprintf("%v\n%s", recovered, debug.Stack())
			ok = false
		}
	}()
	if err := work(); err != nil {
		out.Step = name
		out.Error = err.Error()
		return false
	}
	return true
}

// run starts the VMI up to its define, and returns the hook manager once the sidecars have the
// domain (nil when the start stopped on the way, as out says).
func run(scratch string, stdin *json.Decoder, out *Output) (hooks.Manager, error) {
	if err := mountHooksDir(scratch); err != nil {
		return nil, err
	}
	var input Input
	if err := stdin.Decode(&input); err != nil {
		return nil, fmt.Errorf("reading the input: %w", err)
	}
	if input.VMI == nil || input.KubeVirt == nil {
		return nil, fmt.Errorf("the input needs vmi and kubevirt")
	}
	vmi := input.VMI
	kv := input.KubeVirt.DeepCopy()
	clusterConfig, _, _ := testutils.NewFakeClusterConfigUsingKV(kv)

	timeout := time.Duration(input.CollectTimeoutSeconds) * time.Second
	if timeout == 0 {
		timeout = 4 * time.Minute
	}
	manager := hooks.GetManager()
	if !step(out, "Collect", func() error { return manager.Collect(input.Sidecars, timeout) }) {
		return nil, nil
	}
	out.OnDefineDomainOrder = callOrder(manager, "OnDefineDomain")

	// virt-handler's options (options.go virtualMachineOptions; vm.go syncVirtualMachine).
	options := &cmdv1.VirtualMachineOptions{
		MemBalloonStatsPeriod: clusterConfig.GetMemBalloonStatsPeriod(),
		ClusterConfig: &cmdv1.ClusterConfig{
			FreePageReportingDisabled:   clusterConfig.IsFreePageReportingDisabled(),
			BochsDisplayForEFIGuests:    !clusterConfig.VGADisplayForEFIGuestsEnabled(),
			SerialConsoleLogDisabled:    clusterConfig.IsSerialConsoleLogDisabled(),
			PCINUMAAwareTopologyEnabled: clusterConfig.PCINUMAAwareTopologyEnabled(),
		},
		InterfaceDomainAttachment: domainspec.DomainAttachmentByInterfaceName(vmi.Spec.Domain.Devices.Interfaces, clusterConfig.GetNetworkBindings()),
	}
	versionOptions(options, clusterConfig)
	if smbios := clusterConfig.GetSMBIOS(); smbios != nil {
		options.VirtualMachineSMBios = &cmdv1.SMBios{Family: smbios.Family, Product: smbios.Product, Manufacturer: smbios.Manufacturer, Sku: smbios.Sku, Version: smbios.Version}
	}

	domain := &api.Domain{}
	if !step(out, "SyncVMI: convert", func() error {
		context, err := converterContext(vmi, clusterConfig.AllowEmulation(), options, input)
		if err != nil {
			return err
		}
		if err := converter.Convert_v1_VirtualMachineInstance_To_api_Domain(vmi, domain, context); err != nil {
			return err
		}
		api.NewDefaulter(context.Architecture.GetArchitecture()).SetObjectDefaults_Domain(domain)
		converted, err := xml.MarshalIndent(domain.Spec, "", "\t")
		out.Converted = string(converted)
		return err
	}) {
		return nil, nil
	}

	runtime := kvm.NewKvmVirtRuntime(nil, log.Log)
	memlock := runtime.CalculateMemlockSize(vmi, clusterConfig.GetConfig())
	out.MemlockBytes = memlock.Value()
	overhead := runtime.GetMemoryOverhead(vmi, "amd64", clusterConfig.GetConfig().AdditionalGuestMemoryOverheadRatio)
	out.OverheadBytes = overhead.Value()
	if !step(out, "memory hotplug device", func() error {
		device, err := hotplugMemoryDevice(vmi)
		out.HotplugMemoryDevice = device
		return err
	}) {
		return nil, nil
	}

	if !step(out, "preStartHook: PreCloudInitIso", func() error {
		data, err := cloudinit.ReadCloudInitVolumeDataSource(vmi, "/var/run/kubevirt-private/secret")
		if err != nil {
			return fmt.Errorf("ReadCloudInitVolumeDataSource failed: %v", err)
		}
		out.CloudInitBefore = data
		out.CloudInit, err = manager.PreCloudInitIso(vmi, data)
		if err != nil {
			return fmt.Errorf("PreCloudInitIso hook failed: %v", err)
		}
		return nil
	}) {
		return nil, nil
	}

	out.PluginPipeline = pluginPipeline
	if !step(out, "OnDefineDomain", func() error {
		var err error
		out.Domain, out.SidecarDomain, err = defineWithHooks(manager, vmi, &domain.Spec, input.Plugins)
		return err
	}) {
		return nil, nil
	}
	return manager, nil
}

// callOrder is the order the hook manager calls a hook point's sidecars in: the order they answered
// Info while Collect scanned the folders, which is not the folders' order when one sidecar starts
// later. The manager does not export it; its fields are read by reflection.
func callOrder(manager hooks.Manager, hookPoint string) []string {
	callbacks := reflect.ValueOf(manager).Elem().FieldByName("CallbacksPerHookPoint")
	if !callbacks.IsValid() {
		return nil
	}
	list := callbacks.MapIndex(reflect.ValueOf(hookPoint))
	if !list.IsValid() {
		return nil
	}
	order := make([]string, 0, list.Len())
	for index := 0; index < list.Len(); index++ {
		order = append(order, list.Index(index).Elem().FieldByName("SocketPath").String())
	}
	return order
}

// hotplugMemoryDevice is the device virt-launcher attaches when the guest memory is raised to
// maxGuest: the whole pluggable region, which is what libvirt then counts.
func hotplugMemoryDevice(vmi *v1.VirtualMachineInstance) (string, error) {
	memory := vmi.Spec.Domain.Memory
	if memory == nil || memory.MaxGuest == nil || memory.Guest == nil || memory.Guest.Cmp(*memory.MaxGuest) >= 0 {
		return "", nil
	}
	raised := vmi.DeepCopy()
	atBoot := memory.Guest.DeepCopy()
	raised.Status.Memory = &v1.MemoryStatus{GuestAtBoot: &atBoot}
	maxGuest := memory.MaxGuest.DeepCopy()
	raised.Spec.Domain.Memory.Guest = &maxGuest
	device, err := liveupdatememory.BuildMemoryDevice(raised)
	if err != nil {
		return "", err
	}
	text, err := xml.Marshal(device)
	return string(text), err
}

// converterContext is generateConverterContext for a VMI whose disks are not on this machine.
func converterContext(vmi *v1.VirtualMachineInstance, allowEmulation bool, options *cmdv1.VirtualMachineOptions, input Input) (*convertertypes.ConverterContext, error) {
	permanentVolumes := map[string]v1.VolumeStatus{}
	for _, status := range vmi.Status.VolumeStatus {
		if status.HotplugVolume == nil {
			permanentVolumes[status.Name] = status
		}
	}
	disksInfo := map[string]*disk.DiskInfo{}
	for _, volume := range vmi.Spec.Volumes {
		if volume.ContainerDisk != nil {
			disksInfo[volume.Name] = &disk.DiskInfo{Format: "qcow2", VirtualSize: 1 << 30}
		}
	}
	var efiConfiguration *convertertypes.EFIConfiguration
	if vmi.IsBootloaderEFI() {
		secureBoot := vmi.Spec.Domain.Firmware.Bootloader.EFI.SecureBoot == nil || *vmi.Spec.Domain.Firmware.Bootloader.EFI.SecureBoot
		vmType := efi.None
		switch {
		case kutil.IsSEVVMI(vmi) && !kutil.IsSEVSNPVMI(vmi):
			vmType = efi.SEV
		case kutil.IsSEVSNPVMI(vmi):
			vmType = efi.SNP
		case kutil.IsTDXVMI(vmi):
			vmType = efi.TDX
		}
		environment := efi.DetectEFIEnvironment("amd64", input.OVMFPath)
		if !environment.Bootable(secureBoot, vmType) {
			return nil, fmt.Errorf("EFI OVMF roms missing for booting in EFI mode with SecureBoot=%v (in %s)", secureBoot, input.OVMFPath)
		}
		efiConfiguration = &convertertypes.EFIConfiguration{EFICode: environment.EFICode(secureBoot, vmType), EFIVars: environment.EFIVars(secureBoot, vmType), SecureLoader: secureBoot}
	}
	cpuSet := input.CPUSet
	if len(cpuSet) == 0 {
		cpuSet = []int{0, 1}
	}
	// The node's topology, which virt-handler reads from libvirt's capabilities on the node
	// (options.go capabilitiesToTopology): here one NUMA cell that holds the pod's CPUs.
	topology := &cmdv1.Topology{NumaCells: []*cmdv1.Cell{{Id: 0}}}
	for _, cpu := range cpuSet {
		topology.NumaCells[0].Cpus = append(topology.NumaCells[0].Cpus, &cmdv1.CPU{Id: uint32(cpu)})
	}
	context := &convertertypes.ConverterContext{
		Architecture:   arch.NewConverter("amd64"),
		VirtualMachine: vmi,
		AllowEmulation: allowEmulation,
		// The node virt-launcher runs on has /dev/kvm, whether or not this machine has: the domain
		// is type="kvm", and the tests turn it into type="qemu" where there is no KVM.
		HypervisorDeviceAvailable: true,
		CPUSet:                    cpuSet,
		IsBlockPVC:                map[string]bool{},
		IsBlockDV:                 map[string]bool{},
		EFIConfiguration:          efiConfiguration,
		UseVirtioTransitional:     vmi.Spec.Domain.Devices.UseVirtioTransitional != nil && *vmi.Spec.Domain.Devices.UseVirtioTransitional,
		PermanentVolumes:          permanentVolumes,
		HotplugVolumes:            map[string]v1.VolumeStatus{},
		DisksInfo:                 disksInfo,
		// virt-launcher's, from its --ephemeral-disk-dir default; only its paths are used here.
		EphemeraldiskCreator:            ephemeraldisk.NewEphemeralDiskCreator(filepath.Join("/var/run/kubevirt-ephemeral-disks", "disk-data")),
		FreePageReporting:               freePageReporting(options.ClusterConfig.FreePageReportingDisabled, vmi),
		SerialConsoleLog:                serialConsoleLog(options.ClusterConfig.SerialConsoleLogDisabled, vmi),
		BochsForEFIGuests:               options.ClusterConfig.BochsDisplayForEFIGuests,
		PCINUMAAwareTopologyEnabled:     options.ClusterConfig.PCINUMAAwareTopologyEnabled,
		MemBalloonStatsPeriod:           uint(options.MemBalloonStatsPeriod),
		SMBios:                          options.VirtualMachineSMBios,
		Topology:                        topology,
		DomainAttachmentByInterfaceName: options.InterfaceDomainAttachment,
		HypervisorName:                  v1.KvmHypervisorName,
	}
	versionContext(context, options)
	return context, nil
}

// freePageReporting and serialConsoleLog are manager.go's isFreePageReportingEnabled and
// isSerialConsoleLogEnabled, which are not exported.
func freePageReporting(clusterDisabled bool, vmi *v1.VirtualMachineInstance) bool {
	balloon := vmi.Spec.Domain.Devices.AutoattachMemBalloon
	return !clusterDisabled && (balloon == nil || *balloon) && !vmi.IsHighPerformanceVMI() &&
		vmi.GetAnnotations()[v1.FreePageReportingDisabledAnnotation] != "true"
}

func serialConsoleLog(clusterDisabled bool, vmi *v1.VirtualMachineInstance) bool {
	logSerial := vmi.Spec.Domain.Devices.LogSerialConsole
	return (logSerial != nil && *logSerial) || (logSerial == nil && !clusterDisabled)
}
