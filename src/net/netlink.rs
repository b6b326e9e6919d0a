//! The few rtnetlink requests the parent sends to move network devices (`rtnetlink(7)`):
//! look a link up by name, list the links and addresses of a namespace, move and rename a
//! link, bring it up, add an address. Only the kernel answers on a `NETLINK_ROUTE` socket, so
//! every request gets its reply (an ack or a dump ending in `NLMSG_DONE`); a reply that does
//! not parse is `EBADMSG`.
//!
//! Parent side only (after clone, before the container is released): plain std code, no
//! heap restrictions. A socket lives in the network namespace of the thread that made it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// From linux/rtnetlink.h, linux/if_link.h and linux/if_addr.h (stable UAPI).
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;
const IFA_F_HOMEADDRESS: u32 = 0x10;
const IFA_F_PERMANENT: u32 = 0x80;
const IFA_F_MANAGETEMPADDR: u32 = 0x100;
const IFA_F_NOPREFIXROUTE: u32 = 0x200;
/// The address flags a caller sets (the others are the kernel's state: tentative, deprecated…).
const IFA_F_SETTABLE: u32 = IFA_F_NODAD | IFA_F_HOMEADDRESS | IFA_F_MANAGETEMPADDR | IFA_F_NOPREFIXROUTE;
const RT_SCOPE_UNIVERSE: u8 = 0;

const HEADER: usize = 16;
const IFINFOMSG: usize = 16;
const IFADDRMSG: usize = 8;

/// A permanent address of global scope, as a dump gave it: what it takes to add it again.
#[derive(Debug, Clone)]
pub(crate) struct Address {
    family: u8,
    prefix_len: u8,
    flags: u32,
    /// `IFA_ADDRESS`, `IFA_LOCAL`, `IFA_BROADCAST` as given.
    attributes: Vec<(u16, Vec<u8>)>,
}

/// A `NETLINK_ROUTE` socket in the network namespace of the thread that opened it.
pub(crate) struct Route {
    socket: OwnedFd,
    seq: u32,
}

impl Route {
    /// A socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Route> {
        // SAFETY: no memory is passed; the fd returned is new.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socket returned a new fd that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // The kernel answers at once; a generous bound, so that a reply never sent (a bug
        // here) fails the spawn with EAGAIN instead of hanging it.
        let timeout = libc::timeval { tv_sec: 10, tv_usec: 0 };
        // SAFETY: a live timeval of the size given.
        let set = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        if set != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Route { socket, seq: 0 })
    }

    /// The index of the link named `name`; `ENODEV` if there is none.
    pub(crate) fn link_index(&mut self, name: &str) -> io::Result<u32> {
        let mut body = ifinfomsg(0, 0, 0);
        attribute(&mut body, IFLA_IFNAME, &nul_terminated(name));
        let replies = self.request(RTM_GETLINK, 0, &body)?;
        replies
            .iter()
            .find_map(|reply| reply.get(4..8).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]])))
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADMSG))
    }

    /// Every link of the namespace, by index and name.
    pub(crate) fn links(&mut self) -> io::Result<Vec<(u32, Vec<u8>)>> {
        let replies = self.request(RTM_GETLINK, libc::NLM_F_DUMP as u16, &ifinfomsg(0, 0, 0))?;
        let mut links = Vec::new();
        for reply in &replies {
            let index = reply
                .get(4..8)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADMSG))?;
            let name = attributes(reply, IFINFOMSG)
                .find(|(kind, _)| *kind == IFLA_IFNAME)
                .map(|(_, value)| value.split(|b| *b == 0).next().unwrap_or_default().to_vec())
                .unwrap_or_default();
            links.push((index, name));
        }
        Ok(links)
    }

    /// The permanent addresses of global scope of link `index`, the ones the runtime spec
    /// keeps across a move.
    pub(crate) fn permanent_addresses(&mut self, index: u32) -> io::Result<Vec<Address>> {
        let mut ask = vec![0u8; IFADDRMSG];
        ask[0] = libc::AF_UNSPEC as u8;
        let replies = self.request(RTM_GETADDR, libc::NLM_F_DUMP as u16, &ask)?;
        let mut out = Vec::new();
        for reply in &replies {
            let Some(head) = reply.get(..IFADDRMSG) else {
                return Err(io::Error::from_raw_os_error(libc::EBADMSG));
            };
            let of_link = u32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
            if of_link != index || head[3] != RT_SCOPE_UNIVERSE {
                continue;
            }
            let mut flags = u32::from(head[2]);
            let mut kept = Vec::new();
            for (kind, value) in attributes(reply, IFADDRMSG) {
                match kind {
                    // The 32-bit flags, when given, hold all of them.
                    IFA_FLAGS if value.len() >= 4 => {
                        flags = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
                    }
                    IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST => kept.push((kind, value.to_vec())),
                    _ => {}
                }
            }
            if flags & IFA_F_PERMANENT != 0 {
                out.push(Address {
                    family: head[0],
                    prefix_len: head[1],
                    flags: flags & IFA_F_SETTABLE,
                    attributes: kept,
                });
            }
        }
        Ok(out)
    }

    /// Moves link `index` into the network namespace behind `netns`, named `name` there (one
    /// request: the kernel renames it once moved; `%d` in `name` is its template).
    pub(crate) fn move_link(&mut self, index: u32, name: &str, netns: &OwnedFd) -> io::Result<()> {
        let mut body = ifinfomsg(index, 0, 0);
        attribute(&mut body, IFLA_IFNAME, &nul_terminated(name));
        attribute(&mut body, IFLA_NET_NS_FD, &(netns.as_raw_fd() as u32).to_ne_bytes());
        self.request(RTM_NEWLINK, 0, &body).map(drop)
    }

    /// Brings link `index` up.
    pub(crate) fn link_up(&mut self, index: u32) -> io::Result<()> {
        let up = libc::IFF_UP as u32;
        self.request(RTM_NEWLINK, 0, &ifinfomsg(index, up, up)).map(drop)
    }

    /// Adds `address` to link `index`.
    pub(crate) fn add_address(&mut self, index: u32, address: &Address) -> io::Result<()> {
        let mut body = vec![
            address.family,
            address.prefix_len,
            address.flags as u8,
            RT_SCOPE_UNIVERSE,
        ];
        body.extend_from_slice(&index.to_ne_bytes());
        for (kind, value) in &address.attributes {
            attribute(&mut body, *kind, value);
        }
        attribute(&mut body, IFA_FLAGS, &address.flags.to_ne_bytes());
        let flags = (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        self.request(RTM_NEWADDR, flags, &body).map(drop)
    }

    /// Sends one request and collects the replies' bodies: until the ack (an error reply
    /// whose code is 0) or, for a dump, `NLMSG_DONE`. An error reply is that errno.
    fn request(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let flags = flags | libc::NLM_F_REQUEST as u16 | libc::NLM_F_ACK as u16;
        let mut message = Vec::with_capacity(HEADER + body.len());
        message.extend_from_slice(&((HEADER + body.len()) as u32).to_ne_bytes());
        message.extend_from_slice(&kind.to_ne_bytes());
        message.extend_from_slice(&flags.to_ne_bytes());
        message.extend_from_slice(&seq.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes());
        message.extend_from_slice(body);
        // SAFETY: a live buffer of its length; sockaddr_nl zeroed is the kernel (pid 0).
        let sent = unsafe {
            let mut kernel: libc::sockaddr_nl = std::mem::zeroed();
            kernel.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.socket.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        // NLM_F_DUMP's bits mean NLM_F_CREATE and NLM_F_EXCL in a new request.
        let dump_bits = libc::NLM_F_DUMP as u16;
        let dump = matches!(kind, RTM_GETLINK | RTM_GETADDR) && flags & dump_bits == dump_bits;
        let mut replies = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: a live, writable buffer of its length.
            let got = unsafe { libc::recv(self.socket.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), 0) };
            if got < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut rest = &buffer[..got as usize];
            while rest.len() >= HEADER {
                let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                if len < HEADER || len > rest.len() {
                    return Err(io::Error::from_raw_os_error(libc::EBADMSG));
                }
                let reply_kind = u16::from_ne_bytes([rest[4], rest[5]]);
                let reply_seq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
                let payload = &rest[HEADER..len];
                rest = &rest[align(len).min(rest.len())..];
                if reply_seq != seq {
                    continue;
                }
                match reply_kind as i32 {
                    libc::NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADMSG))?;
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        // The ack comes after the replies of a plain request; a dump ends
                        // with NLMSG_DONE instead.
                        if !dump {
                            return Ok(replies);
                        }
                    }
                    libc::NLMSG_DONE => return Ok(replies),
                    _ => replies.push(payload.to_vec()),
                }
            }
        }
    }
}

