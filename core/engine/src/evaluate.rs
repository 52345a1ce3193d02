//! Evaluation: which segments match an identity, and what each flag is.
//!
//! The algorithm is the reference engine's (flagsmith-flag-engine 11.1.1), step
//! for step where the order is observable:
//!
//! 1. Segments are evaluated in context order. A matching segment's overrides
//!    compete per feature: lower priority wins, the first seen wins a tie.
//! 2. Each feature takes its winning override (`TARGETING_MATCH`) or its
//!    environment default (`STATIC` when no segment overrides it at all,
//!    `DEFAULT` when some does but none matched), then a multivariate variant
//!    chosen by hashing the state key with the identity key (`SPLIT`).
//! 3. Flag dependencies: a condition reading `$.flags.<name>…` resolves that
//!    flag lazily, with memoised segment verdicts. A flag met again while it is
//!    being resolved closes a cycle: every flag on the cycle is marked, and a
//!    segment whose verdict was reached through a cut cycle does not match.
//!    Flags resolved this way take precedence in the result; cyclic flags report
//!    `ERROR; code=CIRCULAR_DEPENDENCY`.
//!
//! Environments without flag dependencies skip step 3's bookkeeping entirely and
//! short-circuit rules freely (no condition has side effects there).
//!
//! Evaluation reads [`CompiledRules`] and produces an [`Evaluation`]; it knows
//! nothing of how results are rendered (`response`, `result`) or of the
//! environment flags precomputed from it (`environment`).

use std::borrow::Cow;

use serde_json::Value;

use crate::compile::{CompiledCondition, CompiledRule, CompiledRules, SegmentMatcher};
use crate::condition::Operator;
use crate::context::RuleType;
use crate::hashing;
pub use crate::outcome::FlagOutcome;
use crate::outcome::{Reason, VariantPick};
use crate::property::{self, PathTarget, Property, Step};
use crate::value::{self, ContextValue};

/// An identity to evaluate: the identifier, an optional hashing key, and traits.
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    /// The identifier the SDK sent.
    pub identifier: &'a str,
    /// The hashing key; `None` means `<environment key>_<identifier>`.
    pub key: Option<&'a str>,
    /// Trait values in request order (a later duplicate key wins).
    pub traits: &'a [(String, Value)],
}

/// A trait written `KEY=VALUE` (command lines, the console's "test an identity"):
/// the value is JSON when it parses as JSON (`3`, `true`, `"x"`), else the text.
pub fn trait_assignment(text: &str) -> Option<(String, Value)> {
    let (key, value) = text.split_once('=')?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Some((key.to_string(), value))
}

/// The outcome of evaluating one identity (or none) against an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// One outcome per feature, in the environment's feature order.
    flags: Vec<FlagOutcome>,
    /// The segments that matched, in context order.
    segments: Vec<u32>,
}

impl Evaluation {
    /// One outcome per feature, in the environment's feature order.
    pub(crate) fn flags(&self) -> &[FlagOutcome] {
        &self.flags
    }

    /// The segments that matched (indices), in context order.
    pub(crate) fn matched_segments(&self) -> &[u32] {
        &self.segments
    }
}

/// Observes an evaluation, for explanations. Every method defaults to nothing,
/// so the untraced evaluator compiles to the same code as without it.
pub(crate) trait Tracer {
    fn condition(
        &mut self,
        _segment: u32,
        _condition: &CompiledCondition,
        _value: Option<&ContextValue<'_>>,
        _matched: bool,
        _split: Option<f64>,
    ) {
    }
    fn segment(&mut self, _segment: u32, _matched: bool, _cut_by_cycle: bool) {}
    fn variant(&mut self, _state: u32, _percentage: f64) {}
    fn main_pass_done(&mut self) {}
}

/// The tracer that records nothing.
pub(crate) struct NoTrace;
impl Tracer for NoTrace {}

