//! `oneOf` as `anyOf`, where no document can match two of its branches.

use serde_json::{Map, Value};

use super::{declared_types, required};

/// Renames `oneOf` to `anyOf` when no document can match two of its branches: then both
/// accept exactly the same documents.
pub(super) fn exclusive_as_any_of(object: &mut Map<String, Value>) {
    let exclusive = matches!(object.get("oneOf"), Some(Value::Array(branches))
        if !object.contains_key("anyOf") && pairwise_exclusive(branches));
    if exclusive {
        if let Some(branches) = object.remove("oneOf") {
            object.insert("anyOf".to_owned(), branches);
        }
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
    if schema.contains_key("type") {
        return declared_types(schema);
    }
    let values = constants(schema)?;
    Some(values.iter().map(|value| json_type(value)).collect())
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

fn property_schema<'a>(
    schema: &'a Map<String, Value>,
    name: &str,
) -> Option<&'a Map<String, Value>> {
    schema.get("properties")?.get(name)?.as_object()
}

#[cfg(test)]
mod tests {
    use super::super::tests::prepared;
    use serde_json::json;

    #[test]
    fn a_one_of_is_an_any_of_only_when_no_document_can_match_two_branches() {
        let becomes_any_of = [
            // (A bounded integer: `numbers.rs` would add a bound to an unbounded one.)
            json!([{ "type": "string" }, { "type": "integer", "maximum": 9 }, { "type": ["null", "boolean"] }]),
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
            json!([{ "type": "number", "maximum": 9 }, { "type": "integer", "maximum": 9 }]),
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
}
