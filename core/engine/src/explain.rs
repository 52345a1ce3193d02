//! Explanations: why each flag has its value.
//!
//! `flagedge-eval --explain` prints these. They are built by re-running the
//! evaluation with a tracer that records every segment verdict, every condition
//! with the value it read, every percentage hash, and every override that
//! competed — the same code path as a request, observed.

use std::fmt::{self, Write as _};

use crate::compile::{CompiledCondition, CompiledRules};
use crate::evaluate::{Evaluation, Identity, Tracer};
use crate::outcome::{Reason, VariantPick};
use crate::value::ContextValue;

struct Recorder<'r> {
    rules: &'r CompiledRules,
    in_main_pass: bool,
    main_pass_over: bool,
    /// Conditions of the segment being evaluated in the main pass.
    pending: Vec<String>,
    segments: Vec<(u32, bool, bool, Vec<String>)>,
    variants: Vec<(u32, f64)>,
}

impl Tracer for Recorder<'_> {
    fn condition(
        &mut self,
        _segment: u32,
        condition: &CompiledCondition,
        value: Option<&ContextValue<'_>>,
        matched: bool,
        split: Option<f64>,
    ) {
        if self.main_pass_over {
            return;
        }
        self.in_main_pass = true;
        let mut line = format!(
            "{} {}",
            if matched { "✓" } else { "✗" },
            condition.shown(self.rules)
        );
        match value {
            Some(v) => {
                let _ = write!(line, " — read {}", describe(v));
            }
            // A property-less split reads the identity key, which is always set.
            None if condition.property.is_some() => line.push_str(" — not set"),
            None => {}
        }
        if let Some(pct) = split {
            let _ = write!(line, " — hash {pct:.4}%");
        }
        self.pending.push(line);
    }

    fn segment(&mut self, segment: u32, matched: bool, cut_by_cycle: bool) {
        if self.main_pass_over {
            return;
        }
        let conditions = std::mem::take(&mut self.pending);
        self.segments
            .push((segment, matched, cut_by_cycle, conditions));
    }

    fn variant(&mut self, state: u32, percentage: f64) {
        self.variants.push((state, percentage));
    }

    fn main_pass_done(&mut self) {
        self.main_pass_over = true;
    }
}

fn describe(value: &ContextValue<'_>) -> String {
    match value {
        ContextValue::Str(s) => format!("{s:?} (string)"),
        ContextValue::Int(i) => format!("{i} (int)"),
        ContextValue::Float(f) => format!("{} (float)", crate::python::float_repr(*f)),
        ContextValue::Bool(b) => format!("{} (bool)", if *b { "True" } else { "False" }),
    }
}

