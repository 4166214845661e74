//! Answers are Markdown from the model, sent in chunks of at most `textChunkLimit`
//! characters (each channel caps it at what its platform takes: Telegram 4096, Discord
//! 2000). A chunk boundary never leaves a code fence open: the fence is closed and
//! reopened in the next chunk. Shared by every channel.

/// No channel takes longer messages than this; shorter limits than 64 are raised to it.
pub const MAX_CHUNK: usize = 4096;

/// Splits Markdown into chunks of at most `limit` characters, preferring paragraph,
/// then line, then word boundaries, and keeping code fences balanced.
pub fn chunk_markdown(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.clamp(64, MAX_CHUNK);
    let mut out = vec![];
    let mut rest: String = text.trim().to_string();
    let mut reopen: Option<String> = None;
    while !rest.is_empty() {
        // The reopened fence is not content: a cut must land after it, or a chunk could
        // hold nothing but the fence and the loop would never end (found by fuzzing).
        let mut prefix = 0;
        if let Some(fence) = reopen.take() {
            rest = format!("{fence}\n{rest}");
            prefix = fence.len() + 1;
        }
        if rest.chars().count() <= limit {
            out.push(std::mem::take(&mut rest));
            break;
        }
        // Room for a closing fence if we split inside one.
        let budget = limit - 4;
        let byte_budget = rest
            .char_indices()
            .nth(budget)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let window = &rest[..byte_budget];
        let floor = (byte_budget / 3).max(prefix);
        // A cut inside a line must not start the next chunk with what would read as a
        // fence or a heading there: "see ```x" cut before the backticks would open a
        // code block the reply never had (found by fuzzing). Paragraph and line cuts
        // start real lines, so they are always fine.
        let tail_ok = |i: usize| {
            !starts_block(rest[i..].trim_start_matches([' ', '\n'])) && !splits_marker(&rest, i)
        };
        let cut = ["\n\n", "\n"]
            .iter()
            .find_map(|sep| window.rfind(sep).filter(|&i| i > floor))
            .or_else(|| {
                window
                    .rmatch_indices(' ')
                    .map(|(i, _)| i)
                    .take_while(|&i| i > floor)
                    .find(|&i| tail_ok(i))
            })
            .or_else(|| {
                (floor + 1..=byte_budget)
                    .rev()
                    .filter(|&i| rest.is_char_boundary(i))
                    .find(|&i| tail_ok(i))
            });
        // Only a line of nothing but backticks, `#` and spaces for a third of a chunk
        // leaves no such place: the next chunk then starts with a zero-width space.
        let (cut, guard) = match cut {
            Some(c) => (c, false),
            // A fence line longer than what is left: keep its marker whole on one
            // side (a zero-width space before it would hide the fence; a cut through
            // its backticks would break it): after its first three backticks, else
            // before the line.
            None => match fence_line_at(&rest, byte_budget) {
                // (The rest of its line then starts the next chunk: guarded, so that
                // a "```" further on that line does not become a fence of its own.)
                Some((_, marker_end)) if marker_end <= byte_budget && marker_end > prefix => {
                    (marker_end, true)
                }
                Some((ls, _)) if ls > prefix => (ls, false),
                // Even the whitespace before the backticks does not fit: it means nothing
                // there, so it goes, and the marker starts this chunk's content.
                Some((ls, marker_end)) => {
                    rest.replace_range(ls..marker_end - 3, "");
                    (ls + 3, true)
                }
                None => (byte_budget, true),
            },
        };
        let (head, tail) = rest.split_at(cut);
        let trimmed = tail.trim_start_matches([' ', '\n']);
        // A tail that starts a real line keeps its fence or heading: the guard is only
        // for a cut inside a line, whose rest must not turn into one.
        let at_line_start = head.is_empty()
            || head.ends_with('\n')
            || tail[..tail.len() - trimmed.len()].contains('\n');
        let guard = guard && !at_line_start;
        let mut head = head.trim_end().to_string();
        let mut tail = trimmed.to_string();
        if guard {
            tail.insert(0, '\u{200B}');
        }
        if let Some(open) = open_fence(&head) {
            head.push_str("\n```");
            reopen = Some(reopen_line(&open));
        }
        out.push(head);
        rest = tail;
    }
    out.retain(|c| !c.trim().is_empty());
    out
}

/// The fence line holding byte `i`: its start and the end of its first three backticks.
fn fence_line_at(text: &str, i: usize) -> Option<(usize, usize)> {
    let ls = text[..i].rfind('\n').map_or(0, |n| n + 1);
    let line = text[ls..].split('\n').next().unwrap_or_default();
    let body = line.trim_start();
    body.starts_with("```")
        .then(|| (ls, ls + (line.len() - body.len()) + 3))
}

