package libvirt

import (
	"errors"
	"net"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// wrap classifies a libvirt error.
func wrap(op, id string, err error, detail string) error {
	if err == nil {
		return nil
	}
	var ve *vim.Error
	if errors.As(err, &ve) {
		return err
	}
	sentinel := vim.ErrFailed
	var le golibvirt.Error
	var ne net.Error
	switch {
	case errors.As(err, &le):
		switch golibvirt.ErrorNumber(le.Code) {
		case golibvirt.ErrNoDomain:
			sentinel = vim.ErrNotFound
		case golibvirt.ErrNoStorageVol, golibvirt.ErrNoStoragePool:
			sentinel = vim.ErrImageMissing
		case golibvirt.ErrAuthFailed, golibvirt.ErrAccessDenied, golibvirt.ErrOperationDenied:
			sentinel = vim.ErrForbidden
		case golibvirt.ErrXMLError, golibvirt.ErrXMLDetail, golibvirt.ErrInvalidArg, golibvirt.ErrConfigUnsupported:
			sentinel = vim.ErrInvalid
		case golibvirt.ErrDomExist, golibvirt.ErrOperationInvalid:
			sentinel = vim.ErrConflict
		}
	case errors.Is(err, golibvirt.ErrInterrupted), errors.As(err, &ne):
		sentinel = vim.ErrUnavailable
	}
	return &vim.Error{Op: op, AppInstanceID: id, Err: sentinel, Detail: detail, Cause: err}
}

func isCode(err error, code golibvirt.ErrorNumber) bool {
	var le golibvirt.Error
	return errors.As(err, &le) && golibvirt.ErrorNumber(le.Code) == code
}
