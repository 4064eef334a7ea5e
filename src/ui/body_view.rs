//! Bodies (payloads, receivers' responses) as a page shows them: JSON formatted in its own
//! key order, everything bounded. A stored body is at most 256 KiB (payloads) or 64 KiB
//! (responses), but formatting deeply nested JSON multiplies it (each level indents every line
//! below it) and HTML escaping multiplies it again (`"` becomes six bytes). So indentation
//! stops deepening at [`MAX_INDENT`] levels, and the text stops once its *escaped* size
//! reaches the caller's budget; the page then says so and links the raw bytes.

/// Levels of nesting that get their own indentation; deeper values stay on their parent's
/// line, as compact JSON.
pub const MAX_INDENT: usize = 12;

/// A body ready for a `<pre>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub text: String,
    /// The text is the start of the body only: the budget ran out.
    pub cut: bool,
    /// The body was JSON and is shown formatted.
    pub formatted: bool,
}

/// What a character costs once askama has HTML-escaped it.
fn escaped_len(c: char) -> usize {
    match c {
        '<' | '>' => 4,
        '&' => 5,
        '"' | '\'' | '/' => 6,
        c => c.len_utf8(),
    }
}

/// The size of `s` once HTML-escaped.
pub fn escaped_size(s: &str) -> usize {
    s.chars().map(escaped_len).sum()
}

/// Output that refuses to grow past `budget` escaped bytes.
struct Out {
    text: String,
    left: usize,
    full: bool,
}

impl Out {
    fn push(&mut self, c: char) -> bool {
        let cost = escaped_len(c);
        if self.full || cost > self.left {
            self.full = true;
            return false;
        }
        self.left -= cost;
        self.text.push(c);
        true
    }
    fn push_str(&mut self, s: &str) -> bool {
        s.chars().all(|c| self.push(c))
    }
    fn newline(&mut self, depth: usize) -> bool {
        self.push('\n') && (0..depth.min(MAX_INDENT)).all(|_| self.push_str("  "))
    }
}

/// `body` for a page, at most `budget` bytes once escaped: JSON objects and arrays formatted
/// (key order kept, strings untouched), anything else as it is.
pub fn show(body: &str, budget: usize) -> Shown {
    let t = body.trim_start();
    let json = (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok();
    let mut out = Out {
        text: String::with_capacity(body.len().min(budget) + 64),
        left: budget,
        full: false,
    };
    if !json {
        out.push_str(body);
        return Shown {
            cut: out.full,
            text: out.text,
            formatted: false,
        };
    }
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if out.full {
            break;
        }
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&close) {
                    out.push(chars.next().unwrap_or(close));
                } else {
                    depth += 1;
                    if depth <= MAX_INDENT {
                        out.newline(depth);
                    }
                }
            }
            '}' | ']' => {
                if depth <= MAX_INDENT {
                    out.newline(depth.saturating_sub(1));
                }
                depth = depth.saturating_sub(1);
                out.push(c);
            }
            ',' => {
                out.push(c);
                if depth <= MAX_INDENT {
                    out.newline(depth);
                }
            }
            ':' => {
                out.push(':');
                if depth <= MAX_INDENT {
                    out.push(' ');
                }
            }
            c if c.is_whitespace() => {}
            c => {
                out.push(c);
            }
        }
    }
    Shown {
        cut: out.full,
        text: out.text,
        formatted: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: usize = 1 << 30;

    #[test]
    fn json_is_formatted_in_its_own_order() {
        let s = r#"{"id":"evt_1","type":"a.b","data":{"x":[1,2],"s":"a,b:{c}\"","e":{},"l":[]}}"#;
        let p = show(s, BIG);
        assert!(p.formatted && !p.cut);
        assert_eq!(
            p.text,
            "{\n  \"id\": \"evt_1\",\n  \"type\": \"a.b\",\n  \"data\": {\n    \"x\": [\n      1,\n      2\n    ],\n    \"s\": \"a,b:{c}\\\"\",\n    \"e\": {},\n    \"l\": []\n  }\n}"
        );
        let a: serde_json::Value = serde_json::from_str(s).unwrap();
        let b: serde_json::Value = serde_json::from_str(&p.text).unwrap();
        assert_eq!(a, b, "still the same JSON");
        for other in ["not json", "{\"broken\":", "", "  [1,"] {
            let p = show(other, BIG);
            assert_eq!((p.text.as_str(), p.formatted, p.cut), (other, false, false));
        }
    }

    #[test]
    fn deep_nesting_stops_indenting_and_stays_the_same_json() {
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let p = show(&deep, BIG);
        assert!(!p.cut);
        let v: serde_json::Value = serde_json::from_str(&p.text).unwrap();
        assert_eq!(v, serde_json::from_str::<serde_json::Value>(&deep).unwrap());
        let widest = p.text.lines().map(|l| l.len() - l.trim_start().len()).max();
        assert_eq!(widest, Some(2 * MAX_INDENT));
        assert!(p.text.len() < deep.len() + 2 * MAX_INDENT * (MAX_INDENT + 2) * 2);
    }

    #[test]
    fn the_escaped_size_never_passes_the_budget() {
        let inputs = [
            // Deep objects, 121 KB: the page that once rendered 14.9 MB.
            {
                let mut s = String::new();
                for i in 0..6000 {
                    s.push_str(&format!("{{\"k{i}\":"));
                }
                s.push('1');
                s.push_str(&"}".repeat(6000));
                s
            },
            // Wide arrays of quoted strings: every byte escapes to six.
            format!("[{}]", vec!["\"\\\"/'<>&\""; 20_000].join(",")),
            "x".repeat(300_000),
            "é€😀".repeat(40_000),
        ];
        for input in &inputs {
            for budget in [0, 1, 7, 1000, 64 * 1024] {
                let p = show(input, budget);
                let escaped: usize = p.text.chars().map(escaped_len).sum();
                assert!(escaped <= budget, "{escaped} > {budget}");
                assert!(p.cut, "a {} byte body fits no {budget} budget", input.len());
            }
        }
    }
}
