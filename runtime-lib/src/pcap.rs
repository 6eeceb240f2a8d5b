//! Packet capture files: a streaming reader for classic pcap and pcapng, and a classic pcap writer.
//!
//! Invariants:
//! - Only Ethernet captures (link type 1) are accepted; every other link type is an error.
//! - A record's captured length never exceeds [`MAX_CAPLEN`]; a returned record always has
//!   `orig_len >= data.len()` (files with captured > original length are repaired, not rejected).
//! - The reader returns `Ok(false)` only when the file ends exactly on a record/block boundary;
//!   ending anywhere else is an error. After an error the reader's position is unspecified.
//! - Every [`PcapError`] names the file, the byte offset of the header/record/block at fault (or
//!   of the failing read, for I/O errors), and, for errors raised by
//!   [`PcapReader::next_into`], the 1-based index of the packet being sought.
//! - Timestamps are converted to nanoseconds since the epoch; they need not be monotonic.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// Largest captured length accepted or written (matches tcpdump's maximum snaplen).
pub const MAX_CAPLEN: u32 = 262_144;

// pcapng blocks we buffer whole are capped so a corrupt length cannot exhaust memory; blocks we
// skip are streamed and may be any size.
const MAX_BLOCK_LEN: u32 = 16 << 20;
const LINKTYPE_ETHERNET: u32 = 1;
// Magic numbers as they appear in the file: classic pcap in microseconds or nanoseconds, either
// byte order; pcapng's section header block type.
const US_BE: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];
const US_LE: [u8; 4] = [0xd4, 0xc3, 0xb2, 0xa1];
const NS_BE: [u8; 4] = [0xa1, 0xb2, 0x3c, 0x4d];
const NS_LE: [u8; 4] = [0x4d, 0x3c, 0xb2, 0xa1];
const SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
// The section header's type is a palindrome, readable before the byte order is known.
const SHB_TYPE: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const OPT_TSRESOL: u16 = 9;

/// One captured packet; reused between reads so its buffer is allocated once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketRecord {
    /// Capture time in nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// Length of the packet on the wire (at least `data.len()`).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// A failure to read a capture file, located precisely within it.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {}{kind}", Location(*.packet, *.offset))]
pub struct PcapError {
    /// The file name given when the reader was created.
    pub file: String,
    /// 1-based index of the packet being read, if the error happened while reading packets.
    pub packet: Option<u64>,
    /// Byte offset of the header, record or block at fault (of the failed read, for I/O errors).
    pub offset: u64,
    /// What went wrong.
    pub kind: PcapErrorKind,
}

