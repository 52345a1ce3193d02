//! What the OpenAPI document says of one operation, written where the route
//! is added and built from the types its handler reads and writes: request
//! bodies, answers and query strings are Rust types deriving utoipa's
//! `ToSchema` / `IntoParams`, so a field added to a struct is in the document
//! by construction. [`super::openapi`] gathers every operation's [`Doc`].
//!
//! A leaf: the resource modules and the route table use it, it uses neither.

use std::borrow::Cow;

use serde_json::{Map, Value, json};
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// The credentials an operation takes (names of the document's security schemes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Anyone (health, readiness, the document itself).
    Open,
    /// `Authorization: Api-Key <admin key>`.
    Admin,
    /// `X-Environment-Key`: what SDKs send.
    EnvironmentKey,
    /// `X-Proxy-Key`.
    ProxyKey,
    /// sync's bearer token or an admin key.
    SyncOrAdmin,
    /// Anything that may follow the change feed: sync, admins, proxies, edges.
    ChangeFeed,
}

impl Security {
    fn requirement(self) -> Value {
        let schemes: &[&str] = match self {
            Security::Open => &[],
            Security::Admin => &["AdminApiKey"],
            Security::EnvironmentKey => &["EnvironmentKey"],
            Security::ProxyKey => &["ProxyKey"],
            Security::SyncOrAdmin => &["SyncToken", "AdminApiKey"],
            Security::ChangeFeed => &["SyncToken", "AdminApiKey", "ProxyKey", "EnvironmentKey"],
        };
        schemes.iter().map(|s| json!({ *s: [] })).collect()
    }
}

/// Named schemas an operation refers to: name → schema.
pub type Schemas = Map<String, Value>;

/// The description of one operation.
#[derive(Clone, Debug)]
pub struct Doc {
    summary: String,
    security: Security,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Map<String, Value>,
    schemas: Schemas,
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

impl Doc {
    /// An operation for admins (the usual case); say otherwise with [`Doc::security`].
    pub fn new(summary: impl Into<String>) -> Doc {
        Doc {
            summary: summary.into(),
            security: Security::Admin,
            parameters: Vec::new(),
            body: None,
            responses: Map::new(),
            schemas: Schemas::new(),
        }
        .with::<ErrorBody>()
        .with::<FieldErrorsBody>()
    }

    /// Who may call it.
    pub fn security(mut self, security: Security) -> Doc {
        self.security = security;
        self
    }

    /// Records `T` and every schema it refers to; returns a reference to it.
    fn schema_of<T: ToSchema>(&mut self) -> Value {
        let name = T::name();
        self.schemas.insert(name.to_string(), to_value(T::schema()));
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        for (nested_name, schema) in nested {
            self.schemas.insert(nested_name, to_value(schema));
        }
        reference(&name)
    }

    fn with<T: ToSchema>(mut self) -> Doc {
        self.schema_of::<T>();
        self
    }

    /// The query parameters `P` declares.
    pub fn query<P: IntoParams>(mut self) -> Doc {
        for parameter in P::into_params(|| Some(ParameterIn::Query)) {
            self.parameters.push(to_value(parameter));
        }
        self
    }

    /// A header parameter: printable ASCII (other bytes cannot be in a field
    /// value; the HTTP layer refuses them before any route sees them).
    pub fn header(mut self, name: &str, required: bool, description: &str) -> Doc {
        self.parameters.push(json!({
            "name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string", "pattern": "^[ -~]*$", "maxLength": 200},
        }));
        self
    }

    /// Any other parameter, written out (a pattern only this route has).
    pub fn parameter(mut self, parameter: Value) -> Doc {
        self.parameters.push(parameter);
        self
    }

    /// The JSON body: a `T`.
    pub fn body<T: ToSchema>(mut self) -> Doc {
        self.body = Some(self.schema_of::<T>());
        self
    }

    /// The JSON body: a list of at most `max` `T`s.
    pub fn body_list<T: ToSchema>(mut self, max: usize) -> Doc {
        let item = self.schema_of::<T>();
        self.body = Some(json!({"type": "array", "maxItems": max, "items": item}));
        self
    }

    /// Answers `status` with a `T`.
    pub fn answers<T: ToSchema>(mut self, status: u16, description: &str) -> Doc {
        let schema = self.schema_of::<T>();
        self.respond(status, json_content(description, schema))
    }

    /// Answers 200 with a list of `T`.
    pub fn answers_list<T: ToSchema>(mut self, description: &str) -> Doc {
        let item = self.schema_of::<T>();
        let schema = json!({"type": "array", "items": item});
        self.respond(200, json_content(description, schema))
    }

