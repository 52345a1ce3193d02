//! The forms of a feature's page, so a refusal is shown beside the right one.

use super::api::Refused;

/// Which form a refusal belongs to, so its errors show beside the right fields.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Form {
    /// The state here.
    State,
    /// The settings.
    Settings,
    /// A new multivariate option.
    Option,
    /// A new segment override.
    NewOverride,
    /// An existing segment override.
    Override(i64),
}

/// What a failed form leaves for the page: which form, what was wrong.
pub type Failed<'a> = Option<(Form, &'a Refused)>;

/// The refusal of `form`, if it is the one that failed.
pub fn refusal_for(failed: Failed<'_>, form: Form) -> Option<&Refused> {
    failed.filter(|(f, _)| *f == form).map(|(_, r)| r)
}