/// The ways a capture file can be unreadable.
#[derive(Debug, thiserror::Error)]
pub enum PcapErrorKind {
    /// The OS refused to open or read the file.
    #[error("I/O error: {0}")]
    Io(io::Error),
    /// The file has no bytes at all.
    #[error("file is empty")]
    Empty,
    /// The file does not start with a pcap or pcapng magic number.
    #[error("not a pcap or pcapng file (starts with {})", hex(.first_bytes))]
    NotPcap {
        /// The file's first (up to four) bytes.
        first_bytes: Vec<u8>,
    },
    /// The file ends inside a file header, record header or pcapng block.
    #[error("truncated: {what} needs {needed} bytes, file ends after {available}")]
    TruncatedHeader {
        /// Which structure was cut short.
        what: &'static str,
        /// Its full size.
        needed: u32,
        /// How many of its bytes the file holds.
        available: u64,
    },
    /// The file ends inside a packet's captured bytes.
    #[error("truncated: record header says {expected} captured bytes, file ends after {available}")]
    TruncatedPacket {
        /// Captured length announced by the record header.
        expected: u32,
        /// Packet bytes actually present.
        available: u64,
    },
    /// The capture is not Ethernet.
    #[error("unsupported link type {0} (only Ethernet, link type 1, is supported)")]
    UnsupportedLinkType(u32),
    /// A record claims more captured bytes than [`MAX_CAPLEN`].
    #[error("captured length {0} exceeds the maximum of {max} bytes", max = MAX_CAPLEN)]
    CapLenTooLarge(u32),
    /// A pcapng block is malformed.
    #[error("malformed pcapng block: {reason}")]
    BadBlock {
        /// What is wrong with it.
        reason: String,
    },
    /// The file format version is not one we understand (pcap 2.x, pcapng 1.x).
    #[error("unsupported format version {major}.{minor}")]
    UnsupportedVersion {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
}

struct Location(Option<u64>, u64);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Location(Some(p), o) => write!(f, "packet {p} at byte {o}: "),
            // The file header's problems are at the start; "at byte 0" would only add noise.
            Location(None, 0) => Ok(()),
            Location(None, o) => write!(f, "at byte {o}: "),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

fn rd16(be: bool, b: &[u8]) -> u16 {
    let a = [b[0], b[1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn rd32(be: bool, b: &[u8]) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn bad(reason: impl Into<String>) -> PcapErrorKind {
    PcapErrorKind::BadBlock { reason: reason.into() }
}

struct Iface {
    snaplen: u32,
    /// Timestamp units per second (10^n or 2^n, from `if_tsresol`).
    units: u128,
}

enum Format {
    Classic { be: bool, nanos: bool },
    Ng { be: bool, ifaces: Vec<Iface> },
}

/// Streaming reader of classic pcap and pcapng Ethernet captures.
pub struct PcapReader<R: Read> {
    inner: R,
    name: String,
    pos: u64,
    packets: u64,
    seeking: Option<u64>,
    format: Format,
    buf: Vec<u8>,
}

impl PcapReader<BufReader<File>> {
    /// Opens `path` and reads its file header.
    pub fn open(path: &Path) -> Result<Self, PcapError> {
        let name = path.display().to_string();
        match File::open(path) {
            Ok(f) => Self::new(BufReader::with_capacity(1 << 16, f), name),
            Err(e) => Err(PcapError { file: name, packet: None, offset: 0, kind: PcapErrorKind::Io(e) }),
        }
    }
}

impl<R: Read> PcapReader<R> {
    /// Reads the file header from `reader`; `name` identifies the file in errors.
    pub fn new(reader: R, name: impl Into<String>) -> Result<Self, PcapError> {
        let mut r = PcapReader {
            inner: reader,
            name: name.into(),
            pos: 0,
            packets: 0,
            seeking: None,
            format: Format::Classic { be: false, nanos: false },
            buf: Vec::new(),
        };
        let mut magic = [0u8; 4];
        let n = r.read_some(&mut magic)?;
        let (be, nanos) = match magic {
            _ if n == 0 => return Err(r.err(0, PcapErrorKind::Empty)),
            US_BE => (true, false),
            US_LE => (false, false),
            NS_BE => (true, true),
            NS_LE => (false, true),
            SHB => {
                let mut len = [0u8; 4];
                let k = r.read_some(&mut len)?;
                if k < 4 {
                    return Err(r.truncated(0, "pcapng section header block", 28, 4 + k));
                }
                r.read_shb(0, len)?;
                return Ok(r);
            }
            _ => {
                // A file shorter than a magic number is truncated if it could still have been one.
                if n < 4 && [US_BE, US_LE, NS_BE, NS_LE, SHB].iter().any(|m| m[..n] == magic[..n]) {
                    let needed = if magic[0] == SHB[0] { 28 } else { 24 };
                    return Err(r.truncated(0, "file header", needed, n));
                }
                return Err(r.err(0, PcapErrorKind::NotPcap { first_bytes: magic[..n].to_vec() }));
            }
        };
        let mut h = [0u8; 20];
        let k = r.read_some(&mut h)?;
        if k < 20 {
            return Err(r.truncated(0, "pcap file header", 24, 4 + k));
        }
        let (major, minor) = (rd16(be, &h[0..]), rd16(be, &h[2..]));
        if major != 2 {
            return Err(r.err(0, PcapErrorKind::UnsupportedVersion { major, minor }));
        }
        // The upper 16 bits carry FCS metadata, not the link type.
        let link = rd32(be, &h[16..]) & 0xffff;
        if link != LINKTYPE_ETHERNET {
            return Err(r.err(0, PcapErrorKind::UnsupportedLinkType(link)));
        }
        r.format = Format::Classic { be, nanos };
        Ok(r)
    }

    /// Reads the next packet into `rec`, returns Ok(false) at a clean end of file.
    pub fn next_into(&mut self, rec: &mut PacketRecord) -> Result<bool, PcapError> {
        self.seeking = Some(self.packets + 1);
        let got = match self.format {
            Format::Classic { be, nanos } => self.next_classic(rec, be, nanos)?,
            Format::Ng { .. } => self.next_ng(rec)?,
        };
        if got {
            self.packets += 1;
            rec.orig_len = rec.orig_len.max(rec.data.len() as u32);
        }
        Ok(got)
    }

    /// Number of packets returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    fn err(&self, offset: u64, kind: PcapErrorKind) -> PcapError {
        PcapError { file: self.name.clone(), packet: self.seeking, offset, kind }
    }

    fn truncated(&self, offset: u64, what: &'static str, needed: u32, available: usize) -> PcapError {
        self.err(offset, PcapErrorKind::TruncatedHeader { what, needed, available: available as u64 })
    }

    /// Fills `buf` unless the file ends first; returns how many bytes were read.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, PcapError> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pos += n as u64;
                    return Err(self.err(self.pos, PcapErrorKind::Io(e)));
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    fn next_classic(&mut self, rec: &mut PacketRecord, be: bool, nanos: bool) -> Result<bool, PcapError> {
        let start = self.pos;
        let mut h = [0u8; 16];
        match self.read_some(&mut h)? {
            0 => return Ok(false),
            n if n < 16 => return Err(self.truncated(start, "record header", 16, n)),
            _ => {}
        }
        let caplen = rd32(be, &h[8..]);
        if caplen > MAX_CAPLEN {
            return Err(self.err(start, PcapErrorKind::CapLenTooLarge(caplen)));
        }
        rec.data.resize(caplen as usize, 0);
        let n = self.read_some(&mut rec.data)?;
        if n < caplen as usize {
            return Err(self.err(start, PcapErrorKind::TruncatedPacket { expected: caplen, available: n as u64 }));
        }
        let frac = rd32(be, &h[4..]) as u64;
        rec.time_ns = rd32(be, &h[0..]) as u64 * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        rec.orig_len = rd32(be, &h[12..]);
        Ok(true)
    }

    /// Reads the rest of a section header block whose type and length bytes are already consumed.
    fn read_shb(&mut self, start: u64, len_bytes: [u8; 4]) -> Result<(), PcapError> {
        let mut bom = [0u8; 4];
        let n = self.read_some(&mut bom)?;
        if n < 4 {
            return Err(self.truncated(start, "pcapng section header block", 28, 8 + n));
        }
        let be = match bom {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => return Err(self.err(start, bad(format!("section header has byte-order magic {}", hex(&bom))))),
        };
        let len = rd32(be, &len_bytes);
        self.check_len(start, len, 28, SHB_TYPE, true)?;
        let body = self.read_body(start, len, be, 4)?;
        let (major, minor) = (rd16(be, &body[4..]), rd16(be, &body[6..]));
        self.buf = body;
        if major != 1 {
            return Err(self.err(start, PcapErrorKind::UnsupportedVersion { major, minor }));
        }
        // Interface ids are scoped to their section, so a new section starts with none.
        self.format = Format::Ng { be, ifaces: Vec::new() };
        Ok(())
    }

    fn check_len(&self, start: u64, len: u32, min: u32, btype: u32, buffered: bool) -> Result<(), PcapError> {
        let reason = if len < 12 {
            format!("block length {len} is less than 12")
        } else if len & 3 != 0 {
            format!("block length {len} is not a multiple of 4")
        } else if len < min {
            format!("block type {btype:#x} has length {len}, less than its minimum {min}")
        } else if buffered && len > MAX_BLOCK_LEN {
            format!("block type {btype:#x} has length {len}, more than the supported {MAX_BLOCK_LEN}")
        } else {
            return Ok(());
        };
        Err(self.err(start, bad(reason)))
    }

    /// Reads a block's body and trailer (after `consumed` body bytes already read) and checks the
    /// trailing length; returns the body without trailer, its first `consumed` bytes unspecified.
    fn read_body(&mut self, start: u64, len: u32, be: bool, consumed: usize) -> Result<Vec<u8>, PcapError> {
        let mut body = std::mem::take(&mut self.buf);
        body.resize(len as usize - 8, 0);
        let n = self.read_some(&mut body[consumed..])?;
        if consumed + n < body.len() {
            self.buf = body;
            return Err(self.truncated(start, "pcapng block", len, 8 + consumed + n));
        }
        let trailer = rd32(be, &body[body.len() - 4..]);
        body.truncate(body.len() - 4);
        if let Err(e) = self.check_trailer(start, trailer, len) {
            self.buf = body;
            return Err(e);
        }
        Ok(body)
    }

    fn check_trailer(&self, start: u64, trailer: u32, len: u32) -> Result<(), PcapError> {
        if trailer == len {
            return Ok(());
        }
        Err(self.err(start, bad(format!("trailing block length {trailer} does not match leading length {len}"))))
    }

    fn next_ng(&mut self, rec: &mut PacketRecord) -> Result<bool, PcapError> {
        loop {
            let start = self.pos;
            let mut h = [0u8; 8];
            match self.read_some(&mut h)? {
                0 => return Ok(false),
                n if n < 8 => return Err(self.truncated(start, "pcapng block header", 8, n)),
                _ => {}
            }
            if h[..4] == SHB {
                self.read_shb(start, [h[4], h[5], h[6], h[7]])?;
                continue;
            }
            let Format::Ng { be, .. } = self.format else { unreachable!("pcapng reader in classic mode") };
            let (btype, len) = (rd32(be, &h[0..]), rd32(be, &h[4..]));
            let min = match btype {
                IDB => 20,
                EPB | OPB => 32,
                SPB => 16,
                _ => {
                    self.check_len(start, len, 12, btype, false)?;
                    self.skip_block(start, len, be)?;
                    continue;
                }
            };
            self.check_len(start, len, min, btype, true)?;
            let body = match self.read_body(start, len, be, 0) {
                Ok(b) => b,
                Err(e) => return Err(self.refine_truncation(e, btype, be)),
            };
            let res = self.parse_block(btype, be, &body, rec);
            self.buf = body;
            match res {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(kind) => return Err(self.err(start, kind)),
            }
        }
    }

    /// A packet block cut short inside its packet bytes is reported as a truncated packet.
    fn refine_truncation(&self, e: PcapError, btype: u32, be: bool) -> PcapError {
        let PcapErrorKind::TruncatedHeader { available, .. } = e.kind else { return e };
        let have = &self.buf[..(available as usize - 8).min(self.buf.len())];
        if !matches!(btype, EPB | OPB) || have.len() < 20 {
            return e;
        }
        let (caplen, available) = (rd32(be, &have[12..]), have.len() as u64 - 20);
        let kind = if caplen > MAX_CAPLEN {
            PcapErrorKind::CapLenTooLarge(caplen)
        } else if available < caplen as u64 {
            PcapErrorKind::TruncatedPacket { expected: caplen, available }
        } else {
            return e;
        };
        PcapError { kind, ..e }
    }

    fn skip_block(&mut self, start: u64, len: u32, be: bool) -> Result<(), PcapError> {
        let mut chunk = [0u8; 4096];
        let (mut done, mut want) = (8, 0);
        while done < len as usize {
            want = (len as usize - done).min(chunk.len());
            let n = self.read_some(&mut chunk[..want])?;
            done += n;
            if n < want {
                return Err(self.truncated(start, "pcapng block", len, done));
            }
        }
        // Chunks are multiples of 4 bytes, as is the block, so the trailer lies whole in the last.
        self.check_trailer(start, rd32(be, &chunk[want - 4..]), len)
    }

    /// Interprets one buffered block; returns whether it produced a packet in `rec`.
    fn parse_block(
        &mut self,
        btype: u32,
        be: bool,
        body: &[u8],
        rec: &mut PacketRecord,
    ) -> Result<bool, PcapErrorKind> {
        let Format::Ng { ifaces, .. } = &mut self.format else { unreachable!() };
        match btype {
            IDB => {
                let link = rd16(be, &body[0..]) as u32;
                if link != LINKTYPE_ETHERNET {
                    return Err(PcapErrorKind::UnsupportedLinkType(link));
                }
                let units = parse_tsresol(be, &body[8..])?;
                ifaces.push(Iface { snaplen: rd32(be, &body[4..]), units });
                Ok(false)
            }
            EPB | OPB => {
                // An obsolete packet block has a 16-bit interface id then a drop count, otherwise
                // the same layout as an enhanced packet block.
                let id = if btype == EPB { rd32(be, body) } else { rd16(be, body) as u32 };
                let caplen = rd32(be, &body[12..]);
                if caplen > MAX_CAPLEN {
                    return Err(PcapErrorKind::CapLenTooLarge(caplen));
                }
                if 20 + caplen as usize > body.len() {
                    let room = body.len() - 20;
                    return Err(bad(format!("captured length {caplen} overruns the block's {room} body bytes")));
                }
                let Some(iface) = ifaces.get(id as usize) else {
                    let n = ifaces.len();
                    return Err(bad(format!("packet references interface {id}, but the section defines {n}")));
                };
                let ts = (rd32(be, &body[4..]) as u64) << 32 | rd32(be, &body[8..]) as u64;
                rec.time_ns = u64::try_from(ts as u128 * 1_000_000_000 / iface.units).unwrap_or(u64::MAX);
                rec.orig_len = rd32(be, &body[16..]);
                rec.data.clear();
                rec.data.extend_from_slice(&body[20..20 + caplen as usize]);
                Ok(true)
            }
            SPB => {
                let Some(iface) = ifaces.first() else {
                    return Err(bad("simple packet block before any interface description block"));
                };
                let orig = rd32(be, body);
                let snap = if iface.snaplen == 0 { u32::MAX } else { iface.snaplen };
                let caplen = orig.min(snap).min((body.len() - 4) as u32);
                if caplen > MAX_CAPLEN {
                    return Err(PcapErrorKind::CapLenTooLarge(caplen));
                }
                rec.time_ns = 0;
                rec.orig_len = orig;
                rec.data.clear();
                rec.data.extend_from_slice(&body[4..4 + caplen as usize]);
                Ok(true)
            }
            _ => unreachable!("unparsed block type {btype}"),
        }
    }
}

/// Finds `if_tsresol` among an interface's options; returns timestamp units per second.
fn parse_tsresol(be: bool, mut opts: &[u8]) -> Result<u128, PcapErrorKind> {
    let mut units = 1_000_000;
    while opts.len() >= 4 {
        let (code, len) = (rd16(be, opts), rd16(be, &opts[2..]) as usize);
        if code == 0 {
            break;
        }
        let padded = (len + 3) & !3;
        if 4 + padded > opts.len() {
            return Err(bad(format!("interface option {code} of length {len} overruns the block")));
        }
        if code == OPT_TSRESOL {
            let r = if len == 1 { opts[4] } else { return Err(bad(format!("if_tsresol has length {len}, not 1"))) };
            let exp = (r & 0x7f) as u32;
            units = match r & 0x80 {
                0 if exp <= 19 => 10u128.pow(exp),
                0x80 if exp <= 63 => 1u128 << exp,
                _ => return Err(bad(format!("if_tsresol {r:#04x} is out of range"))),
            };
        }
        opts = &opts[4 + padded..];
    }
    Ok(units)
}

/// Writer of classic pcap files: nanosecond magic, little-endian, Ethernet, snaplen [`MAX_CAPLEN`].
///
/// Each packet is two `write_all` calls, so give it a buffered writer.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `w`.
    pub fn new(mut w: W) -> io::Result<Self> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&MAX_CAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter { out: w })
    }

