//! The Postfix policy delegation protocol (`SMTPD_POLICY_README`): a request is
//! `name=value` lines ended by an empty line; the answer is `action=...` and an empty line.
//! One connection carries any number of requests.

use std::io::{self, BufRead};

/// Longest attribute line accepted, newline included.
pub(crate) const MAX_LINE: usize = 8192;
/// Most attributes in one request (Postfix sends about 30).
pub(crate) const MAX_ATTRIBUTES: usize = 128;

/// One request's attributes, in order.
#[derive(Debug, Default)]
pub(crate) struct Request {
    attrs: Vec<(String, String)>,
}

impl Request {
    /// The value of attribute `name` (the last one if repeated), or "".
    pub(crate) fn get(&self, name: &str) -> &str {
        self.attrs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// What one read produced.
#[derive(Debug)]
pub(crate) enum Read {
    /// A complete request.
    Request(Request),
    /// A complete but malformed request (its empty line was read): answer it and go on.
    Malformed(String),
    /// The client closed the connection between requests.
    Eof,
}

enum LineRead {
    Eof,
    Complete,
    TooLong,
}

/// Read one line into `line` (without its LF or CRLF), at most `MAX_LINE` bytes.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<LineRead> {
    line.clear();
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if line.is_empty() {
                LineRead::Eof
            } else {
                // A last line without LF: the request is cut short.
                LineRead::TooLong
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (buf.get(..i).unwrap_or_default(), Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() >= MAX_LINE {
            return Ok(LineRead::TooLong);
        }
        line.extend_from_slice(chunk);
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(LineRead::Complete);
        }
    }
}

/// Read one request.
///
/// # Errors
/// I/O errors, and `InvalidData` for a line longer than [`MAX_LINE`] or a connection closed
/// in the middle of a request: the stream cannot be resynchronised, close it.
pub(crate) fn read_request(reader: &mut impl BufRead) -> io::Result<Read> {
    let mut request = Request::default();
    let mut problem: Option<String> = None;
    let mut line = Vec::new();
    let mut lines = 0usize;
    loop {
        match read_line(reader, &mut line)? {
            LineRead::Eof if lines == 0 => return Ok(Read::Eof),
            LineRead::Eof => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "connection closed inside a request",
                ));
            }
            LineRead::TooLong => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("attribute line longer than {MAX_LINE} bytes or unterminated"),
                ));
            }
            LineRead::Complete => {}
        }
        lines += 1;
        if line.is_empty() {
            break;
        }
        if problem.is_some() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            problem = Some(format!("attribute line {lines} is not UTF-8"));
            continue;
        };
        let Some((name, value)) = text.split_once('=') else {
            problem = Some(format!("attribute line {lines} has no '='"));
            continue;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            problem = Some(format!("attribute line {lines} has a bad name"));
            continue;
        }
        if request.attrs.len() >= MAX_ATTRIBUTES {
            problem = Some(format!("more than {MAX_ATTRIBUTES} attributes"));
            continue;
        }
        request.attrs.push((name.to_owned(), value.to_owned()));
    }
    if let Some(problem) = problem {
        return Ok(Read::Malformed(problem));
    }
    if request.get("request") != "smtpd_access_policy" {
        return Ok(Read::Malformed(format!(
            "request={:?}, expected smtpd_access_policy",
            request.get("request")
        )));
    }
    Ok(Read::Request(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_sequence() {
        let input = b"request=smtpd_access_policy\nsender=a@b\r\n\nrequest=x\n\nfoo\nrequest=smtpd_access_policy\n\n";
        let mut reader = &input[..];
        let Read::Request(r) = read_request(&mut reader).unwrap() else {
            panic!()
        };
        assert_eq!(r.get("sender"), "a@b");
        assert_eq!(r.get("recipient"), "");
        assert!(matches!(
            read_request(&mut reader).unwrap(),
            Read::Malformed(_)
        ));
        assert!(matches!(
            read_request(&mut reader).unwrap(),
            Read::Malformed(_)
        ));
        assert!(matches!(read_request(&mut reader).unwrap(), Read::Eof));
    }

    #[test]
    fn long_lines_and_cut_requests_are_errors() {
        let mut long = b"request=".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE));
        long.extend_from_slice(b"\n\n");
        assert!(read_request(&mut &long[..]).is_err());
        assert!(read_request(&mut &b"request=smtpd_access_policy\n"[..]).is_err());
    }
}
