package dataplane

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool UAPI (linux/ethtool.h, linux/sockios.h).
const (
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
func SetTxChecksum(ifname string, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	v := ethtoolValue{cmd: ethtoolSTXCSUM}
	if on {
		v.data = 1
	}
	var ifr ifreqData
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", ifname)
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&v)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), siocEthtool, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return fmt.Errorf("ethtool set tx checksum on %s: %w", ifname, errno)
	}
	return nil
}