/// A readable account of one evaluation.
pub struct Explanation {
    text: String,
    /// The evaluation that was explained.
    pub evaluation: Evaluation,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl CompiledRules {
    /// Evaluates and explains every flag for an identity (or none).
    pub fn explain(&self, identity: Option<&Identity<'_>>) -> Explanation {
        let (evaluation, recorder) = self.evaluate_traced(
            identity,
            Recorder {
                rules: self,
                in_main_pass: false,
                main_pass_over: false,
                pending: Vec::new(),
                segments: Vec::new(),
                variants: Vec::new(),
            },
        );
        let mut text = String::new();
        match identity {
            Some(identity) => {
                let key = match identity.key {
                    Some(k) if !k.is_empty() => k.to_string(),
                    _ => format!("{}_{}", self.meta().api_key, identity.identifier),
                };
                let _ = writeln!(
                    text,
                    "identity {:?} (hash key {key:?})",
                    identity.identifier
                );
            }
            None => {
                let _ = writeln!(text, "no identity (environment flags)");
            }
        }
        let _ = writeln!(text, "\nsegments, in evaluation order:");
        for (segment, matched, cut, conditions) in &recorder.segments {
            let s = &self.segments[*segment as usize];
            let verdict = match (matched, cut) {
                (_, true) => "does not count: its verdict depended on a dependency cycle",
                (true, false) => "matched",
                (false, false) => "did not match",
            };
            let _ = writeln!(text, "  {} (key {}) — {verdict}", s.name(self), s.key(self));
            for line in conditions {
                let _ = writeln!(text, "      {line}");
            }
        }
        if recorder.segments.is_empty() {
            let _ = writeln!(text, "  (no segment could apply)");
        }
        let _ = writeln!(text, "\nflags:");
        for (index, (feature, outcome)) in self.features.iter().zip(evaluation.flags()).enumerate()
        {
            let state = outcome.state(self);
            let value = outcome.value(self);
            let _ = writeln!(
                text,
                "  {}: {} enabled={} — {}",
                feature.name,
                value,
                state.enabled,
                outcome.reason_text(self)
            );
            let origin = match outcome.reason {
                Reason::TargetingMatch(segment) => Some(segment),
                _ if outcome.state != feature.default_state => self
                    .segments
                    .iter()
                    .position(|s| s.overrides().contains(&outcome.state))
                    .map(|s| s as u32),
                _ => None,
            };
            match origin {
                Some(segment) => {
                    let competitors: Vec<String> = evaluation
                        .matched_segments()
                        .iter()
                        .flat_map(|&s| self.segments[s as usize].overrides().map(move |o| (s, o)))
                        .filter(|(_, o)| self.states[*o as usize].feature() == Some(index as u32))
                        .map(|(s, o)| {
                            let p = self.states[o as usize].priority;
                            let p = if p.is_infinite() {
                                if p < 0.0 {
                                    "strongest".into()
                                } else {
                                    "none".into()
                                }
                            } else {
                                crate::python::float_repr(p)
                            };
                            format!("{} (priority {p})", self.segments[s as usize].name(self))
                        })
                        .collect();
                    let _ = writeln!(
                        text,
                        "      override from segment {:?}; candidates: {}",
                        self.segments[segment as usize].name(self),
                        competitors.join(", ")
                    );
                }
                None if feature.targeted => {
                    let _ = writeln!(
                        text,
                        "      environment default: no segment overriding it matched"
                    );
                }
                None => {
                    let _ = writeln!(text, "      environment default: no segment overrides it");
                }
            }
            if let Some((_, pct)) = recorder
                .variants
                .iter()
                .rev()
                .find(|(s, _)| *s == outcome.state)
            {
                let mut start = 0.0;
                let bands: Vec<String> = state
                    .variants(self)
                    .iter()
                    .map(|v| {
                        let band = format!(
                            "{} [{}, {})",
                            v.key(self).unwrap_or("<unkeyed>"),
                            start,
                            start + v.weight
                        );
                        start += v.weight;
                        band
                    })
                    .collect();
                let chosen = match outcome.variant {
                    VariantPick::Option(i) => format!("option {i}"),
                    _ => "control (the state's own value)".into(),
                };
                let _ = writeln!(
                    text,
                    "      multivariate: hash {pct:.4}% over {} → {chosen}",
                    bands.join(", ")
                );
            }
            if outcome.reason == Reason::CircularDependency {
                let _ = writeln!(text, "      part of a flag dependency cycle");
            }
        }
        Explanation { text, evaluation }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::CompiledEnvironment;
    use crate::context::EvaluationContext;
    use crate::evaluate::Identity;

    #[test]
    fn conditions_are_shown_as_written_with_what_they_read() {
        let context = EvaluationContext::parse(
            &json!({
                "environment": {"key": "env", "name": "Test"},
                "features": {"banner": {"enabled": false, "key": "1", "name": "banner", "value": null}},
                "segments": {"1": {"key": "1", "name": "gold", "rules": [{"type": "ALL",
                    "conditions": [
                        {"property": "plan", "operator": "EQUAL", "value": "gold"},
                        {"property": "age", "operator": "GREATER_THAN", "value": "21"},
                        {"property": "", "operator": "PERCENTAGE_SPLIT", "value": "100"}
                    ], "rules": []}],
                    "overrides": [{"enabled": true, "key": "2", "name": "banner", "value": "on",
                        "priority": 1}]}}
            })
            .to_string(),
        )
        .unwrap();
        let compiled = CompiledEnvironment::from_context(&context).unwrap();
        let explain = |traits: &[(String, serde_json::Value)]| {
            let identity = Identity {
                identifier: "alice",
                key: None,
                traits,
            };
            compiled.explain(Some(&identity)).to_string()
        };
        let text = explain(&[("plan".to_string(), json!("gold"))]);
        assert!(
            text.contains("✓ plan EQUAL \"gold\" — read \"gold\" (string)"),
            "{text}"
        );
        assert!(
            text.contains("✗ age GREATER_THAN \"21\" — not set"),
            "{text}"
        );
        // An ALL rule stops at its first failure, as the reference does.
        assert!(!text.contains("PERCENTAGE_SPLIT"), "{text}");

        let text = explain(&[
            ("plan".to_string(), json!("gold")),
            ("age".to_string(), json!(30)),
        ]);
        assert!(
            text.contains("✓ age GREATER_THAN \"21\" — read 30 (int)"),
            "{text}"
        );
        // The split reads the identity key, which is never "not set".
        let split = text
            .lines()
            .find(|l| l.contains("<identity key> PERCENTAGE_SPLIT \"100\""))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            split.contains("— hash") && !split.contains("not set"),
            "{split}"
        );
    }
}
