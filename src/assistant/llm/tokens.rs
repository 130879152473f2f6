//! A cheap, documented token estimate, for fitting the prompt into `LLM_CONTEXT_TOKENS`, for the
//! output cap, and for usage when the upstream reports none.
//!
//! The rule: **every 3.5 ASCII bytes count one token (rounded up), and every non-ASCII
//! character counts one token**, plus [`MESSAGE_OVERHEAD_TOKENS`] per chat message and
//! [`REPLY_PRIMING_TOKENS`] per request. Why this shape: BPE tokenizers (GPT's cl100k/o200k,
//! Llama 3's) average about 4 bytes per token on English prose and 3–3.5 on code, so 3.5 leans
//! high for prose and is close for code; CJK text is about one token per character, and other
//! scripts are fewer, so one per non-ASCII character errs high there. Erring high is the safe
//! side for fitting a prompt (an overfull prompt is a 400 from the upstream) and costs at most an
//! overcount in usage when the upstream sends no `usage` (most do, with `include_usage`).
//!
//! The estimate counts bytes without decoding: a byte below 0x80 is ASCII, and a non-ASCII
//! character is counted at its leading byte (any byte that is not `0b10xx_xxxx`), so
//! [`TokenCounter`] can be fed text in pieces.

/// Tokens a chat message costs beyond its content (role and separators in chat templates).
pub const MESSAGE_OVERHEAD_TOKENS: u64 = 4;
/// Tokens a request costs beyond its messages (the template's priming of the reply).
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// The estimated tokens of `text`.
pub fn estimate_tokens(text: &str) -> u64 {
    let mut counter = TokenCounter::default();
    counter.add(text);
    counter.tokens()
}

/// The estimated prompt tokens of a request with these message contents.
pub fn estimate_prompt_tokens<'a>(contents: impl IntoIterator<Item = &'a str>) -> u64 {
    contents
        .into_iter()
        .map(|c| estimate_tokens(c) + MESSAGE_OVERHEAD_TOKENS)
        .sum::<u64>()
        + REPLY_PRIMING_TOKENS
}

/// The estimate over text that arrives in pieces (the streamed deltas); the same as
/// [`estimate_tokens`] of the concatenation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounter {
    ascii_bytes: u64,
    other_chars: u64,
    bytes: u64,
}

impl TokenCounter {
    /// Counts `text`.
    pub fn add(&mut self, text: &str) {
        for &b in text.as_bytes() {
            if b < 0x80 {
                self.ascii_bytes += 1;
            } else if b & 0xC0 != 0x80 {
                self.other_chars += 1;
            }
        }
        self.bytes += text.len() as u64;
    }

    /// The estimated tokens so far.
    pub fn tokens(&self) -> u64 {
        // ceil(ascii / 3.5) = ceil(2 * ascii / 7)
        (2 * self.ascii_bytes).div_ceil(7) + self.other_chars
    }

    /// The UTF-8 bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_rule() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abc"), 1);
        assert_eq!(estimate_tokens("abcd"), 2); // 4 / 3.5 rounds up
        assert_eq!(estimate_tokens(&"x".repeat(7)), 2);
        assert_eq!(estimate_tokens(&"x".repeat(700)), 200);
        assert_eq!(estimate_tokens("\u{4e16}\u{754c}"), 2); // two CJK characters
        assert_eq!(estimate_tokens("caf\u{e9}"), 2); // 3 ASCII bytes (1) + é (1)
        assert_eq!(estimate_tokens("\u{1F600}"), 1);
        assert_eq!(estimate_prompt_tokens(["hi", "there"]), 1 + 4 + 2 + 4 + 3);
        assert_eq!(estimate_prompt_tokens([]), 3);
    }

    #[test]
    fn pieces_count_as_the_whole() {
        let text = "Hello, w\u{f6}rld! \u{4e16}\u{754c} \u{1F600} code: fn main() {}";
        let mut counter = TokenCounter::default();
        for (i, c) in text.char_indices() {
            counter.add(&text[i..i + c.len_utf8()]);
        }
        assert_eq!(counter.tokens(), estimate_tokens(text));
        assert_eq!(counter.bytes(), text.len() as u64);
    }

    #[test]
    fn english_prose_lands_near_four_bytes_per_token() {
        // A sentence GPT-4's tokenizer splits into 20 tokens: the estimate errs high, not wildly.
        let text = "The quick brown fox jumps over the lazy dog, and then it runs back home again.";
        let estimate = estimate_tokens(text);
        assert!((18..=26).contains(&estimate), "{estimate}");
    }
}
