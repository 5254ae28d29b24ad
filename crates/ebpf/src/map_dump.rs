//! Reading a whole BPF map in one `read()` through an iterator program bound
//! to it (Linux 5.9+): every live socket record out of the socket-local
//! storage map (`iter/bpf_sk_storage_map`), which the usual map syscalls
//! cannot walk, and every entry of a hash map (`iter/bpf_map_elem`), which
//! they walk at two syscalls an entry. aya 0.14 can attach iterators only
//! without a target map, so the two syscalls that bind an iterator to a map
//! (`BPF_LINK_CREATE` with `iter_info`, then `BPF_ITER_CREATE`) are made here
//! by hand. The same link-and-walk calls serve the socket iterators
//! (`iter/tcp`, `iter/udp`), which are bound to no map.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_TRACE_ITER: u32 = 28;

/// `union bpf_attr` as used by the two commands; large enough for both and
/// zero-filled, as the kernel requires of unused bytes.
#[repr(C, align(8))]
struct BpfAttr([u8; 64]);

/// `union bpf_iter_link_info` with only `map.map_fd` set.
#[repr(C, align(8))]
struct IterLinkInfo {
    map_fd: u32,
    _rest: [u32; 3],
}

fn sys_bpf(cmd: libc::c_long, attr: &mut BpfAttr) -> io::Result<OwnedFd> {
    // SAFETY: attr points to a valid, initialised 64-byte buffer whose size
    // is passed along; the kernel writes nothing back for these commands.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut BpfAttr,
            std::mem::size_of::<BpfAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success both commands return a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// An iterator program's link: each [`IterLink::open`] starts one walk.
#[derive(Debug)]
pub struct IterLink {
    link: OwnedFd,
}

impl IterLink {
    /// Links the loaded iterator program `prog`, bound to the map `map` for
    /// map iterators, unbound (`None`) for the others (`iter/tcp`, ...).
    pub fn attach(prog: BorrowedFd<'_>, map: Option<BorrowedFd<'_>>) -> io::Result<Self> {
        let info = IterLinkInfo {
            map_fd: map.map(|m| m.as_raw_fd() as u32).unwrap_or(0),
            _rest: [0; 3],
        };
        let mut attr = BpfAttr([0; 64]);
        attr.0[0..4].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
        // target_fd (4..8) and flags (12..16) stay zero.
        attr.0[8..12].copy_from_slice(&BPF_TRACE_ITER.to_ne_bytes());
        if map.is_some() {
            attr.0[16..24].copy_from_slice(&(&info as *const IterLinkInfo as u64).to_ne_bytes());
            attr.0[24..28]
                .copy_from_slice(&(std::mem::size_of::<IterLinkInfo>() as u32).to_ne_bytes());
        }
        Ok(IterLink {
            link: sys_bpf(BPF_LINK_CREATE, &mut attr)?,
        })
    }

    /// Starts one walk (`BPF_ITER_CREATE`). A socket iterator walks the
    /// network namespace of the thread calling this; the walk itself runs
    /// when the file is read, from any thread.
    pub fn open(&self) -> io::Result<File> {
        let mut attr = BpfAttr([0; 64]);
        attr.0[0..4].copy_from_slice(&(self.link.as_raw_fd() as u32).to_ne_bytes());
        Ok(File::from(sys_bpf(BPF_ITER_CREATE, &mut attr)?))
    }
}

/// Appends everything a walk writes to `buf`.
pub fn read_walk(mut walk: File, buf: &mut Vec<u8>) -> io::Result<()> {
    loop {
        match walk.read_to_end(buf) {
            Ok(_) => return Ok(()),
            // The kernel restarts a walk that raced with a map change.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// An iterator program attached to one map.
#[derive(Debug)]
pub struct MapDump {
    link: IterLink,
    buf: Vec<u8>,
}

impl MapDump {
    /// A dump through `link`, an iterator program bound to a map.
    pub fn new(link: IterLink) -> Self {
        MapDump {
            link,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Runs the iterator once and returns everything it wrote: one record
    /// per entry alive now.
    pub fn read_all(&mut self) -> io::Result<&[u8]> {
        self.buf.clear();
        read_walk(self.link.open()?, &mut self.buf)?;
        Ok(&self.buf)
    }
}
