//! The llama.cpp context behind the slots and the KV cell operations the scheduler needs:
//! one KV stream per slot, cells copied, saved to RAM and restored, trimmed or freed by slot.

use std::num::NonZeroU32;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::session::{LlamaStateSeqFlags, SeqState};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;

use super::EngineConfig;

/// Most tokens one decode step takes: the context's batch size.
pub(super) const BATCH_TOKENS: u32 = 512;

pub(super) fn create_context(
    model: &LlamaModel,
    config: EngineConfig,
) -> Result<LlamaContext<'_>, String> {
    let backend = super::backend().map_err(|e| e.to_string())?;
    let threads = i32::try_from(config.threads).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(
            config.ctx_per_slot.saturating_mul(config.parallel),
        ))
        .with_n_batch(BATCH_TOKENS.max(config.parallel))
        .with_n_ubatch(BATCH_TOKENS.max(config.parallel))
        .with_n_seq_max(config.parallel)
        // One KV stream per sequence: each slot owns exactly `ctx_per_slot` cells.
        .with_kv_unified(false)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_flash_attention_policy(match config.flash_attn {
            None => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
            Some(true) => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
            Some(false) => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        })
        .with_type_k(config.cache_type_k)
        .with_type_v(config.cache_type_v);
    model
        .new_context(backend, params)
        .map_err(|e| format!("creating the llama.cpp context: {e}"))
}

/// The shortest shared prefix worth copying between slots. llama.cpp copies a slot's whole
/// KV stream (`slot_context` cells), so a short prefix is cheaper to prefill again. A prompt
/// token costs about 2 FLOPs per weight, a copied cell its bytes; taking the CPU's compute
/// as ~10 times its copy bandwidth (FLOP/s over B/s), copying wins above this many tokens.
pub(super) fn min_copy_tokens(
    model: &LlamaModel,
    config: EngineConfig,
    slot_context: u32,
) -> usize {
    const MIN_TOKENS: usize = 16;
    let stream_bytes = kv_bytes_per_token(model, config) * u64::from(slot_context);
    let break_even = stream_bytes.saturating_mul(5) / model.n_params().max(1);
    usize::try_from(break_even).map_or(usize::MAX, |tokens| tokens.max(MIN_TOKENS))
}

/// Positions a sliding-window model attends back to (0: the whole context), from the GGUF
/// metadata llama.cpp itself reads.
pub(super) fn sliding_window(model: &LlamaModel) -> usize {
    let window = model
        .meta_val_str("general.architecture")
        .and_then(|arch| model.meta_val_str(&format!("{arch}.attention.sliding_window")));
    window.ok().and_then(|w| w.parse().ok()).unwrap_or(0)
}

/// KV cache bytes one token takes (its keys and values in every layer, in the cache's
/// types), from the GGUF's attention sizes.
pub fn kv_bytes_per_token(model: &LlamaModel, config: EngineConfig) -> u64 {
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_default();
    let head_size = |key: &str| {
        model
            .meta_val_str(&format!("{arch}.attention.{key}"))
            .ok()
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or_else(|| {
                u64::from(model.n_embd().unsigned_abs()) / u64::from(model.n_head().max(1))
            })
    };
    let elements =
        |key: &str| u64::from(model.n_layer()) * u64::from(model.n_head_kv()) * head_size(key);
    bytes_of(elements("key_length"), config.cache_type_k)
        + bytes_of(elements("value_length"), config.cache_type_v)
}

/// Bytes `elements` values take in a cache of `kind`: llama.cpp's quantized types store
/// blocks of 32 values (q8_0: 32 bytes and a 16-bit scale; q4_0: 16 bytes and a scale).
fn bytes_of(elements: u64, kind: KvCacheType) -> u64 {
    let (block_bytes, block_values) = match kind {
        KvCacheType::F32 => (4, 1),
        KvCacheType::Q8_0 => (34, 32),
        KvCacheType::Q4_0 => (18, 32),
        _ => (2, 1),
    };
    elements.div_ceil(block_values) * block_bytes
}

/// Copies all of `source`'s cells into `seq_id` (which `trim_cells` then cuts to the shared
/// prefix); returns the tokens re-used, 0 if the copy failed. llama.cpp copies whole KV
/// streams between sequences, at the next decode.
pub(super) fn copy_cells(
    context: &mut LlamaContext,
    source: usize,
    seq_id: i32,
    reuse: usize,
) -> usize {
    let source = i32::try_from(source).unwrap_or(i32::MAX);
    match context.copy_kv_cache_seq(source, seq_id, None, None) {
        Ok(()) => reuse,
        Err(error) => {
            tracing::error!(%error, seq = seq_id, "copying KV cells failed");
            0
        }
    }
}

/// A copy of `seq_id`'s cells, in RAM (llama.cpp copies only the cells the sequence holds).
pub(super) fn save_cells(context: &LlamaContext, seq_id: i32) -> Option<SeqState> {
    match context.state_seq_get(seq_id, LlamaStateSeqFlags::empty()) {
        Ok(state) => Some(state),
        Err(error) => {
            tracing::error!(%error, seq = seq_id, "saving KV cells failed");
            None
        }
    }
}

/// Puts cells `save_cells` copied into `seq_id`, replacing what it held; returns the tokens
/// re-used, 0 if that failed (llama.cpp then leaves the sequence empty).
pub(super) fn restore_cells(
    context: &mut LlamaContext,
    state: &SeqState,
    seq_id: i32,
    reuse: usize,
) -> usize {
    match context.state_seq_set(state, seq_id) {
        Ok(()) => reuse,
        Err(error) => {
            tracing::error!(%error, seq = seq_id, "restoring KV cells failed");
            clear_cells(context, seq_id);
            0
        }
    }
}

/// Whether the cells of positions a continuation at `reuse` attends to are all there: with a
/// sliding window, llama.cpp drops cells older than the window, which a prefix cut shorter
/// than the conversation that filled the slot may need again.
pub(super) fn prefix_intact(
    context: &LlamaContext,
    seq_id: i32,
    reuse: usize,
    window: usize,
) -> bool {
    let needed_from = if window > 0 {
        reuse.saturating_sub(window)
    } else {
        0
    };
    let (first, last) = (
        context.kv_cache_seq_pos_min(seq_id),
        context.kv_cache_seq_pos_max(seq_id),
    );
    let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last)) else {
        return false;
    };
    first <= needed_from && last + 1 >= reuse
}

pub(super) fn clear_slots(context: &mut LlamaContext, slots: &[usize]) {
    for &slot in slots {
        clear_cells(context, i32::try_from(slot).unwrap_or(i32::MAX));
    }
}

pub(super) fn clear_cells(context: &mut LlamaContext, seq_id: i32) {
    let id = u32::try_from(seq_id).ok();
    if let Err(error) = context.clear_kv_cache_seq(id, None, None) {
        tracing::error!(%error, seq = seq_id, "freeing KV cells failed");
    }
}

/// Keeps the first `keep` cells of a sequence; false if the cache cannot do that.
pub(super) fn trim_cells(context: &mut LlamaContext, seq_id: i32, keep: usize) -> bool {
    let trimmed = u32::try_from(seq_id)
        .ok()
        .zip(u32::try_from(keep).ok())
        .is_some_and(|(id, keep)| {
            context
                .clear_kv_cache_seq(Some(id), Some(keep), None)
                .unwrap_or(false)
        });
    if !trimmed {
        clear_cells(context, seq_id);
    }
    trimmed
}
