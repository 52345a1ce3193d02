//! InfluxQL: quoting, and the JSON a `/query` answers with.

use serde::Deserialize;
use serde_json::Value;

use crate::InfluxError;

/// A double-quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A single-quoted string literal.
pub fn string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// One series of a statement's result.
#[derive(Debug, Deserialize, Default)]
pub struct Series {
    /// The measurement (or what `SHOW` listed).
    #[serde(default)]
    pub name: String,
    /// The GROUP BY tags.
    #[serde(default)]
    pub tags: std::collections::HashMap<String, String>,
    /// Column names.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Rows.
    #[serde(default)]
    pub values: Vec<Vec<Value>>,
}

impl Series {
    /// The index of `column`.
    pub fn column(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    /// The text values of `column` (what `SHOW …` lists).
    pub fn texts(&self, column: &str) -> Vec<String> {
        let Some(at) = self.column(column) else {
            return Vec::new();
        };
        self.values
            .iter()
            .filter_map(|row| row.get(at)?.as_str().map(str::to_string))
            .collect()
    }
}

#[derive(Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

/// The series of each statement, or the first error InfluxDB reported.
pub fn parse(body: &[u8]) -> Result<Vec<Vec<Series>>, InfluxError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| InfluxError::Answer(e.to_string()))?;
    if let Some(error) = answer.error {
        return Err(InfluxError::Query(error));
    }
    answer
        .results
        .into_iter()
        .map(|r| match r.error {
            Some(error) => Err(InfluxError::Query(error)),
            None => Ok(r.series),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_cannot_be_closed_by_input() {
        assert_eq!(ident("a\"b"), "\"a\\\"b\"");
        assert_eq!(string("it's \\"), "'it\\'s \\\\'");
    }

    #[test]
    fn statement_errors_are_errors() {
        let ok = br#"{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"feature_id":"a"},"columns":["time","sum"],"values":[[60,5]]}]}]}"#;
        let series = parse(ok).unwrap();
        assert_eq!(series[0][0].tags["feature_id"], "a");
        assert_eq!(series[0][0].values[0][1], 5);
        let failed = br#"{"results":[{"statement_id":0,"error":"database not found: x"}]}"#;
        assert!(matches!(parse(failed), Err(InfluxError::Query(e)) if e.contains("not found")));
        assert!(matches!(
            parse(br#"{"error":"bad"}"#),
            Err(InfluxError::Query(_))
        ));
    }
}
