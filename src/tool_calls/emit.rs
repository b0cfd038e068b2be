//! Where the format parsers put what they find: adjacent text is merged, and a call is emitted
//! only if it was offered and its arguments pass the validator.

use super::json::Call;
use super::{Delta, Validator};

pub(super) struct Emitter {
    offered: Vec<String>,
    validator: Validator,
    next_index: usize,
    pub(super) deltas: Vec<Delta>,
}

impl Emitter {
    pub(super) fn new(offered: Vec<String>, validator: Validator) -> Self {
        Self {
            offered,
            validator,
            next_index: 0,
            deltas: Vec::new(),
        }
    }

    pub(super) fn content(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Delta::Content(last)) = self.deltas.last_mut() {
            last.push_str(text);
        } else {
            self.deltas.push(Delta::Content(text.to_owned()));
        }
    }

    pub(super) fn reasoning(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Delta::Reasoning(last)) = self.deltas.last_mut() {
            last.push_str(text);
        } else {
            self.deltas.push(Delta::Reasoning(text.to_owned()));
        }
    }

    /// Whether `call` was offered and its arguments pass the validator.
    pub(super) fn accepts(&self, call: &Call) -> bool {
        self.offered.contains(&call.name) && (self.validator)(&call.name, &call.arguments)
    }

    /// Emits every call of a list, or if any is not acceptable, `raw` as content: a list is
    /// answered whole or not at all. Returns whether calls were emitted.
    pub(super) fn calls_or_content(&mut self, calls: Option<Vec<Call>>, raw: &str) -> bool {
        match calls {
            Some(calls) if !calls.is_empty() && calls.iter().all(|call| self.accepts(call)) => {
                for call in calls {
                    self.emit(call);
                }
                true
            }
            _ => {
                self.content(raw);
                false
            }
        }
    }

    /// Emits `call` if the client may receive it, else `raw` (the text the model wrote for it)
    /// as content. Returns whether a call was emitted.
    pub(super) fn call_or_content(&mut self, call: Option<Call>, raw: &str) -> bool {
        match call {
            Some(call) if self.accepts(&call) => {
                self.emit(call);
                true
            }
            _ => {
                self.content(raw);
                false
            }
        }
    }

    fn emit(&mut self, call: Call) {
        let index = self.next_index;
        self.next_index += 1;
        self.deltas.push(Delta::CallStart {
            index,
            name: call.name,
        });
        self.deltas.push(Delta::CallArguments {
            index,
            fragment: call.arguments,
        });
    }

    pub(super) fn take(&mut self) -> Vec<Delta> {
        std::mem::take(&mut self.deltas)
    }
}

/// A tool-call format's parser of the answer text. Each gets the answer in pieces as generated
/// and must give the same result however it is split.
pub(super) trait Extract: Send {
    fn push(&mut self, text: &str, out: &mut Emitter);
    /// The answer ended: whatever is still open becomes content.
    fn finish(&mut self, out: &mut Emitter);
}
