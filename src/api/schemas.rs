//! A client's JSON Schema as it goes to the grammar compiler: `oneOf`s whose branches can never
//! both match become `anyOf`s, and property dependencies become an `anyOf` of their cases (the
//! same documents, in keywords the compiler enforces); under OpenAI's strict mode, objects
//! take no properties they do not list.
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
    dependencies_as_cases(schema);
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

/// At most this many properties with dependencies in one object: `2^n` cases.
const MAX_DEPENDENT: usize = 3;

/// Keywords that stay on an object whose dependencies become cases: definitions (a `$ref` from
/// the root must still find them) and identifiers.
const KEPT_OUTSIDE_CASES: &[&str] = &["$defs", "definitions", "$schema", "$id", "title"];

/// Rewrites property dependencies (`dependentRequired`, or `dependencies` whose values are all
/// lists of names) as an `anyOf` of cases: each property that has dependencies is either
/// absent (`false` in `properties`) or present with every property it needs. Cases that
/// contradict themselves or `required` are left out.
fn dependencies_as_cases(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                match (key.as_str(), value) {
                    (key, _) if LEFT_ALONE.contains(&key) => {}
                    (
                        "properties" | "patternProperties" | "$defs" | "definitions",
                        Value::Object(children),
                    ) => {
                        children.values_mut().for_each(dependencies_as_cases);
                    }
                    (_, child) => dependencies_as_cases(child),
                }
            }
            if let Some(cases) = dependency_cases(object) {
                let mut outside = Map::new();
                for key in KEPT_OUTSIDE_CASES {
                    if let Some(value) = object.remove(*key) {
                        outside.insert((*key).to_owned(), value);
                    }
                }
                outside.insert("anyOf".to_owned(), Value::Array(cases));
                *object = outside;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(dependencies_as_cases),
        _ => {}
    }
}

/// The cases replacing `object`'s property dependencies, if it has some this rewrite handles.
fn dependency_cases(object: &Map<String, Value>) -> Option<Vec<Value>> {
    let key = ["dependentRequired", "dependencies"]
        .into_iter()
        .find(|key| object.contains_key(*key))?;
    if object.contains_key("anyOf") || object.contains_key("oneOf") {
        return None;
    }
    let needs: Vec<(&str, Vec<&str>)> = object
        .get(key)?
        .as_object()?
        .iter()
        .map(|(name, needed)| {
            let needed = needed.as_array()?;
            let needed: Option<Vec<&str>> = needed.iter().map(Value::as_str).collect();
            Some((name.as_str(), needed?))
        })
        .collect::<Option<_>>()?;
    if needs.is_empty() || needs.len() > MAX_DEPENDENT {
        return None;
    }
    let required: Vec<&str> = required(object).collect();
    let mut base = object.clone();
    base.remove(key);
    for kept in KEPT_OUTSIDE_CASES {
        base.remove(*kept);
    }
    let mut cases = Vec::new();
    for present in 0..1_u32 << needs.len() {
        let is_present = |index: usize| present & (1 << index) != 0;
        let mut must: Vec<&str> = required.clone();
        let mut absent = Vec::new();
        for (index, (name, needed)) in needs.iter().enumerate() {
            if is_present(index) {
                must.push(name);
                must.extend(needed);
            } else {
                absent.push(*name);
            }
        }
        if absent.iter().any(|name| must.contains(name)) {
            continue;
        }
        let mut case = base.clone();
        let mut unique: Vec<Value> = Vec::new();
        for name in must {
            let name = Value::from(name);
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        if !unique.is_empty() {
            case.insert("required".to_owned(), Value::Array(unique));
        }
        if !absent.is_empty() {
            let properties = case
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(properties) = properties {
                for name in absent {
                    properties.insert(name.to_owned(), Value::Bool(false));
                }
            }
        }
        cases.push(Value::Object(case));
    }
    Some(cases)
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
            Value::Array(names) => names.iter().map(|name| type_name(name.as_str()?)).collect(),
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

fn property_schema<'a>(
    schema: &'a Map<String, Value>,
    name: &str,
) -> Option<&'a Map<String, Value>> {
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
    fn property_dependencies_become_their_cases() {
        let schema = prepared(
            json!({
                "type": "object",
                "definitions": { "d": { "type": "string" } },
                "properties": { "cylindrical": { "type": "number" }, "axis": { "type": "number" } },
                "dependencies": { "cylindrical": ["axis"], "axis": ["cylindrical"] }
            }),
            false,
        );
        let cases = schema["anyOf"].as_array().expect("cases");
        // Neither, or both: one without the other contradicts its dependency.
        assert_eq!(cases.len(), 2, "{schema}");
        assert_eq!(cases[0]["properties"]["cylindrical"], false);
        assert_eq!(cases[0]["properties"]["axis"], false);
        assert!(cases[0].get("required").is_none());
        assert_eq!(cases[1]["required"], json!(["cylindrical", "axis"]));
        assert_eq!(cases[1]["properties"]["axis"]["type"], "number");
        assert!(cases.iter().all(|case| case.get("dependencies").is_none()));
        assert_eq!(schema["definitions"]["d"]["type"], "string");
        assert!(cases.iter().all(|case| case.get("definitions").is_none()));
    }

    #[test]
    fn dependencies_it_cannot_rewrite_stay_for_the_compiler_to_refuse() {
        for schema in [
            // A schema dependency, not a list of names.
            json!({ "dependencies": { "a": { "required": ["b"] } } }),
            // Four properties with dependencies: sixteen cases.
            json!({ "dependentRequired": { "a": ["b"], "b": ["c"], "c": ["d"], "d": ["a"] } }),
            json!({ "anyOf": [{}], "dependentRequired": { "a": ["b"] } }),
        ] {
            assert_eq!(prepared(schema.clone(), false), schema);
        }
        // A property named `dependencies` is a property.
        let schema = json!({ "properties": { "dependencies": { "type": "object" } } });
        assert_eq!(prepared(schema.clone(), false), schema);
    }

    #[test]
    fn a_required_property_is_never_made_absent() {
        let schema = prepared(
            json!({ "required": ["a"], "dependentRequired": { "a": ["b"] } }),
            false,
        );
        assert_eq!(schema, json!({ "anyOf": [{ "required": ["a", "b"] }] }));
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
