//! Compiling a context (or document) into [`CompiledRules`].
//!
//! Compilation happens once per document revision, off the request path. It
//! resolves every name to an index, parses every operand, compiles regexes,
//! builds `IN` sets, indexes identity overrides by identifier, sorts variants
//! and serialises every flag object a request could return into JSON bytes.
//! The rules know nothing of evaluation or rendering: `evaluate` reads them,
//! `response` and `result` render what it decides, and `environment` assembles
//! rules and their environment flags into a [`crate::CompiledEnvironment`].
//!
//! Name lookups and the visibility filter (server-key-only features, hidden
//! disabled flags) live here too: they are facts about the compiled features.

use std::collections::HashMap;
use std::num::NonZeroU32;

use serde_json::Value;

use crate::KeyKind;
use crate::condition::Operator;
use crate::context::{EvaluationContext, FeatureContext, RuleType, SegmentRule};
use crate::document::EnvironmentDocument;
use crate::index_lists::IndexLists;
use crate::mapping;
use crate::property::{self, PathScope, PathTarget, Property, TraitSlot, TraitSlots};
use crate::python;
use crate::selection;
use crate::timestamp::Timestamp;

/// Settings of the environment that decide what is served, beyond evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvironmentMeta {
    /// Flagsmith's environment id (0 when unknown).
    pub id: i64,
    /// The client-side key.
    pub api_key: String,
    /// The environment's name.
    pub name: String,
    /// The project's id and name (0 and empty when unknown).
    pub project: (i64, String),
    /// The organisation's id and name (0 and empty when unknown).
    pub organisation: (i64, String),
    /// When the document last changed.
    pub updated_at: Option<Timestamp>,
    /// flagedge's revision counter, when the document carries one.
    pub revision: Option<u64>,
    /// Hide disabled flags from responses (environment setting, else project's).
    pub hide_disabled_flags: bool,
    /// Whether client-side keys may set traits.
    pub allow_client_traits: bool,
    /// Whether identity responses hide traits.
    pub hide_sensitive_data: bool,
    /// Whether traits are stored for identities.
    pub persist_trait_data: bool,
    /// Whether the organisation stopped serving flags.
    pub stop_serving_flags: bool,
    /// Whether SDKs may use realtime updates for this project.
    pub enable_realtime_updates: bool,
}

/// An environment's rules, compiled: features, states (each flag object
/// pre-serialised), segments and the indices evaluation reads. Immutable,
/// shareable across threads. Callers use it through a
/// [`crate::CompiledEnvironment`], which adds the environment flags.
#[derive(Debug)]
pub struct CompiledRules {
    meta: EnvironmentMeta,
    pub(crate) features: Box<[CompiledFeature]>,
    feature_index: NameIndex,
    pub(crate) states: Box<[CompiledState]>,
    /// Every state's variants, each state's together (see [`CompiledState::variants`]).
    variants: Box<[CompiledVariant]>,
    pub(crate) segments: Box<[CompiledSegment]>,
    /// Segments matched by evaluating their rules, in context order.
    pub(crate) rule_segments: Box<[u32]>,
    /// Segments of the form `$.identity.identifier IN [...]`, by member.
    identifier_index: IdentifierIndex,
    /// The property those segments read (compiled once, shared).
    pub(crate) identifier_property: Option<Property>,
    /// Per feature: the segments overriding it, once per override, in context order.
    segments_by_feature: IndexLists,
    pub(crate) trait_slots: HashMap<Box<str>, TraitSlot>,
    /// Byte strings states share, each kept once, end to end in one
    /// allocation: flag-object prefixes and suffixes, metadata, names (most
    /// states of a feature repeat its prefix and metadata; many values repeat).
    fragments: Box<[u8]>,
    /// Whether any condition reads another flag (`$.flags.…`).
    has_flag_dependencies: bool,
    /// The context as JSON, for general JSONPath queries; only built when needed.
    pub(crate) query_context: Option<Value>,
    /// What selects flags, values aside (see `selection.rs`).
    selection_digest: Option<[u8; 32]>,
}

