//! Paged environment documents, as Flagsmith serves large ones: a page carries
//! `Link: <…/environment-document/?page_id=…>; rel="next"`, every page repeats
//! the environment with more `identity_overrides`, and the last page has no
//! `Link`. [`Pages`] merges them: page one's fields, every page's overrides.
//!
//! The `Link` grammar we need is tiny (`<uri>; rel="next"`, comma-separated
//! links), so it is parsed here rather than with a crate.

use bytes::Bytes;
use serde_json::{Map, Value};

/// Most pages one document may span.
pub const MAX_PAGES: usize = 10_000;

/// Why pages could not be merged into one document.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PageError {
    /// A page is not a JSON object.
    #[error("page {page} is not a JSON object: {message}")]
    NotAnObject {
        /// 1-based.
        page: usize,
        /// The parser's complaint.
        message: String,
    },
    /// A later page describes another state of the environment.
    #[error("the document changed while its pages were read (page {page} has another updated_at)")]
    Changed {
        /// 1-based.
        page: usize,
    },
    /// A next link points elsewhere.
    #[error("page {page} links to another origin ({origin}); only same-origin pages are followed")]
    OtherOrigin {
        /// 1-based.
        page: usize,
        /// Where it pointed.
        origin: String,
    },
    /// Too many pages, or a page links back.
    #[error("more than {MAX_PAGES} pages, or a page links to one already read")]
    Loop,
    /// The pages together are larger than a document may be.
    #[error("the pages together exceed {0} bytes")]
    TooLarge(usize),
}

/// The `rel="next"` target of a `Link` header value, if any.
pub fn next_link(link: &str) -> Option<&str> {
    let mut rest = link;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let after = &rest[end + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let is_next = after[..params_end].split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim());
        }
        rest = &after[params_end..];
    }
}

/// `scheme://authority` of an absolute URL, lower-cased.
pub fn origin(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    url[..authority_end].to_ascii_lowercase()
}

/// Resolves a reference (absolute, absolute-path, query-only or relative)
/// against the URL that answered.
pub fn resolve(base: &str, reference: &str) -> String {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return reference.to_string();
    }
    let base_origin_end = origin(base).len();
    let base_path_end = base.find(['?', '#']).unwrap_or(base.len());
    if reference.starts_with('/') {
        format!("{}{reference}", &base[..base_origin_end])
    } else if reference.starts_with('?') {
        format!("{}{reference}", &base[..base_path_end])
    } else {
        let dir_end = base[..base_path_end]
            .rfind('/')
            .map_or(base_path_end, |i| i + 1);
        format!("{}{reference}", &base[..dir_end])
    }
}

/// Pages read so far, merged.
pub struct Pages {
    first: Map<String, Value>,
    overrides: Vec<Value>,
    seen: Vec<String>,
    bytes: usize,
    max_bytes: usize,
}

fn parse(page: usize, bytes: &[u8]) -> Result<Map<String, Value>, PageError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(PageError::NotAnObject {
            page,
            message: "not an object".into(),
        }),
        Err(error) => Err(PageError::NotAnObject {
            page,
            message: error.to_string(),
        }),
    }
}

fn take_overrides(document: &mut Map<String, Value>) -> Vec<Value> {
    match document.remove("identity_overrides") {
        Some(Value::Array(overrides)) => overrides,
        _ => Vec::new(),
    }
}

impl Pages {
    /// Starts from page one, read from `url`.
    pub fn new(url: &str, body: &[u8], max_bytes: usize) -> Result<Pages, PageError> {
        let mut first = parse(1, body)?;
        let overrides = take_overrides(&mut first);
        Ok(Pages {
            first,
            overrides,
            seen: vec![url.to_string()],
            bytes: body.len(),
            max_bytes,
        })
    }

    /// Checks that `next` (resolved) may be read after the pages so far.
    pub fn admit(&mut self, next: &str) -> Result<(), PageError> {
        let page = self.seen.len() + 1;
        let first_origin = origin(&self.seen[0]);
        let next_origin = origin(next);
        if next_origin != first_origin {
            return Err(PageError::OtherOrigin {
                page: page - 1,
                origin: next_origin,
            });
        }
        if self.seen.len() >= MAX_PAGES || self.seen.iter().any(|url| url == next) {
            return Err(PageError::Loop);
        }
        self.seen.push(next.to_string());
        Ok(())
    }

