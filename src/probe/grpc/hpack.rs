//! HPACK (RFC 7541) decoding: the half of HTTP/2 header compression a gRPC client needs to read
//! a server's response headers and trailers.
//!
//! Servers add what they send to the dynamic table and Huffman-code names and values (etcd's
//! `grpc-status` included), so both are here; kept small for the binary's size budget: the
//! static table is one string, and the Huffman code is rebuilt from its 257 code lengths (the
//! code of Appendix B is canonical) instead of a decoding tree.

/// The static table (Appendix A), entries 1 to 61 split by `|`, a value after `=`.
const STATIC: &str = ":authority|:method=GET|:method=POST|:path=/|:path=/index.html|:scheme=http|\
:scheme=https|:status=200|:status=204|:status=206|:status=304|:status=400|:status=404|\
:status=500|accept-charset|accept-encoding=gzip, deflate|accept-language|accept-ranges|accept|\
access-control-allow-origin|age|allow|authorization|cache-control|content-disposition|\
content-encoding|content-language|content-length|content-location|content-range|content-type|\
cookie|date|etag|expect|expires|from|host|if-match|if-modified-since|if-none-match|if-range|\
if-unmodified-since|last-modified|link|location|max-forwards|proxy-authenticate|\
proxy-authorization|range|referer|refresh|retry-after|server|set-cookie|\
strict-transport-security|transfer-encoding|user-agent|vary|via|www-authenticate";

/// The Huffman code's length in bits for each symbol 0 to 256 (EOS), as `b'0' + length`.
const LENGTHS: &[u8; 257] = b"=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=6\
777777777777777777777787\
8=C=>6?56565666577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGF\
GGDFFFGFFGJJDCFGFIJJJKKJHICEJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJN";

/// The dynamic table's size until the server says otherwise: the default of
/// SETTINGS_HEADER_TABLE_SIZE, which the client never changes.
const TABLE_SIZE: usize = 4096;

/// Why a header block could not be decoded.
pub type Error = &'static str;

/// One connection's decoding state: the dynamic table, newest entry first.
#[derive(Debug)]
pub struct Decoder {
    table: Vec<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max: usize,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            table: Vec::new(),
            size: 0,
            max: TABLE_SIZE,
        }
    }

    /// Decodes one complete header block, calling `field` with each name and value in order.
    pub fn block(
        &mut self,
        mut b: &[u8],
        field: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), Error> {
        while let Some(&first) = b.first() {
            if first & 0x80 != 0 {
                let (name, value) = self.entry(int(&mut b, 7)?)?;
                field(name, value);
            } else if first & 0xe0 == 0x20 {
                let max = int(&mut b, 5)?;
                if max > TABLE_SIZE {
                    return Err("table size update over 4096");
                }
                self.max = max;
                self.evict();
            } else {
                // 01: with incremental indexing; 0000 and 0001: without, never indexed.
                let indexed = first & 0x40 != 0;
                let i = int(&mut b, if indexed { 6 } else { 4 })?;
                let name = match i {
                    0 => string(&mut b)?,
                    i => self.entry(i)?.0.to_vec(),
                };
                let value = string(&mut b)?;
                field(&name, &value);
                if indexed {
                    self.size += name.len() + value.len() + 32;
                    self.table.insert(0, (name, value));
                    self.evict();
                }
            }
        }
        Ok(())
    }

    /// Entry `i` of the static table (1 to 61), then of the dynamic one.
    fn entry(&self, i: usize) -> Result<(&[u8], &[u8]), Error> {
        if let Some(i) = i.checked_sub(62) {
            let (n, v) = self.table.get(i).ok_or("index beyond the table")?;
            return Ok((n, v));
        }
        let entry = (i.checked_sub(1).and_then(|i| STATIC.split('|').nth(i))).ok_or("index 0")?;
        let (n, v) = entry.split_once('=').unwrap_or((entry, ""));
        Ok((n.as_bytes(), v.as_bytes()))
    }

    /// Drops the oldest entries until the table fits its size.
    fn evict(&mut self) {
        while self.size > self.max {
            match self.table.pop() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => self.size = 0,
            }
        }
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