#[derive(Debug)]
pub(crate) struct CompiledFeature {
    pub(crate) name: Box<str>,
    pub(crate) default_state: u32,
    pub(crate) server_key_only: bool,
    /// Whether any segment overrides it (decides STATIC vs DEFAULT).
    pub(crate) targeted: bool,
}

/// A feature state. What it shares with other states (its flag object's
/// prefix, its value's JSON, its metadata) is a [`Fragment`] of the rules.
#[derive(Debug)]
pub(crate) struct CompiledState {
    /// Its feature's index, or [`NO_FEATURE`] (see [`CompiledState::feature`]).
    feature: u32,
    /// The multivariate hashing key; only states with variants hash.
    key: Option<Fragment>,
    /// Its name, when the environment has no feature of that name (otherwise
    /// the feature's name is the state's).
    own_name: Option<Fragment>,
    pub(crate) enabled: bool,
    /// Where its variants lie in [`CompiledRules::variants`], sorted by priority.
    variants: (u32, u32),
    pub(crate) priority: f64,
    /// Truthy metadata as JSON text: results show it, requests never read it.
    metadata: Option<Fragment>,
    /// `{"feature":{"id":..,"name":..,"type":..},"enabled":`
    prefix: Fragment,
    /// `true,"feature_state_value":<value>}`: the rest of the flag object. The
    /// value is kept only so: results parse it back, exactly (serde_json
    /// writes floats to round-trip).
    suffix: Fragment,
}

#[derive(Debug)]
pub(crate) struct CompiledVariant {
    key: Option<Fragment>,
    pub(crate) weight: f64,
    /// The weight as Python prints it (reasons show it).
    weight_text: Fragment,
    /// The flag object's rest with this option's value (see [`CompiledState`]).
    suffix: Fragment,
}

impl CompiledVariant {
    /// The option's key, if it has one.
    pub(crate) fn key<'r>(&self, rules: &'r CompiledRules) -> Option<&'r str> {
        self.key.map(|k| rules.text(k))
    }

    /// The weight as Python prints it.
    pub(crate) fn weight_text<'r>(&self, rules: &'r CompiledRules) -> &'r str {
        rules.text(self.weight_text)
    }
}

/// Segment indices: one (the common case: an identity in one override
/// segment) without an allocation of its own, or several.
#[derive(Debug)]
pub(crate) enum SegmentList {
    One(u32),
    Many(Box<[u32]>),
}

impl SegmentList {
    pub(crate) fn as_slice(&self) -> &[u32] {
        match self {
            SegmentList::One(segment) => std::slice::from_ref(segment),
            SegmentList::Many(segments) => segments,
        }
    }
}

impl From<Vec<u32>> for SegmentList {
    fn from(segments: Vec<u32>) -> SegmentList {
        match segments.as_slice() {
            [one] => SegmentList::One(*one),
            _ => SegmentList::Many(segments.into_boxed_slice()),
        }
    }
}

/// Feature indices sorted by name, searched by bisection: a tenth of the
/// memory of a hash map owning a copy of every name, and as fast for the
/// lookups that use it (`?feature=`, OFREP, compiling `$.flags.` paths).
#[derive(Debug)]
struct NameIndex(Box<[u32]>);

impl NameIndex {
    fn new(features: &[CompiledFeature]) -> NameIndex {
        let mut order: Vec<u32> = (0..features.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| features[a as usize].name.cmp(&features[b as usize].name));
        NameIndex(order.into_boxed_slice())
    }

    fn find(&self, features: &[CompiledFeature], name: &str) -> Option<u32> {
        self.0
            .binary_search_by(|&i| (*features[i as usize].name).cmp(name))
            .ok()
            .map(|found| self.0[found])
    }
}

/// Identifiers of identity-override segments, sorted, searched by bisection
/// (no copy of each identifier in an allocation of its own, as a hash map's
/// keys would be: they are fragments).
#[derive(Debug, Default)]
struct IdentifierIndex(Box<[(Fragment, SegmentList)]>);