    /// Adds the page last admitted.
    pub fn add(&mut self, body: &[u8]) -> Result<(), PageError> {
        let page = self.seen.len();
        self.bytes += body.len();
        if self.bytes > self.max_bytes {
            return Err(PageError::TooLarge(self.max_bytes));
        }
        let mut document = parse(page, body)?;
        if document.get("updated_at") != self.first.get("updated_at") {
            return Err(PageError::Changed { page });
        }
        self.overrides.append(&mut take_overrides(&mut document));
        Ok(())
    }

    /// How many pages were read.
    pub fn count(&self) -> usize {
        self.seen.len()
    }

    /// The merged document.
    pub fn into_document(mut self) -> Bytes {
        self.first
            .insert("identity_overrides".into(), Value::Array(self.overrides));
        Bytes::from(serde_json::to_vec(&Value::Object(self.first)).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_are_found_among_others() {
        let link = r#"</api/v1/environment-document/?page_id=identity_override:7:abc>; rel="next""#;
        assert_eq!(
            next_link(link),
            Some("/api/v1/environment-document/?page_id=identity_override:7:abc")
        );
        assert_eq!(
            next_link(r#"<https://a/x?p=1>; rel="prev", <https://a/x?p=3>; rel=next"#),
            Some("https://a/x?p=3")
        );
        assert_eq!(next_link(r#"<https://a/x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(
            next_link(r#"<https://a/y>; title="a,b"; rel="last next""#),
            Some("https://a/y")
        );
    }

    #[test]
    fn references_resolve() {
        let base = "http://up.example:8000/api/v1/environment-document/?page_id=1";
        assert_eq!(resolve(base, "https://other/x"), "https://other/x");
        assert_eq!(
            resolve(base, "/api/v2/doc/"),
            "http://up.example:8000/api/v2/doc/"
        );
        assert_eq!(
            resolve(base, "?page_id=2"),
            "http://up.example:8000/api/v1/environment-document/?page_id=2"
        );
        assert_eq!(
            resolve(base, "other/"),
            "http://up.example:8000/api/v1/environment-document/other/"
        );
        assert_eq!(origin("HTTP://Up.example:8000/x"), "http://up.example:8000");
        assert_eq!(origin("http://up.example?x"), "http://up.example");
    }

    #[test]
    fn pages_merge_overrides_and_keep_page_one() {
        let url = "http://up/api/v1/environment-document/";
        let mut pages = Pages::new(
            url,
            br#"{"api_key":"k","updated_at":"t1","name":"first","identity_overrides":[{"identifier":"a"}]}"#,
            1 << 20,
        )
        .unwrap();
        pages
            .admit("http://up/api/v1/environment-document/?page_id=2")
            .unwrap();
        pages
            .add(br#"{"api_key":"k","updated_at":"t1","name":"second","identity_overrides":[{"identifier":"b"},{"identifier":"c"}]}"#)
            .unwrap();
        assert_eq!(pages.count(), 2);
        let merged: Value = serde_json::from_slice(&pages.into_document()).unwrap();
        assert_eq!(merged["name"], "first");
        let ids: Vec<&str> = merged["identity_overrides"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["identifier"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn bad_pages_are_refused() {
        let url = "http://up/doc/";
        let first = br#"{"updated_at":"t1","identity_overrides":[]}"#;
        let mut pages = Pages::new(url, first, 1 << 20).unwrap();
        assert!(matches!(
            pages.admit("http://elsewhere/doc/?p=2"),
            Err(PageError::OtherOrigin { .. })
        ));
        assert_eq!(pages.admit(url), Err(PageError::Loop));
        pages.admit("http://up/doc/?p=2").unwrap();
        assert_eq!(
            pages.add(br#"{"updated_at":"t2"}"#),
            Err(PageError::Changed { page: 2 })
        );
        let mut small = Pages::new(url, first, first.len() + 3).unwrap();
        small.admit("http://up/doc/?p=2").unwrap();
        assert_eq!(small.add(first), Err(PageError::TooLarge(first.len() + 3)));
        assert!(Pages::new(url, b"[1]", 100).is_err());
    }
}
