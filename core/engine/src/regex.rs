//! REGEX conditions with Python's `re.match` semantics and a bounded cost.
//!
//! Flagsmith evaluates `re.compile(value).match(str(context_value))`: anchored at
//! the start only, Python's dialect. Patterns are translated where the dialects
//! differ in ways segment authors hit (`\Z`, literal `{`, `[` inside classes, `$`
//! before a trailing newline) and compiled once per document by fancy-regex, which
//! adds look-around and backreferences to the linear-time `regex` crate. The
//! backtracking that those features need is capped, so no pattern can hang a
//! request: a search that exceeds the cap is a non-match. A pattern that does not
//! compile is a non-match too, never an error.
//!
//! Compiled patterns are shared process-wide ([`PythonRegex::shared`]): the
//! environments of one project carry the same segments, and an edge holding a
//! thousand documents would otherwise keep a thousand copies of each automaton.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use fancy_regex::{Regex, RegexBuilder};

/// The most backtracking steps one match may take.
const BACKTRACK_LIMIT: usize = 200_000;
/// The most memory a compiled pattern may use.
const SIZE_LIMIT: usize = 2 << 20;
/// Longer patterns are refused outright.
const MAX_PATTERN_LEN: usize = 4096;

/// A compiled pattern that answers Python's `re.match(pattern, text) is not None`.
#[derive(Debug)]
pub struct PythonRegex {
    anchored: Regex,
    /// Used only for text ending in `\n`, where Python's `$` may also match
    /// before that newline; `None` when the pattern has no `$` to worry about.
    trailing_newline: Option<Regex>,
}

impl PythonRegex {
    /// Compiles a pattern; `None` when Python-compatible matching is not possible.
    pub fn compile(pattern: &str) -> Option<PythonRegex> {
        if pattern.len() > MAX_PATTERN_LEN {
            return None;
        }
        let verbose = leading_flags(pattern).contains('x');
        let plain = translate(pattern, false);
        // Validate unwrapped, so wrapping cannot turn an invalid pattern into a valid one.
        build(&plain)?;
        let anchored = build(&anchor(&plain, verbose))?;
        let multiline = leading_flags(pattern).contains('m');
        let trailing_newline = if pattern.contains('$') && !multiline {
            Some(build(&anchor(&translate(pattern, true), verbose))?)
        } else {
            None
        };
        Some(PythonRegex {
            anchored,
            trailing_newline,
        })
    }

    /// The compiled pattern, shared with every other live user of the same
    /// pattern text; `None` as for [`PythonRegex::compile`].
    pub fn shared(pattern: &str) -> Option<Arc<PythonRegex>> {
        if let Some(live) = lock_interned().get(pattern).and_then(Weak::upgrade) {
            return Some(live);
        }
        // Compiled outside the lock: two threads may both compile a new pattern;
        // the last one stored wins and both results stay correct.
        let compiled = Arc::new(PythonRegex::compile(pattern)?);
        let mut interned = lock_interned();
        if let Some(live) = interned.get(pattern).and_then(Weak::upgrade) {
            return Some(live);
        }
        interned.insert(pattern.into(), Arc::downgrade(&compiled));
        // Forget patterns no document uses any more, amortised over insertions.
        if interned.len() >= 2 * INTERNED_PRUNE_AT.load(Ordering::Relaxed) {
            interned.retain(|_, regex| regex.strong_count() > 0);
            INTERNED_PRUNE_AT.store(interned.len().max(64), Ordering::Relaxed);
        }
        Some(compiled)
    }

    /// Whether the pattern matches at the start of `text`.
    pub fn matches_start(&self, text: &str) -> bool {
        let regex = match &self.trailing_newline {
            Some(alternative) if text.ends_with('\n') => alternative,
            _ => &self.anchored,
        };
        regex.is_match(text).unwrap_or(false)
    }
}

/// Pattern text → the compiled pattern while some document still uses it.
static INTERNED: LazyLock<Mutex<HashMap<Box<str>, Weak<PythonRegex>>>> =
    LazyLock::new(Mutex::default);
/// The map is pruned when it reaches twice this size.
static INTERNED_PRUNE_AT: AtomicUsize = AtomicUsize::new(64);

fn lock_interned() -> MutexGuard<'static, HashMap<Box<str>, Weak<PythonRegex>>> {
    // A panic elsewhere while holding the lock leaves the map valid: keep using it.
    INTERNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn build(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(SIZE_LIMIT)
        .delegate_dfa_size_limit(SIZE_LIMIT)
        .build()
        .ok()
}

fn anchor(pattern: &str, verbose: bool) -> String {
    // In verbose mode a trailing `# comment` would swallow the closing paren.
    format!("\\A(?:{pattern}{})", if verbose { "\n" } else { "" })
}

