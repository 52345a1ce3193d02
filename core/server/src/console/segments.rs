//! Segments: the list, and an editor for a segment's rule tree (nested
//! ALL/ANY/NONE rules of conditions, every operator the engine has). The
//! editor is a plain form: adding or removing a rule or condition posts the
//! form back and re-renders it (nothing saved until "Save segment"), so it
//! needs no JavaScript. The API validates conditions with the engine (regex,
//! semver, modulo, IN); its errors come back shaped like the tree and are
//! shown beside the field they name.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::api::Refused;
use super::layout::{csrf, page};
use super::pages::Pages;
use super::place::{EnvironmentForm, EnvironmentVisit, enter};
use super::session::{Posted, Session};
use super::state::ConsoleState;
use super::view::{Place, Section, field_error, form_errors, int, refused_page, section_url, text};
use crate::rules::{Condition, Rule};

/// The segments routes.
pub fn routes(pages: Pages) -> Pages {
    pages
        .route(
            "/environments/{key}/segments",
            &["GET", "POST"],
            get(list).post(create),
        )
        .route("/environments/{key}/segments/new", &["GET"], get(new))
        .route(
            "/environments/{key}/segments/{id}",
            &["GET", "POST"],
            get(edit).post(update),
        )
        .route(
            "/environments/{key}/segments/{id}/delete",
            &["POST"],
            post(delete),
        )
}

/// Operators whose conditions take no value.
const NO_VALUE: &[&str] = &["IS_SET", "IS_NOT_SET"];

fn segment_url(place: &Place, id: i64) -> String {
    format!("{}/{id}", section_url(&place.api_key, Section::Segments))
}

fn conditions_in(rules: &[Rule]) -> usize {
    rules
        .iter()
        .map(|r| r.conditions.len() + conditions_in(&r.rules))
        .sum()
}

async fn list(visit: EnvironmentVisit) -> Response {
    let (api, place) = or_page!(enter(&visit.state, &visit.session, &visit.key).await);
    let segments = or_page!(
        api.all(&format!("/api/v1/projects/{}/segments/", place.project_id))
            .await
    );
    let body = html! {
        h1 { "Segments" }
        p.muted { "Segments belong to " (place.project) ": every environment of it uses the same rules." }
        div.row {
            label for="segment-filter" { "Search by name" }
            " " input #segment-filter type="search" data-filter="segments";
        }
        div.table-wrap { table #segments {
            thead { tr { th { "Name" } th { "Description" } th { "Conditions" } } }
            tbody { @for segment in &segments {
                @let rules: Vec<Rule> = serde_json::from_value(segment["rules"].clone()).unwrap_or_default();
                tr data-name=(text(segment, "name")) {
                    td.key { a href=(segment_url(&place, int(segment, "id"))) { (text(segment, "name")) } }
                    td { (segment["description"].as_str().unwrap_or("")) }
                    td { (conditions_in(&rules)) }
                }
            } }
        } }
        @if segments.is_empty() { p.muted { "No segments yet." } }
        p { a href={ (section_url(&place.api_key, Section::Segments)) "/new" } { "New segment" } }
    };
    Html(
        page(
            "Segments",
            &visit.session,
            Some((&place, Section::Segments)),
            body,
        )
        .into_string(),
    )
    .into_response()
}

/// A rule's place in the tree: indices from the top-level list down.
type RulePath = Vec<usize>;

fn path_text(path: &[usize]) -> String {
    path.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn parse_path(text: &str) -> Option<RulePath> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split('.').map(|p| p.parse().ok()).collect()
}

/// The tree the form describes. Fields: `type@0.1` (a rule),
/// `property@0.1/2`, `operator@0.1/2`, `value@0.1/2` (its third condition).
fn tree_from(posted: &Posted) -> Vec<Rule> {
    let mut rules: BTreeMap<RulePath, String> = BTreeMap::new();
    let mut conditions: BTreeMap<(RulePath, usize), Condition> = BTreeMap::new();
    for (name, value) in &posted.fields {
        let Some((field, at)) = name.split_once('@') else {
            continue;
        };
        if field == "type" {
            if let Some(path) = parse_path(at) {
                rules.insert(path, value.clone());
            }
            continue;
        }
        let Some((rule, index)) = at.split_once('/') else {
            continue;
        };
        let (Some(rule), Ok(index)) = (parse_path(rule), index.parse::<usize>()) else {
            continue;
        };
        let condition = conditions
            .entry((rule, index))
            .or_insert_with(|| Condition {
                operator: "EQUAL".to_string(),
                property: None,
                value: None,
                description: None,
            });
        match field {
            "property" => condition.property = Some(value.clone()),
            "operator" => condition.operator = value.clone(),
            "value" => condition.value = Some(Value::String(value.clone())),
            _ => {}
        }
    }
    build(&[], &rules, &mut conditions)
}

