#!/usr/bin/env python3
"""Attach pinned tp_btf programs and pin the resulting links (bpftool 7.1 has no
`loadall ... autoattach`; loading stays with bpftool, only the attach is here).

usage: tpbtf_attach.py PROG_PIN LINK_PIN [PROG_PIN LINK_PIN ...]

For each pair: BPF_OBJ_GET(PROG_PIN) -> prog fd; BPF_RAW_TRACEPOINT_OPEN with
name = NULL (tp_btf: the attach point is the program's attach_btf_id, fixed at
load) -> link fd; BPF_OBJ_PIN(link fd, LINK_PIN). Removing the pins detaches.
Standard library only (ctypes syscall)."""
import ctypes
import os
import sys

SYS_bpf = 321  # x86_64
BPF_OBJ_PIN, BPF_OBJ_GET, BPF_RAW_TRACEPOINT_OPEN = 6, 7, 17

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class ObjAttr(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32),
                ("file_flags", ctypes.c_uint32), ("path_fd", ctypes.c_int32),
                ("_pad", ctypes.c_uint32)]


class RawTpAttr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_uint64), ("prog_fd", ctypes.c_uint32),
                ("_pad", ctypes.c_uint32), ("cookie", ctypes.c_uint64)]


def bpf(cmd, attr):
    r = libc.syscall(SYS_bpf, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf cmd {cmd}: {os.strerror(e)}")
    return r


def main(args):
    if len(args) < 2 or len(args) % 2:
        sys.exit(__doc__)
    for prog_pin, link_pin in zip(args[0::2], args[1::2]):
        p = ctypes.create_string_buffer(prog_pin.encode())
        prog_fd = bpf(BPF_OBJ_GET, ObjAttr(pathname=ctypes.addressof(p)))
        link_fd = bpf(BPF_RAW_TRACEPOINT_OPEN, RawTpAttr(name=0, prog_fd=prog_fd))
        lp = ctypes.create_string_buffer(link_pin.encode())
        bpf(BPF_OBJ_PIN, ObjAttr(pathname=ctypes.addressof(lp), bpf_fd=link_fd))
        os.close(link_fd)
        os.close(prog_fd)


if __name__ == "__main__":
    main(sys.argv[1:])