impl IdentifierIndex {
    fn new(members: HashMap<Box<str>, Vec<u32>>, fragments: &mut Fragments) -> IdentifierIndex {
        let mut members: Vec<(Box<str>, Vec<u32>)> = members.into_iter().collect();
        members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        IdentifierIndex(
            members
                .into_iter()
                .map(|(member, segments)| {
                    (
                        fragments.intern(member.into_boxed_bytes().into_vec()),
                        SegmentList::from(segments),
                    )
                })
                .collect(),
        )
    }

    fn find<'r>(&'r self, rules: &'r CompiledRules, identifier: &str) -> Option<&'r [u32]> {
        self.0
            .binary_search_by(|(member, _)| rules.fragment(*member).cmp(identifier.as_bytes()))
            .ok()
            .map(|found| self.0[found].1.as_slice())
    }
}

/// Where a fragment lies in [`CompiledRules::fragments`]: start and end. The
/// arena's first byte is never a fragment's, so every end is non-zero and an
/// `Option<Fragment>` takes no more room than a fragment (states hold five).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fragment {
    start: u32,
    end: NonZeroU32,
}

/// Collects fragments while compiling, each distinct one once.
struct Fragments {
    bytes: Vec<u8>,
    index: HashMap<Vec<u8>, Fragment>,
}

impl Default for Fragments {
    fn default() -> Fragments {
        Fragments {
            // The reserved first byte (see `Fragment`).
            bytes: vec![0],
            index: HashMap::new(),
        }
    }
}

impl Fragments {
    fn intern(&mut self, bytes: Vec<u8>) -> Fragment {
        if let Some(&fragment) = self.index.get(bytes.as_slice()) {
            return fragment;
        }
        // Offsets are u32: a document of over 4 GiB is refused long before this.
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(&bytes);
        let end = NonZeroU32::new(self.bytes.len() as u32).unwrap_or(NonZeroU32::MIN);
        let fragment = Fragment { start, end };
        self.index.insert(bytes, fragment);
        fragment
    }
}

/// A state's `feature` when the environment has no feature of its name.
const NO_FEATURE: u32 = u32::MAX;

/// What follows `"enabled":` in a flag object, up to the value.
const ENABLED_TRUE: &[u8] = b"true,\"feature_state_value\":";
const ENABLED_FALSE: &[u8] = b"false,\"feature_state_value\":";

/// A flag object's rest: `enabled`, the value, the closing brace.
fn flag_suffix(enabled: bool, value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(if enabled { ENABLED_TRUE } else { ENABLED_FALSE });
    write_json(&mut out, value);
    out.push(b'}');
    out
}

#[derive(Debug)]
pub(crate) struct CompiledSegment {
    key: Fragment,
    /// Its name (identity-override segments all share one).
    name: Fragment,
    /// Truthy metadata as JSON text, as for states.
    metadata: Option<Fragment>,
    /// Its override states, which compile one after another: `start..end`.
    overrides: (u32, u32),
    pub(crate) matcher: SegmentMatcher,
}

#[derive(Debug)]
pub(crate) enum SegmentMatcher {
    /// Evaluate the rules (never matches when empty).
    Rules(Box<[CompiledRule]>),
    /// Matched through `identifier_index`.
    IdentifierSet,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) rule_type: RuleType,
    pub(crate) conditions: Vec<CompiledCondition>,
    pub(crate) rules: Vec<CompiledRule>,
}

#[derive(Debug)]
pub(crate) struct CompiledCondition {
    /// `None` for a property-less percentage split, which hashes the identity key.
    pub(crate) property: Option<Property>,
    pub(crate) operator: Operator,
    /// `property operator operand` as the document wrote it, for explanations
    /// (a fragment: a copy of the source condition cost three allocations).
    shown: Fragment,
}

impl CompiledCondition {
    /// The condition as written: property (or `<identity key>`), operator, operand JSON.
    pub(crate) fn shown<'r>(&self, rules: &'r CompiledRules) -> &'r str {
        rules.text(self.shown)
    }
}