impl CompiledRules {
    /// Evaluates every flag for an identity, or for none (environment flags).
    pub fn evaluate(&self, identity: Option<&Identity<'_>>) -> Evaluation {
        Evaluator::new(self, identity, NoTrace).run()
    }

    pub(crate) fn evaluate_traced<T: Tracer>(
        &self,
        identity: Option<&Identity<'_>>,
        tracer: T,
    ) -> (Evaluation, T) {
        let mut evaluator = Evaluator::new(self, identity, tracer);
        let evaluation = evaluator.run();
        (evaluation, evaluator.tracer)
    }
}

/// Bookkeeping for flag dependencies (empty when the environment has none).
struct Dependencies {
    resolved: Vec<Option<FlagOutcome>>,
    cyclic: Vec<bool>,
    cycle_hits: u32,
    memo: Vec<Option<bool>>,
    resolving: Vec<u32>,
}

struct Evaluator<'a, T> {
    env: &'a CompiledRules,
    identity: Option<&'a Identity<'a>>,
    /// Coerced trait values by slot.
    traits: Vec<Option<ContextValue<'a>>>,
    /// Identifier-set segments this identity is a member of, ascending.
    identifier_segments: &'a [u32],
    deps: Dependencies,
    tracer: T,
}

impl<'a, T: Tracer> Evaluator<'a, T> {
    fn new(env: &'a CompiledRules, identity: Option<&'a Identity<'a>>, tracer: T) -> Self {
        let mut traits = Vec::new();
        if let Some(identity) = identity
            && !env.trait_slots.is_empty()
        {
            traits.resize(env.trait_slots.len(), None);
            for (key, value) in identity.traits {
                if let Some(&slot) = env.trait_slots.get(key.as_str()) {
                    traits[slot as usize] = ContextValue::from_json(value);
                }
            }
        }
        let (features, segments) = if env.has_flag_dependencies() {
            (env.features.len(), env.segments.len())
        } else {
            (0, 0)
        };
        let mut evaluator = Evaluator {
            env,
            identity,
            traits,
            identifier_segments: &[],
            deps: Dependencies {
                resolved: vec![None; features],
                cyclic: vec![false; features],
                cycle_hits: 0,
                memo: vec![None; segments],
                resolving: Vec::new(),
            },
            tracer,
        };
        if let (Some(property), Some(_)) = (&env.identifier_property, identity) {
            // Reading `$.identity.identifier` has no side effects.
            let member = match evaluator.read(property) {
                Some(ContextValue::Str(s)) => Some(s),
                Some(ContextValue::Int(i)) => Some(Cow::Owned(i.to_string())),
                _ => None,
            };
            if let Some(found) = member.and_then(|m| env.identifier_segments(&m)) {
                evaluator.identifier_segments = found;
            }
        }
        evaluator
    }

