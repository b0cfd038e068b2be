//! The ranges of the `serve` settings (and the aliases as a whole), checked once on the merged configuration so that a
//! value from the file or the environment is held to the same rule as a flag (clap would
//! check flags only).

use std::ops::RangeInclusive;

use super::ServeConfig;

/// A setting out of its range: its key and the rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange {
    pub key: &'static str,
    pub rule: String,
}

/// Every setting out of its range, in the order of the checks.
pub fn out_of_range(config: &ServeConfig) -> Vec<OutOfRange> {
    let mut problems = Vec::new();
    let mut check = |key: &'static str, value: Option<u64>, range: RangeInclusive<u64>| {
        if value.is_some_and(|value| !range.contains(&value)) {
            let rule = if *range.end() == u64::MAX {
                format!("must be at least {}", range.start())
            } else {
                format!("must be from {} to {}", range.start(), range.end())
            };
            problems.push(OutOfRange { key, rule });
        }
    };
    let some = |value: u32| Some(u64::from(value));
    // 256 sequences: llama.cpp's limit on sequences in one context.
    check("parallel", some(config.parallel), 1..=256);
    check("ctx_size", some(config.ctx_size), 64..=u64::MAX);
    check("threads", config.threads.map(u64::from), 1..=1024);
    check(
        "max_loaded_models",
        config.max_loaded_models.map(u64::from),
        1..=64,
    );
    check(
        "max_requests_per_caller",
        config.max_requests_per_caller.map(u64::from),
        1..=u64::MAX,
    );
    check(
        "max_connections",
        some(config.max_connections),
        1..=u64::MAX,
    );
    check(
        "header_timeout_secs",
        Some(config.header_timeout_secs),
        1..=u64::MAX,
    );
    check(
        "body_timeout_secs",
        Some(config.body_timeout_secs),
        1..=u64::MAX,
    );
    // llama.cpp cannot read a quantized V cache without flash attention: its context
    // creation fails, after the model has loaded.
    if config.cache_type_v != super::CacheType::F16
        && config.flash_attn == super::FlashAttention::Off
    {
        problems.push(OutOfRange {
            key: "cache_type_v",
            rule: "must be f16 when flash_attn is off (a quantized V cache needs flash \
                   attention)"
                .to_owned(),
        });
    }
    if let Some(rule) = crate::models::alias_conflict(&config.aliases) {
        problems.push(OutOfRange {
            key: "alias",
            rule: rule.to_owned(),
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_clap_checked_before_is_checked_here() {
        let mut config = ServeConfig::with_models_dir("m");
        assert_eq!(out_of_range(&config), []);
        config.parallel = 0;
        config.ctx_size = 63;
        config.threads = Some(1025);
        config.max_requests_per_caller = Some(0);
        config.max_connections = 0;
        config.header_timeout_secs = 0;
        config.body_timeout_secs = 0;
        let keys: Vec<&str> = out_of_range(&config).iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "parallel",
                "ctx_size",
                "threads",
                "max_requests_per_caller",
                "max_connections",
                "header_timeout_secs",
                "body_timeout_secs"
            ]
        );
        config.parallel = 257;
        assert_eq!(out_of_range(&config)[0].rule, "must be from 1 to 256");
        config.parallel = 256;
        config.ctx_size = 64;
        config.threads = None;
        assert_eq!(out_of_range(&config)[0].key, "max_requests_per_caller");
    }
}