fn build(
    prefix: &[usize],
    rules: &BTreeMap<RulePath, String>,
    conditions: &mut BTreeMap<(RulePath, usize), Condition>,
) -> Vec<Rule> {
    let children: Vec<(RulePath, String)> = rules
        .iter()
        .filter(|(path, _)| path.len() == prefix.len() + 1 && path.starts_with(prefix))
        .map(|(path, kind)| (path.clone(), kind.clone()))
        .collect();
    children
        .into_iter()
        .map(|(path, kind)| {
            let mine: Vec<(RulePath, usize)> = conditions
                .keys()
                .filter(|(rule, _)| *rule == path)
                .cloned()
                .collect();
            let mut own = Vec::new();
            for key in mine {
                if let Some(mut condition) = conditions.remove(&key) {
                    if NO_VALUE.contains(&condition.operator.as_str()) {
                        condition.value = None;
                    }
                    own.push(condition);
                }
            }
            Rule {
                kind,
                rules: build(&path, rules, conditions),
                conditions: own,
            }
        })
        .collect()
}

fn empty_condition() -> Condition {
    Condition {
        operator: "EQUAL".to_string(),
        property: Some(String::new()),
        value: Some(Value::String(String::new())),
        description: None,
    }
}

fn rule_at<'a>(rules: &'a mut [Rule], path: &[usize]) -> Option<&'a mut Rule> {
    let (first, rest) = path.split_first()?;
    let rule = rules.get_mut(*first)?;
    if rest.is_empty() {
        Some(rule)
    } else {
        rule_at(&mut rule.rules, rest)
    }
}

/// Applies an editing action (`add-rule@…`, `add-condition@…`, `remove-rule@…`,
/// `remove-condition@…/i`) to the tree.
fn apply(rules: &mut Vec<Rule>, action: &str) {
    let Some((verb, at)) = action.split_once('@') else {
        return;
    };
    match verb {
        "add-rule" => {
            let new = Rule {
                kind: "ANY".to_string(),
                rules: Vec::new(),
                conditions: vec![empty_condition()],
            };
            match parse_path(at) {
                Some(path) if path.is_empty() => rules.push(Rule {
                    kind: "ALL".to_string(),
                    ..new
                }),
                Some(path) => {
                    if let Some(rule) = rule_at(rules, &path) {
                        rule.rules.push(new);
                    }
                }
                None => {}
            }
        }
        "add-condition" => {
            if let Some(rule) = parse_path(at).and_then(|p| rule_at(rules, &p)) {
                rule.conditions.push(empty_condition());
            }
        }
        "remove-rule" => {
            if let Some(mut path) = parse_path(at)
                && let Some(last) = path.pop()
            {
                let siblings = if path.is_empty() {
                    Some(&mut *rules)
                } else {
                    rule_at(rules, &path).map(|r| &mut r.rules)
                };
                if let Some(siblings) = siblings
                    && last < siblings.len()
                {
                    siblings.remove(last);
                }
            }
        }
        "remove-condition" => {
            if let Some((rule, index)) = at.split_once('/')
                && let (Some(rule), Ok(index)) = (
                    parse_path(rule).and_then(|p| rule_at(rules, &p)),
                    index.parse::<usize>(),
                )
                && index < rule.conditions.len()
            {
                rule.conditions.remove(index);
            }
        }
        _ => {}
    }
}

/// The API's error for a field of the tree: `rules[i].rules[j]….conditions[k].field`.
fn tree_error(
    refused: Option<&Refused>,
    path: &[usize],
    condition: Option<usize>,
    field: &str,
) -> Option<String> {
    let Some(Refused::Fields(fields)) = refused else {
        return None;
    };
    let mut at = fields.get("rules")?;
    for (depth, index) in path.iter().enumerate() {
        if depth > 0 {
            at = at.get("rules")?;
        }
        at = at.get(*index)?;
    }
    if let Some(condition) = condition {
        at = at.get("conditions")?.get(condition)?;
    }
    let messages = at.get(field)?;
    Some(match messages {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    })
}

fn error_beside(text: Option<String>) -> Markup {
    html! { @if let Some(text) = text { span.field-error role="alert" { (text) } } }
}

