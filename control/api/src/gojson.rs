//! The syntax errors Go's `encoding/json` reports, word for word, for the request bodies
//! kube-apiserver quotes them for (`invalid character 'a' looking for beginning of value`,
//! `unexpected end of JSON input`). A byte-at-a-time scanner with the states of Go's.

/// What the scanner is inside of, per nesting level.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

/// The scanner's state: where the next byte is expected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    BeginValueOrEmpty,
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    /// Inside `\u`, with this many hex digits read.
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside a literal (`true`, `false`, `null`), with this much of it read.
    Literal(&'static str, usize),
}

/// Go's limit on nesting.
const MAX_DEPTH: usize = 10_000;

struct Scanner {
    state: State,
    levels: Vec<Level>,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// A byte as Go's `quoteChar` shows it in messages.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        b'\\' => r"'\\'".into(),
        0x07 => r"'\a'".into(),
        0x08 => r"'\b'".into(),
        0x0c => r"'\f'".into(),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        0x0b => r"'\v'".into(),
        c if c < 0x20 || c == 0x7f => format!(r"'\x{c:02x}'"),
        // C1 controls and the soft hyphen are not printable to Go.
        c if (0x80..=0x9f).contains(&c) || c == 0xad => format!(r"'\u{c:04x}'"),
        c => format!("'{}'", char::from(c)),
    }
}

type Step = Result<(), String>;

fn invalid(c: u8, context: &str) -> Step {
    Err(format!("invalid character {} {context}", quote_char(c)))
}

impl Scanner {
    fn push(&mut self, level: Level) -> Step {
        if self.levels.len() >= MAX_DEPTH {
            return Err("exceeded max depth".into());
        }
        self.levels.push(level);
        Ok(())
    }

    fn pop(&mut self) {
        self.levels.pop();
        self.state = if self.levels.is_empty() {
            State::EndTop
        } else {
            State::EndValue
        };
    }

    fn begin_value(&mut self, c: u8) -> Step {
        if is_space(c) {
            return Ok(());
        }
        self.state = match c {
            b'{' => {
                self.push(Level::ObjectKey)?;
                State::BeginStringOrEmpty
            }
            b'[' => {
                self.push(Level::ArrayValue)?;
                State::BeginValueOrEmpty
            }
            b'"' => State::InString,
            b'-' => State::Neg,
            b'0' => State::Zero,
            b'1'..=b'9' => State::One,
            b't' => State::Literal("true", 1),
            b'f' => State::Literal("false", 1),
            b'n' => State::Literal("null", 1),
            _ => return invalid(c, "looking for beginning of value"),
        };
        Ok(())
    }

    fn begin_string(&mut self, c: u8) -> Step {
        if is_space(c) {
            return Ok(());
        }
        if c == b'"' {
            self.state = State::InString;
            return Ok(());
        }
        invalid(c, "looking for beginning of object key string")
    }

    fn end_value(&mut self, c: u8) -> Step {
        let Some(level) = self.levels.last_mut() else {
            self.state = State::EndTop;
            return self.end_top(c);
        };
        if is_space(c) {
            self.state = State::EndValue;
            return Ok(());
        }
        match (*level, c) {
            (Level::ObjectKey, b':') => {
                *level = Level::ObjectValue;
                self.state = State::BeginValue;
            }
            (Level::ObjectKey, _) => return invalid(c, "after object key"),
            (Level::ObjectValue, b',') => {
                *level = Level::ObjectKey;
                self.state = State::BeginString;
            }
            (Level::ObjectValue, b'}') | (Level::ArrayValue, b']') => self.pop(),
            (Level::ObjectValue, _) => return invalid(c, "after object key:value pair"),
            (Level::ArrayValue, b',') => self.state = State::BeginValue,
            (Level::ArrayValue, _) => return invalid(c, "after array element"),
        }
        Ok(())
    }

    fn end_top(&mut self, c: u8) -> Step {
        if is_space(c) {
            Ok(())
        } else {
            invalid(c, "after top-level value")
        }
    }

    fn step(&mut self, c: u8) -> Step {
        match self.state {
            State::BeginValueOrEmpty if c == b']' => self.end_value(c),
            State::BeginValueOrEmpty | State::BeginValue => self.begin_value(c),
            State::BeginStringOrEmpty if c == b'}' => {
                if let Some(level) = self.levels.last_mut() {
                    *level = Level::ObjectValue;
                }
                self.end_value(c)
            }
            State::BeginStringOrEmpty | State::BeginString => self.begin_string(c),
            State::EndValue => self.end_value(c),
            State::EndTop => self.end_top(c),
            State::InString => {
                match c {
                    b'"' => self.state = State::EndValue,
                    b'\\' => self.state = State::InStringEsc,
                    c if c < 0x20 => return invalid(c, "in string literal"),
                    _ => {}
                }
                Ok(())
            }
            State::InStringEsc => {
                self.state = match c {
                    b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => State::InString,
                    b'u' => State::InStringEscU(0),
                    _ => return invalid(c, "in string escape code"),
                };
                Ok(())
            }
            State::InStringEscU(n) => {
                if !c.is_ascii_hexdigit() {
                    return invalid(c, r"in \u hexadecimal character escape");
                }
                self.state = if n == 3 {
                    State::InString
                } else {
                    State::InStringEscU(n + 1)
                };
                Ok(())
            }
            State::Neg => {
                self.state = match c {
                    b'0' => State::Zero,
                    b'1'..=b'9' => State::One,
                    _ => return invalid(c, "in numeric literal"),
                };
                Ok(())
            }
            State::One if c.is_ascii_digit() => Ok(()),
            State::One | State::Zero => match c {
                b'.' => {
                    self.state = State::Dot;
                    Ok(())
                }
                b'e' | b'E' => {
                    self.state = State::E;
                    Ok(())
                }
                _ => self.end_value(c),
            },
            State::Dot => {
                if !c.is_ascii_digit() {
                    return invalid(c, "after decimal point in numeric literal");
                }
                self.state = State::Dot0;
                Ok(())
            }
            State::Dot0 => match c {
                c if c.is_ascii_digit() => Ok(()),
                b'e' | b'E' => {
                    self.state = State::E;
                    Ok(())
                }
                _ => self.end_value(c),
            },
            State::E if matches!(c, b'+' | b'-') => {
                self.state = State::ESign;
                Ok(())
            }
            State::E | State::ESign => {
                if !c.is_ascii_digit() {
                    return invalid(c, "in exponent of numeric literal");
                }
                self.state = State::E0;
                Ok(())
            }
            State::E0 if c.is_ascii_digit() => Ok(()),
            State::E0 => self.end_value(c),
            State::Literal(word, at) => {
                let want = word.as_bytes()[at];
                if c != want {
                    return invalid(
                        c,
                        &format!("in literal {word} (expecting '{}')", char::from(want)),
                    );
                }
                self.state = if at + 1 == word.len() {
                    State::EndValue
                } else {
                    State::Literal(word, at + 1)
                };
                Ok(())
            }
        }
    }
}

