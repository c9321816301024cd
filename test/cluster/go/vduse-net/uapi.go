package main

// The kernel's VDUSE uAPI (include/uapi/linux/vduse.h), as Linux 6.12 has it, and the calls on it.
// The structs are encoded by hand into byte slices with their C layout (x86-64); the sizes are
// part of each ioctl number and were checked against the header with sizeof.

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"
)

const (
	vduseBase = 0x81

	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | vduseBase<<8 | nr }

var (
	// On /dev/vduse/control.
	vduseSetAPIVersion = ioc(iocWrite, 0x01, 8)   // _IOW(VDUSE_BASE, 0x01, __u64)
	vduseCreateDev     = ioc(iocWrite, 0x02, 336) // _IOW(VDUSE_BASE, 0x02, struct vduse_dev_config)
	vduseDestroyDev    = ioc(iocWrite, 0x03, 256) // _IOW(VDUSE_BASE, 0x03, char[VDUSE_NAME_MAX])
	// On /dev/vduse/$NAME.
	vduseIotlbGetFd     = ioc(iocRead|iocWrite, 0x10, 32) // struct vduse_iotlb_entry
	vduseDevGetFeatures = ioc(iocRead, 0x11, 8)           // __u64
	vduseVqSetup        = ioc(iocWrite, 0x14, 32)         // struct vduse_vq_config
	vduseVqGetInfo      = ioc(iocRead|iocWrite, 0x15, 48) // struct vduse_vq_info
	vduseVqSetupKickfd  = ioc(iocWrite, 0x16, 8)          // struct vduse_vq_eventfd
	vduseVqInjectIrq    = ioc(iocWrite, 0x17, 4)          // __u32
)

// enum vduse_req_type: the control messages read(2) from /dev/vduse/$NAME.
const (
	reqGetVqState   = 0
	reqSetStatus    = 1
	reqUpdateIotlb  = 2
	requestSize     = 152 // struct vduse_dev_request
	responseSize    = 152 // struct vduse_dev_response
	responseOK      = 0   // VDUSE_REQ_RESULT_OK
	responseFailed  = 1   // VDUSE_REQ_RESULT_FAILED
	accessReadWrite = 3   // VDUSE_ACCESS_RW
)

// Virtio feature bits (include/uapi/linux/virtio_config.h, virtio_net.h) this device knows by name.
var featureNames = map[uint]string{
	0: "CSUM", 1: "GUEST_CSUM", 3: "MTU", 5: "MAC", 15: "MRG_RXBUF", 16: "STATUS", 17: "CTRL_VQ",
	22: "MQ", 28: "RING_INDIRECT_DESC", 29: "RING_EVENT_IDX", 32: "VERSION_1", 33: "ACCESS_PLATFORM",
	34: "RING_PACKED", 35: "IN_ORDER", 52: "NOTF_COAL",
}

const (
	featMTU            = 3
	featMAC            = 5
	featStatus         = 16
	featCtrlVq         = 17
	featVersion1       = 32
	featAccessPlatform = 33
	featRingPacked     = 34
)

// Device status bits (virtio_config.h).
const statusDriverOK = 4

func ioctl(fd int, request uintptr, arg unsafe.Pointer) (uintptr, error) {
	result, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), request, uintptr(arg))
	if errno != 0 {
		return 0, errno
	}
	return result, nil
}

// deviceConfig is struct vduse_dev_config followed by the virtio-net config space.
func deviceConfig(name string, features uint64, vqNum uint32, config []byte) ([]byte, error) {
	if len(name) >= 256 {
		return nil, fmt.Errorf("device name %q: longer than VDUSE_NAME_MAX-1 (255)", name)
	}
	buffer := make([]byte, 336+len(config))
	copy(buffer, name)
	binary.LittleEndian.PutUint32(buffer[256:], 0) // vendor_id
	binary.LittleEndian.PutUint32(buffer[260:], 1) // device_id: VIRTIO_ID_NET
	binary.LittleEndian.PutUint64(buffer[264:], features)
	binary.LittleEndian.PutUint32(buffer[272:], vqNum)
	binary.LittleEndian.PutUint32(buffer[276:], 4096) // vq_align
	binary.LittleEndian.PutUint32(buffer[332:], uint32(len(config)))
	copy(buffer[336:], config)
	return buffer, nil
}

