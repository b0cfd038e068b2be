//! Dependencies (`dependentRequired`, `dependentSchemas`, and draft 4's `dependencies` of
//! either kind) as an `anyOf` of their cases, which the compiler enforces.

use serde_json::{Map, Value};

use super::required;

/// At most this many properties with dependencies in one object: `2^n` cases.
const MAX_DEPENDENT: usize = 3;

/// Keywords that stay on an object whose dependencies become cases: definitions (a `$ref` from
/// the root must still find them) and identifiers.
const KEPT_OUTSIDE_CASES: &[&str] = &["$defs", "definitions", "$schema", "$id", "title"];

/// Rewrites `object`'s dependencies: schema dependencies first (see [`schemas_as_all_of`]),
/// then property dependencies (`dependentRequired`, or `dependencies` whose values are all
/// lists of names) as an `anyOf` of cases: each property that has dependencies is either
/// absent (`false` in `properties`) or present with every property it needs. Cases that
/// contradict themselves or `required` are left out.
pub(super) fn as_cases(object: &mut Map<String, Value>) {
    schemas_as_all_of(object);
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

/// Moves schema dependencies (`dependentSchemas`, and `dependencies` whose value is a schema)
/// into `allOf`: "if `p` is present, the object also matches `S`" is "`p` is absent, or it is
/// present and the object matches `S`". Inside `allOf`, strict mode leaves the branches open
/// (see `close_objects`), so neither narrows the object.
fn schemas_as_all_of(object: &mut Map<String, Value>) {
    let mut conditions = Vec::new();
    for key in ["dependentSchemas", "dependencies"] {
        let Some(Value::Object(dependencies)) = object.get_mut(key) else {
            continue;
        };
        let names: Vec<String> = dependencies
            .iter()
            .filter(|(_, dependency)| !dependency.is_array())
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            match dependencies.remove(&name) {
                Some(Value::Bool(true)) | None => {}
                Some(Value::Bool(false)) => conditions.push(absent(&name)),
                Some(schema) => conditions.push(serde_json::json!({
                    "anyOf": [absent(&name), { "required": [name], "allOf": [schema] }]
                })),
            }
        }
        if dependencies.is_empty() {
            object.remove(key);
        }
    }
    if conditions.is_empty() {
        return;
    }
    match object.get_mut("allOf") {
        Some(Value::Array(all_of)) => all_of.extend(conditions),
        _ => {
            object.insert("allOf".to_owned(), Value::Array(conditions));
        }
    }
}

fn absent(name: &str) -> Value {
    serde_json::json!({ "properties": { name: false } })
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

#[cfg(test)]
mod tests {
    use super::super::tests::prepared;
    use serde_json::json;

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
    fn schema_dependencies_become_conditions_in_all_of() {
        let schema = prepared(
            json!({
                "type": "object",
                "properties": { "website": { "type": "string" } },
                "allOf": [{ "required": ["type"] }],
                "dependencies": {
                    "website": { "properties": { "type": { "const": "section" } } },
                    "always": true,
                    "never": false,
                    "a": ["b"]
                }
            }),
            true,
        );
        // The list dependency became cases; each carries the conditions.
        let cases = schema["anyOf"].as_array().expect("cases");
        assert_eq!(cases.len(), 2, "{schema}");
        for case in cases {
            let all_of = case["allOf"].as_array().expect("allOf");
            assert_eq!(all_of.len(), 3, "{case}");
            assert_eq!(all_of[0], json!({ "required": ["type"] }));
            assert_eq!(
                all_of[1],
                json!({ "anyOf": [
                    { "properties": { "website": false } },
                    { "required": ["website"], "allOf": [
                        { "properties": { "type": { "const": "section" } } }
                    ] }
                ] }),
                "left open under strict mode"
            );
            assert_eq!(all_of[2], json!({ "properties": { "never": false } }));
            assert!(case.get("dependencies").is_none());
        }
        let only_schemas = prepared(
            json!({ "dependentSchemas": { "a": { "required": ["b"] } } }),
            false,
        );
        assert_eq!(
            only_schemas,
            json!({ "allOf": [{ "anyOf": [
                { "properties": { "a": false } },
                { "required": ["a"], "allOf": [{ "required": ["b"] }] }
            ] }] })
        );
    }
}
