// vduse-net is a VDUSE virtio-net device for the datapath tests, test infrastructure only. It stands
// where OVS-DPDK's VDUSE port stands on a node: it creates the device through /dev/vduse/control
// (Linux's VDUSE uAPI, include/uapi/linux/vduse.h; drivers/vdpa/vdpa_user/vduse_dev.c), serves
// the control messages the kernel sends, and moves frames on the guest's split virtqueues, reaching
// guest memory through VDUSE_IOTLB_GET_FD and mmap. It answers ARP and ICMP echo for one IPv4
// address and nothing else.
//
// It keeps a JSON report (-report, rewritten as things happen and on SIGTERM): the features offered
// and negotiated, each queue's size and frame count, the replies, and every piece of guest memory
// it could not reach (descriptor tables, rings, buffers), with the kernel's error.
//
// Creation with a feature the kernel refuses (-features with CTRL_VQ, say) fails with the
// kernel's error in the report and exit status 1.
//
// Usage: vduse-net -name vduse0 -mac 02:00:00:aa:bb:cc -ip 169.254.100.1 -report /tmp/r.json
// Once the device and its queues exist it prints "ready"; then `vdpa dev add name vduse0 mgmtdev vduse`.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

type queueReport struct {
	Index   uint32 `json:"index"`
	Role    string `json:"role"`
	MaxSize uint16 `json:"maxSize"`
	// Size is the ring size the driver set at its last DRIVER_OK (VDUSE_VQ_GET_INFO num), 0 before.
	Size   uint32 `json:"size"`
	Ready  bool   `json:"ready"`
	Frames uint64 `json:"frames"`
	Bytes  uint64 `json:"bytes"`
}

type unreachable struct {
	Queue uint32 `json:"queue"`
	What  string `json:"what"`
	IOVA  string `json:"iova"`
	Error string `json:"error"`
	Times uint64 `json:"times"`
}

type report struct {
	Name               string         `json:"name"`
	Created            bool           `json:"created"`
	CreateError        string         `json:"createError,omitempty"`
	OfferedFeatures    []string       `json:"offeredFeatures"`
	NegotiatedFeatures []string       `json:"negotiatedFeatures"`
	Status             uint8          `json:"status"`
	DriverOK           bool           `json:"driverOk"`
	StatusHistory      []int          `json:"statusHistory"`
	Queues             []queueReport  `json:"queues"`
	Address            string         `json:"address"`
	ARPReplies         uint64         `json:"arpReplies"`
	EchoReplies        uint64         `json:"echoReplies"`
	FramesByKind       map[string]int `json:"framesByKind"`
	RxDropped          uint64         `json:"rxDropped"`
	RxTruncated        uint64         `json:"rxTruncated"`
	// Unreachable lists each distinct piece of guest memory the device could not reach, with how often.
	Unreachable []*unreachable `json:"unreachable"`
	Errors      []string       `json:"errors"`
}

type device struct {
	mu       sync.Mutex
	fd       int
	mem      memory
	queues   []*queue
	status   uint8
	answer   responder
	pending  [][]byte
	report   report
	path     string
	dirty    bool
	features uint64
}

func featureList(bits uint64) []string {
	names := []string{}
	for bit := uint(0); bit < 64; bit++ {
		if bits&(1<<bit) == 0 {
			continue
		}
		if name, known := featureNames[bit]; known {
			names = append(names, name)
		} else {
			names = append(names, "bit"+strconv.Itoa(int(bit)))
		}
	}
	sort.Strings(names)
	return names
}

func parseFeatures(list string) (uint64, error) {
	byName := map[string]uint{}
	for bit, name := range featureNames {
		byName[name] = bit
	}
	var bits uint64
	for _, name := range strings.Split(list, ",") {
		bit, known := byName[strings.TrimSpace(name)]
		if !known {
			return 0, fmt.Errorf("-features: unknown feature %q; expected names from %v", name, featureList(^uint64(0)))
		}
		bits |= 1 << bit
	}
	return bits, nil
}