/// Why a document could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// More distinct trait keys than the slot table holds.
    #[error("the environment's segments read more than {max} distinct trait keys")]
    TooManyTraitKeys {
        /// The limit.
        max: usize,
    },
}

/// The most distinct trait keys conditions may read.
const MAX_TRAIT_SLOTS: usize = u16::MAX as usize;

impl CompiledRules {
    /// Compiles a document: maps it to a context (SPEC §3.1) and compiles that.
    pub(crate) fn from_document(
        document: &EnvironmentDocument,
    ) -> Result<CompiledRules, CompileError> {
        let context = mapping::document_to_context(document);
        let server_only: std::collections::HashSet<i64> = document
            .project
            .server_key_only_feature_ids
            .iter()
            .copied()
            .collect();
        let feature_ids: HashMap<&str, i64> = document
            .feature_states
            .iter()
            .map(|s| (s.feature.name.as_str(), s.feature.id))
            .collect();
        let feature_types: HashMap<i64, &str> = document
            .feature_states
            .iter()
            .map(|s| {
                (
                    s.feature.id,
                    s.feature.feature_type.as_deref().unwrap_or("STANDARD"),
                )
            })
            .collect();
        let organisation = document.project.organisation.as_ref();
        let meta = EnvironmentMeta {
            id: document.id,
            api_key: document.api_key.clone(),
            name: document.name.clone(),
            project: (document.project.id, document.project.name.clone()),
            organisation: organisation.map_or_else(Default::default, |o| (o.id, o.name.clone())),
            updated_at: document.updated_at(),
            revision: document.revision,
            hide_disabled_flags: document.hides_disabled_flags(),
            allow_client_traits: document.allow_client_traits,
            hide_sensitive_data: document.hide_sensitive_data,
            persist_trait_data: organisation.is_none_or(|o| o.persist_trait_data),
            stop_serving_flags: organisation.is_some_and(|o| o.stop_serving_flags),
            enable_realtime_updates: document.project.enable_realtime_updates,
        };
        compile(&context, meta, &|name| {
            let id = feature_ids.get(name).copied();
            FeatureFacts {
                server_key_only: id.is_some_and(|id| server_only.contains(&id)),
                feature_type: id
                    .and_then(|id| feature_types.get(&id).copied())
                    .unwrap_or("STANDARD"),
            }
        })
    }

    /// Compiles a context (its identity, if any, is ignored: pass identities to `evaluate`).
    pub(crate) fn from_context(context: &EvaluationContext) -> Result<CompiledRules, CompileError> {
        let meta = EnvironmentMeta {
            api_key: context.environment.key.clone(),
            name: context.environment.name.clone(),
            allow_client_traits: true,
            persist_trait_data: true,
            ..EnvironmentMeta::default()
        };
        compile(context, meta, &|_| FeatureFacts {
            server_key_only: false,
            feature_type: "STANDARD",
        })
    }

    fn fragment(&self, Fragment { start, end }: Fragment) -> &[u8] {
        &self.fragments[start as usize..end.get() as usize]
    }

    /// The identity-override segments naming this identifier.
    pub(crate) fn identifier_segments(&self, identifier: &str) -> Option<&[u32]> {
        self.identifier_index.find(self, identifier)
    }

    /// The segments overriding a feature, once per override, in context order.
    pub(crate) fn segments_overriding(&self, feature: u32) -> &[u32] {
        self.segments_by_feature.get(feature as usize)
    }

    /// A fragment interned from a `str`.
    fn text(&self, fragment: Fragment) -> &str {
        std::str::from_utf8(self.fragment(fragment)).unwrap_or_default()
    }

    /// The environment's settings.
    pub fn meta(&self) -> &EnvironmentMeta {
        &self.meta
    }

    /// Number of features (flags before filtering).
    pub fn feature_count(&self) -> usize {
        self.features.len()
    }

