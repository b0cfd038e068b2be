//! `format`s that assert nothing. JSON Schema defines a list of formats; any other name
//! (OpenAPI's `int32`, `byte`, a project's own `semver`) is an annotation that validators must
//! ignore (JSON Schema 2020-12, Validation, section 7.2), so dropping it changes no document's
//! validity. A defined format the compiler cannot enforce stays, and is refused by name.

use serde_json::{Map, Value};

/// The formats JSON Schema defines (drafts 4 to 2020-12).
const DEFINED: [&str; 19] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Removes `object`'s `format` if JSON Schema does not define it.
pub(super) fn drop_annotations(object: &mut Map<String, Value>) {
    if matches!(object.get("format"), Some(Value::String(name)) if !DEFINED.contains(&name.as_str()))
    {
        object.remove("format");
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::prepared;
    use serde_json::json;

    #[test]
    fn formats_json_schema_does_not_define_are_dropped_and_defined_ones_kept() {
        let schema = prepared(
            json!({
                "properties": {
                    "count": { "type": "integer", "format": "int32" },
                    "version": { "type": "string", "format": "semver" },
                    "link": { "type": "string", "format": "uri-reference" },
                    "when": { "type": "string", "format": "date-time" },
                    "format": { "type": "string", "enum": ["a"] }
                },
                "const": { "format": "semver" }
            }),
            false,
        );
        let properties = &schema["properties"];
        assert!(properties["count"].get("format").is_none());
        assert!(properties["version"].get("format").is_none());
        assert_eq!(properties["link"]["format"], "uri-reference");
        assert_eq!(properties["when"]["format"], "date-time");
        assert_eq!(
            properties["format"]["enum"],
            json!(["a"]),
            "a property named `format`"
        );
        assert_eq!(schema["const"]["format"], "semver", "a value");
    }
}