fn rule_editor(rule: &Rule, path: &[usize], refused: Option<&Refused>) -> Markup {
    let at = path_text(path);
    let label = if path.len() == 1 {
        "Rule"
    } else {
        "Nested rule"
    };
    html! {
        fieldset.rule {
            legend {
                label for={ "type-" (at) } { (label) " " (at) ": identities must match " }
                select id={ "type-" (at) } name={ "type@" (at) } {
                    @for (kind, text) in [("ALL", "all of"), ("ANY", "any of"), ("NONE", "none of")] {
                        option value=(kind) selected[rule.kind == kind] { (text) }
                    }
                }
            }
            (error_beside(tree_error(refused, path, None, "type")))
            (error_beside(tree_error(refused, path, None, "rules").filter(|t| !t.starts_with('{') && !t.starts_with('['))))
            @for (index, condition) in rule.conditions.iter().enumerate() {
                @let id = format!("{at}-{index}");
                @let name = format!("{at}/{index}");
                div.condition {
                    div {
                        label for={ "property-" (id) } { "Trait" }
                        input id={ "property-" (id) } type="text" name={ "property@" (name) } value=(condition.property.as_deref().unwrap_or(""));
                        (error_beside(tree_error(refused, path, Some(index), "property")))
                    }
                    div {
                        label for={ "operator-" (id) } { "Operator" }
                        select id={ "operator-" (id) } name={ "operator@" (name) } {
                            @for operator in flagedge_engine::OPERATORS {
                                option value=(operator) selected[condition.operator == *operator] { (operator) }
                            }
                        }
                        (error_beside(tree_error(refused, path, Some(index), "operator")))
                    }
                    div {
                        label for={ "value-" (id) } { "Value" }
                        input id={ "value-" (id) } type="text" name={ "value@" (name) }
                            value=(condition.value.as_ref().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default());
                        (error_beside(tree_error(refused, path, Some(index), "value")))
                    }
                    button type="submit" name="action" value={ "remove-condition@" (name) } formnovalidate { "Remove condition" }
                }
            }
            @for (index, nested) in rule.rules.iter().enumerate() {
                @let child: Vec<usize> = path.iter().copied().chain([index]).collect();
                (rule_editor(nested, &child, refused))
            }
            div.inline {
                button type="submit" name="action" value={ "add-condition@" (at) } formnovalidate { "Add condition" }
                " "
                button type="submit" name="action" value={ "add-rule@" (at) } formnovalidate { "Add nested rule" }
                " "
                button type="submit" name="action" value={ "remove-rule@" (at) } formnovalidate { "Remove " (label.to_lowercase()) }
            }
        }
    }
}

struct Draft {
    name: String,
    description: String,
    rules: Vec<Rule>,
}

fn editor_page(
    session: &Session,
    place: &Place,
    id: Option<i64>,
    draft: &Draft,
    refused: Option<&Refused>,
) -> Response {
    let action = id.map_or_else(
        || section_url(&place.api_key, Section::Segments),
        |id| segment_url(place, id),
    );
    let title = if id.is_some() {
        format!("Segment {}", draft.name)
    } else {
        "New segment".to_string()
    };
    let body = html! {
        h1 { (title) }
        form.stack method="post" action=(action) {
            (csrf(session))
            (form_errors(refused, &["name", "description", "rules"]))
            label for="segment-name" { "Name" }
            input #segment-name type="text" name="name" value=(draft.name) required;
            (field_error(refused, "name"))
            label for="segment-description" { "Description" }
            input #segment-description type="text" name="description" value=(draft.description);
            (field_error(refused, "description"))
            p.muted { "Operators: EQUAL, NOT_EQUAL, GREATER_THAN(_INCLUSIVE), LESS_THAN(_INCLUSIVE) compare numbers, booleans or text (a value ending in :semver compares versions); CONTAINS/NOT_CONTAINS text; REGEX a Python regular expression; MODULO \"divisor|remainder\"; IN a comma-separated list; IS_SET/IS_NOT_SET need no value; PERCENTAGE_SPLIT a percentage (no trait)." }
            @for (index, rule) in draft.rules.iter().enumerate() {
                (rule_editor(rule, &[index], refused))
            }
            div {
                button type="submit" name="action" value="add-rule@" formnovalidate { "Add rule" }
            }
            div { button.primary type="submit" name="action" value="save" { "Save segment" } }
        }
        @if let Some(id) = id {
            h2 { "Delete" }
            form.inline method="post" action={ (segment_url(place, id)) "/delete" } {
                (csrf(session))
                button.danger type="submit" { "Delete segment " (draft.name) }
                span.muted { " Its overrides in every environment go with it." }
            }
        }
    };
    let status = refused.map_or(StatusCode::OK, Refused::status);
    let markup = page(&title, session, Some((place, Section::Segments)), body);
    (status, Html(markup.into_string())).into_response()
}

async fn new(visit: EnvironmentVisit) -> Response {
    let (_, place) = or_page!(enter(&visit.state, &visit.session, &visit.key).await);
    let draft = Draft {
        name: String::new(),
        description: String::new(),
        rules: vec![Rule {
            kind: "ALL".to_string(),
            rules: vec![Rule {
                kind: "ANY".to_string(),
                rules: Vec::new(),
                conditions: vec![empty_condition()],
            }],
            conditions: Vec::new(),
        }],
    };
    editor_page(&visit.session, &place, None, &draft, None)
}