    /// Feature names in response order.
    pub fn feature_names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| &*f.name)
    }

    /// Number of segments, identity-override segments included.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// A digest of what selects each identity's flags, values aside: revisions
    /// with the same one pick the same states for every identity, so picks
    /// ([`crate::ShownFlag`]) from one are written correctly with the other.
    /// `None` when a condition may read values (`selection.rs`).
    pub fn selection_digest(&self) -> Option<&[u8; 32]> {
        self.selection_digest.as_ref()
    }

    /// Whether a condition reads another flag.
    pub fn has_flag_dependencies(&self) -> bool {
        self.has_flag_dependencies
    }

    /// The trait keys conditions read. Traits with other keys cannot change a
    /// result, which lets caches ignore them.
    pub fn trait_keys(&self) -> impl Iterator<Item = &str> {
        self.trait_slots.keys().map(|k| &**k)
    }

    /// A feature's index by name.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.feature_index
            .find(&self.features, name)
            .map(|i| i as usize)
    }

    /// A feature's name by index.
    pub fn feature_name(&self, index: usize) -> &str {
        &self.features[index].name
    }

    /// Whether a key of this kind may see the feature at all (server-key-only filter).
    pub fn feature_visible_to(&self, index: usize, key: KeyKind) -> bool {
        !(key == KeyKind::Client && self.features[index].server_key_only)
    }

    /// Whether a feature decided as `state` is shown to this kind of key: not
    /// server-key-only for a client key, and not disabled when the environment
    /// hides disabled flags.
    pub(crate) fn visible(&self, feature: usize, state: u32, key: KeyKind) -> bool {
        let hidden_disabled = self.meta.hide_disabled_flags && !self.states[state as usize].enabled;
        self.feature_visible_to(feature, key) && !hidden_disabled
    }
}

/// What the document knows about a feature beyond its context.
struct FeatureFacts<'a> {
    server_key_only: bool,
    feature_type: &'a str,
}

