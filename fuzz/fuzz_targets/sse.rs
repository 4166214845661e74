//! A model's event stream: bytes cut into network chunks at arbitrary points must give
//! the same events as the whole body at once; the events then go through both
//! providers' stream decoders (Anthropic Messages, OpenAI Chat Completions), which must
//! end in a completion or an error, never a panic or an unbounded allocation.
#![no_main]

use clawdbot::llm::sse::{SseEvent, take_event};
use clawdbot::llm::{anthropic, openai};
use libfuzzer_sys::fuzz_target;

fn events_in_chunks(body: &[u8], cuts: &[u8]) -> Vec<SseEvent> {
    let mut buf = vec![];
    let mut out = vec![];
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = (cuts.get(i).copied().unwrap_or(255) as usize % 64 + 1).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        i += 1;
        while let Some(ev) = take_event(&mut buf) {
            out.push(ev);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (cuts, body) = data.split_at(data.len().min(8));
    let mut whole = body.to_vec();
    let mut all = vec![];
    while let Some(ev) = take_event(&mut whole) {
        all.push(ev);
    }
    assert_eq!(
        events_in_chunks(body, cuts),
        all,
        "chunking changed the events"
    );
    let mut a = anthropic::Decoder::default();
    let mut o = openai::Decoder::default();
    let (mut a_live, mut o_live) = (true, true);
    for ev in &all {
        if a_live {
            a_live = matches!(a.event(ev, &|_| {}), Ok(false));
        }
        if o_live {
            o_live = matches!(o.event(ev, &|_| {}), Ok(false));
        }
    }
    if let Ok(c) = a.finish() {
        assert!(!c.stop_reason.is_empty());
    }
    if let Ok(c) = o.finish() {
        assert!(!c.stop_reason.is_empty());
    }
});
