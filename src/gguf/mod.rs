//! What sotto reads of GGUF files without llama.cpp: the header's metadata (for
//! `sotto models list`) and the names of split models' parts.

mod header;
pub mod split;
#[cfg(test)]
mod tests;

pub use header::read_file;

/// The keys of a GGUF header that a model listing shows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub architecture: Option<String>,
    pub name: Option<String>,
    /// llama.cpp's `llama_ftype`: the quantisation most tensors have.
    pub file_type: Option<u32>,
    /// `{architecture}.context_length`: the context the model was trained for.
    pub context_length: Option<u64>,
    pub chat_template: Option<String>,
    /// `split.count`: how many files a split model has (in its first part).
    pub split_count: Option<u16>,
}

impl Metadata {
    /// The quantisation's name as llama.cpp's tools spell it (`Q4_K_M`).
    pub fn quantisation(&self) -> Option<&'static str> {
        file_type_name(self.file_type?)
    }
}

/// llama.cpp's `llama_ftype` values (include/llama.h) by name.
fn file_type_name(file_type: u32) -> Option<&'static str> {
    const NAMES: &[(u32, &str)] = &[
        (0, "F32"),
        (1, "F16"),
        (2, "Q4_0"),
        (3, "Q4_1"),
        (7, "Q8_0"),
        (8, "Q5_0"),
        (9, "Q5_1"),
        (10, "Q2_K"),
        (11, "Q3_K_S"),
        (12, "Q3_K_M"),
        (13, "Q3_K_L"),
        (14, "Q4_K_S"),
        (15, "Q4_K_M"),
        (16, "Q5_K_S"),
        (17, "Q5_K_M"),
        (18, "Q6_K"),
        (19, "IQ2_XXS"),
        (20, "IQ2_XS"),
        (21, "Q2_K_S"),
        (22, "IQ3_XS"),
        (23, "IQ3_XXS"),
        (24, "IQ1_S"),
        (25, "IQ4_NL"),
        (26, "IQ3_S"),
        (27, "IQ3_M"),
        (28, "IQ2_S"),
        (29, "IQ2_M"),
        (30, "IQ4_XS"),
        (31, "IQ1_M"),
        (32, "BF16"),
        (36, "TQ1_0"),
        (37, "TQ2_0"),
        (38, "MXFP4_MOE"),
        (39, "NVFP4"),
        (40, "Q1_0"),
        (41, "Q2_0"),
    ];
    NAMES
        .iter()
        .find(|(value, _)| *value == file_type)
        .map(|(_, name)| *name)
}
