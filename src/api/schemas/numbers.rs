//! A bound on a number's digits, as llama.cpp's JSON grammars draw it (`integral-part ::= [0] |
//! [1-9] [0-9]{0,15}`). A small model that starts repeating a digit never stops on its own:
//! on the JSONSchemaBench sample, every Glaive schema sotto lost to llama-server with the same
//! CPU kernels was a reply like `"width": 100000…` run to `max_tokens`. A number schema with no
//! bound of its own gets |x| < 10^16 (16 digits before the point, past what a double holds
//! exactly), which the compiler enforces like any client bound. Unlike the other rewrites this
//! narrows the schema; the README says so.

use serde_json::{Map, Value};

use super::declared_types;

/// 10^16: the first value with 17 digits before the point. Exact as a double.
const DIGIT_LIMIT: i64 = 10_000_000_000_000_000;

const BOUNDS: &[&str] = &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

/// Bounds `object` if it is a number or integer schema with no bound of its own.
pub(super) fn bounded(object: &mut Map<String, Value>) {
    let is_number = declared_types(object)
        .is_some_and(|types| types.iter().any(|t| matches!(*t, "integer" | "number")));
    if is_number && !BOUNDS.iter().any(|key| object.contains_key(*key)) {
        object.insert("exclusiveMinimum".into(), Value::from(-DIGIT_LIMIT));
        object.insert("exclusiveMaximum".into(), Value::from(DIGIT_LIMIT));
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::prepared;
    use super::DIGIT_LIMIT;
    use serde_json::json;

    #[test]
    fn unbounded_numbers_get_sixteen_digits_and_bounded_ones_keep_theirs() {
        let schema = prepared(
            json!({
                "properties": {
                    "count": { "type": "integer" },
                    "price": { "type": ["number", "null"] },
                    "age": { "type": "integer", "minimum": 0 },
                    "name": { "type": "string" }
                },
                "const": { "type": "integer" }
            }),
            false,
        );
        let properties = &schema["properties"];
        for field in ["count", "price"] {
            assert_eq!(properties[field]["exclusiveMaximum"], json!(DIGIT_LIMIT));
            assert_eq!(properties[field]["exclusiveMinimum"], json!(-DIGIT_LIMIT));
        }
        assert!(properties["age"].get("exclusiveMaximum").is_none());
        assert!(properties["name"].get("exclusiveMaximum").is_none());
        assert!(schema["const"].get("exclusiveMaximum").is_none(), "a value");
    }
}