    fn run(&mut self) -> Evaluation {
        let env = self.env;
        let mut winners: Vec<Option<(u32, u32)>> = vec![None; env.features.len()];
        let mut matched = Vec::new();
        let mut hits = self.deps.cycle_hits;
        let mut rule_segments = env.rule_segments.iter().copied().peekable();
        let mut identifier_segments = self.identifier_segments.iter().copied().peekable();
        // Both lists ascend; merging them visits segments in context order.
        loop {
            let segment = match (rule_segments.peek(), identifier_segments.peek()) {
                (Some(&r), Some(&i)) if i < r => identifier_segments.next(),
                (Some(_), _) => rule_segments.next(),
                (None, Some(_)) => identifier_segments.next(),
                (None, None) => break,
            };
            let Some(segment) = segment else { break };
            let matches = self.segment_matches(segment);
            if self.deps.cycle_hits != hits {
                hits = self.deps.cycle_hits;
                self.tracer.segment(segment, matches, true);
                continue;
            }
            self.tracer.segment(segment, matches, false);
            if !matches {
                continue;
            }
            matched.push(segment);
            for state in env.segments[segment as usize].overrides() {
                let Some(feature) = env.states[state as usize].feature() else {
                    continue;
                };
                let slot = &mut winners[feature as usize];
                if wins_over(env, state, slot.map(|(s, _)| s)) {
                    *slot = Some((state, segment));
                }
            }
        }
        self.tracer.main_pass_done();
        let mut flags: Vec<FlagOutcome> = env
            .features
            .iter()
            .zip(&winners)
            .map(|(feature, winner)| match winner {
                Some((state, segment)) => {
                    self.flag_outcome(*state, Reason::TargetingMatch(*segment))
                }
                None => self.flag_outcome(feature.default_state, fallback_reason(feature.targeted)),
            })
            .collect();
        if env.has_flag_dependencies() {
            for (flag, resolved) in flags.iter_mut().zip(&self.deps.resolved) {
                if let Some(resolved) = resolved {
                    *flag = *resolved;
                }
            }
            for (flag, cyclic) in flags.iter_mut().zip(&self.deps.cyclic) {
                if *cyclic {
                    flag.reason = Reason::CircularDependency;
                }
            }
        }
        Evaluation {
            flags,
            segments: matched,
        }
    }

    /// A feature state's outcome, choosing a variant when there is an identity.
    fn flag_outcome(&mut self, state: u32, reason: Reason) -> FlagOutcome {
        let compiled = &self.env.states[state as usize];
        let (Some(identity), false) = (self.identity, compiled.variants(self.env).is_empty())
        else {
            return FlagOutcome {
                state,
                variant: VariantPick::NotApplicable,
                reason,
            };
        };
        let percentage = with_identity_key(self.env, identity, |key| {
            hashing::percentage(&[&[compiled.hash_key(self.env)], key])
        });
        self.tracer.variant(state, percentage);
        let mut start = 0.0;
        for (i, variant) in compiled.variants(self.env).iter().enumerate() {
            let limit = variant.weight + start;
            if start <= percentage && percentage < limit {
                return FlagOutcome {
                    state,
                    variant: VariantPick::Option(i as u16),
                    reason: Reason::Split,
                };
            }
            start = limit;
        }
        FlagOutcome {
            state,
            variant: VariantPick::Control,
            reason,
        }
    }

    fn segment_matches(&mut self, segment: u32) -> bool {
        let env = self.env;
        match &env.segments[segment as usize].matcher {
            SegmentMatcher::IdentifierSet => {
                self.identifier_segments.binary_search(&segment).is_ok()
            }
            SegmentMatcher::Rules(rules) => {
                !rules.is_empty() && rules.iter().all(|rule| self.rule_matches(segment, rule))
            }
        }
    }

    fn rule_matches(&mut self, segment: u32, rule: &'a CompiledRule) -> bool {
        let conditions = rule.conditions.is_empty()
            || combine(rule.rule_type, rule.conditions.iter(), |c| {
                self.condition_matches(segment, c)
            });
        // The reference evaluates sub-rules even after the conditions failed;
        // that is only observable when conditions can resolve flags.
        if !conditions && !self.env.has_flag_dependencies() {
            return false;
        }
        let rules = rule.rules.is_empty()
            || combine(rule.rule_type, rule.rules.iter(), |r| {
                self.rule_matches(segment, r)
            });
        conditions && rules
    }

