package main

// Split virtqueues (the virtio 1.x spec, 2.7): the descriptor table, the available ring the driver
// fills and the used ring the device fills, all in guest memory. Queue 2n receives (the device
// writes frames into the guest's buffers), queue 2n+1 transmits.

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

const (
	descNext  = 1
	descWrite = 2
	// VRING_AVAIL_F_NO_INTERRUPT: the driver asks for no interrupt.
	availNoInterrupt = 1
	// struct virtio_net_hdr_v1: 12 bytes with VIRTIO_F_VERSION_1, whatever else is negotiated.
	netHeaderSize = 12
)

type queue struct {
	index     uint32
	maxSize   uint16
	info      vqInfo
	lastAvail uint16
	usedIdx   uint16
	running   bool
	kick      int
	done      chan struct{}
	frames    uint64
	bytes     uint64
}

func (q *queue) role() string {
	if q.index%2 == 0 {
		return "rx"
	}
	return "tx"
}

type segment struct {
	data  []byte
	write bool
}

// rings are the queue's three areas, reached through the IOTLB.
type rings struct {
	desc, avail, used []byte
}

func (d *device) rings(q *queue) (rings, bool) {
	num := uint64(q.info.Num)
	areas := []struct {
		what   string
		iova   uint64
		length uint64
	}{
		{"descriptor table", q.info.DescAddr, 16 * num},
		{"available ring", q.info.DriverAddr, 6 + 2*num},
		{"used ring", q.info.DeviceAddr, 6 + 8*num},
	}
	found := make([][]byte, len(areas))
	for index, area := range areas {
		data, err := d.mem.slice(area.iova, area.length)
		if err != nil {
			d.unreachable(q, area.what, area.iova, err)
			return rings{}, false
		}
		found[index] = data
	}
	return rings{desc: found[0], avail: found[1], used: found[2]}, true
}

func word(data []byte) *uint32 { return (*uint32)(unsafe.Pointer(&data[0])) }

// availIdx is the driver's avail->idx; the load orders the reads of the ring entries after it.
func (r rings) availIdx() uint16   { return uint16(atomic.LoadUint32(word(r.avail)) >> 16) }
func (r rings) availFlags() uint16 { return uint16(atomic.LoadUint32(word(r.avail))) }

// chain is the descriptor chain that starts at head, each buffer reached through the IOTLB.
func (d *device) chain(q *queue, r rings, head uint16) ([]segment, error) {
	var segments []segment
	index := head
	for count := uint32(0); ; count++ {
		if count >= q.info.Num || uint32(index) >= q.info.Num {
			return nil, fmt.Errorf("queue %d: descriptor chain from %d is malformed", q.index, head)
		}
		entry := r.desc[16*uint32(index):]
		addr := binary.LittleEndian.Uint64(entry[0:])
		length := binary.LittleEndian.Uint32(entry[8:])
		flags := binary.LittleEndian.Uint16(entry[12:])
		data, err := d.mem.slice(addr, uint64(length))
		if err != nil {
			d.unreachable(q, "buffer", addr, err)
			return nil, err
		}
		segments = append(segments, segment{data: data, write: flags&descWrite != 0})
		if flags&descNext == 0 {
			return segments, nil
		}
		index = binary.LittleEndian.Uint16(entry[14:])
	}
}

// pushUsed returns a chain to the driver; the store of used->idx publishes the element.
func (q *queue) pushUsed(r rings, head uint16, written uint32) {
	element := r.used[4+8*(uint32(q.usedIdx)%q.info.Num):]
	binary.LittleEndian.PutUint32(element[0:], uint32(head))
	binary.LittleEndian.PutUint32(element[4:], written)
	q.usedIdx++
	atomic.StoreUint32(word(r.used), uint32(q.usedIdx)<<16) // used->flags 0, used->idx
}

// serviceTx takes every frame the guest has made available, answers what it can, and returns the
// chains. It reports whether the driver wants an interrupt.
func (d *device) serviceTx(q *queue) {
	r, ok := d.rings(q)
	if !ok {
		return
	}
	returned := false
	for q.lastAvail != r.availIdx() {
		head := binary.LittleEndian.Uint16(r.avail[4+2*(uint32(q.lastAvail)%q.info.Num):])
		q.lastAvail++
		segments, err := d.chain(q, r, head)
		if err == nil {
			var frame []byte
			for _, segment := range segments {
				if !segment.write {
					frame = append(frame, segment.data...)
				}
			}
			if len(frame) >= netHeaderSize {
				q.frames++
				q.bytes += uint64(len(frame) - netHeaderSize)
				d.received(frame[netHeaderSize:])
			}
		}
		q.pushUsed(r, head, 0)
		returned = true
	}
	if returned && r.availFlags()&availNoInterrupt == 0 {
		d.interrupt(q)
	}
}

// serviceRx writes pending replies into the buffers the guest has made available.
func (d *device) serviceRx(q *queue) {
	if len(d.pending) == 0 {
		return
	}
	r, ok := d.rings(q)
	if !ok {
		return
	}
	delivered := false
	for len(d.pending) > 0 && q.lastAvail != r.availIdx() {
		head := binary.LittleEndian.Uint16(r.avail[4+2*(uint32(q.lastAvail)%q.info.Num):])
		q.lastAvail++
		frame := d.pending[0]
		d.pending = d.pending[1:]
		segments, err := d.chain(q, r, head)
		if err != nil {
			q.pushUsed(r, head, 0)
			continue
		}
		packet := make([]byte, netHeaderSize+len(frame))
		binary.LittleEndian.PutUint16(packet[10:], 1) // num_buffers
		copy(packet[netHeaderSize:], frame)
		written := 0
		for _, segment := range segments {
			if segment.write && written < len(packet) {
				written += copy(segment.data, packet[written:])
			}
		}
		if written < len(packet) {
			d.report.RxTruncated++
		}
		q.frames++
		q.bytes += uint64(len(frame))
		q.pushUsed(r, head, uint32(written))
		delivered = true
	}
	if delivered && r.availFlags()&availNoInterrupt == 0 {
		d.interrupt(q)
	}
}
