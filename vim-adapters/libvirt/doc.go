// Package libvirt is the VIM adapter for VM sites managed by libvirt, over libvirt's RPC
// protocol with a pure-Go client (github.com/digitalocean/go-libvirt; no cgo, no libvirt
// library on the MEO's host).
//
// Each app instance is one persistent domain named "<prefix><appInstanceId>":
//   - vCPUs and memory come from the virtualComputeDescriptor (numVirtualCpu rounded up;
//     virtualMemSize in MiB, at least swImage's minRam);
//   - the boot disk is swImage, which must be a volume libvirt knows (an absolute path of a
//     volume in one of its storage pools, or "pool/volume"); a missing volume is
//     vim.ErrImageMissing, reported before anything is defined;
//   - the MEP access reaches the guest as systemd credentials in SMBIOS OEM strings
//     (io.systemd.credential:edgemec.mp1.*), readable in the guest with systemd-creds or
//     dmidecode;
//   - the instance and AppD ids are in the domain's <metadata>;
//   - a request larger than the host (NodeGetInfo) is vim.ErrUnschedulable.
//
// Start is DomainCreate, Stop a graceful shutdown (destroy after ShutdownGrace), Terminate
// destroys and undefines. Status maps the domain state; endpoints are the guest's addresses
// from DHCP leases. Watch follows libvirt's domain lifecycle events.
package libvirt
