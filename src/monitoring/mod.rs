//! Prometheus metrics: what the server is doing, in numbers, for `GET /metrics`.
//!
//! Each app owns its recorder instead of installing the `metrics` crate's process-wide one:
//! the tests run several servers in one process, and a shared recorder would add one
//! server's requests to another's counts (and a second `install` fails). Series are
//! registered through the recorder directly; the engine thread gets its model's handles
//! ([`ModelMetrics`]) once and then only increments atomics.
//!
//! Labels are bounded and say nothing about anyone: a route template (never the path sent),
//! a method from a fixed list, a status code, and a model id, which only models in the
//! models folder ever reach (an unknown id is refused before anything is recorded).

mod http;

use std::time::Duration;

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

pub use http::{standard_method, track};

/// The recorder ignores metadata; the trait still asks for it.
static METADATA: Metadata<'static> = Metadata::new("sotto", Level::INFO, None);

const HTTP_REQUESTS: &str = "sotto_http_requests_total";
const HTTP_DURATION: &str = "sotto_http_request_duration_seconds";
const PROMPT_TOKENS: &str = "sotto_prompt_tokens_total";
const CACHED_TOKENS: &str = "sotto_prompt_cached_tokens_total";
const CACHE_LOOKUPS: &str = "sotto_prompt_cache_lookups_total";
const CACHED_CONVERSATIONS: &str = "sotto_prompt_cache_conversations";
const COMPLETION_TOKENS: &str = "sotto_completion_tokens_total";
const TIME_TO_FIRST_TOKEN: &str = "sotto_time_to_first_token_seconds";
const TOKENS_PER_SECOND: &str = "sotto_generation_tokens_per_second";
const CANCELLED: &str = "sotto_generations_cancelled_total";
const QUEUE_DEPTH: &str = "sotto_queue_depth";
const SLOTS_BUSY: &str = "sotto_slots_busy";
const SLOTS: &str = "sotto_slots";
const MODEL_LOADED: &str = "sotto_model_loaded";
const MODEL_LOADS: &str = "sotto_model_loads_total";
const MODEL_UNLOADS: &str = "sotto_model_unloads_total";
const MODEL_LOAD_DURATION: &str = "sotto_model_load_duration_seconds";

/// Every series with its help text (the README's table says the same).
const DESCRIPTIONS: &[(&str, &str)] = &[
    (HTTP_REQUESTS, "HTTP requests answered, by method, route template and status."),
    (HTTP_DURATION, "Time to the response head, by route template (a stream's length is in the generation series)."),
    (PROMPT_TOKENS, "Prompt tokens of generations that took a slot."),
    (CACHED_TOKENS, "Prompt tokens re-used from the prompt cache instead of being prefilled."),
    (CACHE_LOOKUPS, "Generations that found a cached prefix (hit) or none (miss)."),
    (CACHED_CONVERSATIONS, "Finished conversations kept for their next turn, in idle slots or in RAM."),
    (COMPLETION_TOKENS, "Tokens generated."),
    (TIME_TO_FIRST_TOKEN, "Time from the engine accepting a generation (queueing included) to its first token."),
    (TOKENS_PER_SECOND, "Each finished generation's tokens per second after its first token."),
    (CANCELLED, "Generations stopped because their client went away."),
    (QUEUE_DEPTH, "Requests waiting for a free slot."),
    (SLOTS_BUSY, "Slots generating or prefilling."),
    (SLOTS, "Slots (--parallel) of a loaded model."),
    (MODEL_LOADED, "1 while the model is loaded, else 0."),
    (MODEL_LOADS, "Model loads, by result (success or failure)."),
    (MODEL_UNLOADS, "Models unloaded."),
    (MODEL_LOAD_DURATION, "Time to load a model and start its engine."),
];

const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
const FIRST_TOKEN_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const RATE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
const LOAD_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// One app's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

/// What a model's gauges show at a scrape.
pub struct ModelGauges {
    pub id: String,
    /// `None` while the model is not loaded.
    pub engine: Option<EngineGauges>,
}

/// A loaded model's engine, as it reports itself now.
pub struct EngineGauges {
    pub slots: u32,
    pub busy: usize,
    pub waiting: usize,
    pub cached_conversations: usize,
}

