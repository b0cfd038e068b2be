//! A client's JSON Schema as it goes to the grammar compiler: `oneOf`s whose branches can never
//! both match become `anyOf`s (the same documents, and a keyword the compiler enforces), and
//! under OpenAI's strict mode objects take no properties they do not list.
//!
//! Every rewrite accepts only documents the original schema accepts, so a reply still
//! validates against what the client sent. Neither descends into `not` or `if`, where a
//! narrower subschema would widen what the whole accepts, nor into values (`const`, `enum`,
//! `default`, `examples`).

use serde_json::{Map, Value};

/// Keys whose values are data or a negated/conditional schema, never rewritten.
const LEFT_ALONE: &[&str] = &["const", "enum", "default", "examples", "not", "if"];

/// Prepares `schema` for the compiler; `strict` closes objects (see [`close_objects`]).
pub fn prepare(schema: &mut Value, strict: bool) {
    // First: branches that become `anyOf` may then be closed.
    exclusive_one_of_as_any_of(schema);
    if strict {
        close_objects(schema);
    }
}

/// Gives `additionalProperties: false` to every object schema that lists `properties` and
/// says nothing of others, as OpenAI's strict mode has it: small models otherwise invent
/// properties until `max_tokens` runs out. Not inside `allOf` (its branches' properties
/// combine) nor `oneOf` (a narrower branch could stop overlapping another, and the whole accept
/// a document the original refuses as matching both).
fn close_objects(schema: &mut Value) {
    let Value::Object(object) = schema else {
        return;
    };
    if object.contains_key("properties")
        && !object.contains_key("additionalProperties")
        && !object.contains_key("patternProperties")
        && !object.contains_key("allOf")
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

/// Renames `oneOf` to `anyOf` wherever no document can match two of its branches: then both
/// accept exactly the same documents.
fn exclusive_one_of_as_any_of(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            let exclusive = matches!(object.get("oneOf"), Some(Value::Array(branches))
                if !object.contains_key("anyOf") && pairwise_exclusive(branches));
            if exclusive {
                if let Some(branches) = object.remove("oneOf") {
                    object.insert("anyOf".to_owned(), branches);
                }
            }
            for (key, value) in object.iter_mut() {
                if !LEFT_ALONE.contains(&key.as_str()) {
                    exclusive_one_of_as_any_of(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(exclusive_one_of_as_any_of),
        _ => {}
    }
}

fn pairwise_exclusive(branches: &[Value]) -> bool {
    branches.iter().enumerate().all(|(i, a)| {
        branches[i + 1..]
            .iter()
            .all(|b| matches!((a, b), (Value::Object(a), Value::Object(b)) if exclusive(a, b)))
    })
}

/// Whether no document matches both schemas, judged from what they say outright: disjoint
/// types, disjoint constant values, or a property both require with disjoint constant values.
/// Anything else (a `$ref`, say) is taken as possibly overlapping.
fn exclusive(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    if let (Some(a), Some(b)) = (types(a), types(b)) {
        if !a.iter().any(|t| b.iter().any(|u| types_overlap(t, u))) {
            return true;
        }
    }
    if let (Some(a), Some(b)) = (constants(a), constants(b)) {
        if !a.iter().any(|value| b.contains(value)) {
            return true;
        }
    }
    required(a).any(|property| {
        required(b).any(|other| other == property)
            && match (property_schema(a, property), property_schema(b, property)) {
                (Some(x), Some(y)) => matches!((constants(x), constants(y)),
                    (Some(x), Some(y)) if !x.iter().any(|value| y.contains(value))),
                _ => false,
            }
    })
}

/// The JSON types a schema allows, if it says: `type`, or the types of its constant values.
fn types(schema: &Map<String, Value>) -> Option<Vec<&'static str>> {
    if let Some(kind) = schema.get("type") {
        return match kind {
            Value::String(name) => Some(vec![type_name(name)?]),
            Value::Array(names) => names
                .iter()
                .map(|name| type_name(name.as_str()?))
                .collect(),
            _ => None,
        };
    }
    let values = constants(schema)?;
    Some(values.iter().map(|value| json_type(value)).collect())
}

fn type_name(name: &str) -> Option<&'static str> {
    [
        "null", "boolean", "object", "array", "number", "string", "integer",
    ]
    .into_iter()
    .find(|known| *known == name)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Integers are numbers; every other pair of types is disjoint.
fn types_overlap(a: &str, b: &str) -> bool {
    a == b || matches!((a, b), ("integer", "number") | ("number", "integer"))
}

/// The values a schema allows, if it lists them (`const` or `enum`).
fn constants(schema: &Map<String, Value>) -> Option<Vec<&Value>> {
    match (schema.get("const"), schema.get("enum")) {
        (Some(value), _) => Some(vec![value]),
        (None, Some(Value::Array(values))) => Some(values.iter().collect()),
        _ => None,
    }
}

fn required(schema: &Map<String, Value>) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn property_schema<'a>(schema: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    schema.get("properties")?.get(name)?.as_object()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prepared(mut schema: Value, strict: bool) -> Value {
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
    fn a_one_of_is_an_any_of_only_when_no_document_can_match_two_branches() {
        let becomes_any_of = [
            json!([{ "type": "string" }, { "type": "integer" }, { "type": ["null", "boolean"] }]),
            json!([{ "const": "a" }, { "enum": ["b", "c"] }]),
            json!([
                { "type": "object", "required": ["kind"], "properties": { "kind": { "const": "cat" } } },
                { "type": "object", "required": ["kind", "x"], "properties": { "kind": { "enum": ["dog"] } } }
            ]),
        ];
        for branches in becomes_any_of {
            let schema = prepared(json!({ "oneOf": branches }), false);
            assert_eq!(schema, json!({ "anyOf": branches }));
        }
        let stays_one_of = [
            // An integer is a number.
            json!([{ "type": "number" }, { "type": "integer" }]),
            json!([{ "enum": ["a", "b"] }, { "const": "b" }]),
            // Not required: a document without `kind` matches both.
            json!([
                { "type": "object", "properties": { "kind": { "const": "cat" } } },
                { "type": "object", "properties": { "kind": { "const": "dog" } } }
            ]),
            json!([{ "$ref": "#/$defs/a" }, { "type": "string" }]),
            json!([{ "type": "string" }, { "type": "string", "maxLength": 3 }]),
        ];
        for branches in stays_one_of {
            let schema = json!({ "oneOf": branches });
            assert_eq!(prepared(schema.clone(), false), schema);
        }
    }

    #[test]
    fn one_ofs_are_found_at_any_depth_but_not_in_values() {
        let schema = prepared(
            json!({
                "properties": { "a": { "items": { "oneOf": [{ "type": "string" }, { "type": "null" }] } } },
                "default": { "oneOf": [{ "type": "string" }, { "type": "null" }] }
            }),
            false,
        );
        assert!(schema["properties"]["a"]["items"].get("anyOf").is_some());
        assert!(schema["default"].get("oneOf").is_some());
    }
}