/// The error Go's `json.Unmarshal` gives for malformed `data`, or `None` if it is valid JSON.
pub fn syntax_error(data: &[u8]) -> Option<String> {
    let mut s = Scanner {
        state: State::BeginValue,
        levels: Vec::new(),
    };
    for &c in data {
        if let Err(e) = s.step(c) {
            return Some(e);
        }
    }
    // At the end, as Go does: a space ends a number or a top-level value, and its own
    // error (a space inside a literal) is the one reported.
    if s.state != State::EndTop {
        if let Err(e) = s.step(b' ') {
            return Some(e);
        }
        if s.state != State::EndTop {
            return Some("unexpected end of JSON input".into());
        }
    }
    None
}

/// The body as kube-apiserver quotes it in decode errors (`summarizeData`): the first 30
/// bytes of a JSON object as text, anything else in hex.
pub fn summarize(data: &[u8]) -> String {
    const MAX: usize = 30;
    let (head, more) = if data.len() > MAX {
        (&data[..MAX], " ...")
    } else {
        (data, "")
    };
    match data.first() {
        None => "<empty>".into(),
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(head)),
        Some(_) => {
            let hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}{more}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        syntax_error(s.as_bytes()).unwrap_or_else(|| panic!("{s:?} should be invalid"))
    }

    #[test]
    fn valid_documents_pass() {
        for ok in [
            "{}",
            " [ ] ",
            r#"{"a": [1, -0.5e+3, true, false, null, "x\u00e9\n"]}"#,
            "0",
            "-12.5E7",
            "\"s\"",
        ] {
            assert_eq!(syntax_error(ok.as_bytes()), None, "{ok}");
        }
    }

    #[test]
    fn errors_read_as_go_writes_them() {
        assert_eq!(
            err("apiVersion: v1"),
            "invalid character 'a' looking for beginning of value"
        );
        assert_eq!(err(""), "unexpected end of JSON input");
        assert_eq!(
            err(r#"{"metadata": {"name": "#),
            "unexpected end of JSON input"
        );
        assert_eq!(err(r#"{"a" 1}"#), "invalid character '1' after object key");
        assert_eq!(
            err(r#"{"a": 1 "b"}"#),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(err("[1 2]"), "invalid character '2' after array element");
        assert_eq!(
            err("{a: 1}"),
            "invalid character 'a' looking for beginning of object key string"
        );
        assert_eq!(err("{} x"), "invalid character 'x' after top-level value");
        assert_eq!(
            err("tru"),
            "invalid character ' ' in literal true (expecting 'e')"
        );
        assert_eq!(err("[\"abc"), "unexpected end of JSON input");
        assert_eq!(
            err("trUe"),
            "invalid character 'U' in literal true (expecting 'u')"
        );
        assert_eq!(err("-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            err("1.x"),
            "invalid character 'x' after decimal point in numeric literal"
        );
        assert_eq!(
            err("1e+"),
            "invalid character ' ' in exponent of numeric literal"
        );
        assert_eq!(err("\"a\tb\""), r"invalid character '\t' in string literal");
        assert_eq!(
            err(r#""\q""#),
            "invalid character 'q' in string escape code"
        );
        assert_eq!(
            err(r#""\u12g4""#),
            r"invalid character 'g' in \u hexadecimal character escape"
        );
        assert_eq!(
            err("'x'"),
            r"invalid character '\'' looking for beginning of value"
        );
    }

    #[test]
    fn bodies_are_summarized_as_kube_does() {
        assert_eq!(summarize(b""), "<empty>");
        assert_eq!(summarize(b"{\"a\":1}"), "{\"a\":1}");
        assert_eq!(
            summarize(b"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}"),
            "{\"apiVersion\":\"v1\",\"kind\":\"Con ..."
        );
        assert_eq!(summarize(b"[]"), "5b5d");
        assert_eq!(
            summarize(b"apiVersion: v1\nkind: PersistentVolume\n"),
            "61706956657273696f6e3a2076310a6b696e643a2050657273697374656e ..."
        );
    }
}