func (d *device) save() {
	d.report.Status = d.status
	d.report.DriverOK = d.status&statusDriverOK != 0
	d.report.Queues = d.report.Queues[:0]
	for _, q := range d.queues {
		d.report.Queues = append(d.report.Queues, queueReport{Index: q.index, Role: q.role(), MaxSize: q.maxSize, Size: q.info.Num, Ready: q.info.Ready, Frames: q.frames, Bytes: q.bytes})
	}
	text, err := json.MarshalIndent(&d.report, "", "  ")
	if err == nil {
		temporary := d.path + ".partial"
		if err = os.WriteFile(temporary, append(text, '\n'), 0o644); err == nil {
			err = os.Rename(temporary, d.path)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vduse-net: writing the report %s: %v\n", d.path, err)
	}
	d.dirty = false
}

func (d *device) fail(format string, args ...any) {
	message := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "vduse-net:", message)
	d.report.Errors = append(d.report.Errors, message)
	d.dirty = true
}

func (d *device) unreachable(q *queue, what string, iova uint64, err error) {
	d.dirty = true
	iovaText := fmt.Sprintf("0x%x", iova)
	for _, seen := range d.report.Unreachable {
		if seen.Queue == q.index && seen.What == what && seen.IOVA == iovaText {
			seen.Times++
			return
		}
	}
	if len(d.report.Unreachable) < 64 {
		d.report.Unreachable = append(d.report.Unreachable, &unreachable{Queue: q.index, What: what, IOVA: iovaText, Error: err.Error(), Times: 1})
	}
}

func (d *device) interrupt(q *queue) {
	if err := injectIrq(d.fd, q.index); err != nil {
		d.fail("VDUSE_VQ_INJECT_IRQ on queue %d: %v", q.index, err)
	}
}

// received handles a frame the guest sent: a reply goes to the first receive queue.
func (d *device) received(frame []byte) {
	reply, kind := d.answer.answer(frame)
	d.report.FramesByKind[kind]++
	d.dirty = true
	if reply == nil {
		return
	}
	if kind == "arp" {
		d.report.ARPReplies++
	} else {
		d.report.EchoReplies++
	}
	if len(d.pending) >= 256 {
		d.report.RxDropped++
		return
	}
	d.pending = append(d.pending, reply)
}

func (d *device) service(q *queue) {
	if q.role() == "tx" {
		d.serviceTx(q)
	}
	d.serviceRx(d.queues[0])
}

// start begins serving each ready queue at DRIVER_OK: its addresses and size from the kernel, a
// kick eventfd, and a goroutine that services it on every kick.
func (d *device) start() {
	if negotiated, err := driverFeatures(d.fd); err != nil {
		d.fail("VDUSE_DEV_GET_FEATURES: %v", err)
	} else {
		d.report.NegotiatedFeatures = featureList(negotiated)
		d.features = negotiated
	}
	for _, q := range d.queues {
		info, err := getVqInfo(d.fd, q.index)
		if err != nil {
			d.fail("VDUSE_VQ_GET_INFO on queue %d: %v", q.index, err)
			continue
		}
		q.info = info
		q.lastAvail, q.usedIdx = info.AvailIndex, info.AvailIndex
		if !info.Ready || info.Num == 0 {
			continue
		}
		kick, err := eventfd()
		if err == nil {
			err = setupKickfd(d.fd, q.index, kick)
		}
		if err != nil {
			d.fail("kick eventfd for queue %d: %v", q.index, err)
			continue
		}
		q.kick, q.running, q.done = kick, true, make(chan struct{})
		// Each ring is looked up once now, so that the report lists what the device cannot reach
		// even on a queue the guest never kicks.
		d.rings(q)
		go d.serve(q)
	}
	d.dirty = true
}