// netConfig is struct virtio_net_config up to supported_hash_types (24 bytes): the MAC the guest
// sees, the link up, the queue pairs and the MTU.
func netConfig(mac [6]byte, queuePairs uint16, mtu uint16) []byte {
	config := make([]byte, 24)
	copy(config, mac[:])
	binary.LittleEndian.PutUint16(config[6:], 1) // status: VIRTIO_NET_S_LINK_UP
	binary.LittleEndian.PutUint16(config[8:], queuePairs)
	binary.LittleEndian.PutUint16(config[10:], mtu)
	return config
}

type vqInfo struct {
	Index      uint32
	Num        uint32
	DescAddr   uint64
	DriverAddr uint64
	DeviceAddr uint64
	AvailIndex uint16 // split.avail_index
	Ready      bool
}

func getVqInfo(fd int, index uint32) (vqInfo, error) {
	var raw [48]byte
	binary.LittleEndian.PutUint32(raw[0:], index)
	if _, err := ioctl(fd, vduseVqGetInfo, unsafe.Pointer(&raw[0])); err != nil {
		return vqInfo{}, err
	}
	return vqInfo{
		Index:      index,
		Num:        binary.LittleEndian.Uint32(raw[4:]),
		DescAddr:   binary.LittleEndian.Uint64(raw[8:]),
		DriverAddr: binary.LittleEndian.Uint64(raw[16:]),
		DeviceAddr: binary.LittleEndian.Uint64(raw[24:]),
		AvailIndex: binary.LittleEndian.Uint16(raw[32:]),
		Ready:      raw[40] != 0,
	}, nil
}

func setupVq(fd int, index uint32, maxSize uint16) error {
	var raw [32]byte
	binary.LittleEndian.PutUint32(raw[0:], index)
	binary.LittleEndian.PutUint16(raw[4:], maxSize)
	_, err := ioctl(fd, vduseVqSetup, unsafe.Pointer(&raw[0]))
	return err
}

func setupKickfd(fd int, index uint32, eventfd int) error {
	var raw [8]byte
	binary.LittleEndian.PutUint32(raw[0:], index)
	binary.LittleEndian.PutUint32(raw[4:], uint32(int32(eventfd)))
	_, err := ioctl(fd, vduseVqSetupKickfd, unsafe.Pointer(&raw[0]))
	return err
}

func injectIrq(fd int, index uint32) error {
	value := index
	_, err := ioctl(fd, vduseVqInjectIrq, unsafe.Pointer(&value))
	return err
}

func driverFeatures(fd int) (uint64, error) {
	var features uint64
	_, err := ioctl(fd, vduseDevGetFeatures, unsafe.Pointer(&features))
	return features, err
}

// iotlbEntry is struct vduse_iotlb_entry: the IOVA range [Start, Last] lives in the returned file at Offset.
type iotlbEntry struct {
	Offset, Start, Last uint64
	Perm                uint8
}

// iotlbGetFd asks for the file behind the IOVA range that holds iova. The kernel answers EINVAL
// when no file is mapped there: in VA mode, vhost_vdpa_va_map hands VDUSE only the guest memory
// that is a shared mapping of a file (drivers/vhost/vdpa.c).
func iotlbGetFd(fd int, iova uint64) (int, iotlbEntry, error) {
	var raw [32]byte
	binary.LittleEndian.PutUint64(raw[8:], iova)
	binary.LittleEndian.PutUint64(raw[16:], iova)
	file, err := ioctl(fd, vduseIotlbGetFd, unsafe.Pointer(&raw[0]))
	if err != nil {
		return -1, iotlbEntry{}, err
	}
	return int(file), iotlbEntry{
		Offset: binary.LittleEndian.Uint64(raw[0:]),
		Start:  binary.LittleEndian.Uint64(raw[8:]),
		Last:   binary.LittleEndian.Uint64(raw[16:]),
		Perm:   raw[24],
	}, nil
}

func eventfd() (int, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}
