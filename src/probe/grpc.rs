//! `grpc://HOST:PORT[/SERVICE]`: the gRPC health check Kubernetes' grpc probe makes, one call of
//! `grpc.health.v1.Health/Check` over HTTP/2 without TLS (h2c, prior knowledge).
//!
//! Everything goes in the first write: the client preface, empty SETTINGS, the request's
//! HEADERS and its DATA with END_STREAM (servers answer without waiting for ACKs). The judge
//! reads the server's frames from the start each time: frame lengths are checked against a
//! small limit before anything else, header blocks go through HPACK (`hpack`), and the verdict
//! waits for END_STREAM on stream 1, so that the trailers' grpc-status is read before the
//! message. Ready only on grpc-status 0 with the status SERVING.

mod hpack;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::talk::{Dialect, Said, Step, printable};

/// The largest frame payload read: the default SETTINGS_MAX_FRAME_SIZE, which the client never
/// raises (servers were seen sending at most this).
const MAX_FRAME: usize = 16384;

/// The most bytes of one conversation: a whole answer is 132 (etcd) to 227 (grpcio) bytes.
const LIMIT: usize = 32 * 1024;

/// The largest gRPC message read (a HealthCheckResponse is 2 bytes).
const MAX_MESSAGE: u32 = 1024;

/// The most bytes of server text quoted in a reason.
const QUOTE: usize = 100;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types (RFC 9113, 6) and flags.
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PUSH_PROMISE: u8 = 5;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// The request's header block: `:method POST` and `:scheme http` from the static table, the
/// rest literals without indexing (never Huffman-coded). grpcio resets a stream without
/// `:scheme`, `:authority` or `te: trailers`; etcd one whose content-type is not gRPC's.
const REQUEST: &[u8] = b"\x83\x86\
\x04\x1c/grpc.health.v1.Health/Check\
\x01\x09localhost\
\x0f\x10\x10application/grpc\
\x00\x02te\x08trailers";

/// The gRPC status codes by number.
const CODES: &str = "OK CANCELLED UNKNOWN INVALID_ARGUMENT DEADLINE_EXCEEDED NOT_FOUND \
ALREADY_EXISTS PERMISSION_DENIED RESOURCE_EXHAUSTED FAILED_PRECONDITION ABORTED OUT_OF_RANGE \
UNIMPLEMENTED INTERNAL UNAVAILABLE DATA_LOSS UNAUTHENTICATED";

/// The HealthCheckResponse statuses by number.
const STATUSES: &str = "UNKNOWN SERVING NOT_SERVING SERVICE_UNKNOWN";

/// A health check of one service ("" is the server as a whole).
pub struct Grpc {
    hello: Vec<u8>,
}

impl fmt::Debug for Grpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Grpc")
    }
}

/// The dialect for `grpc://HOST:PORT[/SERVICE]`: `path` is the service. No user.
pub fn dialect(_user: Option<&str>, path: Option<&str>) -> Arc<dyn Dialect> {
    Arc::new(Grpc {
        hello: request(path.unwrap_or("")),
    })
}

/// The client preface, empty SETTINGS, and the call on stream 1 (HEADERS, then DATA with
/// END_STREAM holding a HealthCheckRequest: field 1, the service, left out when empty).
fn request(service: &str) -> Vec<u8> {
    let mut check = Vec::new();
    if !service.is_empty() {
        check.push(0x0a);
        let mut n = service.len();
        while n >= 0x80 {
            check.push(n as u8 | 0x80);
            n >>= 7;
        }
        check.push(n as u8);
        check.extend_from_slice(service.as_bytes());
    }
    let mut message = vec![0];
    message.extend_from_slice(&(check.len() as u32).to_be_bytes());
    message.extend_from_slice(&check);
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, &[]);
    frame(&mut out, HEADERS, END_HEADERS, REQUEST);
    frame(&mut out, DATA, END_STREAM, &message);
    out
}

/// A frame on stream 1 (SETTINGS, on stream 0, has no flags).
fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags, 0, 0, 0, u8::from(kind != SETTINGS)]);
    out.extend_from_slice(payload);
}

impl Dialect for Grpc {
    fn name(&self) -> &'static str {
        "grpc"
    }

    fn hello(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.hello)
    }

    fn limit(&self) -> usize {
        LIMIT
    }

    fn judge(&self, heard: &[u8], _sent: usize, _closed: bool) -> Step {
        match answer(heard) {
            None => Step::More,
            Some(Ok(())) => Step::Done(Ok(())),
            Some(Err(why)) => Step::Done(Err(Said::new(format!("grpc: {why}")))),
        }
    }
}

