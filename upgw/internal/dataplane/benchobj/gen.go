package benchobj

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel bench ../../../bpf/bench.c -- -I../../../bpf
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -DUPGW_NO_TRACE" -target bpfel benchNoTrace ../../../bpf/bench.c -- -I../../../bpf
