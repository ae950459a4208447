//! A lean WebSocket client for the subscribers: a raw TCP stream, the
//! HTTP/1.1 upgrade written by hand, and server frames parsed in place in
//! one reusable buffer. Per text message it scans for the title stamp and
//! the cursor (no JSON parse, no allocation), so that the client, which
//! shares the machine with the server, costs as little as it can and reads
//! as fast as the server writes: a slow client lets the server's socket
//! buffers fill, and a server that then writes in bigger batches looks
//! faster than it is for a real client.

use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Size of each socket's read buffer (it grows only for a bigger frame).
const BUF: usize = 64 * 1024;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// One client WebSocket.
#[derive(Debug)]
pub struct Socket {
    stream: TcpStream,
    /// Received bytes not yet parsed are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// A fragmented text message being put together (servers rarely
    /// fragment; a whole frame is read in place).
    frag: Vec<u8>,
    in_text_fragments: bool,
    /// Frames to send (pongs, close), written after a read is parsed.
    out: Vec<u8>,
    /// State of the xorshift generator of masking keys.
    rng: u32,
    closed: bool,
}

/// How [`Socket::read_until`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The callback said it had what it waited for.
    Done,
    Deadline,
    /// The server closed the socket (or the connection broke).
    Closed,
}

/// A frame found in the buffer: its opcode, FIN bit and payload range.
#[derive(Debug, Clone, Copy)]
struct Frame {
    opcode: u8,
    fin: bool,
    from: usize,
    to: usize,
}

/// What a subscriber saw: per change, (receive time, latency) in µs.
#[derive(Debug, Default)]
pub struct Received {
    pub deliveries: Vec<(u64, u64)>,
    /// Changes whose sequence number followed the previous one's.
    pub in_order: usize,
    /// Bytes of the text messages holding a change.
    pub bytes: u64,
    /// Reads that returned data.
    pub reads: u64,
}