/// Ready, not ready and why, or None: the answer is not complete yet.
pub fn answer(heard: &[u8]) -> Option<Result<(), String>> {
    let mut call = Call::default();
    let mut rest = heard;
    while let Some((head, body)) = rest.split_first_chunk::<9>() {
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]);
        let (kind, flags, stream) = (head[3], head[4], word(&head[5..]) & 0x7fff_ffff);
        // A server's first frame is SETTINGS (3.4): anything else is another protocol.
        if rest.len() == heard.len() && (kind != SETTINGS || stream != 0) {
            let quoted = printable(heard, QUOTE);
            return Some(Err(format!("not an HTTP/2 server: '{quoted}'")));
        }
        if len as usize > MAX_FRAME {
            return Some(Err(format!(
                "a frame of {len} bytes (type {kind}), over the limit of {MAX_FRAME}"
            )));
        }
        let (payload, next) = body.split_at_checked(len as usize)?;
        rest = next;
        match call.frame(kind, flags, stream, payload) {
            Ok(false) => {}
            Ok(true) => return Some(call.verdict()),
            Err(why) => return Some(Err(why)),
        }
    }
    None
}

/// What the frames so far said about stream 1.
#[derive(Default)]
struct Call {
    hpack: hpack::Decoder,
    /// Whether stream 1's response headers (with `:status`) came.
    headers: bool,
    status: Option<Vec<u8>>,
    message: Option<Vec<u8>>,
    /// The DATA of stream 1: gRPC messages with their 5-byte prefixes.
    data: Vec<u8>,
}

impl Call {
    /// One frame: true when stream 1 has ended.
    fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Result<bool, String> {
        let end = flags & END_STREAM != 0;
        match (kind, stream) {
            (DATA, 1) => {
                self.data.extend_from_slice(unpad(flags, payload)?);
                // The message's claimed length is checked as soon as its prefix came.
                if let [compressed, a, b, c, d, ..] = self.data[..] {
                    let len = u32::from_be_bytes([a, b, c, d]);
                    if compressed != 0 {
                        return Err("a compressed message".into());
                    }
                    if len > MAX_MESSAGE {
                        return Err(format!(
                            "a message of {len} bytes, over the limit of {MAX_MESSAGE}"
                        ));
                    }
                }
                Ok(end)
            }
            (HEADERS, _) => {
                let mut block = unpad(flags, payload)?;
                if flags & PRIORITY != 0 {
                    block = block.get(5..).ok_or("a short HEADERS frame")?;
                }
                if flags & END_HEADERS == 0 {
                    return Err("a header block continued in CONTINUATION frames".into());
                }
                self.headers(stream, block)?;
                Ok(stream == 1 && end)
            }
            (RST_STREAM, 1) => Err(format!(
                "stream reset by the server (error code {})",
                word(payload)
            )),
            (GOAWAY, _) => {
                let (last, code) = (
                    word(payload) & 0x7fff_ffff,
                    word(payload.get(4..).unwrap_or_default()),
                );
                // A graceful GOAWAY that still lets stream 1 finish is no verdict.
                if code == 0 && last >= 1 {
                    return Ok(false);
                }
                let debug = printable(payload.get(8..).unwrap_or_default(), QUOTE);
                Err(format!(
                    "GOAWAY from the server (error code {code}) '{debug}'"
                ))
            }
            (PUSH_PROMISE | CONTINUATION, _) => Err(format!("an unexpected frame of type {kind}")),
            // SETTINGS, PING, WINDOW_UPDATE, PRIORITY, unknown types, other streams.
            _ => Ok(false),
        }
    }

