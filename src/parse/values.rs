//! The values of KDL v2 (<https://kdl.dev/spec/>): bare identifiers, the keywords, numbers in
//! their four radixes, and strings in their three forms (quoted, raw, multi-line), with
//! escapes and the multi-line dedent. The other half of [`super::parser`], which reads the
//! structure around them.

use super::document::Value;
use super::parser::{
    Parsed, Parser, RESERVED, SyntaxError, Token, is_blank, is_ident_char, is_newline, is_space,
    starts_like_a_number,
};

impl Parser<'_> {
    /// `string | number | keyword`.
    pub(super) fn value(&mut self, what: &str) -> Parsed<Token> {
        let start = self.pos;
        let value = match self.peek() {
            Some('"') => Value::String(self.quoted()?),
            Some('#') => {
                let hashes = self.rest().bytes().take_while(|&b| b == b'#').count();
                if self.rest().as_bytes().get(hashes) == Some(&b'"') {
                    Value::String(self.raw(hashes)?)
                } else {
                    self.keyword()?
                }
            }
            Some(c) if c.is_ascii_digit() => self.number()?,
            Some('+' | '-') if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.number()?
            }
            Some(c) if is_ident_char(c) => Value::String(self.identifier()?),
            _ => {
                return Err(SyntaxError {
                    help: Some("strings with spaces or special characters need double quotes; see docs/language.md".to_string()),
                    ..self.error_here(format!("expected {what}, found {}", self.found()))
                });
            }
        };
        Ok(Token {
            value,
            start,
            end: self.pos,
        })
    }

    /// The run of `identifier-char`s under the cursor.
    fn word(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.bump();
        }
        self.text.get(start..self.pos).unwrap_or("")
    }

    /// `identifier-string`.
    fn identifier(&mut self) -> Parsed<String> {
        let start = self.pos;
        let word = self.word().to_string();
        // A digit or a sign and a digit made it a number; what is left here is `.5` and the like.
        if starts_like_a_number(&word) {
            return Err(SyntaxError {
                help: Some(format!(
                    "write a digit before the point (\"{}\"), or quote it if it is text",
                    word.replacen('.', "0.", 1)
                )),
                ..self.error(
                    start,
                    self.pos,
                    format!("`{word}` is neither a number nor a bare string"),
                )
            });
        }
        if RESERVED.contains(&word.as_str()) {
            return Err(SyntaxError {
                help: Some(format!(
                    "KDL v2 writes keywords with a `#`: use `#{word}` (or quote it: \"{word}\")"
                )),
                label: "a keyword of KDL v1".to_string(),
                ..self.error(
                    start,
                    self.pos,
                    format!("`{word}` is not a value in KDL v2"),
                )
            });
        }
        Ok(word)
    }

    /// `keyword` and `keyword-number`: `#true`, `#false`, `#null`, `#inf`, `#-inf`, `#nan`.
    fn keyword(&mut self) -> Parsed<Value> {
        let start = self.pos;
        self.pos += 1;
        let value = match self.word() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            "inf" => Value::Float(f64::INFINITY),
            "-inf" => Value::Float(f64::NEG_INFINITY),
            "nan" => Value::Float(f64::NAN),
            _ => {
                return Err(SyntaxError {
                    help: Some("the keywords are #true, #false, #null, #inf, #-inf and #nan; a string that starts with `#` needs quotes".to_string()),
                    ..self.error(start, self.pos.max(start + 1), "unknown keyword")
                });
            }
        };
        Ok(value)
    }

    /// `number`: decimal (integer or with fraction/exponent), hex, octal or binary, with `_`
    /// between digits.
    fn number(&mut self) -> Parsed<Value> {
        let start = self.pos;
        let word = self.word().to_string();
        let bad = |p: &Self, why: &str| {
            SyntaxError {
            help: Some("numbers are written like 42, -1.5, 1e3, 0x1F, 0o17 or 0b101 (with `_` between digits if you like); quote text that starts with a digit".to_string()),
            ..p.error(start, p.pos, format!("`{word}` is not a number: {why}"))
        }
        };
        let (negative, body) = match word.as_bytes().first() {
            Some(b'-') => (true, &word[1..]),
            Some(b'+') => (false, &word[1..]),
            _ => (false, word.as_str()),
        };
        let radix = match body.get(..2) {
            Some("0x") => Some((16, "hexadecimal")),
            Some("0o") => Some((8, "octal")),
            Some("0b") => Some((2, "binary")),
            _ => None,
        };
        if let Some((radix, name)) = radix {
            let digits = &body[2..];
            let valid = digits.chars().next().is_some_and(|c| c.is_digit(radix))
                && digits.chars().all(|c| c == '_' || c.is_digit(radix));
            if !valid {
                return Err(bad(self, &format!("not a {name} number")));
            }
            let clean: String = digits.chars().filter(|&c| c != '_').collect();
            let magnitude =
                i128::from_str_radix(&clean, radix).map_err(|_| bad(self, "too large"))?;
            return Ok(Value::Integer(if negative {
                -magnitude
            } else {
                magnitude
            }));
        }
        // decimal := integer ('.' integer)? exponent?, integer := digit (digit | '_')*
        let b = body.as_bytes();
        let integer = |i: usize| -> Option<usize> {
            if !b.get(i)?.is_ascii_digit() {
                return None;
            }
            let mut j = i + 1;
            while b.get(j).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
                j += 1;
            }
            Some(j)
        };
        let Some(mut i) = integer(0) else {
            return Err(bad(self, "it does not start with a digit"));
        };
        let mut float = false;
        if b.get(i) == Some(&b'.') {
            i = integer(i + 1).ok_or_else(|| bad(self, "a digit must follow the point"))?;
            float = true;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            i = integer(j).ok_or_else(|| bad(self, "a digit must follow the exponent's `e`"))?;
            float = true;
        }
        if i != b.len() {
            return Err(bad(self, "it has characters after the digits"));
        }
        let clean: String = word.chars().filter(|&c| c != '_').collect();
        if float {
            clean
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| bad(self, "not a decimal number"))
        } else {
            clean
                .parse::<i128>()
                .map(Value::Integer)
                .map_err(|_| bad(self, "too large"))
        }
    }

    /// `quoted-string`: `"…"` on one line, or `"""` multi-line `"""`.
    fn quoted(&mut self) -> Parsed<String> {
        let start = self.pos;
        if self.rest().starts_with("\"\"\"") {
            self.pos += 3;
            let body = self.multi_line_body(start, 0)?;
            let body = resolve_whitespace_escapes(&body);
            let text = self.dedent(start, &body)?;
            return self.unescape(start, &text, None);
        }
        self.pos += 1;
        let body_start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.unclosed_string(start)),
                Some('"') => break,
                Some('\\') => {
                    self.pos += 1;
                    // A whitespace escape may run over line breaks; any other escape is
                    // one character (checked by `unescape`).
                    if self.peek().is_some_and(is_blank) {
                        while self.peek().is_some_and(is_blank) {
                            self.bump();
                        }
                    } else {
                        self.bump();
                    }
                }
                Some(c) if is_newline(c) => return Err(self.unclosed_string(start)),
                Some(_) => {
                    self.bump();
                }
            }
        }
        let body = &self.text[body_start..self.pos];
        self.pos += 1;
        self.unescape(start, body, Some(body_start))
    }

    /// The string opened at `start` runs into the end of its line (the cursor).
    fn unclosed_string(&self, start: usize) -> SyntaxError {
        SyntaxError {
            label: "this string is not closed on its line".to_string(),
            help: Some("add the closing `\"`; for text over several lines, write `\"\"\"`, a line break, the lines, and `\"\"\"` on a line of its own".to_string()),
            ..self.error(start, self.pos, "unclosed string")
        }
    }

    /// `raw-string`: `#"…"#` or `#"""` multi-line `"""#`, with `hashes` `#`s; no escapes.
    fn raw(&mut self, hashes: usize) -> Parsed<String> {
        let start = self.pos;
        self.pos += hashes;
        if self.rest().starts_with("\"\"\"") {
            self.pos += 3;
            let body = self.multi_line_body(start, hashes)?;
            return self.dedent(start, &body);
        }
        self.pos += 1;
        let body_start = self.pos;
        let close = closing("\"", hashes);
        self.body_until(&close, true, false).ok_or_else(|| SyntaxError {
            label: "this string is not closed on its line".to_string(),
            help: Some(format!(
                "end it with `{close}`; for text over several lines, use `{0}\"\"\"` … `\"\"\"{0}`",
                "#".repeat(hashes)
            )),
            ..self.error(start, body_start, "unclosed raw string")
        })
    }

    /// The text from the cursor up to `close`, which is consumed; `None` at the end of the
    /// text, or at a line break when `one_line`. With `escapes`, a `\` takes the character
    /// after it along (a quoted string's `\"""` does not close it).
    fn body_until(&mut self, close: &str, one_line: bool, escapes: bool) -> Option<String> {
        let start = self.pos;
        loop {
            if self.rest().starts_with(close) {
                let body = self.text.get(start..self.pos)?.to_string();
                self.pos += close.len();
                return Some(body);
            }
            match self.bump()? {
                c if one_line && is_newline(c) => return None,
                '\\' if escapes => {
                    self.bump();
                }
                _ => {}
            }
        }
    }

    /// The text of a multi-line string after its opening quotes, up to (not including) the
    /// closing `"""` followed by `hashes` `#`s, which it consumes. Escapes are left in place
    /// (a quoted string's `\"""` does not close it).
    fn multi_line_body(&mut self, start: usize, hashes: usize) -> Parsed<String> {
        if !self.newline() {
            return Err(SyntaxError {
                help: Some("a `\"\"\"` string starts with a line break right after the quotes; for one line, use `\"…\"`".to_string()),
                ..self.error(start, self.pos, "expected a line break after `\"\"\"`")
            });
        }
        let body_start = self.pos;
        let close = closing("\"\"\"", hashes);
        self.body_until(&close, false, hashes == 0)
            .ok_or_else(|| SyntaxError {
                label: "this string is never closed".to_string(),
                help: Some(format!("end it with `{close}` on a line of its own")),
                ..self.error(start, body_start, "unclosed multi-line string")
            })
    }

    /// Multi-line string dedent: the last line (before the closing quotes) must be only
    /// whitespace; that whitespace is removed from the start of every other line, each of
    /// which must begin with it, and lines of only whitespace become empty.
    fn dedent(&self, start: usize, body: &str) -> Parsed<String> {
        let lines = split_lines(body);
        let Some((last, lines)) = lines.split_last() else {
            return Ok(String::new());
        };
        let bad = |message: &str| {
            SyntaxError {
            help: Some("every line of a `\"\"\"` string starts with the indentation of its closing `\"\"\"`, which stands on a line of its own".to_string()),
            ..self.error(start, self.pos, message)
        }
        };
        if !last.chars().all(is_space) {
            return Err(bad("the closing `\"\"\"` must be on a line of its own"));
        }
        let mut out = String::with_capacity(body.len());
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if line.chars().all(is_space) {
                continue;
            }
            match line.strip_prefix(last) {
                Some(rest) => out.push_str(rest),
                None => return Err(bad("a line is indented less than the closing `\"\"\"`")),
            }
        }
        Ok(out)
    }

    /// Resolve the escapes of a quoted string's body. `start` is the string's opening quote;
    /// `body_at` is where `body` stands in the text when it is a slice of it (a single-line
    /// string), so that an error can point at the escape itself rather than the string.
    fn unescape(&self, start: usize, body: &str, body_at: Option<usize>) -> Parsed<String> {
        if !body.contains('\\') {
            return Ok(body.to_string());
        }
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let bad = |message: String, upto: Option<usize>| {
                let (from, to) = match (body_at, upto) {
                    (Some(at), Some(upto)) => (at + i, at + upto),
                    _ => (start, self.pos),
                };
                SyntaxError {
                    label: "not an escape".to_string(),
                    help: Some("the escapes are \\n \\r \\t \\\\ \\\" \\b \\f \\s and \\u{…}; for backslashes as they are, use a raw string: #\"C:\\dir\"#".to_string()),
                    ..self.error(from, to, message)
                }
            };
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'b')) => out.push('\u{8}'),
                Some((_, 'f')) => out.push('\u{C}'),
                Some((_, 's')) => out.push(' '),
                Some((_, 'u')) => {
                    let mut hex = String::new();
                    let mut closed = chars.next().is_some_and(|(_, c)| c == '{');
                    let mut end = i + 2;
                    while closed {
                        match chars.next() {
                            Some((j, '}')) => {
                                end = j + 1;
                                break;
                            }
                            Some((j, h)) if h.is_ascii_hexdigit() && hex.len() < 6 => {
                                hex.push(h);
                                end = j + 1;
                            }
                            _ => closed = false,
                        }
                    }
                    if !closed || hex.is_empty() {
                        return Err(bad(
                            "`\\u{…}` takes one to six hexadecimal digits".to_string(),
                            Some(end),
                        ));
                    }
                    let scalar = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| {
                            bad(
                                format!("`\\u{{{hex}}}` is not a Unicode scalar value"),
                                Some(end),
                            )
                        })?;
                    out.push(scalar);
                }
                Some((_, w)) if is_space(w) || is_newline(w) => {
                    while chars
                        .peek()
                        .is_some_and(|&(_, c)| is_space(c) || is_newline(c))
                    {
                        chars.next();
                    }
                }
                Some((j, other)) => {
                    return Err(bad(
                        format!("unknown escape `\\{other}`"),
                        Some(j + other.len_utf8()),
                    ));
                }
                None => return Err(bad("a string ends in a lone `\\`".to_string(), None)),
            }
        }
        Ok(out)
    }
}

/// A string's closing quotes and the `#`s of a raw string.
fn closing(quotes: &str, hashes: usize) -> String {
    format!("{quotes}{}", "#".repeat(hashes))
}

/// Remove a quoted string's whitespace escapes (`\` and the spaces and line breaks after
/// it), leaving every other escape as written: a multi-line string is dedented between the
/// two steps.
fn resolve_whitespace_escapes(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some(&w) if is_blank(w) => {
                while chars.peek().is_some_and(|&c| is_blank(c)) {
                    chars.next();
                }
            }
            Some(&other) => {
                out.push('\\');
                out.push(other);
                chars.next();
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Split at every `newline` (CRLF as one).
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_newline(c) {
            lines.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n') {
                chars.next();
                end += 1;
            }
            start = end;
        }
    }
    lines.push(&text[start..]);
    lines
}