/// One model's engine series, registered once when its engine starts.
#[derive(Clone, Debug)]
pub struct ModelMetrics {
    pub prompt_tokens: Counter,
    pub cached_tokens: Counter,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub completion_tokens: Counter,
    pub time_to_first_token: Histogram,
    pub tokens_per_second: Histogram,
    pub cancelled: Counter,
}

/// Records nowhere: what an engine's counters start from before it gets its series.
impl Default for ModelMetrics {
    fn default() -> Self {
        Self {
            prompt_tokens: Counter::noop(),
            cached_tokens: Counter::noop(),
            cache_hits: Counter::noop(),
            cache_misses: Counter::noop(),
            completion_tokens: Counter::noop(),
            time_to_first_token: Histogram::noop(),
            tokens_per_second: Histogram::noop(),
            cancelled: Counter::noop(),
        }
    }
}

impl ModelMetrics {
    /// A request took a slot: its prompt (once for all its `n` choices), and how much of it
    /// the prompt cache held.
    pub fn admitted(&self, prompt: usize, reused: usize) {
        self.prompt_tokens.increment(prompt as u64);
        self.cached_tokens.increment(reused as u64);
        let lookup = if reused > 0 {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        lookup.increment(1);
    }

    /// A sampling step of one sequence: how long it waited for this token if it is its first,
    /// and how many tokens it added (0 for the end-of-generation token).
    pub fn sampled(&self, first_token_after: Option<Duration>, tokens: u32) {
        if let Some(waited) = first_token_after {
            self.time_to_first_token.record(waited);
        }
        self.completion_tokens.increment(u64::from(tokens));
    }

    /// A sequence finished, having streamed at this many tokens per second (if measurable).
    pub fn finished(&self, tokens_per_second: Option<f64>) {
        if let Some(rate) = tokens_per_second {
            self.tokens_per_second.record(rate);
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in [
            (HTTP_DURATION, DURATION_BUCKETS),
            (TIME_TO_FIRST_TOKEN, FIRST_TOKEN_BUCKETS),
            (TOKENS_PER_SECOND, RATE_BUCKETS),
            (MODEL_LOAD_DURATION, LOAD_BUCKETS),
        ] {
            // Only an empty list is refused, and none of these is empty; without buckets a
            // series would be rendered as a summary instead of a histogram.
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.into()), buckets)
                .expect("non-empty buckets");
        }
        let recorder = builder.build_recorder();
        for (name, help) in DESCRIPTIONS {
            // Every kind's description lands in the same table; the kind does not matter.
            recorder.describe_counter(KeyName::from_const_str(name), None, (*help).into());
        }
        let handle = recorder.handle();
        Self {
            recorder: Arc::new(recorder),
            handle,
        }
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    /// The series of model `id`'s engine. `id` must be a model of the models folder.
    pub fn model(&self, id: &str) -> ModelMetrics {
        let model = || vec![model_label(id)];
        let lookup = |result: &'static str| {
            vec![model_label(id), Label::from_static_parts("result", result)]
        };
        ModelMetrics {
            prompt_tokens: self.counter(PROMPT_TOKENS, model()),
            cached_tokens: self.counter(CACHED_TOKENS, model()),
            cache_hits: self.counter(CACHE_LOOKUPS, lookup("hit")),
            cache_misses: self.counter(CACHE_LOOKUPS, lookup("miss")),
            completion_tokens: self.counter(COMPLETION_TOKENS, model()),
            time_to_first_token: self.histogram(TIME_TO_FIRST_TOKEN, model()),
            tokens_per_second: self.histogram(TOKENS_PER_SECOND, model()),
            cancelled: self.counter(CANCELLED, model()),
        }
    }

    /// Model `id` (of the models folder) is loaded and its engine runs.
    pub fn model_loaded(&self, id: &str, took: Duration) {
        let success = vec![
            model_label(id),
            Label::from_static_parts("result", "success"),
        ];
        self.counter(MODEL_LOADS, success).increment(1);
        self.histogram(MODEL_LOAD_DURATION, vec![model_label(id)])
            .record(took);
        // Registering shows it at 0 from the first load: a rate over it has a start.
        let _ = self.counter(MODEL_UNLOADS, vec![model_label(id)]);
    }