func (d *device) serve(q *queue) {
	defer close(q.done)
	buffer := make([]byte, 8)
	for {
		d.mu.Lock()
		if !q.running {
			d.mu.Unlock()
			return
		}
		d.service(q)
		d.mu.Unlock()
		if _, err := syscall.Read(q.kick, buffer); err != nil && !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}

// stop ends every queue's service: at reset, or before a new DRIVER_OK. Called with d.mu held.
func (d *device) stop() {
	for _, q := range d.queues {
		if !q.running {
			continue
		}
		q.running = false
		one := make([]byte, 8)
		binary.LittleEndian.PutUint64(one, 1)
		_, _ = syscall.Write(q.kick, one)
		d.mu.Unlock()
		<-q.done
		d.mu.Lock()
		_ = setupKickfd(d.fd, q.index, -1)
		_ = syscall.Close(q.kick)
		// The size stays in the report: what the driver set at its last DRIVER_OK.
		q.info.Ready = false
	}
	d.pending = nil
	d.mem.invalidate(0, ^uint64(0))
}

// handle answers one control message (struct vduse_dev_request) with a struct vduse_dev_response.
func (d *device) handle(request []byte) []byte {
	response := make([]byte, responseSize)
	copy(response[0:4], request[4:8]) // request_id
	kind := binary.LittleEndian.Uint32(request[0:])
	body := request[24:]
	d.mu.Lock()
	defer d.mu.Unlock()
	switch kind {
	case reqGetVqState:
		index := binary.LittleEndian.Uint32(body[0:])
		binary.LittleEndian.PutUint32(response[24:], index)
		if int(index) < len(d.queues) {
			binary.LittleEndian.PutUint16(response[28:], d.queues[index].lastAvail)
		}
	case reqSetStatus:
		status := body[0]
		d.report.StatusHistory = append(d.report.StatusHistory, int(status))
		wasRunning := d.status&statusDriverOK != 0
		if wasRunning && status&statusDriverOK == 0 || status == 0 {
			d.stop()
		}
		d.status = status
		d.dirty = true
	case reqUpdateIotlb:
		d.mem.invalidate(binary.LittleEndian.Uint64(body[0:]), binary.LittleEndian.Uint64(body[8:]))
	default:
		binary.LittleEndian.PutUint32(response[4:], responseFailed)
	}
	return response
}

func main() {
	name := flag.String("name", "vduse0", "the VDUSE device's name (/dev/vduse/NAME, and the vDPA device's for `vdpa dev add`)")
	macText := flag.String("mac", "", "the MAC address in the device's config space, which the guest's NIC takes")
	ipText := flag.String("ip", "169.254.100.1", "the IPv4 address the device answers ARP and ICMP echo for")
	queuePairs := flag.Uint("queue-pairs", 1, "receive/transmit queue pairs")
	maxQueueSize := flag.Uint("max-queue-size", 1024, "each virtqueue's maximum size (VDUSE_VQ_SETUP max_size)")
	featureText := flag.String("features", "VERSION_1,ACCESS_PLATFORM,MAC,STATUS,MTU", "the features offered, by name")
	reportPath := flag.String("report", "", "the JSON report's path (required)")
	flag.Parse()

	fatal := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "vduse-net: "+format+"\n", args...)
		os.Exit(2)
	}
	if *reportPath == "" {
		fatal("-report is required")
	}
	hardware, err := net.ParseMAC(*macText)
	if err != nil || len(hardware) != 6 {
		fatal("-mac %q: expected a 6-byte MAC address such as 02:00:00:aa:bb:cc", *macText)
	}
	address := net.ParseIP(*ipText).To4()
	if address == nil {
		fatal("-ip %q: expected an IPv4 address", *ipText)
	}
	if *queuePairs < 1 || *queuePairs > 0x7fff {
		fatal("-queue-pairs %d: expected 1 to 32767", *queuePairs)
	}
	if *maxQueueSize < 1 || *maxQueueSize > 32768 || *maxQueueSize&(*maxQueueSize-1) != 0 {
		fatal("-max-queue-size %d: expected a power of two up to 32768", *maxQueueSize)
	}
	features, err := parseFeatures(*featureText)
	if err != nil {
		fatal("%v", err)
	}
	// The responder's own MAC: the guest's with the locally administered bit kept and the last byte changed.
	peer := [6]byte(hardware)
	peer[5] ^= 0xff

	d := &device{
		path:   *reportPath,
		answer: responder{mac: peer, ip: [4]byte(address)},
		report: report{Name: *name, OfferedFeatures: featureList(features), Address: address.String(), FramesByKind: map[string]int{}, NegotiatedFeatures: []string{}, StatusHistory: []int{}, Unreachable: []*unreachable{}, Errors: []string{}},
	}
	if err := d.create(*name, features, [6]byte(hardware), uint16(*queuePairs), uint16(*maxQueueSize)); err != nil {
		d.report.CreateError = err.Error()
		d.save()
		fmt.Fprintln(os.Stderr, "vduse-net:", err)
		os.Exit(1)
	}
	d.report.Created = true
	d.save()
	fmt.Println("ready")

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		d.mu.Lock()
		d.save()
		os.Exit(0)
	}()
	go func() {
		for range time.Tick(200 * time.Millisecond) {
			d.mu.Lock()
			if d.dirty {
				d.save()
			}
			d.mu.Unlock()
		}
	}()
	d.loop()
}

