//! Allowlist mode runs a *simple command*: words, quoting, nothing else. This module
//! finds every piece of shell syntax that a shell would act on (and `execve` would not),
//! so such a command is refused or sent to an operator instead of being run differently
//! from how it reads. Splitting into words is `shell-words`; the detection is ours,
//! because a tokenizer alone cannot say whether a `;` was quoted.

/// The argv of a simple command, or why it is not one (names the syntax found).
pub fn simple_argv(command: &str) -> Result<Vec<String>, String> {
    if let Some(why) = shell_syntax(command) {
        return Err(why);
    }
    let argv = shell_words::split(command).map_err(|e| format!("cannot split words: {e}"))?;
    if argv.is_empty() {
        return Err("no program to run".into());
    }
    Ok(argv)
}

#[derive(Clone, Copy, PartialEq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The first piece of unquoted (or double-quote-live) shell syntax in `s`, described.
pub fn shell_syntax(s: &str) -> Option<String> {
    let found =
        |what: &str, c: char| Some(format!("shell syntax {what} (`{}`)", c.escape_default()));
    let mut q = Quote::None;
    // At the start of a word (for `~`, `#`), and still in the first word's leading
    // unquoted name (for `NAME=value` prefixes).
    let mut word_start = true;
    let mut first_word = true;
    let mut name_so_far = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\0' {
            return Some("a NUL byte".into());
        }
        match q {
            Quote::Single => {
                if c == '\'' {
                    q = Quote::None;
                }
                continue;
            }
            Quote::Double => {
                match c {
                    '"' => q = Quote::None,
                    '\\' => {
                        chars.next();
                    }
                    '$' => return found("expansion inside double quotes", c),
                    '`' => return found("command substitution inside double quotes", c),
                    _ => {}
                }
                continue;
            }
            Quote::None => {}
        }
        let at_start = word_start;
        word_start = false;
        match c {
            ' ' | '\t' => {
                word_start = true;
                if !at_start {
                    first_word = false;
                }
                continue;
            }
            '\n' | '\r' => return found("a line break (a second command)", c),
            ';' => return found("a command separator", c),
            '&' => return found("a background or `&&` list", c),
            '|' => return found("a pipe or `||` list", c),
            '<' | '>' => return found("a redirection", c),
            '(' | ')' => return found("a subshell or grouping", c),
            '$' => return found("expansion", c),
            '`' => return found("command substitution", c),
            '*' | '?' | '[' | ']' => return found("a glob", c),
            '{' | '}' => return found("brace expansion or grouping", c),
            '~' if at_start => return found("home-directory expansion", c),
            '#' if at_start => return found("a comment", c),
            '\\' => {
                // An escaped character is literal; an escaped line break joins lines.
                match chars.next() {
                    Some('\n') | Some('\r') => return found("a line continuation", '\n'),
                    _ => {
                        name_so_far.push('\0');
                        continue;
                    }
                }
            }
            '\'' => q = Quote::Single,
            '"' => q = Quote::Double,
            '=' if first_word && is_name(&name_so_far) => {
                return Some(format!(
                    "an environment assignment prefix (`{name_so_far}=`): set variables with tools.exec.env"
                ));
            }
            _ => {}
        }
        if first_word {
            // Quotes make the word no longer a plain assignment name.
            name_so_far.push(if matches!(c, '\'' | '"') { '\0' } else { c });
        }
    }
    match q {
        Quote::None => None,
        _ => Some("an unterminated quote".into()),
    }
}

fn is_name(s: &str) -> bool {
    let mut it = s.chars();
    matches!(it.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && it.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bypass_of_the_issue_is_shell_syntax() {
        for (cmd, what) in [
            ("ls ; cat /etc/passwd", "separator"),
            ("ls;cat /etc/passwd", "separator"),
            ("ls && cat /etc/passwd", "`&&`"),
            ("ls & cat /etc/passwd", "background"),
            ("ls || cat /etc/passwd", "pipe"),
            ("ls | cat /etc/passwd", "pipe"),
            ("ls $(cat /etc/passwd)", "expansion"),
            ("ls ${HOME}", "expansion"),
            ("ls $HOME", "expansion"),
            ("echo `cat /etc/passwd`", "command substitution"),
            ("echo \"`cat /etc/passwd`\"", "inside double quotes"),
            ("echo \"$(cat /etc/passwd)\"", "inside double quotes"),
            ("ls\ncat /etc/passwd", "line break"),
            ("ls\rcat /etc/passwd", "line break"),
            ("ls \\\ncat", "line continuation"),
            ("PATH=/x:$PATH ls", "assignment"),
            ("PATH=/x ls", "assignment"),
            ("LD_PRELOAD=/tmp/x.so ls", "assignment"),
            ("ls *", "glob"),
            ("ls /etc/pass?d", "glob"),
            ("ls /etc/[p]asswd", "glob"),
            ("ls > /tmp/x", "redirection"),
            ("ls 2>/tmp/x", "redirection"),
            ("cat </etc/passwd", "redirection"),
            ("ls <<EOF", "redirection"),
            ("(cat /etc/passwd)", "subshell"),
            ("{ cat /etc/passwd; }", "brace"),
            ("ls ~", "home-directory"),
            ("ls ~root", "home-directory"),
            ("ls # hidden", "comment"),
            ("echo 'unterminated", "unterminated"),
            ("ls \0", "NUL"),
        ] {
            let why = simple_argv(cmd).expect_err(cmd);
            assert!(why.contains(what), "{cmd:?}: {why}");
        }
    }

    #[test]
    fn quotes_and_escapes_make_metacharacters_literal() {
        for (cmd, argv) in [
            ("echo 'a;b'", vec!["echo", "a;b"]),
            ("echo \"a;b|c&d\"", vec!["echo", "a;b|c&d"]),
            ("echo 'a $(x) `y` *'", vec!["echo", "a $(x) `y` *"]),
            ("echo a\\;b", vec!["echo", "a;b"]),
            ("echo \\*", vec!["echo", "*"]),
            ("echo a~b x=y", vec!["echo", "a~b", "x=y"]),
            ("ls -la", vec!["ls", "-la"]),
            ("  ls   -la\t/tmp ", vec!["ls", "-la", "/tmp"]),
            ("'PATH=/x' ls", vec!["PATH=/x", "ls"]),
            ("\\PATH=/x", vec!["PATH=/x"]),
            ("echo \"it's\"", vec!["echo", "it's"]),
            ("git commit -m 'a\nb'", vec!["git", "commit", "-m", "a\nb"]),
            ("echo a#b", vec!["echo", "a#b"]),
        ] {
            assert_eq!(simple_argv(cmd).expect(cmd), argv, "{cmd:?}");
        }
        assert!(simple_argv("   ").is_err());
    }
}
