//! Markdown (CommonMark plus strikethrough and task lists, what models write) to the
//! HTML subset Telegram accepts with `parse_mode: "HTML"`: `b i s u code pre a
//! blockquote`, and `&lt; &gt; &amp; &quot;` as the only entities. The parsing is
//! pulldown-cmark's, so escapes (`\*x\*`), nesting and link destinations with
//! parentheses follow the spec; this file only decides how each construct looks in a
//! chat. Raw HTML in the reply is shown as text, and links other than http(s), tg: and
//! mailto: keep their text only.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// Escapes text for Telegram HTML (outside attributes).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn attr(s: &str) -> String {
    escape(s).replace('"', "&quot;")
}

/// Link schemes that keep their link; anything else (`javascript:`, `file:`, relative
/// paths, which Telegram refuses) is shown as its text.
fn safe_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["http://", "https://", "tg://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// One open list: the next item's number, or `None` for bullets.
struct List(Option<u64>);

/// Markdown to Telegram HTML.
pub fn markdown_to_html(md: &str) -> String {
    let opts = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut out = String::with_capacity(md.len() + md.len() / 4);
    let mut lists: Vec<List> = vec![];
    // Links opened, with whether each was written as `<a>` (to close it the same way).
    let mut links: Vec<bool> = vec![];
    let block_gap = |out: &mut String| {
        let trimmed = out.trim_end_matches('\n').len();
        out.truncate(trimmed);
        // The first block of a document or of a quote needs no gap before it.
        if trimmed > 0 && !out.ends_with("<blockquote>") {
            out.push_str("\n\n");
        }
    };
    for ev in Parser::new_ext(md, opts) {
        match ev {
            Event::Start(tag) => match tag {
                Tag::Paragraph if lists.is_empty() => block_gap(&mut out),
                Tag::Heading { .. } => {
                    block_gap(&mut out);
                    out.push_str("<b>");
                }
                Tag::BlockQuote(_) => {
                    block_gap(&mut out);
                    out.push_str("<blockquote>");
                }
                Tag::CodeBlock(kind) => {
                    block_gap(&mut out);
                    let lang: String = match kind {
                        CodeBlockKind::Fenced(info) => info
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .chars()
                            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '+' | '#'))
                            .take(32)
                            .collect(),
                        CodeBlockKind::Indented => String::new(),
                    };
                    if lang.is_empty() {
                        out.push_str("<pre><code>");
                    } else {
                        out.push_str(&format!("<pre><code class=\"language-{lang}\">"));
                    }
                }
                Tag::List(start) => {
                    if lists.is_empty() {
                        block_gap(&mut out);
                    } else if !out.ends_with('\n') {
                        out.push('\n');
                    }
                    lists.push(List(start));
                }
                Tag::Item => {
                    let depth = lists.len().saturating_sub(1);
                    out.push_str(&"  ".repeat(depth));
                    match lists.last_mut() {
                        Some(List(Some(n))) => {
                            out.push_str(&format!("{n}. "));
                            *n += 1;
                        }
                        _ => out.push_str("• "),
                    }
                }
                Tag::Emphasis => out.push_str("<i>"),
                Tag::Strong => out.push_str("<b>"),
                Tag::Strikethrough => out.push_str("<s>"),
                Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                    let ok = safe_link(&dest_url);
                    if ok {
                        out.push_str(&format!("<a href=\"{}\">", attr(&dest_url)));
                    }
                    links.push(ok);
                }
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph if !lists.is_empty() => out.push('\n'),
                TagEnd::Heading(_) => out.push_str("</b>"),
                TagEnd::BlockQuote(_) => {
                    let trimmed = out.trim_end_matches('\n').len();
                    out.truncate(trimmed);
                    out.push_str("</blockquote>");
                }
                TagEnd::CodeBlock => {
                    let trimmed = out.trim_end_matches('\n').len();
                    out.truncate(trimmed);
                    out.push_str("</code></pre>");
                }
                TagEnd::List(_) => {
                    lists.pop();
                }
                TagEnd::Item if !out.ends_with('\n') => out.push('\n'),
                TagEnd::Emphasis => out.push_str("</i>"),
                TagEnd::Strong => out.push_str("</b>"),
                TagEnd::Strikethrough => out.push_str("</s>"),
                TagEnd::Link | TagEnd::Image if links.pop() == Some(true) => out.push_str("</a>"),
                _ => {}
            },
            Event::Text(t) => out.push_str(&escape(&t)),
            Event::Code(t) => {
                out.push_str("<code>");
                out.push_str(&escape(&t));
                out.push_str("</code>");
            }
            // Raw HTML from the model is shown, not interpreted.
            Event::Html(t) | Event::InlineHtml(t) => out.push_str(&escape(&t)),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Rule => {
                block_gap(&mut out);
                out.push_str("———");
            }
            Event::TaskListMarker(done) => out.push_str(if done { "☑ " } else { "☐ " }),
            Event::FootnoteReference(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                out.push_str(&escape(&t))
            }
        }
    }
    out.trim_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_spans() {
        assert_eq!(
            markdown_to_html("a < b & **c** `x<y>`"),
            "a &lt; b &amp; <b>c</b> <code>x&lt;y&gt;</code>"
        );
        assert_eq!(
            markdown_to_html("see [docs](https://x.y/a?b=1&c=2) _now_ ~~old~~"),
            "see <a href=\"https://x.y/a?b=1&amp;c=2\">docs</a> <i>now</i> <s>old</s>"
        );
        assert_eq!(
            markdown_to_html("snake_case_name 2 * 3 * 4"),
            "snake_case_name 2 * 3 * 4"
        );
        assert_eq!(
            markdown_to_html("Hello **Ada**, 2 < 3"),
            "Hello <b>Ada</b>, 2 &lt; 3"
        );
    }

    #[test]
    fn the_hand_parsers_mistakes_are_gone() {
        // Escaped emphasis is literal text.
        assert_eq!(markdown_to_html(r"\*x\*"), "*x*");
        // A destination with parentheses is one link.
        assert_eq!(
            markdown_to_html("[w](https://en.wikipedia.org/wiki/Rust_(programming_language))"),
            "<a href=\"https://en.wikipedia.org/wiki/Rust_(programming_language)\">w</a>"
        );
    }

    #[test]
    fn blocks() {
        assert_eq!(
            markdown_to_html("```rust\nfn a() {}\n```"),
            "<pre><code class=\"language-rust\">fn a() {}</code></pre>"
        );
        assert_eq!(markdown_to_html("## Title\ntext"), "<b>Title</b>\n\ntext");
        assert_eq!(markdown_to_html("- a\n- b\n  1. c"), "• a\n• b\n  1. c");
        assert_eq!(
            markdown_to_html("> quoted\n\nafter"),
            "<blockquote>quoted</blockquote>\n\nafter"
        );
        assert_eq!(markdown_to_html("p1\n\np2"), "p1\n\np2");
        assert_eq!(
            markdown_to_html("- [x] done\n- [ ] todo"),
            "• ☑ done\n• ☐ todo"
        );
    }

    #[test]
    fn hostile_markup_stays_text() {
        assert_eq!(
            markdown_to_html("<b>raw</b> <script>"),
            "&lt;b&gt;raw&lt;/b&gt; &lt;script&gt;"
        );
        assert_eq!(markdown_to_html("[x](javascript:alert(1))"), "x");
        assert_eq!(
            markdown_to_html("[q](https://a.b/\"onmouseover=x)"),
            "<a href=\"https://a.b/&quot;onmouseover=x\">q</a>"
        );
        assert_eq!(markdown_to_html("![alt](file:///etc/passwd)"), "alt");
    }
}
