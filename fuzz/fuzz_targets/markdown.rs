//! A model's reply on its way to Telegram: the chunker (every chunk within the limit,
//! none empty, no code fence left open) and Markdown → HTML (only tags Telegram knows,
//! balanced and properly nested, no raw `<` or `&` outside entities), since Telegram
//! rejects a message whose HTML it cannot parse.
#![no_main]

use clawdbot::channels::telegram::format::{chunk_markdown, markdown_to_html};
use libfuzzer_sys::fuzz_target;

const TAGS: &[&str] = &["b", "i", "s", "u", "code", "pre", "a", "blockquote"];

/// Checks the HTML the way Telegram's parser would reject it.
fn check_html(html: &str) {
    let mut stack: Vec<String> = vec![];
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        let tail = &rest[i..];
        if tail.starts_with('&') {
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;"]
                .iter()
                .any(|e| tail.starts_with(e));
            assert!(ok, "bare & in {html:?}");
            rest = &tail[1..];
            continue;
        }
        let end = tail
            .find('>')
            .unwrap_or_else(|| panic!("unclosed tag in {html:?}"));
        let tag = &tail[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name),
                "misnested </{name}> in {html:?}"
            );
        } else {
            let name = tag.split(' ').next().unwrap_or_default();
            assert!(TAGS.contains(&name), "tag <{name}> in {html:?}");
            assert!(
                !tag[name.len()..].contains('<'),
                "< inside a tag in {html:?}"
            );
            stack.push(name.to_string());
        }
        rest = &tail[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?} in {html:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&l, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    check_html(&markdown_to_html(text));
    let limit = 64 + l as usize * 16;
    let fence_lines = |t: &str| {
        t.lines()
            .filter(|l| l.trim_start().starts_with("```"))
            .count()
    };
    let input_open = fence_lines(text.trim()) % 2 == 1;
    let chunks = chunk_markdown(text, limit);
    for (i, chunk) in chunks.iter().enumerate() {
        assert!(!chunk.trim().is_empty());
        assert!(
            chunk.chars().count() <= limit.min(4096),
            "chunk of {} chars > {limit}",
            chunk.chars().count()
        );
        // A chunk never ends inside a fence, except the last when the reply itself does.
        let open = fence_lines(chunk) % 2 == 1;
        let last = i + 1 == chunks.len();
        assert!(
            !open || (last && input_open),
            "open fence in chunk {chunk:?}"
        );
        check_html(&markdown_to_html(chunk));
    }
});