    /// A complete header block, decoded in order (the dynamic table is the connection's), its
    /// fields kept for stream 1: `:status` of the first block, grpc-status and grpc-message.
    fn headers(&mut self, stream: u32, block: &[u8]) -> Result<(), String> {
        let mut got: [Option<Vec<u8>>; 3] = Default::default();
        let names: [&[u8]; 3] = [b":status", b"grpc-status", b"grpc-message"];
        self.hpack
            .block(block, &mut |name, value| {
                if let Some(i) = names.iter().position(|n| *n == name) {
                    got[i] = Some(value.to_vec());
                }
            })
            .map_err(|e| format!("bad header block: {e}"))?;
        let [http, status, message] = got;
        if stream != 1 {
            return Ok(());
        }
        if !self.headers {
            self.headers = true;
            match http {
                Some(s) if s == b"200" => {}
                Some(s) => return Err(format!("HTTP status {}", printable(&s, QUOTE))),
                None => return Err("no :status in the response".into()),
            }
        }
        self.status = status.or(self.status.take());
        self.message = message.or(self.message.take());
        Ok(())
    }

    /// The verdict once stream 1 has ended: grpc-status first, then the message.
    fn verdict(&self) -> Result<(), String> {
        let status = self
            .status
            .as_deref()
            .ok_or("no grpc-status in the answer")?;
        let digits = (1..=3).contains(&status.len()) && status.iter().all(u8::is_ascii_digit);
        if !digits {
            return Err(format!("grpc-status '{}'", printable(status, QUOTE)));
        }
        let code = status.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0'));
        if code != 0 {
            let name = CODES.split(' ').nth(code).unwrap_or("grpc-status");
            let text = printable(self.message.as_deref().unwrap_or_default(), QUOTE);
            let sep = if text.is_empty() { "" } else { ": " };
            return Err(format!("{name} ({code}){sep}{text}"));
        }
        let Some((prefix, body)) = self.data.split_first_chunk::<5>() else {
            return Err("no message in the answer".into());
        };
        if body.len() != word(&prefix[1..]) as usize {
            let quoted = printable(&self.data, QUOTE);
            return Err(format!("a message of the wrong length: '{quoted}'"));
        }
        match health(body) {
            Some(1) => Ok(()),
            Some(s) => Err(match STATUSES.split(' ').nth(s as usize) {
                Some(name) => name.into(),
                None => format!("status {s}"),
            }),
            None => Err(format!(
                "not a HealthCheckResponse: '{}'",
                printable(body, QUOTE)
            )),
        }
    }
}

/// A padded frame's payload without its padding (6.1).
fn unpad(flags: u8, payload: &[u8]) -> Result<&[u8], &'static str> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let (&pad, rest) = payload.split_first().ok_or("an empty padded frame")?;
    let len = rest.len().checked_sub(pad.into());
    len.map(|len| &rest[..len])
        .ok_or("padding longer than its frame")
}

/// The 32-bit word that starts `b`; all ones when `b` is too short.
fn word(b: &[u8]) -> u32 {
    b.first_chunk().map_or(u32::MAX, |w| u32::from_be_bytes(*w))
}

