package libvirt

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// resolveImage finds swImage among libvirt's storage volumes.
func resolveImage(l *golibvirt.Libvirt, ref string) (golibvirt.StorageVol, string, error) {
	var (
		v   golibvirt.StorageVol
		err error
	)
	if pool, vol, ok := strings.Cut(ref, "/"); ok && !strings.HasPrefix(ref, "/") {
		p, perr := l.StoragePoolLookupByName(pool)
		if perr != nil {
			return v, "", perr
		}
		v, err = l.StorageVolLookupByName(p, vol)
	} else {
		v, err = l.StorageVolLookupByPath(ref)
	}
	if err != nil {
		return v, "", err
	}
	path, err := l.StorageVolGetPath(v)
	return v, path, err
}

// diskName is the name of an instance's own disk volume.
func (a *Adapter) diskName(id string) string { return a.DomainName(id) + ".qcow2" }

// instanceDisk returns the path of the instance's own disk: a qcow2 volume in the image's
// pool, backed by the image, created on the first deploy. Guests never write to the shared
// image, so instances of one app can run side by side and the image stays as it was
// onboarded. A redeploy onto another image stops the guest and starts it on a new disk.
func (a *Adapter) instanceDisk(ctx context.Context, l *golibvirt.Libvirt, req *vim.DeployRequest, img golibvirt.StorageVol, imgPath string) (string, error) {
	pool, err := l.StoragePoolLookupByVolume(img)
	if err != nil {
		return "", fmt.Errorf("pool of the image: %w", err)
	}
	name := a.diskName(req.AppInstanceID)
	if v, err := l.StorageVolLookupByName(pool, name); err == nil {
		desc, err := l.StorageVolGetXMLDesc(v, 0)
		if err != nil {
			return "", fmt.Errorf("describe %s: %w", name, err)
		}
		var x struct {
			Backing struct {
				Path string `xml:"path"`
			} `xml:"backingStore"`
		}
		if err := xml.Unmarshal([]byte(desc), &x); err != nil {
			return "", fmt.Errorf("parse %s: %w", name, err)
		}
		if x.Backing.Path == imgPath {
			return l.StorageVolGetPath(v)
		}
		if err := a.Stop(ctx, req.AppInstanceID); err != nil && !errors.Is(err, vim.ErrNotFound) {
			return "", err
		}
		if err := l.StorageVolDelete(v, 0); err != nil {
			return "", fmt.Errorf("delete %s (built on another image): %w", name, err)
		}
	} else if !isCode(err, golibvirt.ErrNoStorageVol) {
		return "", fmt.Errorf("lookup %s: %w", name, err)
	}
	_, capacity, _, err := l.StorageVolGetInfo(img)
	if err != nil {
		return "", fmt.Errorf("image size: %w", err)
	}
	var b strings.Builder
	b.WriteString("<volume><name>")
	xml.EscapeText(&b, []byte(name))
	fmt.Fprintf(&b, "</name><capacity unit='bytes'>%d</capacity><target><format type='qcow2'/></target><backingStore><path>", capacity)
	xml.EscapeText(&b, []byte(imgPath))
	b.WriteString("</path><format type='")
	xml.EscapeText(&b, []byte(orStr(req.Image.DiskFormat, "qcow2")))
	b.WriteString("'/></backingStore></volume>")
	v, err := l.StorageVolCreateXML(pool, b.String(), 0)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	return l.StorageVolGetPath(v)
}

// deleteDisk deletes the instance's own disk volume (see instanceDisk) from whichever
// active pool holds it; none is fine.
func (a *Adapter) deleteDisk(l *golibvirt.Libvirt, id string) error {
	pools, _, err := l.ConnectListAllStoragePools(1, golibvirt.ConnectListStoragePoolsActive)
	if err != nil {
		return err
	}
	for _, p := range pools {
		v, err := l.StorageVolLookupByName(p, a.diskName(id))
		if isCode(err, golibvirt.ErrNoStorageVol) {
			continue
		}
		if err != nil {
			return err
		}
		if err := l.StorageVolDelete(v, 0); err != nil && !isCode(err, golibvirt.ErrNoStorageVol) {
			return err
		}
	}
	return nil
}
