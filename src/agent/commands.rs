//! Chat commands answered without the model: `/new` and `/reset` start a fresh session,
//! `/status` reports model and session. A bot name suffix (`/status@mybot`) is accepted.

#[derive(Debug, PartialEq)]
pub enum Command<'a> {
    /// Reset, then run the rest of the message (if any) in the new session.
    Reset {
        rest: &'a str,
    },
    Status,
}

pub fn parse(message: &str) -> Option<Command<'_>> {
    let t = message.trim();
    if !t.starts_with('/') {
        return None;
    }
    let (head, rest) = match t.split_once(char::is_whitespace) {
        Some((h, r)) => (h, r.trim()),
        None => (t, ""),
    };
    let name = head.split('@').next().unwrap_or(head).to_ascii_lowercase();
    match name.as_str() {
        "/new" | "/reset" => Some(Command::Reset { rest }),
        "/status" if rest.is_empty() => Some(Command::Status),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("/new"), Some(Command::Reset { rest: "" }));
        assert_eq!(
            parse(" /reset@my_bot  hello there"),
            Some(Command::Reset {
                rest: "hello there"
            })
        );
        assert_eq!(parse("/STATUS"), Some(Command::Status));
        assert_eq!(parse("/status please"), None);
        assert_eq!(parse("what is /new"), None);
        assert_eq!(parse("/newt"), None);
    }
}
