//! A client's JSON Schema as it goes to the grammar compiler, rewritten into keywords the
//! compiler enforces: `oneOf`s whose branches can never both match become `anyOf`s
//! (`one_of.rs`), property and schema dependencies become `anyOf`s of their cases
//! (`dependencies.rs`), `format`s that assert nothing are dropped (`formats.rs`), and numbers
//! without a bound get llama.cpp's 16 digits (`numbers.rs`); under OpenAI's strict mode,
//! objects take no properties they do not list.
//!
//! Every rewrite accepts only documents the original schema accepts, so a reply still
//! validates against what the client sent. None descends into `not` or `if`, where a
//! narrower subschema would widen what the whole accepts, nor into values (`const`, `enum`,
//! `default`, `examples`).

mod dependencies;
mod formats;
mod numbers;
mod one_of;

use serde_json::{Map, Value};

/// Keys whose values are data or a negated/conditional schema, never rewritten.
const LEFT_ALONE: &[&str] = &["const", "enum", "default", "examples", "not", "if"];

/// Keys whose values map names to schemas (a property named `const` is a schema).
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Prepares `schema` for the compiler; `strict` closes objects (see [`close_objects`]).
pub fn prepare(schema: &mut Value, strict: bool) {
    // First: branches that become `anyOf` may then be closed.
    bottom_up(schema, &mut |object| {
        one_of::exclusive_as_any_of(object);
        formats::drop_annotations(object);
        dependencies::as_cases(object);
        numbers::bounded(object);
    });
    if strict {
        close_objects(schema);
    }
}

/// The JSON types a schema's `type` keyword names (one name or a list), if it has the
/// keyword and every name is a JSON type.
fn declared_types(schema: &Map<String, Value>) -> Option<Vec<&'static str>> {
    match schema.get("type")? {
        Value::String(name) => Some(vec![type_name(name)?]),
        Value::Array(names) => names.iter().map(|name| type_name(name.as_str()?)).collect(),
        _ => None,
    }
}

fn type_name(name: &str) -> Option<&'static str> {
    [
        "null", "boolean", "object", "array", "number", "string", "integer",
    ]
    .into_iter()
    .find(|known| *known == name)
}

/// Calls `rewrite` on every object schema within `schema`, its subschemas first, leaving
/// [`LEFT_ALONE`] alone.
fn bottom_up(schema: &mut Value, rewrite: &mut dyn FnMut(&mut Map<String, Value>)) {
    match schema {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                match (key.as_str(), value) {
                    (key, _) if LEFT_ALONE.contains(&key) => {}
                    (key, Value::Object(children)) if SCHEMA_MAPS.contains(&key) => {
                        for child in children.values_mut() {
                            bottom_up(child, rewrite);
                        }
                    }
                    (_, child) => bottom_up(child, rewrite),
                }
            }
            rewrite(object);
        }
        Value::Array(items) => items.iter_mut().for_each(|item| bottom_up(item, rewrite)),
        _ => {}
    }
}

/// Gives `additionalProperties: false` to every object schema that lists `properties` and
/// says nothing of others, as OpenAI's strict mode has it: small models otherwise invent
/// properties until `max_tokens` runs out. Not inside `allOf` (its branches' properties
/// combine) nor `oneOf` (a narrower branch could stop overlapping another, and the whole accept
/// a document the original refuses as matching both), nor an object whose `allOf` names
/// properties it does not list itself (closing it would forbid them).
fn close_objects(schema: &mut Value) {
    let Value::Object(object) = schema else {
        return;
    };
    if object.contains_key("properties")
        && !object.contains_key("additionalProperties")
        && !object.contains_key("patternProperties")
        && object
            .get("allOf")
            .is_none_or(|all_of| names_only_listed(all_of, object))
    {
        object.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            (key, _) if LEFT_ALONE.contains(&key) || key == "allOf" || key == "oneOf" => {}
            ("properties" | "$defs" | "definitions", Value::Object(children)) => {
                children.values_mut().for_each(close_objects);
            }
            (_, Value::Array(children)) => children.iter_mut().for_each(close_objects),
            (_, child @ Value::Object(_)) => close_objects(child),
            _ => {}
        }
    }
}

