package main

// The far end of the link: ARP replies and ICMP echo replies for one IPv4 address, nothing else.

import "encoding/binary"

const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
)

// responder answers for ip with mac.
type responder struct {
	mac [6]byte
	ip  [4]byte
}

// answer is the reply to an Ethernet frame the guest sent, or nil; kind names what the frame was.
func (r *responder) answer(frame []byte) (reply []byte, kind string) {
	if len(frame) < 14 {
		return nil, "runt"
	}
	switch binary.BigEndian.Uint16(frame[12:]) {
	case etherTypeARP:
		return r.arp(frame), "arp"
	case etherTypeIPv4:
		return r.echo(frame)
	case etherTypeIPv6:
		return nil, "ipv6"
	default:
		return nil, "other"
	}
}

func (r *responder) arp(frame []byte) []byte {
	body := frame[14:]
	// Ethernet/IPv4 request (op 1) for our address.
	if len(body) < 28 || binary.BigEndian.Uint16(body[0:]) != 1 || binary.BigEndian.Uint16(body[2:]) != etherTypeIPv4 ||
		body[4] != 6 || body[5] != 4 || binary.BigEndian.Uint16(body[6:]) != 1 || [4]byte(body[24:28]) != r.ip {
		return nil
	}
	reply := make([]byte, 42)
	copy(reply[0:6], body[8:14]) // to the asker's hardware address
	copy(reply[6:12], r.mac[:])
	binary.BigEndian.PutUint16(reply[12:], etherTypeARP)
	copy(reply[14:20], body[0:6]) // htype, ptype, hlen, plen
	binary.BigEndian.PutUint16(reply[20:], 2)
	copy(reply[22:28], r.mac[:])
	copy(reply[28:32], r.ip[:])
	copy(reply[32:38], body[8:14])
	copy(reply[38:42], body[14:18])
	return reply
}

func (r *responder) echo(frame []byte) ([]byte, string) {
	packet := frame[14:]
	if len(packet) < 20 || packet[0]>>4 != 4 {
		return nil, "ipv4"
	}
	headerLength := int(packet[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(packet[2:]))
	if headerLength < 20 || total < headerLength+8 || total > len(packet) || packet[9] != 1 || [4]byte(packet[16:20]) != r.ip {
		return nil, "ipv4"
	}
	if packet[headerLength] != 8 { // not an echo request
		return nil, "icmp"
	}
	reply := make([]byte, 14+total)
	copy(reply[0:6], frame[6:12])
	copy(reply[6:12], r.mac[:])
	binary.BigEndian.PutUint16(reply[12:], etherTypeIPv4)
	ip := reply[14:]
	copy(ip, packet[:total])
	copy(ip[12:16], packet[16:20])
	copy(ip[16:20], packet[12:16])
	ip[8] = 64
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:headerLength]))
	icmp := ip[headerLength:total]
	icmp[0] = 0 // echo reply
	binary.BigEndian.PutUint16(icmp[2:], 0)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return reply, "icmp-echo"
}

// checksum is the Internet checksum (RFC 1071).
func checksum(data []byte) uint16 {
	var sum uint32
	for index := 0; index+1 < len(data); index += 2 {
		sum += uint32(binary.BigEndian.Uint16(data[index:]))
	}
	if len(data)%2 == 1 {
		sum += uint32(data[len(data)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