/// Whether a cut at `i` falls inside a fence marker's first three backticks: the head
/// would keep `\r\r``` ` (no fence any more) and the tail `` `…`` (no fence either), so
/// a fence of the reply would vanish and the rest would change sides (found by
/// fuzzing: the fence line there was longer than a chunk).
fn splits_marker(text: &str, i: usize) -> bool {
    let ls = text[..i].rfind('\n').map_or(0, |n| n + 1);
    let line_head = text[ls..i].trim_start();
    !line_head.is_empty()
        && line_head.len() < 3
        && line_head.bytes().all(|b| b == b'`')
        && text[ls..].trim_start().starts_with("```")
}

/// Whether a line starting with `s` would render as a fence or a heading.
fn starts_block(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with("```") || t.starts_with('#')
}

/// The fence line that reopens a block in the next chunk: three backticks and the
/// language (at most 32 of its characters), whatever the opening line held, so that it
/// is always far shorter than a chunk.
fn reopen_line(open: &str) -> String {
    let lang: String = open
        .trim_start_matches('`')
        .trim()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '+')
        .take(32)
        .collect();
    format!("```{lang}")
}

/// The opening line of a fence left open at the end of `text`, if any.
fn open_fence(text: &str) -> Option<String> {
    let mut open: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") {
            open = match open {
                Some(_) => None,
                None => Some(t.to_string()),
            };
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_fence_line_never_stalls_the_chunker() {
        // Found by fuzz/fuzz_targets/markdown.rs: a fence opening line near the chunk
        // size was reopened whole in every chunk, and the loop never ended.
        let fence = format!("```{}rust", "\0".repeat(50));
        let text = format!(
            "{fence}\nfn main() {{\n    println!(\"x\");\n}}\n{}",
            "y ".repeat(200)
        );
        let chunks = chunk_markdown(&text, 64);
        assert!(chunks.len() > 3 && chunks.len() < 40, "{}", chunks.len());
        for c in &chunks {
            assert!(c.chars().count() <= 64, "{c:?}");
        }
        assert!(chunks[1].starts_with("```rust\n"), "{:?}", chunks[1]);
        // A cut inside a line never makes a fence or a heading of the rest.
        let mid = format!(
            "{} see ```not a fence and # not a heading {}",
            "w".repeat(40),
            "z ".repeat(30)
        );
        let chunks = chunk_markdown(&mid, 64);
        assert!(chunks.len() > 1);
        for c in &chunks[1..] {
            assert!(!starts_block(c), "{c:?}");
        }
        let run = format!("x {}", "`".repeat(200));
        for c in chunk_markdown(&run, 64).iter().skip(1) {
            assert!(
                c.starts_with('\u{200B}') && c.chars().count() <= 64,
                "{c:?}"
            );
        }
        let fence_only = format!("```{}\n{}", "a".repeat(100), "b ".repeat(100));
        let chunks = chunk_markdown(&fence_only, 64);
        assert!(chunks.iter().all(|c| c.chars().count() <= 64));
    }

    #[test]
    fn a_fence_line_longer_than_a_chunk_is_not_cut_through_its_backticks() {
        // Found by fuzz/fuzz_targets/markdown.rs: a cut between the first and second
        // backtick of "\r…\r```\r…" made the fence vanish.
        let line = format!("{}```{}a two word word", "\r".repeat(45), "\r".repeat(50));
        let text = format!("```\nx\nx\n{line}\n{}", "y ".repeat(80));
        let chunks = chunk_markdown(&text, 64);
        let fences = |t: &str| {
            t.lines()
                .filter(|l| l.trim_start().starts_with("```"))
                .count()
        };
        for c in &chunks {
            assert!(c.chars().count() <= 64, "{c:?}");
            assert_eq!(fences(c) % 2, 0, "open fence in {c:?}");
        }
        assert!(splits_marker("ab\n  ```x", 6) && splits_marker("ab\n  ```x", 7));
        assert!(!splits_marker("ab\n  ```x", 8) && !splits_marker("ab\n  `` `x", 6));
        assert!(!splits_marker("a `b", 3));
    }

    #[test]
    fn chunks_respect_limit_and_fences() {
        let para = "word ".repeat(300);
        let text = format!("{para}\n\n```\n{}\n```\nend", "line of code\n".repeat(400));
        let chunks = chunk_markdown(&text, 1000);
        assert!(chunks.len() > 5);
        for c in &chunks {
            assert!(c.chars().count() <= 1000, "{}", c.len());
            assert_eq!(c.matches("```").count() % 2, 0, "unbalanced fence in {c:?}");
        }
        let joined: String = chunks.concat();
        assert_eq!(joined.matches("line of code").count(), 400);
        assert!(chunks.last().unwrap().ends_with("end"));
        assert_eq!(chunk_markdown("short", 4000), vec!["short"]);
    }
}