/// `host:port` of an `http://host:port[/…]` base URL.
fn authority(base: &str) -> anyhow::Result<&str> {
    let rest = base
        .strip_prefix("http://")
        .context("the lean client speaks plain http:// only")?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

fn base64_16(bytes: [u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(24);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Appends a masked client frame.
fn put_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
}

impl Socket {
    /// Opens `ws://…/path` of an `http://` base with a hand-made upgrade,
    /// offering `protocol` (checks the 101 and, when offered, the protocol).
    pub async fn connect(base: &str, path: &str, protocol: Option<&str>) -> anyhow::Result<Self> {
        let host = authority(base)?;
        let stream = TcpStream::connect(host)
            .await
            .with_context(|| format!("connecting to {host}"))?;
        stream.set_nodelay(true)?;
        let seed = uuid::Uuid::new_v4().as_u128();
        let mut socket = Self {
            stream,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            frag: Vec::new(),
            in_text_fragments: false,
            out: Vec::with_capacity(256),
            rng: (seed as u32) | 1,
            closed: false,
        };
        let key = base64_16(((seed >> 32) ^ (seed << 64)).to_le_bytes());
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(p) = protocol {
            request.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
        }
        request.push_str("\r\n");
        socket.stream.write_all(request.as_bytes()).await?;
        // The response head; bytes after it are already frames.
        let head_end = loop {
            if let Some(i) = socket.buf[..socket.end]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break i + 4;
            }
            if socket.end == socket.buf.len() {
                bail!("upgrade response head too long");
            }
            let n = socket.stream.read(&mut socket.buf[socket.end..]).await?;
            if n == 0 {
                bail!("the server closed the connection during the upgrade");
            }
            socket.end += n;
        };
        let head = String::from_utf8_lossy(&socket.buf[..head_end]).into_owned();
        let status = head.lines().next().unwrap_or_default();
        if !status.starts_with("HTTP/1.1 101") {
            bail!("upgrade refused: {status:?}");
        }
        if let Some(p) = protocol {
            let accepted = head.lines().any(|l| {
                l.split_once(':').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("sec-websocket-protocol") && v.trim() == p
                })
            });
            if !accepted {
                bail!("the server did not accept the {p} subprotocol");
            }
        }
        socket.start = head_end;
        Ok(socket)
    }

    /// A socket with one graphql-transport-ws subscription of `query`,
    /// positioned: a pong after the subscribe proves the server has fixed
    /// its start.
    pub async fn subscribe(
        base: &str,
        token: &str,
        query: &str,
        cursor: &str,
    ) -> anyhow::Result<Self> {
        let mut socket = Self::connect(base, "/graphql", Some("graphql-transport-ws")).await?;
        let init = serde_json::json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
        let subscribe = serde_json::json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "after": cursor } } });
        socket.queue(OP_TEXT, init.to_string().as_bytes());
        socket.queue(OP_TEXT, subscribe.to_string().as_bytes());
        socket.queue(OP_TEXT, br#"{"type":"ping"}"#);
        socket.send_queued().await?;
        loop {
            let text = socket.next_setup_text().await?;
            if text.contains("\"pong\"") {
                return Ok(socket);
            }
            if !text.contains("\"connection_ack\"") {
                bail!("unexpected while subscribing: {text}");
            }
        }
    }

    /// Waits for a text message containing `needle` (setup only: it
    /// allocates), ignoring others.
    pub async fn wait_for(&mut self, needle: &str) -> anyhow::Result<()> {
        while !self.next_setup_text().await?.contains(needle) {}
        Ok(())
    }

    /// The next whole text message, for the setup steps; bytes after it stay
    /// in the buffer for `receive`.
    async fn next_setup_text(&mut self) -> anyhow::Result<String> {
        loop {
            while let Some(frame) = self.parse_frame()? {
                if let Some(text) = self.control_or_text(frame) {
                    let text = String::from_utf8_lossy(text).into_owned();
                    self.send_queued().await?;
                    return Ok(text);
                }
            }
            self.send_queued().await?;
            if self.closed {
                bail!("the server closed the socket during setup");
            }
            if self.fill().await? == 0 {
                bail!("the server closed the connection during setup");
            }
        }
    }

    /// Reads changes until `expected` have arrived, the deadline passes or
    /// the socket closes. The receive time of every message of one read is
    /// the time that read returned.
    pub async fn receive(mut self, expected: usize, deadline: Duration) -> Received {
        let mut got = Received {
            deliveries: Vec::with_capacity(expected),
            ..Received::default()
        };
        let mut last_seq = None::<u64>;
        let end = tokio::time::Instant::now() + deadline;
        'read: while got.deliveries.len() < expected && !self.closed {
            let now = crate::report::stamp() as u64;
            loop {
                let frame = match self.parse_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => break 'read,
                };
                if let Some(text) = self.control_or_text(frame) {
                    record(text, now, &mut got, &mut last_seq);
                }
            }
            if self.send_queued().await.is_err() || got.deliveries.len() >= expected {
                break;
            }
            match tokio::time::timeout_at(end, self.fill()).await {
                Ok(Ok(n)) if n > 0 => got.reads += 1,
                _ => break 'read,
            }
        }
        self.close().await;
        got
    }

    /// Hands every text message to `on_text` (with the time the read that
    /// brought it returned, µs since the bench's epoch) until `on_text`
    /// answers true, `deadline` passes or the socket closes. Unlike
    /// [`Socket::receive`] it keeps the socket, so a caller can go on
    /// reading (a grace period for duplicates, a second phase). Counts the
    /// reads that returned data in `reads`.
    pub async fn read_until(
        &mut self,
        deadline: tokio::time::Instant,
        reads: &mut u64,
        mut on_text: impl FnMut(&[u8], u64) -> bool,
    ) -> Ended {
        loop {
            let now = crate::report::stamp() as u64;
            loop {
                let frame = match self.parse_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => return Ended::Closed,
                };
                if let Some(text) = self.control_or_text(frame)
                    && on_text(text, now)
                {
                    // What is left in the buffer stays for the next call.
                    return if self.send_queued().await.is_err() {
                        Ended::Closed
                    } else {
                        Ended::Done
                    };
                }
            }
            if self.send_queued().await.is_err() || self.closed {
                return Ended::Closed;
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Ok(Ok(n)) if n > 0 => *reads += 1,
                Ok(_) => return Ended::Closed,
                Err(_) => return Ended::Deadline,
            }
        }
    }

    /// Sends a close frame (if the server has not closed first) and drops the socket.
    pub async fn close(mut self) {
        if !self.closed {
            self.queue(OP_CLOSE, &1000u16.to_be_bytes());
            let _ = self.send_queued().await;
        }
        let _ = self.stream.shutdown().await;
    }

    /// Handles a control frame (queueing the answer); a text message's
    /// payload, whole, otherwise.
    fn control_or_text(&mut self, f: Frame) -> Option<&[u8]> {
        match f.opcode {
            OP_TEXT if f.fin => Some(&self.buf[f.from..f.to]),
            OP_TEXT => {
                self.frag.clear();
                self.frag.extend_from_slice(&self.buf[f.from..f.to]);
                self.in_text_fragments = true;
                None
            }
            OP_CONTINUATION if self.in_text_fragments => {
                self.frag.extend_from_slice(&self.buf[f.from..f.to]);
                if f.fin {
                    self.in_text_fragments = false;
                    Some(&self.frag)
                } else {
                    None
                }
            }
            OP_PING => {
                let (from, to) = (f.from, f.to);
                let key = self.key();
                let payload = &self.buf[from..to];
                put_frame(&mut self.out, OP_PONG, payload, key);
                None
            }
            OP_CLOSE => {
                if !self.closed {
                    let code = if f.to - f.from >= 2 {
                        [self.buf[f.from], self.buf[f.from + 1]]
                    } else {
                        1000u16.to_be_bytes()
                    };
                    self.queue(OP_CLOSE, &code);
                    self.closed = true;
                }
                None
            }
            OP_PONG | OP_BINARY | OP_CONTINUATION => None,
            _ => None,
        }
    }

    /// The next whole frame in the buffer, if there is one.
    fn parse_frame(&mut self) -> anyhow::Result<Option<Frame>> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return Ok(None);
        }
        if b[1] & 0x80 != 0 {
            bail!("a server frame is masked");
        }
        let (len, head) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => {
                let mut n = [0; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        let len = usize::try_from(len)?;
        if b.len() < head + len {
            // Make room for a frame bigger than the buffer.
            if head + len > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                self.buf.resize(head + len, 0);
            }
            return Ok(None);
        }
        let frame = Frame {
            opcode: b[0] & 0x0f,
            fin: b[0] & 0x80 != 0,
            from: self.start + head,
            to: self.start + head + len,
        };
        self.start += head + len;
        Ok(Some(frame))
    }

    /// Reads more bytes into the buffer (moving an incomplete frame to its
    /// front first when little room is left); 0 at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < BUF / 4 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    fn key(&mut self) -> [u8; 4] {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x.to_le_bytes()
    }

    fn queue(&mut self, opcode: u8, payload: &[u8]) {
        let key = self.key();
        put_frame(&mut self.out, opcode, payload, key);
    }

    async fn send_queued(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }
}