    fn condition_matches(&mut self, segment: u32, condition: &'a CompiledCondition) -> bool {
        let env = self.env;
        let segment_key = env.segments[segment as usize].key(env);
        let Some(property) = &condition.property else {
            // A property-less split hashes the identity key.
            let matched = match (self.identity, &condition.operator) {
                (Some(identity), Operator::PercentageSplit(Some(threshold))) => {
                    let percentage = with_identity_key(env, identity, |key| {
                        hashing::percentage(&[&[segment_key], key])
                    });
                    let matched = percentage <= *threshold;
                    self.tracer
                        .condition(segment, condition, None, matched, Some(percentage));
                    return matched;
                }
                _ => false,
            };
            self.tracer
                .condition(segment, condition, None, matched, None);
            return matched;
        };
        let value = self.read(property);
        let mut split = None;
        let matched = match (&condition.operator, &value) {
            (Operator::IsNotSet, value) => value.is_none(),
            (_, None) => false,
            (Operator::PercentageSplit(Some(threshold)), Some(value)) => {
                let text = value.to_python_str();
                let percentage = hashing::percentage(&[&[segment_key], &[&text]]);
                split = Some(percentage);
                percentage <= *threshold
            }
            (operator, Some(value)) => operator.matches_value(value),
        };
        self.tracer
            .condition(segment, condition, value.as_ref(), matched, split);
        matched
    }

    /// Reads a property: a trait, or a JSONPath after a same-named trait.
    fn read(&mut self, property: &'a Property) -> Option<ContextValue<'a>> {
        match property {
            Property::Trait(slot) => self.trait_value(*slot),
            Property::Path { literal, target } => {
                if let Some(value) = self.trait_value(*literal) {
                    return Some(value);
                }
                let identity = self.identity;
                match target {
                    PathTarget::IdentityIdentifier => {
                        identity.map(|i| value::coerce_str(i.identifier))
                    }
                    PathTarget::IdentityKey => identity.map(|i| {
                        let key = with_identity_key(self.env, i, |pieces| pieces.concat());
                        value::coerce_str(&key).into_owned()
                    }),
                    PathTarget::IdentityTrait(slot) => self.trait_value(*slot),
                    PathTarget::Constant(value) => value.clone(),
                    PathTarget::Flag { feature, steps } => self.read_flag(*feature, steps),
                    PathTarget::Query(query) => self.read_query(query),
                }
            }
        }
    }

    fn trait_value(&self, slot: u16) -> Option<ContextValue<'a>> {
        self.traits.get(slot as usize).cloned().flatten()
    }

    /// Reads `$.flags.<feature>.<steps…>`, resolving the flag on first use.
    fn read_flag(&mut self, feature: Option<u32>, steps: &'a [Step]) -> Option<ContextValue<'a>> {
        let feature = feature?;
        if self.deps.resolved[feature as usize].is_none() {
            self.resolve_feature(feature);
        }
        let outcome = self.deps.resolved[feature as usize]?;
        let state = outcome.state(self.env);
        let (first, rest) = steps.split_first()?;
        let Step::Name(field) = first else {
            return None;
        };
        match field.as_str() {
            "enabled" if rest.is_empty() => Some(ContextValue::Bool(state.enabled)),
            "name" if rest.is_empty() => Some(value::coerce_str(state.name(self.env))),
            "reason" if rest.is_empty() => {
                Some(value::coerce_str(&outcome.reason_text(self.env)).into_owned())
            }
            "variant" if rest.is_empty() => outcome.variant_text(self.env).map(value::coerce_str),
            "value" => {
                let value = outcome.value(self.env);
                property::walk(&value, rest)
                    .and_then(property::scalar_value)
                    .map(ContextValue::into_owned)
            }
            "metadata" => {
                let metadata: Value = serde_json::from_str(state.metadata(self.env)?).ok()?;
                property::walk(&metadata, rest)
                    .and_then(property::scalar_value)
                    .map(ContextValue::into_owned)
            }
            _ => None,
        }
    }

    /// A general JSONPath query over the context as the reference sees it now
    /// (flags resolved so far included).
    fn read_query(&mut self, query: &serde_json_path::JsonPath) -> Option<ContextValue<'a>> {
        let mut context = self.env.query_context.clone().unwrap_or(Value::Null);
        if let Value::Object(map) = &mut context {
            if let Some(identity) = self.identity {
                let key = with_identity_key(self.env, identity, |pieces| pieces.concat());
                let traits: serde_json::Map<String, Value> =
                    identity.traits.iter().cloned().collect();
                map.insert(
                    "identity".into(),
                    serde_json::json!({"identifier": identity.identifier, "key": key, "traits": traits}),
                );
            }
            let flags: serde_json::Map<String, Value> = self
                .deps
                .resolved
                .iter()
                .enumerate()
                .filter_map(|(i, o)| {
                    o.map(|o| {
                        (
                            self.env.features[i].name.to_string(),
                            o.result_json(self.env),
                        )
                    })
                })
                .collect();
            map.insert("flags".into(), Value::Object(flags));
        }
        let nodes = query.query(&context);
        let first = nodes.first()?;
        property::scalar_value(first).map(ContextValue::into_owned)
    }