    /// Answers 200 with one page of `T` (and takes the page parameters).
    pub fn answers_page<T: ToSchema>(mut self) -> Doc {
        let item = self.schema_of::<T>();
        let page = json!({
            "type": "object", "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "next": {"type": ["string", "null"]},
                "previous": {"type": ["string", "null"]},
                "results": {"type": "array", "items": item},
            },
        });
        self.query::<super::page::PageQuery>()
            .respond(200, json_content("A page", page))
            .fails(400, "Malformed parameter")
            .fails(404, "A page past the end")
    }

    /// Answers `status` with no body.
    pub fn empty(self, status: u16, description: &str) -> Doc {
        self.respond(status, json!({"description": description}))
    }

    /// Answers `status` with `{"detail": …}` (a 400 may name fields instead:
    /// a query or body that does not parse is answered field by field).
    pub fn fails(self, status: u16, description: &str) -> Doc {
        let schema = if status == 400 {
            json!({"anyOf": [reference("Error"), reference("FieldErrors")]})
        } else {
            reference("Error")
        };
        self.respond(status, json_content(description, schema))
    }

    /// Answers 400 with field errors (or a detail, when the body is not JSON).
    pub fn invalid(self) -> Doc {
        self.fails(400, "Invalid input")
    }

    /// Any response, written out (headers only this route sends).
    pub fn respond(mut self, status: u16, response: Value) -> Doc {
        self.responses.insert(status.to_string(), response);
        self
    }

    /// The summary.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The OpenAPI operation at `method path`, and the schemas it names.
    pub fn into_operation(self, method: &str, path: &str) -> (Value, Schemas) {
        let mut parameters: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                let schema = if matches!(name, "api_key" | "prefix" | "environment_key") {
                    json!({"type": "string"})
                } else {
                    json!({"type": "integer", "format": "int64"})
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        parameters.extend(self.parameters);
        let mut responses = self.responses;
        match self.security {
            Security::Open => {}
            Security::Admin | Security::SyncOrAdmin => {
                responses.entry("401").or_insert_with(|| {
                    json_content("Missing or invalid credentials", reference("Error"))
                });
            }
            Security::EnvironmentKey | Security::ProxyKey | Security::ChangeFeed => {
                responses.entry("403").or_insert_with(|| {
                    json_content("Missing, unknown or revoked key", reference("Error"))
                });
                if self.security == Security::ChangeFeed {
                    responses.entry("401").or_insert_with(|| {
                        json_content("Missing or invalid credentials", reference("Error"))
                    });
                }
            }
        }
        let tag = path
            .trim_start_matches("/api/v1/")
            .trim_start_matches("/api/v2/")
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        let id = format!(
            "{}_{}",
            method.to_lowercase(),
            path.trim_matches('/')
                .replace(['/', '{', '}', '.', '-'], "_")
        );
        let mut operation = json!({
            "summary": self.summary,
            "operationId": id,
            "tags": [tag],
            "parameters": parameters,
            "responses": responses,
            "security": self.security.requirement(),
        });
        if let Some(body) = self.body {
            operation["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body}}});
        }
        (operation, self.schemas)
    }
}

fn to_value(serializable: impl serde::Serialize) -> Value {
    serde_json::to_value(serializable).expect("an OpenAPI object serialises")
}

/// `{"detail": "…"}`: the body of every error but field errors.
#[derive(ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub detail: String,
}

/// `{"<field>": ["<message>", …], …}`: DRF's shape for invalid input.
pub struct FieldErrorsBody;

impl PartialSchema for FieldErrorsBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
            ))
            .description(Some(
                "Field name → list of messages (nested objects for nested input).",
            ))
            .into()
    }
}

impl ToSchema for FieldErrorsBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FieldErrors")
    }
}

/// A Flagsmith value: text, an integer, a boolean, or nothing.
pub struct FlagValue;

impl PartialSchema for FlagValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }
}

impl ToSchema for FlagValue {}

/// Any JSON object (an audit record's before/after, Flagsmith's nested documents).
pub struct AnyObject;

impl PartialSchema for AnyObject {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
            ))
            .into()
    }
}

impl ToSchema for AnyObject {}

/// The six operations of a resource (list, create, read, replace, update,
/// delete), described from its types: it answers `O`s, reads `I`s, and
/// answers a create with a `C` (an `O` unless it shows a secret once).
pub struct Resource<O, I, C = O> {
    noun: &'static str,
    types: Types<O, I, C>,
}

/// A resource's types, held by nothing at run time.
type Types<O, I, C> = std::marker::PhantomData<fn() -> (O, I, C)>;

impl<O: ToSchema, I: ToSchema, C: ToSchema> Resource<O, I, C> {
    /// `noun`: what the summaries call one of them ("project").
    pub fn new(noun: &'static str) -> Resource<O, I, C> {
        Resource {
            noun,
            types: std::marker::PhantomData,
        }
    }

    /// `GET` the collection, narrowed by the query parameters `F` declares.
    pub fn list<F: IntoParams>(&self) -> Doc {
        let plural = match self.noun.strip_suffix('y') {
            Some(stem) => format!("{stem}ies"),
            None => format!("{}s", self.noun),
        };
        Doc::new(format!("List {plural}"))
            .answers_page::<O>()
            .query::<F>()
            .fails(404, "Not found")
    }

    /// `POST` the collection.
    pub fn create(&self) -> Doc {
        Doc::new(format!("Create a {}", self.noun))
            .body::<I>()
            .answers::<C>(201, "Created")
            .invalid()
            .fails(403, "Not allowed")
            .fails(404, "Not found")
    }

    /// `GET` an item.
    pub fn read(&self) -> Doc {
        Doc::new(format!("Read a {}", self.noun))
            .answers::<O>(200, "The object")
            .fails(404, "Not found")
    }

    /// `PUT` an item: fields left out are required, as on create.
    pub fn replace(&self) -> Doc {
        self.write(format!("Replace a {}", self.noun))
    }

    /// `PATCH` an item: fields left out keep their values.
    pub fn update(&self) -> Doc {
        self.write(format!("Update a {}", self.noun))
    }

    fn write(&self, summary: String) -> Doc {
        Doc::new(summary)
            .body::<I>()
            .answers::<O>(200, "Updated")
            .invalid()
            .fails(404, "Not found")
    }

    /// `DELETE` an item.
    pub fn delete(&self) -> Doc {
        Doc::new(format!("Delete a {}", self.noun))
            .empty(204, "Deleted")
            .fails(400, "Cannot be deleted")
            .fails(404, "Not found")
    }
}

/// A trait's value: text, a number or a boolean.
pub struct TraitValue;

impl PartialSchema for TraitValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(2000)),
            )
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .into()
    }
}

impl ToSchema for TraitValue {}