/// Whether every property that `branches` (and their `anyOf`, `allOf` and `oneOf` branches)
/// name in `properties` or `required` is one `object` lists in its own `properties`.
fn names_only_listed(branches: &Value, object: &Map<String, Value>) -> bool {
    let listed = |name: &str| {
        object
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|properties| properties.contains_key(name))
    };
    let Value::Array(branches) = branches else {
        return false;
    };
    branches.iter().all(|branch| match branch {
        Value::Bool(_) => true,
        Value::Object(branch) => {
            let named = branch
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|properties| properties.keys().map(String::as_str));
            named.chain(required(branch)).all(listed)
                && ["anyOf", "allOf", "oneOf"].iter().all(|key| {
                    branch
                        .get(*key)
                        .is_none_or(|nested| names_only_listed(nested, object))
                })
                && !branch.contains_key("$ref")
        }
        _ => false,
    })
}

fn required(schema: &Map<String, Value>) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(super) fn prepared(mut schema: Value, strict: bool) -> Value {
        prepare(&mut schema, strict);
        schema
    }

    #[test]
    fn objects_are_closed_unless_they_say_otherwise() {
        let schema = prepared(
            json!({
                "type": "object",
                "properties": {
                    "open": { "type": "object", "properties": {}, "additionalProperties": true },
                    "list": { "type": "array", "items": { "type": "object", "properties": { "a": {} } } },
                    "both": { "allOf": [{ "type": "object", "properties": { "b": {} } }] },
                    "either": { "oneOf": [{ "properties": { "c": {} } }, { "type": "string" }] },
                    "never": { "not": { "type": "object", "properties": { "d": {} } } }
                }
            }),
            true,
        );
        assert_eq!(schema["additionalProperties"], false);
        let properties = &schema["properties"];
        assert_eq!(properties["open"]["additionalProperties"], true);
        assert_eq!(properties["list"]["items"]["additionalProperties"], false);
        assert!(properties["both"]["allOf"][0]
            .get("additionalProperties")
            .is_none());
        assert!(properties["either"]["oneOf"][0]
            .get("additionalProperties")
            .is_none());
        assert!(properties["never"]["not"]
            .get("additionalProperties")
            .is_none());
    }

    #[test]
    fn without_strict_objects_stay_open() {
        let schema = json!({ "type": "object", "properties": { "a": {} } });
        assert_eq!(prepared(schema.clone(), false), schema);
    }

    #[test]
    fn an_object_whose_all_of_names_only_its_own_properties_is_closed() {
        let closed = prepared(
            json!({
                "properties": { "a": {}, "b": {} },
                "dependencies": { "a": { "properties": { "b": { "const": 1 } } } }
            }),
            true,
        );
        assert_eq!(closed["additionalProperties"], false, "{closed}");
        // The dependency's own schema stays open: it speaks of the whole object.
        let condition = &closed["allOf"][0]["anyOf"][1]["allOf"][0];
        assert!(condition.get("additionalProperties").is_none(), "{closed}");
        let open = prepared(
            json!({ "properties": { "a": {} }, "allOf": [{ "required": ["c"] }] }),
            true,
        );
        assert!(open.get("additionalProperties").is_none(), "{open}");
    }

    #[test]
    fn values_are_never_rewritten_but_a_property_named_like_one_is_a_schema() {
        let schema = prepared(
            json!({
                "properties": {
                    "const": { "oneOf": [{ "type": "string" }, { "type": "null" }] },
                    "a": { "items": { "oneOf": [{ "type": "string" }, { "type": "null" }] } }
                },
                "default": { "oneOf": [{ "type": "string" }, { "type": "null" }] }
            }),
            false,
        );
        assert!(schema["properties"]["const"].get("anyOf").is_some());
        assert!(schema["properties"]["a"]["items"].get("anyOf").is_some());
        assert!(schema["default"].get("oneOf").is_some());
    }
}
