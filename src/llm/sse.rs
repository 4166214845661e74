//! A server-sent-events reader over a streaming HTTP body, with an idle timeout so a
//! provider that stops sending counts as a timeout (a failover reason), not a hang.

use futures_util::StreamExt;

use super::{FailReason, IDLE_TIMEOUT, LlmError};

/// One SSE event: its `event:` name (empty when absent) and joined `data:` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

pub struct SseReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: Vec<u8>,
    done: bool,
}

impl SseReader {
    pub fn new(resp: reqwest::Response) -> SseReader {
        SseReader {
            body: resp.bytes_stream().boxed(),
            buf: Vec::new(),
            done: false,
        }
    }

    /// The next event, `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<Result<SseEvent, LlmError>> {
        loop {
            if let Some(ev) = take_event(&mut self.buf) {
                return Some(Ok(ev));
            }
            if self.done {
                // A final event without the blank line that should end it.
                if self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
                    self.buf.extend_from_slice(b"\n\n");
                    continue;
                }
                return None;
            }
            match tokio::time::timeout(IDLE_TIMEOUT, self.body.next()).await {
                Err(_) => {
                    return Some(Err(LlmError::new(
                        FailReason::Timeout,
                        format!("no data for {}s; timed out", IDLE_TIMEOUT.as_secs()),
                    )));
                }
                Ok(None) => self.done = true,
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Some(Err(e))) => return Some(Err(LlmError::from_transport(&e))),
            }
        }
    }
}

/// Removes and parses one complete event (terminated by a blank line) from `buf`.
pub fn take_event(buf: &mut Vec<u8>) -> Option<SseEvent> {
    loop {
        let end = find_blank_line(buf)?;
        let raw: Vec<u8> = buf.drain(..end.0).collect();
        buf.drain(..end.1);
        let text = String::from_utf8_lossy(&raw);
        let mut ev = SseEvent {
            event: String::new(),
            data: String::new(),
        };
        let mut has_data = false;
        for line in text.lines() {
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => ev.event = value.to_string(),
                "data" => {
                    if has_data {
                        ev.data.push('\n');
                    }
                    ev.data.push_str(value);
                    has_data = true;
                }
                _ => {}
            }
        }
        if has_data {
            return Some(ev);
        }
    }
}

/// (index of the blank line, length of the separator) for `\n\n` or `\r\n\r\n`.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_anywhere() {
        let input = b": ping\n\nevent: message_start\ndata: {\"a\":1}\n\ndata: x\ndata: y\r\n\r\nevent: partial";
        let mut buf = input.to_vec();
        assert_eq!(
            take_event(&mut buf),
            Some(SseEvent {
                event: "message_start".into(),
                data: "{\"a\":1}".into()
            })
        );
        assert_eq!(take_event(&mut buf).unwrap().data, "x\ny");
        assert_eq!(take_event(&mut buf), None);
        assert_eq!(buf, b"event: partial");
    }
}
