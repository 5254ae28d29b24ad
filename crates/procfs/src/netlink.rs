//! Splitting a received netlink datagram into its messages (`nlmsghdr` +
//! payload), checking every length before slicing, so a short, truncated or
//! lying datagram yields an error value and never a panic. Shared by the
//! sock_diag reader and the proc connector; it knows nothing of either
//! payload.

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

/// One netlink message within a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetlinkFrame<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub port: u32,
    /// The whole message, header included.
    pub bytes: &'a [u8],
}

impl<'a> NetlinkFrame<'a> {
    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        self.bytes.get(NLMSG_HDRLEN..).unwrap_or(&[])
    }

    /// For an `NLMSG_ERROR` message: the (negative errno, or 0 for an ack) code.
    pub fn error_code(&self) -> Option<i32> {
        read_i32(self.payload(), 0)
    }
}

/// The messages of one datagram, in order. After the first malformed header
/// the iterator yields that error and stops.
pub fn frames(data: &[u8]) -> Frames<'_> {
    Frames {
        data,
        failed: false,
    }
}

pub struct Frames<'a> {
    data: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<NetlinkFrame<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.data.is_empty() {
            return None;
        }
        let data = self.data;
        let len = read_u32(data, 0).map(|l| l as usize);
        let Some(len) = len.filter(|&l| l >= NLMSG_HDRLEN && l <= data.len()) else {
            self.failed = true;
            return Some(Err(format!(
                "netlink message length {len:?} does not fit the {} bytes left",
                data.len()
            )));
        };
        let frame = NetlinkFrame {
            kind: read_u16(data, 4).unwrap_or(0),
            flags: read_u16(data, 6).unwrap_or(0),
            seq: read_u32(data, 8).unwrap_or(0),
            port: read_u32(data, 12).unwrap_or(0),
            bytes: &data[..len],
        };
        let next = len.checked_add(3).map_or(data.len(), |l| l & !3);
        self.data = data.get(next..).unwrap_or(&[]);
        Some(Ok(frame))
    }
}

pub fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub fn read_i32(b: &[u8], at: usize) -> Option<i32> {
    read_u32(b, at).map(|v| v as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn splits_aligned_messages() {
        let mut d = msg(20, 1, &[1, 2, 3]);
        d.extend(msg(NLMSG_DONE, 1, &[0, 0, 0, 0]));
        let f: Vec<_> = frames(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].payload(), &[1, 2, 3]);
        assert_eq!(f[1].kind, NLMSG_DONE);
    }

    #[test]
    fn error_code_and_short_payloads() {
        let d = msg(NLMSG_ERROR, 7, &(-13i32).to_ne_bytes());
        let f = frames(&d).next().unwrap().unwrap();
        assert_eq!(f.error_code(), Some(-13));
        let d = msg(NLMSG_ERROR, 7, &[1]);
        assert_eq!(frames(&d).next().unwrap().unwrap().error_code(), None);
    }

    #[test]
    fn never_panics_on_garbage() {
        let good = msg(20, 1, &[9; 10]);
        for cut in 0..good.len() {
            let _ = frames(&good[..cut]).count();
        }
        let mut lying = good.clone();
        lying[0] = 0xff;
        assert!(frames(&lying).next().unwrap().is_err());
        lying[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(frames(&lying).next().unwrap().is_err());
        lying[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(frames(&lying).count(), 1);
    }
}
