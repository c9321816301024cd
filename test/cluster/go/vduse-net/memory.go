package main

// Guest memory as the device reaches it: through the kernel's IOTLB. For an IOVA, VDUSE_IOTLB_GET_FD
// gives the file (and the range of it) that the guest's memory there is a shared mapping of; the
// device maps that file and reads and writes the rings and buffers in place
// (drivers/vdpa/vdpa_user/vduse_dev.c, vduse_dev_ioctl). A VDUSE_UPDATE_IOTLB message drops what it
// covers.

import (
	"fmt"
	"syscall"
)

type mapping struct {
	start, last uint64
	data        []byte
}

type memory struct {
	dev      int
	mappings []mapping
}

// slice is guest memory [iova, iova+length), within one mapping of one file.
func (m *memory) slice(iova uint64, length uint64) ([]byte, error) {
	if length == 0 {
		return nil, nil
	}
	last := iova + length - 1
	for _, mapped := range m.mappings {
		if iova >= mapped.start && last <= mapped.last {
			return mapped.data[iova-mapped.start : iova-mapped.start+length], nil
		}
	}
	file, entry, err := iotlbGetFd(m.dev, iova)
	if err != nil {
		return nil, fmt.Errorf("VDUSE_IOTLB_GET_FD: %w", err)
	}
	defer syscall.Close(file)
	if last > entry.Last {
		return nil, fmt.Errorf("the range 0x%x-0x%x crosses the end of its IOTLB entry (0x%x-0x%x)", iova, last, entry.Start, entry.Last)
	}
	prot := syscall.PROT_READ
	if entry.Perm&2 != 0 {
		prot |= syscall.PROT_WRITE
	}
	data, err := syscall.Mmap(file, int64(entry.Offset), int(entry.Last-entry.Start+1), prot, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap of the IOTLB entry 0x%x-0x%x (offset 0x%x): %w", entry.Start, entry.Last, entry.Offset, err)
	}
	m.mappings = append(m.mappings, mapping{start: entry.Start, last: entry.Last, data: data})
	return data[iova-entry.Start : iova-entry.Start+length], nil
}

// invalidate unmaps every mapping that overlaps [start, last].
func (m *memory) invalidate(start, last uint64) {
	kept := m.mappings[:0]
	for _, mapped := range m.mappings {
		if mapped.last < start || mapped.start > last {
			kept = append(kept, mapped)
			continue
		}
		_ = syscall.Munmap(mapped.data)
	}
	m.mappings = kept
}