fn compile<'f>(
    context: &EvaluationContext,
    meta: EnvironmentMeta,
    facts: &dyn Fn(&str) -> FeatureFacts<'f>,
) -> Result<CompiledRules, CompileError> {
    let mut features = Vec::with_capacity(context.features.len());
    let mut states = Vec::new();
    let mut variants = Vec::new();
    let mut fragments = Fragments::default();
    for (_, feature) in context.features.iter() {
        features.push(CompiledFeature {
            name: feature.name.as_str().into(),
            default_state: 0,
            server_key_only: facts(&feature.name).server_key_only,
            targeted: false,
        });
    }
    // Overrides find their feature by name, as the reference matches them.
    let feature_index = NameIndex::new(&features);
    // States need the feature index for their JSON, so features come first.
    for (i, (_, feature)) in context.features.iter().enumerate() {
        features[i].default_state = states.len() as u32;
        states.push(compile_state(
            feature,
            Some(i as u32),
            facts,
            &mut variants,
            &mut fragments,
        ));
    }

    let static_context = if needs_static_context(context) {
        serde_json::to_value(context).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let find_feature = |name: &str| feature_index.find(&features, name);
    let scope = PathScope {
        static_context: &static_context,
        features: &find_feature,
    };
    let mut slots = TraitSlots::default();
    let mut segments = Vec::with_capacity(context.segments.len());
    let mut rule_segments = Vec::new();
    let mut identifier_index: HashMap<Box<str>, Vec<u32>> = HashMap::new();
    let mut identifier_property = None;
    let mut segments_by_feature = vec![Vec::new(); features.len()];
    for (_, segment) in context.segments.iter() {
        let index = segments.len() as u32;
        let first_override = states.len() as u32;
        for state in &segment.overrides {
            let feature = feature_index.find(&features, &state.name);
            if let Some(f) = feature {
                segments_by_feature[f as usize].push(index);
            }
            states.push(compile_state(
                state,
                feature,
                facts,
                &mut variants,
                &mut fragments,
            ));
        }
        let matcher = match identifier_set(&segment.rules) {
            Some(members) => {
                if identifier_property.is_none() {
                    identifier_property = Some(property::compile(
                        "$.identity.identifier",
                        &mut slots,
                        &scope,
                    ));
                }
                for member in members {
                    let entry = identifier_index.entry(member.into()).or_default();
                    if entry.last() != Some(&index) {
                        entry.push(index);
                    }
                }
                SegmentMatcher::IdentifierSet
            }
            None => {
                rule_segments.push(index);
                SegmentMatcher::Rules(
                    segment
                        .rules
                        .iter()
                        .map(|r| compile_rule(r, &mut slots, &scope, &mut fragments))
                        .collect::<Vec<_>>()
                        .into_boxed_slice(),
                )
            }
        };
        segments.push(CompiledSegment {
            key: fragments.intern(segment.key.as_bytes().to_vec()),
            name: fragments.intern(segment.name.as_bytes().to_vec()),
            metadata: segment
                .metadata
                .as_ref()
                .filter(|m| python::truthy(m))
                .map(|m| fragments.intern(m.to_string().into_bytes())),
            overrides: (first_override, states.len() as u32),
            matcher,
        });
    }
    for (feature, overriding) in features.iter_mut().zip(&segments_by_feature) {
        feature.targeted = !overriding.is_empty();
    }
    let identifier_index = IdentifierIndex::new(identifier_index, &mut fragments);
    let trait_slots = slots.into_map();
    if trait_slots.len() > MAX_TRAIT_SLOTS {
        return Err(CompileError::TooManyTraitKeys {
            max: MAX_TRAIT_SLOTS,
        });
    }
    let mut has_flag_dependencies = false;
    let mut has_queries = false;
    for segment in &segments {
        if let SegmentMatcher::Rules(rules) = &segment.matcher {
            visit_properties(rules, &mut |target| match target {
                PathTarget::Flag { .. } => has_flag_dependencies = true,
                PathTarget::Query(_) => has_queries = true,
                _ => {}
            });
        }
    }
    // General queries may reach into flags too; treat them as dependencies so the
    // evaluator keeps the reference's evaluation order.
    has_flag_dependencies |= has_queries;

    let server_key_only: Vec<bool> = features.iter().map(|f| f.server_key_only).collect();
    let selection_digest = selection::digest(
        context,
        selection::Settings {
            api_key: &meta.api_key,
            hide_disabled_flags: meta.hide_disabled_flags,
            allow_client_traits: meta.allow_client_traits,
            hide_sensitive_data: meta.hide_sensitive_data,
            server_key_only: &server_key_only,
        },
    );
    // Boxed slices: a vector grown by pushing keeps up to half again of spare room.
    Ok(CompiledRules {
        meta,
        features: features.into_boxed_slice(),
        feature_index,
        states: states.into_boxed_slice(),
        variants: variants.into_boxed_slice(),
        segments: segments.into_boxed_slice(),
        rule_segments: rule_segments.into_boxed_slice(),
        identifier_index,
        identifier_property,
        segments_by_feature: IndexLists::new(&segments_by_feature),
        trait_slots,
        fragments: fragments.bytes.into_boxed_slice(),
        has_flag_dependencies,
        query_context: has_queries.then(|| {
            if static_context.is_null() {
                serde_json::to_value(context).unwrap_or(Value::Null)
            } else {
                static_context.clone()
            }
        }),
        selection_digest,
    })
}

/// Whether any condition has a `$.` property that may need the context as JSON.
fn needs_static_context(context: &EvaluationContext) -> bool {
    fn rule_needs(rule: &SegmentRule) -> bool {
        rule.conditions.iter().any(|c| {
            c.property.starts_with("$.")
                && !c.property.starts_with("$.identity.")
                && !c.property.starts_with("$.flags.")
        }) || rule.rules.iter().any(rule_needs)
    }
    context
        .segments
        .iter()
        .any(|(_, s)| s.rules.iter().any(rule_needs))
}

fn compile_state<'f>(
    state: &FeatureContext,
    feature: Option<u32>,
    facts: &dyn Fn(&str) -> FeatureFacts<'f>,
    all_variants: &mut Vec<CompiledVariant>,
    fragments: &mut Fragments,
) -> CompiledState {
    let feature_id = state.metadata.as_ref().and_then(|m| m.get("id")).cloned();
    let feature_type = facts(&state.name).feature_type.to_string();
    let mut variants: Vec<(&crate::context::FeatureVariant, usize)> = state
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| (v, i))
        .collect();
    // Stable, as Python's `sorted`: equal priorities keep document order.
    variants.sort_by(|a, b| a.0.priority.cmp(&b.0.priority).then(a.1.cmp(&b.1)));
    let first_variant = all_variants.len() as u32;
    all_variants.extend(variants.into_iter().map(|(v, _)| {
        CompiledVariant {
            key: v
                .key
                .as_deref()
                .map(|k| fragments.intern(k.as_bytes().to_vec())),
            weight: v.weight.as_f64().unwrap_or(0.0),
            weight_text: fragments.intern(python::number_str(&v.weight).into_bytes()),
            suffix: fragments.intern(flag_suffix(state.enabled, &v.value)),
        }
    }));
    let variants = (first_variant, all_variants.len() as u32);
    let suffix = fragments.intern(flag_suffix(state.enabled, &state.value));
    CompiledState {
        feature: feature.unwrap_or(NO_FEATURE),
        key: (variants.0 != variants.1).then(|| fragments.intern(state.key.as_bytes().to_vec())),
        own_name: feature
            .is_none()
            .then(|| fragments.intern(state.name.as_bytes().to_vec())),
        enabled: state.enabled,
        variants,
        priority: state.priority.unwrap_or(f64::INFINITY),
        metadata: state
            .metadata
            .as_ref()
            .filter(|m| python::truthy(m))
            .map(|m| fragments.intern(m.to_string().into_bytes())),
        prefix: fragments.intern(flag_prefix(feature_id.as_ref(), &state.name, &feature_type)),
        suffix,
    }
}