/// An integer with an `n`-bit prefix (5.1), bounded far below overflow.
fn int(b: &mut &[u8], n: u32) -> Result<usize, Error> {
    let mask = (1u8 << n) - 1;
    let (&first, rest) = b.split_first().ok_or("truncated integer")?;
    *b = rest;
    let mut v = usize::from(first & mask);
    if v < usize::from(mask) {
        return Ok(v);
    }
    for shift in [0, 7, 14, 21] {
        let (&byte, rest) = b.split_first().ok_or("truncated integer")?;
        *b = rest;
        v += usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("integer too large")
}

/// A string literal (5.2): its length checked against the block before it is taken.
fn string(b: &mut &[u8]) -> Result<Vec<u8>, Error> {
    let huffman = b.first().is_some_and(|f| f & 0x80 != 0);
    let len = int(b, 7)?;
    if len > b.len() {
        return Err("string longer than its block");
    }
    let (s, rest) = b.split_at(len);
    *b = rest;
    if huffman { decode(s) } else { Ok(s.to_vec()) }
}

/// Decodes a Huffman-coded string (Appendix B), bit by bit over the canonical code: the codes
/// of one length are consecutive numbers, in the order of their symbols.
pub fn decode(s: &[u8]) -> Result<Vec<u8>, Error> {
    let mut count = [0u32; 32];
    for &l in LENGTHS {
        count[usize::from(l - b'0')] += 1;
    }
    let mut out = Vec::with_capacity(s.len() * 2);
    // The bits read of the current symbol, how many, and the first code of that length.
    let (mut code, mut len, mut first) = (0u32, 0usize, 0u32);
    for i in 0..s.len() * 8 {
        code = code << 1 | u32::from(s[i / 8] >> (7 - i % 8) & 1);
        len += 1;
        let k = code - first;
        if k < count[len] {
            let mut of_len = (0u16..)
                .zip(LENGTHS)
                .filter(|(_, l)| usize::from(**l - b'0') == len);
            match of_len.nth(k as usize) {
                Some((sym, _)) if sym < 256 => out.push(sym as u8),
                _ => return Err("EOS in a Huffman string"),
            }
            (code, len, first) = (0, 0, 0);
        } else if len == 30 {
            return Err("bad Huffman code");
        } else {
            first = (first + count[len]) << 1;
        }
    }
    // Padding: at most 7 bits, the most significant bits of EOS (all ones).
    if len > 7 || code != (1 << len) - 1 {
        return Err("bad Huffman padding");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::grpc::tests::hex;

    fn fields(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, Error> {
        let mut out = Vec::new();
        d.block(block, &mut |n, v| {
            out.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ))
        })?;
        Ok(out)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_static_table_has_61_entries() {
        let d = Decoder::new();
        assert_eq!(STATIC.split('|').count(), 61);
        assert_eq!(d.entry(8).unwrap(), (&b":status"[..], &b"200"[..]));
        assert_eq!(
            d.entry(16).unwrap(),
            (&b"accept-encoding"[..], &b"gzip, deflate"[..])
        );
        assert_eq!(d.entry(61).unwrap(), (&b"www-authenticate"[..], &b""[..]));
        assert!(d.entry(0).is_err());
        assert!(d.entry(62).is_err());
    }

    #[test]
    fn integers_of_appendix_c1() {
        // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337; C.1.3: 42 (here with a 7-bit prefix).
        assert_eq!(int(&mut &[0x0a][..], 5), Ok(10));
        assert_eq!(int(&mut &[0x1f, 0x9a, 0x0a][..], 5), Ok(1337));
        assert_eq!(int(&mut &[0x2a][..], 7), Ok(42));
        assert!(int(&mut &[0x1f, 0x9a][..], 5).is_err());
        assert!(int(&mut &[0x1f, 0xff, 0xff, 0xff, 0xff, 0x01][..], 5).is_err());
    }

    #[test]
    fn the_code_is_canonical_and_complete() {
        // Kraft's sum of a complete code is exactly 1.
        let sum: u64 = LENGTHS.iter().map(|l| 1u64 << (30 - (l - b'0'))).sum();
        assert_eq!(sum, 1 << 30);
        // Every byte decodes from its own code, built canonically here.
        let mut syms: Vec<usize> = (0..257).collect();
        syms.sort_by_key(|&s| (LENGTHS[s], s));
        let (mut code, mut prev) = (0u64, LENGTHS[syms[0]] - b'0');
        for (i, &s) in syms.iter().enumerate() {
            let l = LENGTHS[s] - b'0';
            if i > 0 {
                code = (code + 1) << (l - prev);
            }
            prev = l;
            if s == 256 {
                assert_eq!(code, (1 << 30) - 1, "EOS is all ones");
                continue;
            }
            // The code, then ones to the next byte.
            let bits = u64::from(l);
            let pad = (8 - bits % 8) % 8;
            let v = code << pad | ((1 << pad) - 1);
            let n = ((bits + pad) / 8) as usize;
            let bytes: Vec<u8> = (0..n).rev().map(|i| (v >> (8 * i)) as u8).collect();
            assert_eq!(decode(&bytes), Ok(vec![s as u8]), "symbol {s}");
        }
    }

    #[test]
    fn huffman_strings_of_appendix_c4_and_c6() {
        let cases = [
            ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"),
            ("a8eb 1064 9cbf", "no-cache"),
            ("25a8 49e9 5ba9 7d7f", "custom-key"),
            ("25a8 49e9 5bb8 e8b4 bf", "custom-value"),
            ("6402", "302"),
            ("aec3 771a 4b", "private"),
            (
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
                "Mon, 21 Oct 2013 20:13:21 GMT",
            ),
            (
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
                "https://www.example.com",
            ),
            ("", ""),
        ];
        for (code, text) in cases {
            assert_eq!(decode(&hex(code)), Ok(text.as_bytes().to_vec()), "{text}");
        }
    }

    #[test]
    fn bad_huffman_is_an_error() {
        // Padding of 8 bits or more, padding with a zero, EOS itself.
        assert!(decode(&[0xff]).is_err());
        assert!(decode(&[0x64]).is_err());
        assert!(decode(&[0xff, 0xff, 0xff, 0xfc]).is_err());
        assert!(decode(&[0xfe]).is_err());
    }

    #[test]
    fn requests_of_appendix_c3_without_huffman() {
        let mut d = Decoder::new();
        let first = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
        assert_eq!(
            fields(&mut d, &first),
            Ok(pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ]))
        );
        assert_eq!(d.size, 57);
        let second = hex("8286 84be 5808 6e6f 2d63 6163 6865");
        assert_eq!(
            fields(&mut d, &second),
            Ok(pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ]))
        );
        assert_eq!(d.size, 110);
        let third = hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
        assert_eq!(
            fields(&mut d, &third),
            Ok(pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ]))
        );
        assert_eq!(d.size, 164);
    }

    #[test]
    fn responses_of_appendix_c6_with_huffman_and_eviction() {
        let mut d = Decoder::new();
        // C.6 uses a table of 256 octets: a size update sets it.
        assert_eq!(fields(&mut d, &[0x3f, 0xe1, 0x01]), Ok(vec![]));
        assert_eq!(d.max, 256);
        let first = hex(
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        );
        let date = "Mon, 21 Oct 2013 20:13:21 GMT";
        assert_eq!(
            fields(&mut d, &first),
            Ok(pairs(&[
                (":status", "302"),
                ("cache-control", "private"),
                ("date", date),
                ("location", "https://www.example.com"),
            ]))
        );
        assert_eq!(d.size, 222);
        let second = hex("4883 640e ffc1 c0bf");
        assert_eq!(
            fields(&mut d, &second),
            Ok(pairs(&[
                (":status", "307"),
                ("cache-control", "private"),
                ("date", date),
                ("location", "https://www.example.com"),
            ]))
        );
        assert_eq!(d.size, 222);
        let third = hex(
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        );
        assert_eq!(
            fields(&mut d, &third),
            Ok(pairs(&[
                (":status", "200"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                ("location", "https://www.example.com"),
                ("content-encoding", "gzip"),
                (
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
                ),
            ]))
        );
        assert_eq!(d.size, 215);
        assert_eq!(d.table.len(), 3);
    }

    #[test]
    fn bad_blocks_are_errors() {
        let mut d = Decoder::new();
        for block in [
            &[0x80][..],             // index 0
            &[0xbe][..],             // index 62, an empty dynamic table
            &[0x3f, 0xe2, 0x1f][..], // a size update over 4096
            &[0x40, 0x05, b'a'][..], // a name longer than its block
            &[0x0f][..],             // a truncated integer
            &[0x00, 0x81, 0x00][..], // bad Huffman padding in a name
        ] {
            assert!(fields(&mut d, block).is_err(), "{block:02x?}");
        }
    }
}
