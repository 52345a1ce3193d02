//! Line protocol: one point per line, `measurement,tag=v field=v time`, with
//! InfluxDB's escaping rules (which differ for measurements, tags and string
//! fields).

use std::fmt::Write as _;

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// An integer (`5i`).
    Integer(i64),
    /// A string (`"…"`).
    Text(String),
}

/// One point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The measurement.
    pub measurement: &'static str,
    /// Tags, written in this order (InfluxDB sorts them itself); empty values are left out,
    /// as line protocol cannot carry them.
    pub tags: Vec<(&'static str, String)>,
    /// Fields (at least one).
    pub fields: Vec<(&'static str, Field)>,
    /// Nanoseconds since the epoch.
    pub time_ns: i64,
}

/// Escapes a measurement name: commas and spaces.
fn measurement(out: &mut String, name: &str) {
    for c in name.chars() {
        if matches!(c, ',' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Escapes a tag key or value, or a field key: commas, equals signs and spaces.
fn key(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            ',' | '=' | ' ' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // A newline would end the point; line protocol has no escape for it.
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
}

/// Escapes a string field value: double quotes and backslashes.
fn text(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl Point {
    /// Appends the point as a line.
    pub fn write_to(&self, out: &mut String) {
        measurement(out, self.measurement);
        for (name, value) in &self.tags {
            // A tag value ending in a backslash would escape the separator after it.
            let value = value.trim_end_matches('\\');
            if value.is_empty() {
                continue;
            }
            out.push(',');
            key(out, name);
            out.push('=');
            key(out, value);
        }
        for (i, (name, value)) in self.fields.iter().enumerate() {
            out.push(if i == 0 { ' ' } else { ',' });
            key(out, name);
            out.push('=');
            match value {
                Field::Integer(n) => {
                    let _ = write!(out, "{n}i");
                }
                Field::Text(s) => text(out, s),
            }
        }
        let _ = writeln!(out, " {}", self.time_ns);
    }
}

/// The body for a write of `points`.
pub fn body(points: &[Point]) -> String {
    let mut out = String::with_capacity(points.len() * 96);
    for point in points {
        point.write_to(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_is_escaped_by_its_own_rule() {
        let point = Point {
            measurement: "api call",
            tags: vec![
                ("resource", "flags".into()),
                ("project", "a,b=c d".into()),
                ("empty", String::new()),
                ("host", "x\\".into()),
            ],
            fields: vec![
                ("request_count", Field::Integer(5)),
                ("report", Field::Text("say \"hi\" \\ there".into())),
            ],
            time_ns: 100,
        };
        assert_eq!(
            body(&[point]),
            "api\\ call,resource=flags,project=a\\,b\\=c\\ d,host=x request_count=5i,report=\"say \\\"hi\\\" \\\\ there\" 100\n"
        );
    }

    #[test]
    fn a_newline_cannot_start_another_point() {
        let point = Point {
            measurement: "m",
            tags: vec![("feature_id", "a\nm2 x=1i 5".into())],
            fields: vec![("request_count", Field::Integer(1))],
            time_ns: 1,
        };
        assert_eq!(body(&[point]).lines().count(), 1);
    }
}
