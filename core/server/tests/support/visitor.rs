//! A browser without JavaScript for console tests: one cookie jar, forms
//! posted as forms, sign-in and CSRF tokens read from pages.

use hyper::{Method, StatusCode};

use super::{Core, Reply};

/// A browser without JavaScript: one cookie jar, forms posted as forms.
pub struct Visitor<'a> {
    core: &'a Core,
    pub cookies: Vec<(String, String)>,
}

impl<'a> Visitor<'a> {
    pub fn new(core: &'a Core) -> Visitor<'a> {
        Visitor {
            core,
            cookies: Vec::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn keep_cookies(&mut self, reply: &Reply) {
        for value in reply.headers.get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() && !text.contains("Max-Age=0") {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let cookie = self.cookie_header();
        let reply = self
            .core
            .request(Method::GET, path, &[("cookie", &cookie)], None)
            .await;
        self.keep_cookies(&reply);
        reply
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let cookie = self.cookie_header();
        let body = serde_urlencoded::to_string(fields).unwrap().into_bytes();
        let reply = self
            .core
            .request(
                Method::POST,
                path,
                &[
                    ("cookie", &cookie),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                Some(body),
            )
            .await;
        self.keep_cookies(&reply);
        reply
    }

    /// Signs in with `key`; the reply to the form's POST.
    pub async fn sign_in(&mut self, key: &str) -> Reply {
        let form = self.get("/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let token = hidden(&text(&form), "sign_in");
        self.post(
            "/sign-in",
            &[("sign_in", &token), ("next", "/"), ("key", key)],
        )
        .await
    }

    /// The CSRF token of a page.
    pub async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", text(&page));
        hidden(&text(&page), "csrf")
    }
}

pub fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.bytes).into_owned()
}

/// The value of the first hidden input named `name`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}
