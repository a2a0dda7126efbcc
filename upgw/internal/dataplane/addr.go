package dataplane

import "encoding/binary"

// nativeWord loads 4 network-order bytes as the uint32 the C side sees when it loads the
// same bytes from the packet (a host-order load of network-order data).
func nativeWord(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

func putNativeWord(b []byte, w uint32) { binary.NativeEndian.PutUint32(b, w) }
