package dataplane

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool UAPI (linux/ethtool.h, linux/sockios.h).
const (
	ethtoolGTXCSUM = 0x16 // ETHTOOL_GTXCSUM: get TX checksum offload
	ethtoolSTXCSUM = 0x17 // ETHTOOL_STXCSUM: set TX checksum offload
	siocEthtool    = 0x8946
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// SetTxChecksum turns TX checksum offload of an interface on or off. With it off, the
// kernel completes partial checksums (CHECKSUM_PARTIAL, as co-located apps send) in software
// when the TC return path redirects a re-encapsulated reply out of that interface.
//
// An interface already in the wanted state is left alone: changing features makes the
// kernel renegotiate them, which an agent restarting under traffic must not cause.
func SetTxChecksum(ifname string, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", ifname)
	}
	ioctl := func(v *ethtoolValue) unix.Errno {
		var ifr ifreqData
		copy(ifr.name[:], ifname)
		ifr.data = unsafe.Pointer(v)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), siocEthtool, uintptr(unsafe.Pointer(&ifr)))
		return errno
	}
	want := uint32(0)
	if on {
		want = 1
	}
	cur := ethtoolValue{cmd: ethtoolGTXCSUM}
	if ioctl(&cur) == 0 && (cur.data != 0) == on {
		return nil
	}
	v := ethtoolValue{cmd: ethtoolSTXCSUM, data: want}
	if errno := ioctl(&v); errno != 0 {
		return fmt.Errorf("ethtool set tx checksum on %s: %w", ifname, errno)
	}
	return nil
}
