//! InfluxDB through the v1 `/write` API (line protocol), which InfluxDB 1.x
//! and 2.x's compatibility layer both accept. Each write stamps its points with
//! distinct nanosecond times, so repeated flushes add up instead of overwriting
//! each other; batch ids are remembered in memory only (InfluxDB has no
//! transactions to record them with the counts).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{BoxFuture, Store, StoreError, Totals};

/// The InfluxDB store.
pub struct InfluxStore {
    client: Client<HttpConnector, Full<Bytes>>,
    write_url: String,
    token: Option<String>,
}

/// Escapes a tag value for line protocol.
fn tag(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace(' ', "\\ ")
        .replace('=', "\\=")
}

/// The line-protocol body for a generation.
pub fn lines(totals: &Totals, now_ns: u128) -> String {
    let mut out = String::new();
    let mut offset = 0u128;
    let mut line =
        |measurement: &str,
         label: &str,
         ((environment, name, _), count): &((String, String, i64), u64)| {
            let _ = writeln!(
                out,
                "{measurement},environment={},{label}={} count={count}i {}",
                tag(environment),
                tag(name),
                now_ns + offset
            );
            offset += 1;
        };
    totals
        .evaluations
        .iter()
        .for_each(|entry| line("flagedge_evaluations", "feature", entry));
    totals
        .api_calls
        .iter()
        .for_each(|entry| line("flagedge_api_calls", "resource", entry));
    out
}

impl InfluxStore {
    /// A store writing to database `database` at `url`.
    pub fn new(url: &str, database: &str, token: Option<String>) -> InfluxStore {
        InfluxStore {
            client: Client::builder(TokioExecutor::new()).build_http(),
            write_url: format!("{url}/write?db={database}&precision=ns"),
            token,
        }
    }
}

impl Store for InfluxStore {
    fn batch_recorded<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(false) })
    }

    fn write<'a>(&'a self, totals: &'a Totals) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if totals.evaluations.is_empty() && totals.api_calls.is_empty() {
                return Ok(());
            }
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let mut request =
                Request::post(&self.write_url).header(header::CONTENT_TYPE, "text/plain");
            if let Some(token) = &self.token {
                request = request.header(header::AUTHORIZATION, format!("Token {token}"));
            }
            let request = request
                .body(Full::new(Bytes::from(lines(totals, now))))
                .map_err(|e| StoreError(e.to_string()))?;
            let response = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                self.client.request(request),
            )
            .await
            .map_err(|_| StoreError("InfluxDB timed out".into()))?
            .map_err(|e| StoreError(e.to_string()))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(StoreError(format!(
                    "InfluxDB answered {}",
                    response.status()
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_protocol_escapes_and_stamps_uniquely() {
        let totals = Totals {
            evaluations: vec![
                (("env 1".into(), "a,b=c".into(), 0), 5),
                (("e".into(), "f".into(), 0), 1),
            ],
            api_calls: vec![(("e".into(), "flags".into(), 0), 2)],
            batches: vec![],
            reports: vec![],
        };
        assert_eq!(
            lines(&totals, 100),
            "flagedge_evaluations,environment=env\\ 1,feature=a\\,b\\=c count=5i 100\n\
             flagedge_evaluations,environment=e,feature=f count=1i 101\n\
             flagedge_api_calls,environment=e,resource=flags count=2i 102\n"
        );
    }
}