func (d *device) create(name string, features uint64, mac [6]byte, queuePairs, maxQueueSize uint16) error {
	control, err := syscall.Open("/dev/vduse/control", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/vduse/control: %w (is the vduse module loaded?)", err)
	}
	defer syscall.Close(control)
	version := uint64(0)
	if _, err := ioctl(control, vduseSetAPIVersion, unsafe.Pointer(&version)); err != nil {
		return fmt.Errorf("VDUSE_SET_API_VERSION 0: %w", err)
	}
	config, err := deviceConfig(name, features, 2*uint32(queuePairs), netConfig(mac, queuePairs, 1500))
	if err != nil {
		return err
	}
	if _, err := ioctl(control, vduseCreateDev, unsafe.Pointer(&config[0])); err != nil {
		return fmt.Errorf("VDUSE_CREATE_DEV %s with features %v: %w", name, featureList(features), err)
	}
	d.fd, err = syscall.Open("/dev/vduse/"+name, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/vduse/%s: %w", name, err)
	}
	d.mem.dev = d.fd
	for index := uint32(0); index < 2*uint32(queuePairs); index++ {
		if err := setupVq(d.fd, index, maxQueueSize); err != nil {
			return fmt.Errorf("VDUSE_VQ_SETUP queue %d max %d: %w", index, maxQueueSize, err)
		}
		d.queues = append(d.queues, &queue{index: index, maxSize: maxQueueSize, info: vqInfo{Index: index}})
	}
	return nil
}

// loop reads the kernel's control messages and answers each; DRIVER_OK starts the queues once the
// kernel has the answer (it injects interrupts only after that).
func (d *device) loop() {
	request := make([]byte, requestSize)
	for {
		n, err := syscall.Read(d.fd, request)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || n != requestSize {
			d.mu.Lock()
			d.fail("reading a control message: %d bytes, %v", n, err)
			d.save()
			d.mu.Unlock()
			os.Exit(1)
		}
		response := d.handle(request)
		if _, err := syscall.Write(d.fd, response); err != nil {
			d.mu.Lock()
			d.fail("answering a control message: %v", err)
			d.mu.Unlock()
		}
		d.mu.Lock()
		if binary.LittleEndian.Uint32(request[0:]) == reqSetStatus && d.status&statusDriverOK != 0 && !anyRunning(d.queues) {
			d.start()
		}
		d.mu.Unlock()
	}
}

func anyRunning(queues []*queue) bool {
	for _, q := range queues {
		if q.running {
			return true
		}
	}
	return false
}
