package libvirt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The Mp1 client secret reaches the guest as the systemd credential
// edgemec.mp1.client-secret, read from a file through QEMU's fw_cfg
// (opt/io.systemd.credentials/…), not from an SMBIOS OEM string: OEM strings are on the QEMU
// command line, which every user of the host can read in /proc, and in the read-only domain
// XML. The file is Config.CredentialDir/<domain>.client-secret, mode 0600 in a 0700
// directory, written by Deploy and removed by Terminate; the command line and the XML only
// name it. The other Mp1 settings (endpoint, instance id, client id) are not secret and stay
// in the OEM strings.
const (
	credSecretName = "edgemec.mp1.client-secret"
	fwcfgCredPath  = "opt/io.systemd.credentials/" + credSecretName
)

// credentialPath is where the client secret file of instance id goes, or "" when secrets go
// into SMBIOS (Config.SMBIOSCredentials).
func (a *Adapter) credentialPath(id string) string {
	if a.cfg.SMBIOSCredentials {
		return ""
	}
	return filepath.Join(a.cfg.CredentialDir, a.DomainName(id)+".client-secret")
}

// writeCredential writes secret to path with mode 0600, replacing the file atomically.
func writeCredential(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("credential dir: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".cred-*")
	if err != nil {
		return fmt.Errorf("credential file: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("credential file: %w", err)
	}
	if _, err := f.WriteString(secret); err != nil {
		f.Close()
		return fmt.Errorf("credential file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("credential file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("credential file: %w", err)
	}
	return nil
}

// removeCredential removes the client secret file of instance id, if any.
func (a *Adapter) removeCredential(id string) error {
	p := a.credentialPath(id)
	if p == "" {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove credential: %w", err)
	}
	return nil
}