/// The start of a flag object of Flagsmith's SDK API (SPEC §1.1), shared by
/// a feature's states: `{"feature":{"id":..,"name":..,"type":..},"enabled":`.
/// A response is these prefixes, `enabled` and the values' JSON joined.
fn flag_prefix(feature_id: Option<&Value>, name: &str, feature_type: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + name.len());
    out.extend_from_slice(b"{\"feature\":{\"id\":");
    match feature_id {
        Some(id) => write_json(&mut out, id),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"name\":");
    write_json(&mut out, &name);
    out.extend_from_slice(b",\"type\":");
    write_json(&mut out, &feature_type);
    out.extend_from_slice(b"},\"enabled\":");
    out
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serialising JSON values and strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Recognises `[ALL [IN $.identity.identifier <members>]]`, the shape of
/// identity-override segments, and returns the members as `IN` compares them.
fn identifier_set(rules: &[SegmentRule]) -> Option<Vec<String>> {
    let [rule] = rules else { return None };
    let [condition] = rule.conditions.as_slice() else {
        return None;
    };
    if !rule.rules.is_empty()
        || rule.rule_type == RuleType::None
        || condition.operator != "IN"
        || condition.property != "$.identity.identifier"
    {
        return None;
    }
    match Operator::compile("IN", &condition.value) {
        Operator::In(Some(set)) => Some(set.members().into_iter().map(str::to_string).collect()),
        _ => None,
    }
}

fn compile_rule(
    rule: &SegmentRule,
    slots: &mut TraitSlots,
    scope: &PathScope<'_>,
    fragments: &mut Fragments,
) -> CompiledRule {
    CompiledRule {
        rule_type: rule.rule_type,
        conditions: rule
            .conditions
            .iter()
            .map(|c| CompiledCondition {
                property: if c.operator == "PERCENTAGE_SPLIT" && c.property.is_empty() {
                    None
                } else {
                    Some(property::compile(&c.property, slots, scope))
                },
                operator: Operator::compile(&c.operator, &c.value),
                shown: fragments.intern(
                    format!(
                        "{} {} {}",
                        if c.property.is_empty() {
                            "<identity key>"
                        } else {
                            &c.property
                        },
                        c.operator,
                        serde_json::to_string(&c.value).unwrap_or_default()
                    )
                    .into_bytes(),
                ),
            })
            .collect(),
        rules: rule
            .rules
            .iter()
            .map(|r| compile_rule(r, slots, scope, fragments))
            .collect(),
    }
}