    pub fn model_load_failed(&self, id: &str) {
        let failure = vec![
            model_label(id),
            Label::from_static_parts("result", "failure"),
        ];
        self.counter(MODEL_LOADS, failure).increment(1);
    }

    pub fn model_unloaded(&self, id: &str) {
        self.counter(MODEL_UNLOADS, vec![model_label(id)])
            .increment(1);
    }

    /// One answered request. `route` is a route template or [`http::UNMATCHED`].
    fn http_request(&self, method: &'static str, route: String, status: u16, took: Duration) {
        let route = Label::new("route", route);
        let labels = vec![
            Label::from_static_parts("method", method),
            route.clone(),
            Label::new("status", status.to_string()),
        ];
        self.counter(HTTP_REQUESTS, labels).increment(1);
        self.histogram(HTTP_DURATION, vec![route]).record(took);
    }

    /// The exposition text, with the models' gauges as they are now: reading the engines at
    /// a scrape costs nothing between scrapes, where updating gauges as they change would
    /// cost the engine thread a write at every step. The caller passes every model of the
    /// folder (0 while not loaded), so a model that was unloaded does not keep its last values.
    pub fn render(&self, models: &[ModelGauges]) -> String {
        for model in models {
            let engine = model.engine.as_ref();
            let set = |name: &'static str, value: usize| {
                self.gauge(name, vec![model_label(&model.id)])
                    .set(value as f64);
            };
            set(MODEL_LOADED, usize::from(engine.is_some()));
            set(SLOTS, engine.map_or(0, |engine| engine.slots as usize));
            set(SLOTS_BUSY, engine.map_or(0, |engine| engine.busy));
            set(QUEUE_DEPTH, engine.map_or(0, |engine| engine.waiting));
            set(
                CACHED_CONVERSATIONS,
                engine.map_or(0, |engine| engine.cached_conversations),
            );
        }
        self.handle.render()
    }

    /// Moves histogram samples recorded since the last scrape into their buckets, so that a
    /// server nobody scrapes does not keep every sample.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn model_label(id: &str) -> Label {
    Label::new("model", id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauges(id: &str, busy: Option<usize>) -> ModelGauges {
        ModelGauges {
            id: id.to_owned(),
            engine: busy.map(|busy| EngineGauges {
                slots: 4,
                busy,
                waiting: 0,
                cached_conversations: 0,
            }),
        }
    }

    #[test]
    fn each_app_counts_only_its_own_requests() {
        let (one, other) = (Metrics::new(), Metrics::new());
        one.http_request("GET", "/healthz".into(), 200, Duration::from_millis(1));
        let counted = r#"sotto_http_requests_total{method="GET",route="/healthz",status="200"} 1"#;
        assert!(one.render(&[]).contains(counted));
        assert!(!other.render(&[]).contains("sotto_http_requests_total"));
    }

    #[test]
    fn a_model_no_longer_loaded_shows_zeros_not_its_last_values() {
        let metrics = Metrics::new();
        let loaded = metrics.render(&[gauges("m", Some(3))]);
        assert!(
            loaded.contains(r#"sotto_slots_busy{model="m"} 3"#),
            "{loaded}"
        );
        assert!(
            loaded.contains(r#"sotto_model_loaded{model="m"} 1"#),
            "{loaded}"
        );
        let unloaded = metrics.render(&[gauges("m", None)]);
        assert!(
            unloaded.contains(r#"sotto_slots_busy{model="m"} 0"#),
            "{unloaded}"
        );
        assert!(
            unloaded.contains(r#"sotto_model_loaded{model="m"} 0"#),
            "{unloaded}"
        );
    }

    #[test]
    fn histograms_have_buckets_and_help() {
        let metrics = Metrics::new();
        metrics.model("m").time_to_first_token.record(0.2);
        let text = metrics.render(&[]);
        let bucket = r#"sotto_time_to_first_token_seconds_bucket{model="m",le="0.25"} 1"#;
        assert!(text.contains(bucket), "{text}");
        assert!(text.contains("# TYPE sotto_time_to_first_token_seconds histogram"));
        assert!(text.contains("# HELP sotto_time_to_first_token_seconds Time from"));
    }
}
