//! The prompt of a reply: a system prompt, the gathered sources numbered `[1]…[n]`, as many of
//! the tab's latest messages as fit the budget (newest first), then the message answered.
//!
//! The budget is `LLM_CONTEXT_TOKENS − LLM_MAX_OUTPUT_TOKENS` in the token estimate of
//! [`super::llm::tokens`] (which errs high, so a prompt that fits the estimate fits the model).
//! The message answered and the system prompt always go in; sources come before history because
//! they are what the answer is grounded on; a source or message that does not fit is left out
//! whole (never cut mid-text), and the history stops at the first message that does not fit, so
//! what the model sees is the most recent stretch of the conversation without holes.

use super::llm::tokens::estimate_prompt_tokens;
use super::llm::{ChatMessage, Role as LlmRole};
use crate::chat::{Message, Role};

/// What the model is told before anything else.
pub const SYSTEM_PROMPT: &str = "You are edge-assistant, a helpful, precise assistant. Answer \
in the language of the user's message. When numbered sources are given, ground your answer in \
them and cite each one you use as [n]; say so when they do not answer the question. Do not \
invent sources.";

/// A source gathered for the reply, numbered from 1 in the prompt and in the citations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptSource {
    pub title: String,
    /// Where it is (a URL, `tab seq`, `path:line`).
    pub locator: String,
    pub text: String,
}

/// A built prompt and its estimated size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub messages: Vec<ChatMessage>,
    pub estimated_tokens: u64,
    /// How many of the sources made it in (the first ones).
    pub sources_used: usize,
    /// How many history messages made it in.
    pub history_used: usize,
}

fn llm_role(role: Role) -> LlmRole {
    match role {
        Role::User | Role::Tool => LlmRole::User,
        Role::Assistant => LlmRole::Assistant,
        Role::System => LlmRole::System,
    }
}

fn cost(messages: &[ChatMessage]) -> u64 {
    estimate_prompt_tokens(messages.iter().map(|m| m.content.as_str()))
}

/// Builds the prompt for `question` given the earlier messages of the tab (`history`, oldest
/// first), the `sources` and an unnumbered `note` (computed context, such as a rollout summary;
/// it goes in only if it fits), within `budget_tokens`.
pub fn build_prompt(
    question: &Message,
    history: &[Message],
    sources: &[PromptSource],
    note: Option<&str>,
    budget_tokens: u64,
) -> Prompt {
    let system = ChatMessage::new(LlmRole::System, SYSTEM_PROMPT);
    let asked = ChatMessage::new(LlmRole::User, question.content.clone());
    let mut used = cost(&[system.clone(), asked.clone()]);
    let note = note
        .map(|text| ChatMessage::new(LlmRole::System, text))
        .filter(|note| {
            let extra = cost(std::slice::from_ref(note));
            let fits = used + extra <= budget_tokens;
            if fits {
                used += extra;
            }
            fits
        });

    let mut source_block = String::new();
    let mut sources_used = 0;
    for (i, source) in sources.iter().enumerate() {
        let entry = format!(
            "[{}] {} ({})\n{}\n\n",
            i + 1,
            source.title,
            source.locator,
            source.text
        );
        let extra = estimate_prompt_tokens([entry.as_str()]);
        if used + extra > budget_tokens {
            break;
        }
        used += extra;
        source_block.push_str(&entry);
        sources_used += 1;
    }

    // Newest first until one does not fit; empty messages (a reply that failed before any
    // text) carry nothing.
    let mut kept = Vec::new();
    for message in history.iter().rev().filter(|m| !m.content.is_empty()) {
        let turn = ChatMessage::new(llm_role(message.role), message.content.clone());
        let extra = cost(std::slice::from_ref(&turn));
        if used + extra > budget_tokens {
            break;
        }
        used += extra;
        kept.push(turn);
    }
    let history_used = kept.len();

    let mut messages = vec![system];
    messages.extend(note);
    if sources_used > 0 {
        messages.push(ChatMessage::new(
            LlmRole::System,
            format!("Sources:\n\n{}", source_block.trim_end()),
        ));
    }
    messages.extend(kept.into_iter().rev());
    messages.push(asked);
    Prompt {
        estimated_tokens: cost(&messages),
        messages,
        sources_used,
        history_used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64, role: Role, content: &str) -> Message {
        Message {
            id: format!("m{seq}"),
            seq,
            role,
            content: content.into(),
            created_at: String::new(),
            client_id: None,
            reply_id: None,
            status: None,
        }
    }

    #[test]
    fn the_newest_history_that_fits_goes_in_without_holes() {
        let history: Vec<Message> = (1..=40)
            .map(|i| {
                let role = if i % 2 == 1 {
                    Role::User
                } else {
                    Role::Assistant
                };
                message(i, role, &format!("turn {i} {}", "word ".repeat(20)))
            })
            .collect();
        let question = message(41, Role::User, "and now?");
        let prompt = build_prompt(&question, &history, &[], None, 400);
        assert!(
            prompt.estimated_tokens <= 400,
            "{}",
            prompt.estimated_tokens
        );
        assert!(prompt.history_used > 0 && prompt.history_used < 40);
        let texts: Vec<&str> = prompt.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts[0], SYSTEM_PROMPT);
        assert_eq!(*texts.last().unwrap(), "and now?");
        // The kept turns are the last ones, in order.
        let first_kept = 41 - prompt.history_used as u64;
        assert!(
            texts[1].starts_with(&format!("turn {first_kept} ")),
            "{}",
            texts[1]
        );
        assert!(texts[texts.len() - 2].starts_with("turn 40 "));
    }

    #[test]
    fn sources_are_numbered_and_come_before_history() {
        let sources = vec![
            PromptSource {
                title: "Rayleigh".into(),
                locator: "https://example.com/r".into(),
                text: "short waves scatter more".into(),
            },
            PromptSource {
                title: "Too big".into(),
                locator: "x".into(),
                text: "w ".repeat(10_000),
            },
        ];
        let question = message(3, Role::User, "why is the sky blue?");
        let history = vec![
            message(1, Role::User, "hi"),
            message(2, Role::Assistant, "hello"),
        ];
        let prompt = build_prompt(&question, &history, &sources, Some("a note"), 1_000);
        assert_eq!(
            prompt.sources_used, 1,
            "the source that does not fit is left out whole"
        );
        assert_eq!(prompt.messages[1].content, "a note");
        assert!(prompt.messages[2]
            .content
            .contains("[1] Rayleigh (https://example.com/r)"));
        assert!(!prompt.messages[2].content.contains("[2]"));
        assert_eq!(prompt.history_used, 2);
    }

    #[test]
    fn the_question_always_goes_in() {
        let question = message(1, Role::User, &"long ".repeat(5_000));
        let prompt = build_prompt(&question, &[], &[], Some("a note that does not fit"), 10);
        assert_eq!(prompt.messages.len(), 2);
    }
}
