//! Markdown to WhatsApp's own markup: `**bold**` is `*bold*`, `~~gone~~` is `~gone~`, a
//! heading is a bold line; code fences and inline code are the same in both and left
//! alone (and nothing inside them is touched).

/// Converts one chunk of Markdown.
pub fn to_whatsapp(md: &str) -> String {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in md.split('\n') {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            out.push(line.to_string());
            continue;
        }
        if in_fence {
            out.push(line.to_string());
            continue;
        }
        let t = line.trim_start();
        let hashes = t.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
            let title = inline(t[hashes..].trim());
            out.push(if title.is_empty() {
                String::new()
            } else {
                format!("*{}*", title.trim_matches('*'))
            });
        } else {
            out.push(inline(line));
        }
    }
    out.join("\n")
}

/// `**x**` → `*x*` and `~~x~~` → `~x~` outside inline code spans.
fn inline(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for (i, part) in line.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(part);
        } else {
            out.push_str(&part.replace("**", "*").replace("~~", "~"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_whatsapp;

    #[test]
    fn markdown_becomes_whatsapp_markup() {
        assert_eq!(to_whatsapp("**bold** and ~~old~~"), "*bold* and ~old~");
        assert_eq!(to_whatsapp("## Plan\nstep"), "*Plan*\nstep");
        assert_eq!(to_whatsapp("`a**b`"), "`a**b`");
        assert_eq!(
            to_whatsapp("```\n**keep**\n# keep\n```\n**x**"),
            "```\n**keep**\n# keep\n```\n*x*"
        );
        assert_eq!(to_whatsapp("#hashtag"), "#hashtag");
    }
}
