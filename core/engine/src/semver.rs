//! Semantic versions as the Python `semver` package (3.x) parses and orders them.
//!
//! A condition value ending in `:semver` compares a string trait as a SemVer 2.0
//! version. Parsing is strict (`1.2` fails), build metadata is ignored when
//! ordering, and a pre-release sorts before its release.

use std::cmp::Ordering;

/// The suffix that marks a condition value as a semantic version.
pub const SEMVER_SUFFIX: &str = ":semver";

/// A parsed version. Numeric parts keep their digits so any size compares right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    core: [Box<str>; 3],
    prerelease: Option<Box<str>>,
    build: Option<Box<str>>,
}

impl Version {
    /// Parses `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]` strictly (ASCII only).
    pub fn parse(text: &str) -> Option<Version> {
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (text, None),
        };
        let (core, prerelease) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let mut parts = core.split('.');
        let mut numbers: [Box<str>; 3] = Default::default();
        for slot in &mut numbers {
            let part = parts.next()?;
            if !is_numeric_identifier(part) {
                return None;
            }
            *slot = part.into();
        }
        if parts.next().is_some() {
            return None;
        }
        if let Some(pre) = prerelease
            && !pre.split('.').all(is_prerelease_identifier)
        {
            return None;
        }
        if let Some(build) = build
            && !build.split('.').all(is_build_identifier)
        {
            return None;
        }
        Some(Version {
            core: numbers,
            prerelease: prerelease.map(Into::into),
            build: build.map(Into::into),
        })
    }

    /// Whether `part` is one of the version's five components as Python's
    /// `part in version` tests it: only the pre-release and build are strings.
    pub fn has_component(&self, part: &str) -> bool {
        self.prerelease.as_deref() == Some(part) || self.build.as_deref() == Some(part)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.core.iter().zip(&other.core) {
            match compare_numeric(a, b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match (&self.prerelease, &other.prerelease) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => compare_prerelease(a, b),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn is_numeric_identifier(s: &str) -> bool {
    s == "0" || (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()))
}

fn is_prerelease_identifier(s: &str) -> bool {
    let alnum = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    alnum && (!s.bytes().all(|b| b.is_ascii_digit()) || is_numeric_identifier(s))
}

fn is_build_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn compare_numeric(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Pre-release precedence: numeric identifiers numerically and before
/// alphanumeric ones, which compare as text; more identifiers win a tie.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (Some(x), Some(y)) => {
                let x_num = x.bytes().all(|c| c.is_ascii_digit());
                let y_num = y.bytes().all(|c| c.is_ascii_digit());
                let order = match (x_num, y_num) {
                    (true, true) => compare_numeric(x, y),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (None, None) => return Ordering::Equal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn parses_strictly() {
        for good in [
            "1.2.3",
            "0.0.0",
            "1.2.3-alpha.1",
            "1.2.3+build.5",
            "1.0.0-0.3.7",
            "1.0.0-x-y-z.--",
        ] {
            assert!(Version::parse(good).is_some(), "{good}");
        }
        for bad in [
            "1.2",
            "1",
            "01.2.3",
            "1.2.3-01",
            "1.2.3-",
            "1.2.3+",
            "1.2.3.4",
            "v1.2.3",
            "1.2.3 ",
            "1.2.3-a..b",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn orders_by_precedence() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0.0+a").cmp(&v("1.0.0+b")), Ordering::Equal);
        assert!(v("99999999999999999999999.0.0") > v("9.0.0"));
    }
}