/// An `ifinfomsg` for link `index`: family unspecified, `flags` under `change`.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut body = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    body.extend_from_slice(&index.to_ne_bytes());
    body.extend_from_slice(&flags.to_ne_bytes());
    body.extend_from_slice(&change.to_ne_bytes());
    body
}

/// Appends an attribute, padded to 4 bytes.
fn attribute(body: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    body.extend_from_slice(&(len as u16).to_ne_bytes());
    body.extend_from_slice(&kind.to_ne_bytes());
    body.extend_from_slice(value);
    body.resize(body.len() + align(len) - len, 0);
}

/// The attributes after a reply's fixed header of `fixed` bytes (malformed ones end it).
fn attributes(reply: &[u8], fixed: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = reply.get(align(fixed)..).unwrap_or_default();
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        let value = &rest[4..len];
        rest = &rest[align(len).min(rest.len())..];
        Some((kind, value))
    })
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn nul_terminated(name: &str) -> Vec<u8> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_read_back_and_malformed_ones_end_the_list() {
        let mut body = ifinfomsg(7, 1, 1);
        attribute(&mut body, IFLA_IFNAME, &nul_terminated("eth0"));
        attribute(&mut body, IFLA_NET_NS_FD, &5u32.to_ne_bytes());
        assert_eq!(body.len(), IFINFOMSG + 12 + 8);
        let read: Vec<(u16, Vec<u8>)> = attributes(&body, IFINFOMSG).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(
            read,
            vec![
                (IFLA_IFNAME, b"eth0\0".to_vec()),
                (IFLA_NET_NS_FD, 5u32.to_ne_bytes().to_vec())
            ]
        );
        // A length past the end: nothing more is read, nothing panics.
        let mut bad = ifinfomsg(7, 0, 0);
        bad.extend_from_slice(&200u16.to_ne_bytes());
        bad.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        assert_eq!(attributes(&bad, IFINFOMSG).count(), 0);
        assert_eq!(attributes(&[0u8; 3], IFINFOMSG).count(), 0);
    }
}
