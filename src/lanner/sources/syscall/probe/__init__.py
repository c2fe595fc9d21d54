"""Live syscall capture with Lanner's CO-RE eBPF probe."""
