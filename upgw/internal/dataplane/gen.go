package dataplane

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type upgw_match -type upgw_prefix -type upgw_addr -type upgw_cands -type upgw_host -type upgw_lpm_key -type upgw_target -type upgw_session -type upgw_config -type upgw_counter -type upgw_meta -type upgw_stat -type upgw_action -type upgw_field -type upgw_trace_cfg -type upgw_trace_event -type upgw_trace_bucket -type upgw_trace_select -type upgw_trace_prog -type upgw_trace_stat upgw ../../bpf/upgw.c -- -I../../bpf
