# shellcheck shell=bash
# 21-libvirt.sh (sourced by test/run.sh) starts a private libvirtd (test/testbed/libvirt.sh)
# for the libvirt adapter's tests and exports its socket as EDGEMEC_LIBVIRT_SOCK.
lv_dir=${TEST_WORK:-/tmp}/libvirt
EDGEMEC_LIBVIRT_SOCK=$(bash test/testbed/libvirt.sh up "$lv_dir" | tail -n 1)
export EDGEMEC_LIBVIRT_SOCK
defer_cleanup "bash '$(pwd)/test/testbed/libvirt.sh' down '$lv_dir'"
unset lv_dir