    fn resolve_feature(&mut self, feature: u32) {
        if let Some(position) = self.deps.resolving.iter().position(|&f| f == feature) {
            for &f in &self.deps.resolving[position..] {
                self.deps.cyclic[f as usize] = true;
            }
            self.deps.cycle_hits += 1;
            return;
        }
        self.deps.resolving.push(feature);
        let winner = self.segment_override_for(feature);
        self.deps.resolving.pop();
        if self.deps.cyclic[feature as usize] {
            return;
        }
        let compiled = &self.env.features[feature as usize];
        let outcome = match winner {
            Some((state, segment)) => self.flag_outcome(state, Reason::TargetingMatch(segment)),
            None => self.flag_outcome(compiled.default_state, fallback_reason(compiled.targeted)),
        };
        self.deps.resolved[feature as usize] = Some(outcome);
    }

    fn segment_override_for(&mut self, feature: u32) -> Option<(u32, u32)> {
        let env = self.env;
        let mut best: Option<(u32, u32)> = None;
        for &segment in env.segments_overriding(feature) {
            if !self.segment_matches_memoised(segment) {
                continue;
            }
            for state in env.segments[segment as usize].overrides() {
                if env.states[state as usize].feature() == Some(feature)
                    && wins_over(env, state, best.map(|(s, _)| s))
                {
                    best = Some((state, segment));
                }
            }
        }
        best
    }

    fn segment_matches_memoised(&mut self, segment: u32) -> bool {
        if let Some(matches) = self.deps.memo[segment as usize] {
            return matches;
        }
        let hits = self.deps.cycle_hits;
        let matches = self.segment_matches(segment);
        if self.deps.cycle_hits != hits {
            // Reached by cutting a cycle: not a match, and not memoised.
            return false;
        }
        self.deps.memo[segment as usize] = Some(matches);
        matches
    }
}

/// ALL / ANY / NONE over lazily evaluated items, short-circuiting as Python's
/// `all` and `any` do.
fn combine<I, F>(rule_type: RuleType, items: I, mut matches: F) -> bool
where
    I: Iterator,
    F: FnMut(I::Item) -> bool,
{
    let mut items = items;
    match rule_type {
        RuleType::All => items.all(&mut matches),
        RuleType::Any => items.any(&mut matches),
        RuleType::None => !items.any(&mut matches),
    }
}

/// Lower priority wins; the incumbent keeps a tie.
fn wins_over(env: &CompiledRules, candidate: u32, incumbent: Option<u32>) -> bool {
    incumbent.is_none_or(|incumbent| {
        env.states[candidate as usize].priority < env.states[incumbent as usize].priority
    })
}

fn fallback_reason(targeted: bool) -> Reason {
    if targeted {
        Reason::Default
    } else {
        Reason::Static
    }
}

/// Calls `f` with the identity key as pieces: the given key, or
/// `<environment key>_<identifier>` without allocating it.
fn with_identity_key<R>(
    env: &CompiledRules,
    identity: &Identity<'_>,
    f: impl FnOnce(&[&str]) -> R,
) -> R {
    match identity.key {
        Some(key) if !key.is_empty() => f(&[key]),
        _ => f(&[&env.meta().api_key, "_", identity.identifier]),
    }
}
