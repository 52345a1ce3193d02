//! The engine's errors. Each names where in the input it went wrong.

/// A document or context that is not valid JSON of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {path}: {message} (line {line}, column {column})")]
pub struct ParseError {
    /// The JSON path of the offending value, such as `feature_states[3].enabled`.
    pub path: String,
    /// What was wrong there.
    pub message: String,
    /// 1-based line of the error in the input.
    pub line: usize,
    /// 1-based column of the error in the input.
    pub column: usize,
}

impl ParseError {
    pub(crate) fn new(path: String, error: &serde_json::Error) -> ParseError {
        // serde_json appends " at line L column C"; the position is kept separately.
        let full = error.to_string();
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        ParseError {
            path,
            message,
            line: error.line(),
            column: error.column(),
        }
    }

    pub(crate) fn from_path_error(
        error: serde_path_to_error::Error<serde_json::Error>,
    ) -> ParseError {
        let path = error.path().to_string();
        let path = if path == "." { "$".to_string() } else { path };
        ParseError::new(path, error.inner())
    }

    /// An error in a value that parsed as JSON but means nothing valid.
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> ParseError {
        ParseError {
            path: path.into(),
            message: message.into(),
            line: 0,
            column: 0,
        }
    }
}