/// Records one text message: the latency since the title's stamp
/// (`b<µs> …`), and whether its cursor's sequence number follows the last.
fn record(text: &[u8], now: u64, got: &mut Received, last_seq: &mut Option<u64>) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Some(title) = field(text, "\"title\":\"") else {
        return;
    };
    let sent = title
        .strip_prefix('b')
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse::<u64>().ok());
    got.deliveries
        .push((now, sent.map_or(0, |s| now.saturating_sub(s))));
    got.bytes += text.len() as u64;
    let seq = cursor_seq(text);
    match (seq, *last_seq) {
        (Some(s), Some(prev)) if s == prev + 1 => got.in_order += 1,
        (Some(_), None) => got.in_order += 1,
        _ => {}
    }
    *last_seq = seq;
}

/// The sequence number in the `cursor` of a change message (its last 16
/// hex digits).
pub fn cursor_seq(text: &str) -> Option<u64> {
    field(text, "\"cursor\":\"")
        .and_then(|c| u64::from_str_radix(c.get(c.len().saturating_sub(16)..)?, 16).ok())
}

/// The string value after `key` (`"name":"`) in a JSON text (no escapes).
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_16_bytes() {
        // RFC 6455's example key is the base64 of "the sample nonce".
        assert_eq!(base64_16(*b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn frames_are_masked() {
        let mut out = Vec::new();
        put_frame(&mut out, OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        // RFC 6455, 5.7: a masked "Hello".
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn records_latency_and_order() {
        let mut got = Received::default();
        let mut last = None;
        let a = br#"{"id":"1","type":"next","payload":{"data":{"taskChanges":{"cursor":"c10000000000000000000000000000000a0000000000000005","task":{"title":"b100 w3"}}}}}"#;
        let b = br#"{"id":"1","type":"next","payload":{"data":{"taskChanges":{"cursor":"c10000000000000000000000000000000a0000000000000006","task":{"title":"b150 w3"}}}}}"#;
        record(a, 400, &mut got, &mut last);
        record(b, 400, &mut got, &mut last);
        assert_eq!(got.deliveries, [(400, 300), (400, 250)]);
        assert_eq!(got.in_order, 2);
    }
}