/// The status (field 1) of a HealthCheckResponse; 0 (UNKNOWN) when left out, as proto3 does.
/// None when the bytes are not a protobuf message.
fn health(mut b: &[u8]) -> Option<u64> {
    let mut status = 0;
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let skip = match key & 7 {
            0 => {
                let v = varint(&mut b)?;
                if key >> 3 == 1 {
                    status = v;
                }
                0
            }
            1 => 8,
            2 => usize::try_from(varint(&mut b)?).ok()?,
            5 => 4,
            _ => return None,
        };
        b = b.get(skip..)?;
    }
    Some(status)
}

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Answers measured on loopback (SERVER-FACTS.md): grpcio 1.85 and etcd 3.4.23, each the
    /// whole reply to `request("")` (or a named service) in one conversation.
    const GRPCIO_SERVING: &str = "000018040000000000000400400000000500400000000600004000fe03000000\
        01000004080000000000003f000100000004010000000000000408000000000000000005000008060000000000\
        011c4e02ca18918f00004e01040000000188400c636f6e74656e742d74797065106170706c69636174696f6e2f\
        677270634014677270632d6163636570742d656e636f64696e67176964656e746974792c206465666c6174652c\
        20677a69700000070000000000010000000002080100001e010500000001400b677270632d7374617475730130\
        000c677270632d6d65737361676500";
    /// The same with `set NOT_SERVING`: the message is `08 02`.
    const GRPCIO_NOT_SERVING: &str = "000018040000000000000400400000000500400000000600004000fe0300\
        000001000004080000000000003f00010000000401000000000000040800000000000000000500000806000000\
        000088d60a43d7db4e8000004e01040000000188400c636f6e74656e742d74797065106170706c69636174696f\
        6e2f677270634014677270632d6163636570742d656e636f64696e67176964656e746974792c206465666c6174\
        652c20677a69700000070000000000010000000002080200001e010500000001400b677270632d737461747573\
        0130000c677270632d6d65737361676500";
    /// `set SERVICE_UNKNOWN`: the message is `08 03`.
    const GRPCIO_SERVICE_UNKNOWN: &str = "000018040000000000000400400000000500400000000600004000fe\
        0300000001000004080000000000003f0001000000040100000000000004080000000000000000050000080600\
        000000002a4344410ab6c59c00004e01040000000188400c636f6e74656e742d74797065106170706c69636174\
        696f6e2f677270634014677270632d6163636570742d656e636f64696e67176964656e746974792c206465666c\
        6174652c20677a69700000070000000000010000000002080300001e010500000001400b677270632d73746174\
        75730130000c677270632d6d65737361676500";
    /// `set UNKNOWN`: grpc-status 0 and an empty message (proto3 leaves the zero enum out).
    const GRPCIO_UNKNOWN: &str = "000018040000000000000400400000000500400000000600004000fe03000000\
        01000004080000000000003f0001000000040100000000000004080000000000000000050000080600000000007e\
        4d9cbb0e4b1be500004e01040000000188400c636f6e74656e742d74797065106170706c69636174696f6e2f67\
        7270634014677270632d6163636570742d656e636f64696e67176964656e746974792c206465666c6174652c20\
        677a6970000005000000000001000000000000001e010500000001400b677270632d7374617475730130000c67\
        7270632d6d65737361676500";
    /// Service `foo`, unknown: an empty message, then trailers with grpc-status 5.
    const GRPCIO_NOT_FOUND: &str = "000018040000000000000400400000000500400000000600004000fe030000\
        0001000004080000000000003f00010000000401000000000000040800000000000000000a00000806000000000\
        0279c0df43de144b700004e01040000000188400c636f6e74656e742d74797065106170706c69636174696f6e2f\
        677270634014677270632d6163636570742d656e636f64696e67176964656e746974792c206465666c6174652c\
        20677a6970000005000000000001000000000000001e010500000001400b677270632d7374617475730135000c67\
        7270632d6d65737361676500";
    /// A server without the health service: trailers-only, grpc-status 12.
    const GRPCIO_NO_HEALTH: &str = "000018040000000000000400400000000500400000000600004000fe030000\
        0001000004080000000000003f000100000004010000000000000408000000000000000005000008060000000000\
        e835aaf0a7e0b65e00005001050000000188400c636f6e74656e742d74797065106170706c69636174696f6e2f\
        67727063400b677270632d737461747573023132000c677270632d6d657373616765114d6574686f64206e6f74\
        20666f756e6421";
    /// etcd: Huffman-coded names and values, grpc-status included.
    const ETCD_SERVING: &str = "00000c0400000000000005000040000003ffffffff000000040100000000000004\
        0800000000000000000500000806000000000002041010090e070700000e010400000001885f8b1d75d0620d26\
        3d4c4d65640000070000000000010000000002080100001801050000000140889acac8b21234da8f013040899a\
        cac8b5254207317f00";
    /// etcd, service `etcdserverpb.KV`: trailers-only grpc-status 5 `unknown service`.
    const ETCD_NOT_FOUND: &str = "00000c0400000000000005000040000003ffffffff00000004010000000000\
        00040800000000000000001600000806000000000002041010090e0707000031010500000001885f8b1d75d062\
        0d263d4c4d656440889acac8b21234da8f013540899acac8b5254207317f8bb6aeb51fc54a20b677310b";

    /// Bytes from hex digits (white space ignored); the HPACK tests use it too.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn judge(heard: &[u8]) -> Step {
        Grpc { hello: vec![] }.judge(heard, 0, false)
    }

    fn said(heard: &[u8]) -> String {
        match judge(heard) {
            Step::Done(Err(said)) => said.to_string(),
            other => panic!("{other:?} for {heard:02x?}"),
        }
    }

    fn f(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A synthetic answer: the server's SETTINGS, then `frames`.
    fn answer_of(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = f(SETTINGS, 0, 0, &[]);
        frames.iter().for_each(|x| out.extend_from_slice(x));
        out
    }

    /// Response headers `:status 200` (static index 8).
    fn ok_headers() -> Vec<u8> {
        f(HEADERS, END_HEADERS, 1, &[0x88])
    }

    /// Trailers: grpc-status and grpc-message as raw literals without indexing.
    fn trailers(status: &str, message: &str) -> Vec<u8> {
        let mut b = vec![0x00, 11];
        b.extend_from_slice(b"grpc-status");
        b.push(status.len() as u8);
        b.extend_from_slice(status.as_bytes());
        b.extend_from_slice(&[0x00, 12]);
        b.extend_from_slice(b"grpc-message");
        b.push(message.len() as u8);
        b.extend_from_slice(message.as_bytes());
        f(HEADERS, END_HEADERS | END_STREAM, 1, &b)
    }

    fn message(body: &[u8]) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&(body.len() as u32).to_be_bytes());
        m.extend_from_slice(body);
        f(DATA, 0, 1, &m)
    }

    #[test]
    fn the_request_is_one_write_of_preface_settings_headers_and_data() {
        let mut want = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0".to_vec();
        want.extend_from_slice(b"\0\0\x4b\x01\x04\0\0\0\x01");
        want.extend_from_slice(REQUEST);
        want.extend_from_slice(b"\0\0\x05\0\x01\0\0\0\x01\0\0\0\0\0");
        assert_eq!(request(""), want);
        assert_eq!(REQUEST.len(), 0x4b);
        let named = request("foo");
        assert!(named.ends_with(b"\0\0\x0a\0\x01\0\0\0\x01\0\0\0\0\x05\x0a\x03foo"));
        // A name of 200 bytes: a two-byte varint length.
        let long = request(&"s".repeat(200));
        let tail = [&b"\0\0\0\0\xcb\x0a\xc8\x01"[..], &[b's'; 200][..]].concat();
        assert!(long.ends_with(&tail));
        let d = dialect(None, Some("foo"));
        assert_eq!((d.name(), d.limit()), ("grpc", LIMIT));
        assert_eq!(d.hello().as_ref(), &named[..]);
        assert_eq!(dialect(None, None).hello().as_ref(), &request("")[..]);
    }

    #[test]
    fn the_request_decodes_as_the_call_grpcio_needs() {
        let mut fields = Vec::new();
        hpack::Decoder::new()
            .block(REQUEST, &mut |n, v| fields.push((n.to_vec(), v.to_vec())))
            .unwrap();
        let want: &[(&[u8], &[u8])] = &[
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", b"/grpc.health.v1.Health/Check"),
            (b":authority", b"localhost"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ];
        let want: Vec<_> = want.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        assert_eq!(fields, want);
    }

    #[test]
    fn serving_is_ready_from_grpcio_and_from_etcd() {
        assert_eq!(judge(&hex(GRPCIO_SERVING)), Step::Done(Ok(())));
        assert_eq!(judge(&hex(ETCD_SERVING)), Step::Done(Ok(())));
    }

    #[test]
    fn every_other_status_is_a_reason() {
        let cases = [
            (GRPCIO_NOT_SERVING, "grpc: NOT_SERVING"),
            (GRPCIO_SERVICE_UNKNOWN, "grpc: SERVICE_UNKNOWN"),
            (GRPCIO_UNKNOWN, "grpc: UNKNOWN"),
            (GRPCIO_NOT_FOUND, "grpc: NOT_FOUND (5)"),
            (
                GRPCIO_NO_HEALTH,
                "grpc: UNIMPLEMENTED (12): Method not found!",
            ),
            (ETCD_NOT_FOUND, "grpc: NOT_FOUND (5): unknown service"),
        ];
        for (answer, reason) in cases {
            assert_eq!(said(&hex(answer)), reason);
        }
    }

    #[test]
    fn every_prefix_of_an_answer_needs_more() {
        let all = [
            GRPCIO_SERVING,
            GRPCIO_NOT_SERVING,
            GRPCIO_SERVICE_UNKNOWN,
            GRPCIO_UNKNOWN,
            GRPCIO_NOT_FOUND,
            GRPCIO_NO_HEALTH,
            ETCD_SERVING,
            ETCD_NOT_FOUND,
        ];
        for answer in all {
            let bytes = hex(answer);
            for n in 0..bytes.len() {
                assert_eq!(judge(&bytes[..n]), Step::More, "{n} bytes of {answer}");
            }
            // Whatever follows the end of stream 1 changes nothing.
            let mut more = bytes.clone();
            more.extend_from_slice(&[0xff; 40]);
            assert_eq!(judge(&more), judge(&bytes));
        }
    }

    #[test]
    fn status_comes_before_the_message() {
        // An empty message (UNKNOWN), then trailers with grpc-status 5: NOT_FOUND wins.
        let a = answer_of(&[ok_headers(), message(&[]), trailers("5", "")]);
        assert_eq!(said(&a), "grpc: NOT_FOUND (5)");
        // SERVING, then grpc-status 14: not ready.
        let a = answer_of(&[ok_headers(), message(&[8, 1]), trailers("14", "bye")]);
        assert_eq!(said(&a), "grpc: UNAVAILABLE (14): bye");
        let a = answer_of(&[ok_headers(), message(&[8, 1]), trailers("99", "")]);
        assert_eq!(said(&a), "grpc: grpc-status (99)");
        let a = answer_of(&[ok_headers(), message(&[8, 1]), trailers("0x", "")]);
        assert_eq!(said(&a), "grpc: grpc-status '0x'");
        // A message without trailers, ended by DATA's END_STREAM.
        let mut m = message(&[8, 1]);
        m[4] = END_STREAM;
        assert_eq!(
            said(&answer_of(&[ok_headers(), m])),
            "grpc: no grpc-status in the answer"
        );
        // Trailers without a message.
        let a = answer_of(&[ok_headers(), trailers("0", "")]);
        assert_eq!(said(&a), "grpc: no message in the answer");
    }

    #[test]
    fn odd_messages_are_reasons() {
        let ready = answer_of(&[ok_headers(), message(&[8, 1]), trailers("0", "")]);
        assert_eq!(judge(&ready), Step::Done(Ok(())));
        // Other fields are skipped; the last status counts.
        let body = [0x10, 0x05, 0x1a, 0x02, b'h', b'i', 0x08, 0x02, 0x08, 0x01];
        let a = answer_of(&[ok_headers(), message(&body), trailers("0", "")]);
        assert_eq!(judge(&a), Step::Done(Ok(())));
        let a = answer_of(&[ok_headers(), message(&[8, 4]), trailers("0", "")]);
        assert_eq!(said(&a), "grpc: status 4");
        let a = answer_of(&[ok_headers(), message(&[8]), trailers("0", "")]);
        assert_eq!(said(&a), "grpc: not a HealthCheckResponse: '\\x08'");
        let a = answer_of(&[ok_headers(), message(&[0x0f, 1]), trailers("0", "")]);
        assert_eq!(said(&a), "grpc: not a HealthCheckResponse: '\\x0f\\x01'");
        // Two messages in one call.
        let a = answer_of(&[
            ok_headers(),
            message(&[8, 1]),
            message(&[8, 1]),
            trailers("0", ""),
        ]);
        assert!(said(&a).starts_with("grpc: a message of the wrong length: '\\x00"));
        // A prefix that promises more than came.
        let short = f(DATA, 0, 1, &[0, 0, 0, 0, 3, 8, 1]);
        let a = answer_of(&[ok_headers(), short, trailers("0", "")]);
        assert!(said(&a).starts_with("grpc: a message of the wrong length"));
        let compressed = f(DATA, 0, 1, &[1, 0, 0, 0, 2, 8, 1]);
        let a = answer_of(&[ok_headers(), compressed]);
        assert_eq!(said(&a), "grpc: a compressed message");
    }

    #[test]
    fn huge_claims_are_reasons_before_anything_is_read() {
        // A DATA frame claiming a 16 MB message: the prefix alone decides.
        let a = answer_of(&[ok_headers(), f(DATA, 0, 1, &[0, 1, 0, 0, 0])]);
        assert_eq!(
            said(&a),
            "grpc: a message of 16777216 bytes, over the limit of 1024"
        );
        // The same prefix split over two DATA frames.
        let split = [
            f(DATA, 0, 1, &[0, 0xff]),
            f(DATA, 0, 1, &[0xff, 0xff, 0xff]),
        ];
        let a = answer_of(&[ok_headers(), split[0].clone(), split[1].clone()]);
        assert_eq!(
            said(&a),
            "grpc: a message of 4294967295 bytes, over the limit of 1024"
        );
        // A frame header claiming 16 MB, its payload never sent.
        let mut a = answer_of(&[]);
        a.extend_from_slice(&[0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            said(&a),
            "grpc: a frame of 16777215 bytes (type 0), over the limit of 16384"
        );
        let mut a = answer_of(&[]);
        a.extend_from_slice(&[0, 0x40, 0x01, 8, 0, 0, 0, 0, 0]);
        assert_eq!(
            said(&a),
            "grpc: a frame of 16385 bytes (type 8), over the limit of 16384"
        );
        // A big SETTINGS first frame is judged by its length too.
        assert_eq!(
            said(&[0, 0x40, 0x01, 4, 0, 0, 0, 0, 0]),
            "grpc: a frame of 16385 bytes (type 4), over the limit of 16384"
        );
    }

    #[test]
    fn other_protocols_and_garbage_are_not_http2() {
        let http = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            said(http),
            "grpc: not an HTTP/2 server: 'HTTP/1.1 400 Bad Request\\x0d\\x0aContent-Length: 0\\x0d\\x0a\\x0d\\x0a'"
        );
        assert_eq!(
            said(b"\x15\x03\x01\x00\x02\x02\x46\x00\x00"),
            "grpc: not an HTTP/2 server: '\\x15\\x03\\x01\\x00\\x02\\x02F\\x00\\x00'"
        );
        // Fewer than 9 bytes: a frame header is not complete, whatever they are.
        assert_eq!(judge(b"HTTP/1.1"), Step::More);
        // A first frame on a stream, or of another type.
        assert!(said(&f(HEADERS, 4, 1, &[0x88])).starts_with("grpc: not an HTTP/2 server: '"));
        assert!(said(&f(SETTINGS, 0, 1, &[])).starts_with("grpc: not an HTTP/2 server: '"));
        // A long answer is quoted up to a bound.
        let long = [b'x'; 5000];
        assert_eq!(
            said(&long).len(),
            "grpc: not an HTTP/2 server: ''...".len() + QUOTE
        );
    }

    #[test]
    fn resets_goaways_and_statuses_are_reasons() {
        let rst = f(RST_STREAM, 0, 1, &[0, 0, 0, 2]);
        assert_eq!(
            said(&answer_of(&[rst])),
            "grpc: stream reset by the server (error code 2)"
        );
        let rst = f(RST_STREAM, 0, 1, &[0, 0, 1, 0]);
        assert_eq!(
            said(&answer_of(&[rst])),
            "grpc: stream reset by the server (error code 256)"
        );
        let rst = f(RST_STREAM, 0, 1, &[0]);
        assert_eq!(
            said(&answer_of(&[rst])),
            "grpc: stream reset by the server (error code 4294967295)"
        );
        // A reset of another stream is not ours.
        assert_eq!(
            judge(&answer_of(&[f(RST_STREAM, 0, 3, &[0, 0, 0, 2])])),
            Step::More
        );
        let away = f(GOAWAY, 0, 0, b"\0\0\0\0\0\0\0\x01bad\npreface");
        assert_eq!(
            said(&answer_of(&[away])),
            "grpc: GOAWAY from the server (error code 1) 'bad\\x0apreface'"
        );
        let away = f(GOAWAY, 0, 0, &[0; 8]);
        assert_eq!(
            said(&answer_of(&[away])),
            "grpc: GOAWAY from the server (error code 0) ''"
        );
        let away = f(GOAWAY, 0, 0, &[0; 4]);
        assert_eq!(
            said(&answer_of(&[away])),
            "grpc: GOAWAY from the server (error code 4294967295) ''"
        );
        // A graceful GOAWAY that lets stream 1 finish.
        let away = f(GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]);
        let a = answer_of(&[away, ok_headers(), message(&[8, 1]), trailers("0", "")]);
        assert_eq!(judge(&a), Step::Done(Ok(())));
        // HTTP statuses other than 200, even with a grpc-status.
        let h = f(HEADERS, END_HEADERS, 1, &[0x8d]);
        assert_eq!(said(&answer_of(&[h])), "grpc: HTTP status 404");
        let h = f(HEADERS, END_HEADERS, 1, &[0x08, 0x03, b'5', b'\x1b', b'3']);
        assert_eq!(said(&answer_of(&[h])), "grpc: HTTP status 5\\x1b3");
        let h = f(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &[0x5f, 3, b'a', b'/', b'b'],
        );
        assert_eq!(said(&answer_of(&[h])), "grpc: no :status in the response");
        let push = f(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2, 0x88]);
        assert_eq!(
            said(&answer_of(&[push])),
            "grpc: an unexpected frame of type 5"
        );
    }

    #[test]
    fn frames_that_are_skipped_or_split() {
        let ping = f(6, 0, 0, &[1; 8]);
        let window = f(8, 0, 0, &[0, 0, 0, 5]);
        let unknown = f(0xfa, 0xff, 1, b"whatever");
        let other_stream = f(DATA, END_STREAM, 3, &[0, 0, 0, 0, 2, 8, 2]);
        // Padded DATA, HEADERS with PRIORITY and padding.
        let padded = f(DATA, PADDED, 1, &[3, 0, 0, 0, 0, 2, 8, 1, 0, 0, 0]);
        let prio = f(
            HEADERS,
            END_HEADERS | PRIORITY | PADDED,
            1,
            &[1, 0, 0, 0, 0, 16, 0x88, 0],
        );
        let a = answer_of(&[
            ping,
            window,
            unknown,
            other_stream,
            prio,
            padded,
            trailers("0", ""),
        ]);
        assert_eq!(judge(&a), Step::Done(Ok(())));
        let bad: &[(Vec<u8>, &str)] = &[
            (f(DATA, PADDED, 1, &[]), "grpc: an empty padded frame"),
            (
                f(DATA, PADDED, 1, &[5, 0]),
                "grpc: padding longer than its frame",
            ),
            (
                f(HEADERS, END_HEADERS | PRIORITY, 1, &[0, 0]),
                "grpc: a short HEADERS frame",
            ),
            (
                f(CONTINUATION, END_HEADERS, 1, &[0x88]),
                "grpc: an unexpected frame of type 9",
            ),
            (
                f(HEADERS, END_HEADERS, 1, &[0x80]),
                "grpc: bad header block: index 0",
            ),
        ];
        for (frame, reason) in bad {
            assert_eq!(said(&answer_of(std::slice::from_ref(frame))), *reason);
        }
        // Neither server splits a header block: CONTINUATION is not read.
        let open = f(HEADERS, 0, 1, &[0x88]);
        let a = answer_of(&[open]);
        assert_eq!(
            said(&a),
            "grpc: a header block continued in CONTINUATION frames"
        );
    }

    #[test]
    fn server_text_is_escaped_and_bounded() {
        let a = answer_of(&[ok_headers(), trailers("13", "a\nb\x1b[31m\x7f\\")]);
        assert_eq!(said(&a), "grpc: INTERNAL (13): a\\x0ab\\x1b[31m\\x7f\\\\");
        let long = "m".repeat(120);
        let a = answer_of(&[ok_headers(), trailers("2", &long)]);
        assert_eq!(
            said(&a),
            format!("grpc: UNKNOWN (2): {}...", &long[..QUOTE])
        );
        // A Huffman-coded grpc-message (etcd's `unknown service`) through the dynamic table:
        // the second call on a connection would index it.
        let mut b = hex("40899acac8b5254207317f8bb6aeb51fc54a20b677310b");
        b.extend_from_slice(&hex("400b677270632d7374617475730135"));
        let h = f(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &[&[0x88][..], &b].concat(),
        );
        assert_eq!(
            said(&answer_of(&[h])),
            "grpc: NOT_FOUND (5): unknown service"
        );
        // Dynamic entries referenced later: 0xbe is the newest (grpc-status 5), 0xbf the one before.
        let h1 = f(HEADERS, END_HEADERS, 1, &[&[0x88][..], &b].concat());
        let h2 = f(HEADERS, END_HEADERS | END_STREAM, 1, &[0xbe, 0xbf]);
        assert_eq!(
            said(&answer_of(&[h1, h2])),
            "grpc: NOT_FOUND (5): unknown service"
        );
    }

    #[test]
    fn health_and_varints() {
        assert_eq!(health(&[]), Some(0));
        assert_eq!(health(&[8, 1]), Some(1));
        assert_eq!(health(&[0x09, 1, 2, 3, 4, 5, 6, 7, 8, 8, 3]), Some(3));
        assert_eq!(health(&[0x0d, 1, 2, 3, 4, 8, 2]), Some(2));
        assert_eq!(health(&[0x0d, 1, 2, 3]), None);
        assert_eq!(health(&[0x12, 0x80, 0x80, 0x80, 0x80, 0x10]), None);
        assert_eq!(
            health(&[
                8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1
            ]),
            None
        );
        assert_eq!(varint(&mut &[0xac, 0x02][..]), Some(300));
    }
}