async fn edit(Path((_, id)): Path<(String, i64)>, visit: EnvironmentVisit) -> Response {
    let (api, place) = or_page!(enter(&visit.state, &visit.session, &visit.key).await);
    let segment = or_page!(
        api.get(&format!(
            "/api/v1/projects/{}/segments/{id}/",
            place.project_id
        ))
        .await
    );
    let draft = Draft {
        name: text(&segment, "name").to_string(),
        description: segment["description"].as_str().unwrap_or("").to_string(),
        rules: serde_json::from_value(segment["rules"].clone()).unwrap_or_default(),
    };
    editor_page(&visit.session, &place, Some(id), &draft, None)
}

/// Edits the draft, or saves it (`POST` to create when `id` is none, else `PUT`).
async fn submit(state: &ConsoleState, key: &str, id: Option<i64>, posted: Posted) -> Response {
    let (api, place) = or_page!(enter(state, &posted.session, key).await);
    let mut draft = Draft {
        name: posted.text("name").trim().to_string(),
        description: posted.text("description").trim().to_string(),
        rules: tree_from(&posted),
    };
    let action = posted.text("action");
    if action != "save" {
        apply(&mut draft.rules, action);
        return editor_page(&posted.session, &place, id, &draft, None);
    }
    let body = json!({
        "name": draft.name,
        "description": if draft.description.is_empty() { Value::Null } else { json!(draft.description) },
        "rules": draft.rules,
    });
    let collection = format!("/api/v1/projects/{}/segments/", place.project_id);
    let result = match id {
        None => api.post(&collection, body).await,
        Some(id) => api.put(&format!("{collection}{id}/"), body).await,
    };
    match result {
        Ok(segment) => Redirect::to(&segment_url(&place, int(&segment, "id"))).into_response(),
        Err(refused @ Refused::Fields(_)) => {
            editor_page(&posted.session, &place, id, &draft, Some(&refused))
        }
        Err(refused) => refused_page(&refused),
    }
}

async fn create(
    State(state): State<ConsoleState>,
    Path(key): Path<String>,
    posted: Posted,
) -> Response {
    submit(&state, &key, None, posted).await
}

async fn update(
    State(state): State<ConsoleState>,
    Path((key, id)): Path<(String, i64)>,
    posted: Posted,
) -> Response {
    submit(&state, &key, Some(id), posted).await
}

async fn delete(Path((_, id)): Path<(String, i64)>, form: EnvironmentForm) -> Response {
    match form
        .api
        .delete(&format!(
            "/api/v1/projects/{}/segments/{id}/",
            form.place.project_id
        ))
        .await
    {
        Ok(_) => Redirect::to(&section_url(&form.place.api_key, Section::Segments)).into_response(),
        Err(refused) => refused_page(&refused),
    }
}

/// Whether the tree functions agree with the API's shapes.
#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Vec<Rule> {
        vec![Rule {
            kind: "ALL".into(),
            rules: vec![Rule {
                kind: "ANY".into(),
                rules: vec![],
                conditions: vec![empty_condition(), empty_condition()],
            }],
            conditions: vec![],
        }]
    }

    #[test]
    fn actions_edit_the_tree_where_they_say() {
        let mut rules = tree();
        apply(&mut rules, "add-condition@0.0");
        assert_eq!(rules[0].rules[0].conditions.len(), 3);
        apply(&mut rules, "remove-condition@0.0/1");
        assert_eq!(rules[0].rules[0].conditions.len(), 2);
        apply(&mut rules, "add-rule@0.0");
        assert_eq!(rules[0].rules[0].rules.len(), 1);
        apply(&mut rules, "add-rule@");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].kind, "ALL");
        apply(&mut rules, "remove-rule@0.0");
        assert!(rules[0].rules.is_empty());
        apply(&mut rules, "remove-rule@7");
        apply(&mut rules, "remove-condition@0/9");
        assert_eq!(rules.len(), 2);
    }

    #[test]
    fn errors_are_found_by_their_path() {
        let mut fields = serde_json::Map::new();
        fields.insert(
            "rules".into(),
            json!([{"rules": [{"conditions": [{}, {"value": ["Not a valid regular expression."]}]}]}]),
        );
        let refused = Refused::Fields(fields);
        assert_eq!(
            tree_error(Some(&refused), &[0, 0], Some(1), "value").as_deref(),
            Some("Not a valid regular expression.")
        );
        assert_eq!(tree_error(Some(&refused), &[0, 0], Some(0), "value"), None);
    }
}
