package controlapi

import (
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

func sessionView(e dataplane.SessionEntry) upgwapi.Session {
	return upgwapi.Session{
		UeAddress:  e.UE.String(),
		GnbAddress: dataplane.AddrTo(e.Gnb).String(),
		UpfAddress: dataplane.AddrTo(e.Upf).String(),
		Teid:       int64(e.Teid),
		Qfi:        int(e.Qfi),
		Learned:    int64(e.Learned),
	}
}