    /// Appends one packet; `orig_len` is raised to `data.len()` if smaller.
    pub fn write(&mut self, time_ns: u64, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        if data.len() > MAX_CAPLEN as usize {
            return Err(invalid(format!("packet of {} bytes exceeds the maximum of {MAX_CAPLEN}", data.len())));
        }
        let secs = u32::try_from(time_ns / 1_000_000_000)
            .map_err(|_| invalid(format!("timestamp {time_ns} ns is beyond what pcap can store")))?;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&((time_ns % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read_all(bytes: &[u8], name: &str) -> Result<Vec<PacketRecord>, PcapError> {
        let mut r = PcapReader::new(Cursor::new(bytes.to_vec()), name)?;
        let mut out = Vec::new();
        let mut rec = PacketRecord::default();
        while r.next_into(&mut rec)? {
            out.push(rec.clone());
        }
        assert_eq!(r.packets_read(), out.len() as u64);
        Ok(out)
    }

    fn err_of(bytes: &[u8], name: &str) -> PcapError {
        read_all(bytes, name).expect_err("reading should fail")
    }

    /// Serialises 32-bit words in the given byte order.
    fn words(be: bool, xs: &[u32]) -> Vec<u8> {
        xs.iter().flat_map(|x| if be { x.to_be_bytes() } else { x.to_le_bytes() }).collect()
    }

    /// Two 16-bit fields as the word that serialises to them.
    fn pair(be: bool, a: u16, b: u16) -> u32 {
        let (hi, lo) = if be { (a, b) } else { (b, a) };
        (hi as u32) << 16 | lo as u32
    }

    fn classic_header(be: bool, magic: u32, link: u32) -> Vec<u8> {
        words(be, &[magic, pair(be, 2, 4), 0, 0, 65535, link])
    }

    fn record(v: &mut Vec<u8>, be: bool, sec: u32, frac: u32, orig: u32, data: &[u8]) {
        v.extend(words(be, &[sec, frac, data.len() as u32, orig]));
        v.extend_from_slice(data);
    }

    /// A pcapng block: type, length, body padded to 4, trailing length.
    fn block(be: bool, btype: u32, body: &[u8]) -> Vec<u8> {
        let len = 12 + body.len().div_ceil(4) as u32 * 4;
        let mut v = [words(be, &[btype, len]), body.to_vec()].concat();
        v.resize(len as usize - 4, 0);
        v.extend(words(be, &[len]));
        v
    }

    fn shb(be: bool) -> Vec<u8> {
        block(be, SHB_TYPE, &words(be, &[0x1a2b_3c4d, pair(be, 1, 0), !0, !0]))
    }

    fn idb(be: bool, link: u16, snaplen: u32, tsresol: Option<u8>) -> Vec<u8> {
        let mut b = words(be, &[pair(be, link, 0), snaplen]);
        if let Some(r) = tsresol {
            // if_tsresol, its value padded to 4, then opt_endofopt.
            b.extend(words(be, &[pair(be, OPT_TSRESOL, 1)]));
            b.extend_from_slice(&[r, 0, 0, 0, 0, 0, 0, 0]);
        }
        block(be, IDB, &b)
    }

    fn epb(be: bool, iface: u32, ts: u64, orig: u32, data: &[u8]) -> Vec<u8> {
        let b = words(be, &[iface, (ts >> 32) as u32, ts as u32, data.len() as u32, orig]);
        block(be, EPB, &[b, data.to_vec()].concat())
    }

    #[test]
    fn writer_reader_round_trip() {
        let pkts: [(u64, u32, Vec<u8>); 3] = [
            (1_700_000_000_123_456_789, 60, (0..60).collect()),
            (1_600_000_000_000_000_001, 1514, vec![0xab; 100]), // earlier time and snapped
            (1_700_000_001_000_000_000, 0, Vec::new()),         // zero-length packet
        ];
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        for (t, o, d) in &pkts {
            w.write(*t, *o, d).unwrap();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(bytes[..4], [0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(bytes.len(), 24 + 3 * 16 + 160);
        let got = read_all(&bytes, "rt.pcap").unwrap();
        let want: Vec<_> =
            pkts.iter().map(|(t, o, d)| PacketRecord { time_ns: *t, orig_len: *o, data: d.clone() }).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn big_endian_microsecond_pcap() {
        let mut f = classic_header(true, 0xa1b2_c3d4, 1);
        record(&mut f, true, 1_000, 999_999, 64, &[1, 2, 3, 4]);
        record(&mut f, true, 5, 7, 2, &[9, 9, 9]); // caplen > orig_len: tolerated, orig raised
        record(&mut f, true, 6, 0, 70, &[]);
        let got = read_all(&f, "be.pcap").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].time_ns, got[0].orig_len, &got[0].data[..]), (1_000_999_999_000, 64, &[1, 2, 3, 4][..]));
        assert_eq!((got[1].time_ns, got[1].orig_len, got[1].data.len()), (5_000_007_000, 3, 3));
        assert_eq!((got[2].time_ns, got[2].orig_len, got[2].data.len()), (6_000_000_000, 70, 0));
    }

    #[test]
    fn pcapng_interfaces_tsresol_spb_and_skipped_blocks() {
        let mut f = shb(false);
        f.extend(idb(false, 1, 8, None)); // microseconds, snaplen 8
        f.extend(idb(false, 1, 0, Some(9))); // nanoseconds
        f.extend(block(false, 0x0000_0bad, &[7; 5001])); // custom block, skipped in several chunks
        f.extend(epb(false, 0, 1_500_000, 100, &[1, 2, 3]));
        f.extend(block(false, 4, &[0; 8])); // name resolution block
        f.extend(epb(false, 1, 1_500_000, 5, &[4, 5, 6, 7, 8]));
        f.extend(block(false, SPB, &[20, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])); // snapped to 8
        f.extend(block(false, 5, &[0; 12])); // interface statistics block

        // A second, big-endian section: interface ids restart, 2^-10 s resolution.
        f.extend(shb(true));
        f.extend(idb(true, 1, 65535, Some(0x8a)));
        f.extend(epb(true, 0, 3 * 1024 + 512, 0, &[]));
        f.extend(block(true, SPB, &[0, 0, 0, 2, 0xaa, 0xbb, 0, 0]));
        let got = read_all(&f, "two.pcapng").unwrap();
        let summary: Vec<_> = got.iter().map(|r| (r.time_ns, r.orig_len, r.data.clone())).collect();
        assert_eq!(
            summary,
            vec![
                (1_500_000_000, 100, vec![1, 2, 3]),
                (1_500_000, 5, vec![4, 5, 6, 7, 8]),
                (0, 20, (1..=8).collect()),
                (3_500_000_000, 0, vec![]),
                (0, 2, vec![0xaa, 0xbb]),
            ]
        );
    }

    #[test]
    fn file_level_errors() {
        let e = err_of(b"", "e.pcap");
        assert!(matches!(e.kind, PcapErrorKind::Empty));
        assert_eq!(e.to_string(), "e.pcap: file is empty");

        let e = err_of(b"#!/bin/sh\n", "x.txt");
        assert_eq!(e.to_string(), "x.txt: not a pcap or pcapng file (starts with 23 21 2f 62)");
        assert_eq!(err_of(b"ab", "y").to_string(), "y: not a pcap or pcapng file (starts with 61 62)");

        let full = classic_header(false, 0xa1b2_3c4d, 1);
        assert_eq!(err_of(&full[..2], "t").to_string(), "t: truncated: file header needs 24 bytes, file ends after 2");
        let e = err_of(&full[..10], "t.pcap");
        assert_eq!((e.packet, e.offset), (None, 0));
        assert_eq!(e.to_string(), "t.pcap: truncated: pcap file header needs 24 bytes, file ends after 10");

        let e = err_of(&classic_header(true, 0xa1b2_c3d4, 105), "wifi.pcap");
        assert!(matches!(e.kind, PcapErrorKind::UnsupportedLinkType(105)));
        assert_eq!(e.to_string(), "wifi.pcap: unsupported link type 105 (only Ethernet, link type 1, is supported)");

        let mut v3 = full.clone();
        v3[4] = 3;
        assert_eq!(err_of(&v3, "v.pcap").to_string(), "v.pcap: unsupported format version 3.4");
        let mut ng = shb(false);
        ng[12] = 2;
        assert_eq!(err_of(&ng, "v.pcapng").to_string(), "v.pcapng: unsupported format version 2.0");
        assert_eq!(
            err_of(&ng[..6], "s.pcapng").to_string(),
            "s.pcapng: truncated: pcapng section header block needs 28 bytes, file ends after 6"
        );
    }

    #[test]
    fn classic_record_errors() {
        let mut f = classic_header(false, 0xa1b2_3c4d, 1);
        record(&mut f, false, 1, 0, 60, &[0; 60]);
        let second = f.len() as u64; // 100

        let tail = |t: &[u8]| err_of(&[&f[..], t].concat(), "in.pcap");
        let e = tail(&[&words(false, &[2, 0, 60, 60])[..], &[0; 20]].concat()); // cut inside the body
        assert!(matches!(e.kind, PcapErrorKind::TruncatedPacket { expected: 60, available: 20 }));
        assert_eq!((e.packet, e.offset), (Some(2), second));
        let pre = "in.pcap: packet 2 at byte 100: ";
        assert_eq!(e.to_string(), format!("{pre}truncated: record header says 60 captured bytes, file ends after 20"));
        let e = tail(&[0; 7]);
        assert_eq!(e.to_string(), format!("{pre}truncated: record header needs 16 bytes, file ends after 7"));
        let e = tail(&words(false, &[0, 0, 300_000, 300_000]));
        assert!(matches!(e.kind, PcapErrorKind::CapLenTooLarge(300_000)));
        assert_eq!(e.to_string(), format!("{pre}captured length 300000 exceeds the maximum of 262144 bytes"));
    }

    #[test]
    fn pcapng_block_errors() {
        let base = [shb(false), idb(false, 1, 0, None)].concat();
        let check = |tail: &[u8], want: &str| {
            let e = err_of(&[&base[..], tail].concat(), "b.pcapng");
            assert!(matches!(e.kind, PcapErrorKind::BadBlock { .. }), "{e}");
            assert_eq!(e.to_string(), format!("b.pcapng: packet 1 at byte 48: malformed pcapng block: {want}"));
        };
        check(&[6, 0, 0, 0, 8, 0, 0, 0], "block length 8 is less than 12");
        check(&[0xad, 0x0b, 0, 0, 14, 0, 0, 0], "block length 14 is not a multiple of 4");
        check(&[6, 0, 0, 0, 28, 0, 0, 0], "block type 0x6 has length 28, less than its minimum 32");
        let mut b = epb(false, 0, 0, 4, &[1, 2, 3, 4]);
        b[32] = 99;
        check(&b, "trailing block length 99 does not match leading length 36");
        let mut b = block(false, 0xbad, &[0; 4]);
        b[12] = 20;
        check(&b, "trailing block length 20 does not match leading length 16");
        check(&epb(false, 3, 0, 4, &[1, 2, 3, 4]), "packet references interface 3, but the section defines 1");
        let mut b = epb(false, 0, 0, 4, &[1, 2, 3, 4]);
        b[20] = 9; // caplen 9 in a block holding 4 data bytes
        check(&b, "captured length 9 overruns the block's 4 body bytes");
        check(&idb(false, 1, 0, Some(0x7f)), "if_tsresol 0x7f is out of range");

        let e = err_of(&[shb(false), block(false, SPB, &[1, 0, 0, 0, 9, 0, 0, 0])].concat(), "s.pcapng");
        let want = "packet 1 at byte 28: malformed pcapng block: simple packet block before any interface";
        assert!(e.to_string().starts_with(&format!("s.pcapng: {want}")), "{e}");
        let mut bom = shb(false);
        bom[8] = 0;
        let e = err_of(&bom, "m.pcapng");
        assert_eq!(e.to_string(), "m.pcapng: malformed pcapng block: section header has byte-order magic 00 3c 2b 1a");
        let e = err_of(&[shb(true), idb(true, 113, 0, None)].concat(), "sll.pcapng");
        assert!(matches!(e.kind, PcapErrorKind::UnsupportedLinkType(113)));
        let want = "packet 1 at byte 28: unsupported link type 113 (only Ethernet, link type 1, is supported)";
        assert_eq!(e.to_string(), format!("sll.pcapng: {want}"));
    }

    #[test]
    fn pcapng_truncation_and_caplen() {
        let mut f = [shb(false), idb(false, 1, 0, None), epb(false, 0, 0, 60, &[5; 60])].concat();
        let pre = format!("t.pcapng: packet 2 at byte {}: ", f.len());
        let cut = |extra: &[u8], keep: usize| err_of(&[&f[..], &extra[..keep]].concat(), "t.pcapng");
        let second = epb(false, 0, 0, 60, &[5; 60]);
        let e = cut(&second, 28 + 25);
        assert_eq!(e.to_string(), format!("{pre}truncated: record header says 60 captured bytes, file ends after 25"));
        let e = cut(&second, 90); // packet complete, trailer missing
        assert_eq!(e.to_string(), format!("{pre}truncated: pcapng block needs 92 bytes, file ends after 90"));
        let e = cut(&second, 5);
        assert_eq!(e.to_string(), format!("{pre}truncated: pcapng block header needs 8 bytes, file ends after 5"));
        let e = cut(&block(false, 0xbad, &[1; 40]), 30);
        assert_eq!(e.to_string(), format!("{pre}truncated: pcapng block needs 52 bytes, file ends after 30"));

        f.extend(epb(false, 0, 0, 300_000, &[0; 8]));
        let n = f.len();
        f[n - 20..n - 16].copy_from_slice(&300_000u32.to_le_bytes()); // the caplen field
        let e = err_of(&f, "t.pcapng");
        assert_eq!(e.to_string(), format!("{pre}captured length 300000 exceeds the maximum of 262144 bytes"));
    }

    #[test]
    fn io_errors() {
        let e = PcapReader::open(Path::new("/nonexistent/dir/x.pcap")).err().unwrap();
        assert!(matches!(&e.kind, PcapErrorKind::Io(io) if io.kind() == io::ErrorKind::NotFound));
        assert!(e.to_string().starts_with("/nonexistent/dir/x.pcap: I/O error: "), "{e}");
        let dir = std::env::temp_dir();
        let e = PcapReader::open(&dir).err().unwrap();
        assert!(matches!(e.kind, PcapErrorKind::Io(_)), "{e}");

        /// Serves `good` bytes, then fails.
        struct Failing(Cursor<Vec<u8>>);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(7);
                match self.0.read(&mut buf[..n])? {
                    0 => Err(io::Error::other("disk on fire")),
                    n => Ok(n),
                }
            }
        }
        let mut f = classic_header(false, 0xa1b2_3c4d, 1);
        record(&mut f, false, 1, 0, 10, &[0; 10]);
        record(&mut f, false, 1, 0, 10, &[0; 10]);
        f.truncate(f.len() - 4);
        let mut r = PcapReader::new(Failing(Cursor::new(f)), "io.pcap").unwrap();
        let mut rec = PacketRecord::default();
        assert!(r.next_into(&mut rec).unwrap());
        let e = r.next_into(&mut rec).unwrap_err();
        assert_eq!(e.to_string(), "io.pcap: packet 2 at byte 72: I/O error: disk on fire");
    }
}