fn visit_properties(rules: &[CompiledRule], visit: &mut dyn FnMut(&PathTarget)) {
    for rule in rules {
        for condition in &rule.conditions {
            if let Some(Property::Path { target, .. }) = &condition.property {
                visit(target);
            }
        }
        visit_properties(&rule.rules, visit);
    }
}

impl CompiledState {
    /// The state's value as the result reports it for a variant choice.
    pub(crate) fn value_for(&self, rules: &CompiledRules, variant: Option<u16>) -> Value {
        let suffix = rules.fragment(self.suffix_for(rules, variant));
        let start = if self.enabled {
            ENABLED_TRUE
        } else {
            ENABLED_FALSE
        }
        .len();
        // Written by serde_json from a `Value` at compile time, so it parses back to it.
        suffix
            .get(start..suffix.len().saturating_sub(1))
            .and_then(|json| serde_json::from_slice(json).ok())
            .unwrap_or(Value::Null)
    }

    fn suffix_for(&self, rules: &CompiledRules, variant: Option<u16>) -> Fragment {
        match variant {
            Some(i) => self.variants(rules)[i as usize].suffix,
            None => self.suffix,
        }
    }

    /// Appends the flag object of the SDK API for a variant choice.
    pub(crate) fn write_json(
        &self,
        rules: &CompiledRules,
        variant: Option<u16>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(rules.fragment(self.prefix));
        out.extend_from_slice(rules.fragment(self.suffix_for(rules, variant)));
    }

    /// The length of what [`CompiledState::write_json`] appends.
    pub(crate) fn json_len(&self, rules: &CompiledRules, variant: Option<u16>) -> usize {
        rules.fragment(self.prefix).len() + rules.fragment(self.suffix_for(rules, variant)).len()
    }

    /// Its feature's index, when the environment has a feature of its name.
    pub(crate) fn feature(&self) -> Option<u32> {
        (self.feature != NO_FEATURE).then_some(self.feature)
    }

    /// Its multivariate options, by priority (empty for most states).
    pub(crate) fn variants<'r>(&self, rules: &'r CompiledRules) -> &'r [CompiledVariant] {
        &rules.variants[self.variants.0 as usize..self.variants.1 as usize]
    }

    /// The feature's name.
    pub(crate) fn name<'r>(&'r self, rules: &'r CompiledRules) -> &'r str {
        match (self.own_name, self.feature()) {
            (Some(name), _) => rules.text(name),
            (None, Some(feature)) => &rules.features[feature as usize].name,
            (None, None) => "",
        }
    }

    /// Truthy metadata as JSON text.
    pub(crate) fn metadata<'r>(&self, rules: &'r CompiledRules) -> Option<&'r str> {
        self.metadata.map(|m| rules.text(m))
    }

    /// The key multivariate choices hash (empty for a state without variants).
    pub(crate) fn hash_key<'r>(&self, rules: &'r CompiledRules) -> &'r str {
        self.key.map_or("", |k| rules.text(k))
    }
}

impl CompiledSegment {
    /// The segment's key (hashed by its percentage splits).
    pub(crate) fn key<'r>(&self, rules: &'r CompiledRules) -> &'r str {
        rules.text(self.key)
    }

    /// Its override states.
    pub(crate) fn overrides(&self) -> std::ops::Range<u32> {
        self.overrides.0..self.overrides.1
    }

    /// The segment's name.
    pub(crate) fn name<'r>(&self, rules: &'r CompiledRules) -> &'r str {
        rules.text(self.name)
    }

    /// Truthy metadata as JSON text.
    pub(crate) fn metadata<'r>(&self, rules: &'r CompiledRules) -> Option<&'r str> {
        self.metadata.map(|m| rules.text(m))
    }
}
