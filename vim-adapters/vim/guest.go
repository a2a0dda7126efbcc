package vim

import "context"

// ReasonGuestStarting is the Reason.Code of a Pending status whose workload the hypervisor
// runs while its guest has not yet shown that it is up (a VM without a guest agent).
const ReasonGuestStarting = "GuestStarting"

// WaitingForGuest reports whether s is Pending only because the guest has not shown that it
// is up (ReasonGuestStarting).
func (s Status) WaitingForGuest() bool {
	return s.Phase == PhasePending && len(s.Reasons) > 0 && s.Reasons[0].Code == ReasonGuestStarting
}

// GuestHeartbeater is implemented by a VIM whose Running waits for a sign of life from the
// guest that the hypervisor cannot see by itself (libvirt without the QEMU guest agent).
// Until it gets one, such a VIM reports Pending with ReasonGuestStarting.
//
// Who calls it: the MEO, while it waits for Running, when the site's MEP reports the
// instance READY over Mm5 (the app called confirm_ready on Mp1). An app that reached the MEP
// runs in a guest that is up; the MEP itself never talks to the VIM.
type GuestHeartbeater interface {
	// GuestHeartbeat records that the guest of the instance is up. It fails with an error
	// matching ErrNotFound for an unknown instance and ErrConflict when its workload is not
	// running.
	GuestHeartbeat(ctx context.Context, appInstanceID string) error
}