/// The flags of a leading `(?imsx)` group, which Python applies to the whole pattern.
fn leading_flags(pattern: &str) -> &str {
    pattern
        .strip_prefix("(?")
        .and_then(|rest| rest.split_once(')'))
        .map(|(flags, _)| flags)
        .filter(|flags| !flags.is_empty() && flags.chars().all(|c| "aiLmsux".contains(c)))
        .unwrap_or("")
}

/// Rewrites Python syntax that fancy-regex reads differently or rejects.
/// With `dollar_before_newline`, `$` becomes "end, or before a final newline".
fn translate(pattern: &str, dollar_before_newline: bool) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some('Z') if !in_class => out.push_str("\\z"),
                Some(&next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
            i += 2;
            continue;
        }
        if in_class {
            match c {
                ']' if i > class_start => in_class = false,
                '[' => {
                    out.push_str("\\[");
                    i += 1;
                    continue;
                }
                // Rust reads `&&` and `~~` in a class as set operations; Python, as text.
                '&' | '~' if chars.get(i + 1) == Some(&c) => {
                    out.push(c);
                    out.push('\\');
                    out.push(c);
                    i += 2;
                    continue;
                }
                _ => {}
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` first in a class is a literal in Python.
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                class_start = i;
                continue;
            }
            '{' => match counted_repetition(&chars[i..]) {
                Some((text, len)) => {
                    out.push_str(&text);
                    i += len;
                    continue;
                }
                None => out.push_str("\\{"),
            },
            '}' => out.push_str("\\}"),
            '$' if dollar_before_newline => out.push_str("(?=\n?\\z)"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Reads `{m}`, `{m,}`, `{,n}` or `{m,n}` at the start of `chars`; Python treats
/// any other `{` as a literal. Returns the Rust spelling and the length read.
fn counted_repetition(chars: &[char]) -> Option<(String, usize)> {
    let close = chars.iter().position(|c| *c == '}')?;
    let body: String = chars[1..close].iter().collect();
    let (min, max) = match body.split_once(',') {
        Some((min, max)) => (min, Some(max)),
        None => (body.as_str(), None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(min) || !max.is_none_or(digits) || (min.is_empty() && max.is_none_or(str::is_empty))
    {
        return None;
    }
    let min = if min.is_empty() { "0" } else { min };
    let text = match max {
        Some(max) => format!("{{{min},{max}}}"),
        None => format!("{{{min}}}"),
    };
    Some((text, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_patterns_share_one_compiled_regex_while_used() {
        let pattern = "^shared-[0-9]+$";
        let a = PythonRegex::shared(pattern).unwrap();
        let b = PythonRegex::shared(pattern).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(b.matches_start("shared-42"));
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none(), "no document uses it: it is freed");
        assert!(PythonRegex::shared(pattern).is_some());
        assert!(PythonRegex::shared("(unclosed").is_none());
    }

    fn m(pattern: &str, text: &str) -> bool {
        PythonRegex::compile(pattern).is_some_and(|r| r.matches_start(text))
    }

    #[test]
    fn anchored_at_start_only() {
        assert!(m("abc", "abcdef"));
        assert!(!m("bcd", "abcdef"));
        assert!(m(".*bcd", "abcdef"));
        assert!(m("a|b", "bz"));
        assert!(m("[a-z]+@example", "joe@example.com"));
    }

    #[test]
    fn python_dialect() {
        assert!(m(r"abc\Z", "abc"));
        assert!(!m(r"abc\Z", "abcd"));
        assert!(m("a{", "a{"));
        assert!(m("x{,2}y", "xxy"));
        assert!(m("[[]", "["));
        assert!(m("[]a]", "]"));
        assert!(m("^abc$", "abc\n"));
        assert!(!m("^abc$", "abcd"));
        assert!(m("(?i)ABC", "abc"));
        assert!(m("(?x) a b # comment", "ab"));
        assert!(m(r"(\w)\1", "aa"));
        assert!(m(r"foo(?=bar)", "foobar"));
        assert!(m(r"\d{3}", "123"));
    }

    #[test]
    fn invalid_patterns_never_match() {
        assert!(PythonRegex::compile("(").is_none());
        assert!(PythonRegex::compile(")(").is_none());
        assert!(PythonRegex::compile("[").is_none());
        assert!(PythonRegex::compile("*a").is_none());
    }

    #[test]
    fn catastrophic_patterns_are_bounded() {
        let evil = PythonRegex::compile(r"(a+)+\1b").unwrap();
        let text = "a".repeat(5000);
        let started = std::time::Instant::now();
        assert!(!evil.matches_start(&text));
        // Not a timing assertion on the result: the cap makes the search give up.
        let _ = started.elapsed();
    }
}
