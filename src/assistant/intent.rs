//! Intent routing: which source, if any, a user message needs before the model answers it —
//! `web` (current or outside information), `history` (the user's earlier conversations), `code`
//! (the user's workspace), `rollout` (run CartPole) — or none, `chat`. Deterministic and local:
//! no model or upstream call, a few µs per message (`benches/intent.rs`), so every reply can
//! afford it and the same message always routes the same way.
//!
//! # How a message is scored
//!
//! 1. **Normalisation.** The text is split on whitespace into chunks. Chunks inside a fenced code
//!    block (```` ``` ````) are skipped: pasted code is what the user asks *about*, not a request
//!    for a source, and its identifiers would otherwise look like workspace references. Each chunk
//!    is split into words of letters, digits and `_`; apostrophes (`'`, `’`) inside a word are
//!    dropped (`what's` → `whats`, `sister's` → `sisters`); letters are lowercased (ASCII in place,
//!    other letters with Unicode lowercasing). Words longer than 32 bytes match nothing.
//! 2. **Lexicon.** [`TERMS`] maps words and phrases of two or three words to a weight per label
//!    (`web`, `history`, `code`, `rollout`); weights may be negative (`explain` lowers `rollout`
//!    and `web`: explaining CartPole or a search algorithm is general knowledge). A word not in the
//!    lexicon is tried once more without a final `s` (the only stemming: plurals and `'s`).
//!    Phrases are matched on consecutive words, punctuation between them ignored. Each term counts
//!    once per message however often it occurs, so a long message cannot pile up one word.
//! 3. **Shapes.** Chunk shapes that mean code in a workspace, outside fences: a file name with a
//!    source extension (`utils.py`, `package.json`; `node.js`-style product names excepted), a path
//!    (`src/…`, `./…`, or a `/` with such a file), a `snake_case` identifier, a `CamelCase`
//!    identifier (not in the lexicon), an inline `` `span` ``. They are lexicon terms too
//!    (`<file>`, `<path>`, `<snake_case>`, `<CamelCase>`, `<inline code>`), each counted once.
//! 4. **Scores.** Per label, `raw` = the sum of the matched weights, then
//!    `score = 1 − exp(−max(raw, 0) / d)`, with `d = max(1, √(words / 24))` damping messages longer
//!    than 24 words (a 96-word message needs twice the evidence). Scores lie in `[0, 1)`, are
//!    rounded to 3 decimals, and one strong term (weight ≈ 1.2) alone gives ≈ 0.7.
//! 5. **Decision.** The label with the highest score wins if that score is at least
//!    [`THRESHOLD`]; otherwise `chat`. Ties go to `history`, `code`, `rollout`, then `web`, so a
//!    tie never triggers a web search ("search only when needed").
//! 6. **Veto.** A message of at most 12 words that are all greetings, thanks or filler
//!    ([`SMALL_TALK`]: "hi", "thanks!", "how are you today?", "good night") is `chat` whatever its
//!    scores, and lists `<small talk>` in `matched`. A message with no words at all (only
//!    punctuation or a code block) is `chat`.
//!
//! `matched` lists the lexicon terms and shapes found, in order of first appearance (at most 16),
//! so a caller can see why a message routed the way it did.
//!
//! The original Python assistant counted 26 keywords over the message length against a 0.03
//! threshold. This router replaces that with about 300 weighted words and phrases over four
//! labels (phrases tell "what did **I say**" from "say"), negative evidence and shapes; its precision and recall
//! on the labelled set `tests/data/intent/labelled.jsonl` are printed by `tests/intent_eval.rs`.
//!
//! [`sources_for`] turns a label and a reply's `search` override (`auto`, `always`, `never`) into
//! the sources to consult.

use std::sync::OnceLock;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::api::{parse_json_object, ErrorCode, HasErrorCode, InputError};

/// The lowest winning score that routes to a source; below it the message is `chat`. A score of
/// 0.55 needs raw evidence of 0.8: one strong term, or two medium ones.
pub const THRESHOLD: f32 = 0.55;
/// Longest `text` of `POST /api/intent`, in Unicode scalar values.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Largest `POST /api/intent` body: 4000 chars written as JSON `\u` escapes take 12 bytes per
/// astral char (48,000 bytes); the margin keeps an over-long text a 400, not a 413.
pub const BODY_BYTES: usize = 64 * 1024;
/// Most entries in [`Intent::matched`].
pub const MAX_MATCHED: usize = 16;
/// Messages longer than this many words have their evidence damped (see the module docs).
const DAMPING_WORDS: f32 = 24.0;
/// Longest message the small-talk veto applies to, in words.
const VETO_MAX_WORDS: usize = 12;
/// Longest word the lexicon can match, in bytes after lowercasing.
const MAX_WORD_BYTES: usize = 32;

/// The one error type of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    /// A rejected request body or value; carries its own 400-class code and message.
    #[error(transparent)]
    Input(#[from] InputError),
}

impl HasErrorCode for IntentError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::Input(e) => e.code,
        }
    }
}

/// What a message needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Current or outside information: a web search.
    Web,
    /// The user's own earlier conversations: the BM25 history search.
    History,
    /// The code in the user's workspace: the code search.
    Code,
    /// Run or simulate CartPole: a rollout summary.
    Rollout,
    /// None of these: answer from the conversation alone.
    Chat,
}

impl Label {
    /// Every label, in the API's order.
    pub const ALL: [Label; 5] = [
        Label::Web,
        Label::History,
        Label::Code,
        Label::Rollout,
        Label::Chat,
    ];

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::History => "history",
            Self::Code => "code",
            Self::Rollout => "rollout",
            Self::Chat => "chat",
        }
    }

    /// The label spelled `name` in the API, if any.
    pub fn from_name(name: &str) -> Option<Label> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

/// Index of each scored label in weight arrays.
const WEB: usize = 0;
const HISTORY: usize = 1;
const CODE: usize = 2;
const ROLLOUT: usize = 3;

/// The scored labels by weight index.
const SCORED: [Label; 4] = [Label::Web, Label::History, Label::Code, Label::Rollout];
/// The order ties are broken in: web last, so a tie never costs a web search.
const TIE_ORDER: [usize; 4] = [HISTORY, CODE, ROLLOUT, WEB];

/// The score of each label that has a source, in `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Scores {
    pub web: f32,
    pub history: f32,
    pub code: f32,
    pub rollout: f32,
}

impl Scores {
    /// The score of `label` (`chat` has none: 0).
    pub fn get(&self, label: Label) -> f32 {
        match label {
            Label::Web => self.web,
            Label::History => self.history,
            Label::Code => self.code,
            Label::Rollout => self.rollout,
            Label::Chat => 0.0,
        }
    }

    fn from_array(s: [f32; 4]) -> Self {
        Self {
            web: s[WEB],
            history: s[HISTORY],
            code: s[CODE],
            rollout: s[ROLLOUT],
        }
    }
}

/// The terms a message matched, in order of first appearance; inline, so routing allocates
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    items: [&'static str; MAX_MATCHED],
    len: usize,
}

impl Matched {
    const EMPTY: Self = Self {
        items: [""; MAX_MATCHED],
        len: 0,
    };

    fn push(&mut self, term: &'static str) {
        if self.len < MAX_MATCHED {
            self.items[self.len] = term;
            self.len += 1;
        }
    }

    /// The matched terms.
    pub fn as_slice(&self) -> &[&'static str] {
        &self.items[..self.len]
    }
}

impl Serialize for Matched {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.as_slice())
    }
}

/// The routing of one message: the `POST /api/intent` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intent {
    /// The winning label, or `chat`.
    pub label: Label,
    /// Every scored label's score.
    pub scores: Scores,
    /// [`THRESHOLD`], so a client can see how close a message came.
    pub threshold: f32,
    /// The lexicon terms and shapes found.
    pub matched: Matched,
    /// Whether the small-talk veto decided the label.
    #[serde(skip)]
    pub small_talk: bool,
}

/// A lexicon entry: a word, a phrase of 2–3 words, or a `<shape>`, with its weight per label.
#[derive(Debug, Clone, Copy)]
pub struct Term {
    /// Lowercase words separated by single spaces, or a `<shape>` name.
    pub text: &'static str,
    /// Weights for `web`, `history`, `code`, `rollout`.
    pub weights: [f32; 4],
}

const fn web(text: &'static str, w: f32) -> Term {
    Term {
        text,
        weights: [w, 0.0, 0.0, 0.0],
    }
}

const fn hist(text: &'static str, w: f32) -> Term {
    Term {
        text,
        weights: [0.0, w, 0.0, 0.0],
    }
}

const fn code(text: &'static str, w: f32) -> Term {
    Term {
        text,
        weights: [0.0, 0.0, w, 0.0],
    }
}

const fn roll(text: &'static str, w: f32) -> Term {
    Term {
        text,
        weights: [0.0, 0.0, 0.0, w],
    }
}

const fn mix(text: &'static str, weights: [f32; 4]) -> Term {
    Term { text, weights }
}

/// Shape terms (see the module docs, step 3).
const SHAPE_FILE: &str = "<file>";
const SHAPE_PATH: &str = "<path>";
const SHAPE_SNAKE: &str = "<snake_case>";
const SHAPE_CAMEL: &str = "<CamelCase>";
const SHAPE_INLINE: &str = "<inline code>";
/// What `matched` shows for a vetoed message.
const SMALL_TALK_MARK: &str = "<small talk>";

/// The lexicon. Weights: about 1.2 for a term that settles the label alone ("weather",
/// "codebase", "cartpole"), 0.5–0.8 for one that needs company ("latest", "file", "steps"),
/// 0.2–0.4 for faint hints; negative for evidence against.
#[rustfmt::skip]
pub const TERMS: &[Term] = &[
    // web: current or outside information.
    web("weather", 1.2), web("wether", 1.0), web("wetter", 1.2), web("forecast", 1.2),
    web("rain", 0.8), web("snow", 0.6), web("heatwave", 1.0), web("temperature", 0.4),
    web("news", 1.0), web("headlines", 1.0), web("trending", 1.0), web("announced", 0.9),
    web("announce", 0.6), web("announcement", 0.8), web("nachrichten", 1.0), web("noticias", 1.0),
    web("price", 0.8), web("prices", 0.8), web("precio", 0.7), web("prix", 0.6),
    web("cost", 0.4), web("how much", 0.4), web("cheap", 0.5), web("cheapest", 0.6),
    web("stock", 0.4), web("stock price", 1.0), web("market cap", 1.0), web("markets", 0.8),
    web("bitcoin", 1.0), web("crypto", 0.7), web("exchange rate", 1.2), web("rates", 0.4),
    web("interest rate", 0.5), web("earnings", 1.0),
    web("search", 0.6), web("google", 1.2), web("googled", 1.0), web("bing", 1.0),
    web("look up", 1.2), web("lookup", 1.0), web("look it up", 1.2), web("web", 1.2),
    web("internet", 1.2), web("online", 1.0), web("browse", 1.0), web("recherche", 1.0),
    web("busca", 1.0), web("buscar", 1.0), web("website", 0.7),
    web("latest", 0.6), web("newest", 0.6), web("current", 0.6), web("currently", 0.6),
    web("today", 0.5), web("tonight", 0.4), web("tomorrow", 0.5), web("now", 0.3),
    web("right now", 0.8), web("nowadays", 0.6), web("recent", 0.6), web("recently", 0.5),
    web("this week", 0.7), web("this weekend", 0.7), web("this year", 0.6),
    web("this season", 0.7), web("last night", 0.8), web("heute", 0.5), web("aktuell", 0.6),
    web("released", 0.8), web("release", 0.6), web("release notes", 0.8),
    web("release date", 1.0), web("changelog", 0.8), web("version", 0.4), web("update", 0.3),
    web("updates", 0.5), web("launch", 0.7),
    web("election", 1.0), web("won", 0.6), web("who won", 1.0), web("winner", 0.6),
    web("score", 0.6), web("scorer", 0.8), web("standings", 1.0), web("ranking", 0.6),
    web("league", 0.4), web("playoffs", 0.8), web("game", 0.3),
    web("outage", 1.0), web("is down", 0.8), web("reddit", 0.8), web("reviews", 0.8),
    web("review", 0.4), web("flight", 0.6), web("hotel", 0.7), web("near me", 1.2),
    web("restaurants", 0.5), web("tickets", 0.6), web("opening hours", 1.2),
    web("cinemas", 0.8), web("showtimes", 1.0), web("strike", 0.6), web("traffic", 0.8),
    web("population", 0.6), web("prime minister", 0.8), web("president", 0.6),
    web("cve", 1.0), web("vulnerability", 0.6), web("docs", 0.4), web("link", 0.5),
    web("official", 0.5), web("papers", 0.6), web("benchmarks", 0.4), web("how old", 0.6),
    web("what time", 0.8), web("next", 0.3), web("any updates", 0.6),
    // Writing, explaining and teaching are answered from the model's own knowledge.
    mix("write", [-0.6, 0.0, 0.0, 0.0]), mix("draft", [-0.6, 0.0, 0.0, 0.0]),
    mix("rewrite", [-0.8, 0.0, 0.0, 0.0]), mix("translate", [-0.8, 0.0, 0.0, 0.0]),
    mix("proofread", [-1.0, 0.0, 0.0, 0.0]), mix("haiku", [-1.0, 0.0, 0.0, 0.0]),
    mix("poem", [-0.6, 0.0, 0.0, 0.0]), mix("story", [-0.5, 0.0, 0.0, 0.0]),
    mix("joke", [-0.8, 0.0, 0.0, 0.0]), mix("explain", [-0.6, 0.0, 0.0, -1.0]),
    mix("difference", [-0.5, 0.0, 0.0, -0.4]), mix("meaning", [-0.5, 0.0, 0.0, 0.0]),
    mix("algorithm", [-0.5, 0.0, 0.0, 0.0]), mix("what is", [0.0, 0.0, 0.0, -0.8]),
    mix("how does", [-0.3, 0.0, 0.0, -0.4]), mix("determined", [-0.5, 0.0, 0.0, 0.0]), mix("problem", [0.0, 0.0, 0.0, -0.5]),

    // history: the user's own earlier conversations.
    hist("conversation", 0.9), hist("conversations", 1.0), hist("chat", 0.5),
    hist("chats", 1.0), hist("discussion", 0.8), hist("discussed", 1.0), hist("discuss", 0.5),
    hist("talked", 0.8), hist("talk about", 0.6), hist("mentioned", 1.0), hist("mention", 0.6),
    hist("remind", 1.0), hist("recall", 0.8), hist("remember", 0.5), hist("earlier", 0.7),
    hist("previous", 0.8), hist("previously", 0.9), hist("before", 0.3), hist("ago", 0.5),
    hist("last time", 0.8), hist("history", 0.5), hist("messages", 0.6), hist("message", 0.4),
    hist("tab", 0.5), hist("which tab", 0.6), hist("the chat", 0.5),
    hist("my messages", 0.6), hist("old messages", 0.6), hist("again", 0.3), hist("once", 0.2), hist("together", 0.5),
    hist("yesterday", 0.4),
    hist("i said", 1.2), hist("did i", 1.0), hist("did we", 1.0), hist("did you", 0.6),
    hist("i told", 1.2), hist("told me", 0.6), hist("you told", 1.0), hist("i asked", 1.0),
    hist("i ask", 0.5), hist("i wrote", 1.0), hist("i gave", 1.0), hist("i pasted", 1.0),
    hist("i described", 1.0), hist("we decided", 1.2), hist("we said", 1.0),
    hist("we say", 0.6), hist("we wrote", 1.0), hist("we made", 0.8), hist("we planned", 1.0),
    hist("we brainstormed", 1.2), hist("we conclude", 0.8), hist("we figure", 0.8),
    hist("you recommended", 1.2), hist("you suggested", 1.2), hist("you gave", 1.0),
    hist("you answer", 0.8), hist("my answer", 0.6), hist("dig up", 0.8), hist("pull up", 0.8),
    hist("bring up", 0.8), hist("go back", 0.6), hist("look back", 0.8),
    hist("retrouve", 0.6), hist("parlait", 0.6),
    // "the history of Rome" is general knowledge.
    mix("history of", [-0.6, -1.2, 0.0, 0.0]),

    // code: the user's workspace.
    code("repo", 1.2), code("repository", 1.2), code("codebase", 1.4), code("workspace", 1.2),
    code("my code", 1.2), code("our code", 1.2), code("the code", 0.6), code("my project", 1.0),
    code("this project", 1.0), code("the project", 0.6), code("our project", 1.0),
    code("my crate", 1.0), code("my function", 0.8), code("my file", 0.8),
    code("my class", 0.8), code("my module", 0.8), code("crate", 0.4), code("my app", 0.8), code("source", 0.3),
    code("defined", 1.0), code("define", 0.5), code("definition", 1.0), code("declared", 0.9),
    code("implemented", 0.8), code("implementation", 0.7), code("implements", 0.7),
    code("instantiated", 1.0), code("usages", 1.2), code("usage", 0.4), code("callers", 1.0),
    code("calls", 0.5), code("called", 0.3), code("grep", 1.2), code("refactor", 0.8),
    code("entry point", 1.0), code("dead code", 1.0), code("jump to", 0.6),
    code("function", 0.5), code("functions", 0.6), code("fn", 0.8), code("method", 0.5),
    code("methods", 0.6), code("struct", 0.9), code("class", 0.5), code("enum", 0.8),
    code("impl", 0.9), code("trait", 0.5), code("module", 0.6), code("file", 0.6),
    code("files", 0.7), code("import", 0.6), code("handler", 0.5), code("component", 0.5),
    code("todo", 0.7), code("readme", 0.8), code("makefile", 1.0), code("signature", 0.8),
    code("line", 0.3), code("lines", 0.4), code("tests", 0.3), code("where is", 0.4),
    code("where are", 0.3), code("where do", 0.4), code("wheres", 0.4),
    code("funktion", 0.5), code("definiert", 1.0),
    code(SHAPE_FILE, 1.0), code(SHAPE_PATH, 0.6), code(SHAPE_SNAKE, 0.8),
    code(SHAPE_CAMEL, 0.4), code(SHAPE_INLINE, 0.5),

    // rollout: run or simulate CartPole.
    roll("cartpole", 1.5), roll("cart pole", 1.5), roll("pole", 0.6), roll("pendulum", 0.8),
    roll("balancing", 0.3), roll("balancer", 0.4), roll("rollout", 1.5), roll("rollouts", 1.5),
    roll("roll out", 1.5), roll("episode", 0.8), roll("episodes", 0.9), roll("envs", 1.0),
    roll("env", 0.6), roll("environments", 0.7), roll("environment", 0.5),
    roll("environnements", 0.7), roll("simulate", 1.2), roll("simulation", 1.0),
    roll("simulations", 1.0), roll("steps", 0.5), roll("step", 0.5), roll("run", 0.4),
    roll("rerun", 0.5), roll("advance", 0.4), roll("seed", 0.6), roll("trajectory", 0.9),
    roll("policy", 0.5), roll("random policy", 0.6), roll("returns", 0.4), roll("return", 0.2),
    roll("reward", 0.6), roll("rewards", 0.6), roll("transitions", 0.6), roll("buffer", 0.4),
    roll("replay buffer", 0.6), roll("gym", 0.8), roll("gymnasium", 0.8), roll("agent", 0.4),
    roll("observations", 0.5), roll("gamma", 0.4), roll("lambda", 0.2), roll("gae", 0.5),
    roll("vectorized", 0.5),
];

/// Greetings, thanks and filler: a short message made only of these is small talk (the veto).
#[rustfmt::skip]
pub const SMALL_TALK: &[&str] = &[
    "hi", "hello", "hey", "heya", "hiya", "howdy", "yo", "sup", "hallo", "hola", "bonjour",
    "ciao", "salut", "servus", "moin", "thanks", "thank", "thx", "ty", "cheers", "merci",
    "gracias", "danke", "you", "youre", "u", "ur", "ok", "okay", "k", "kk", "cool", "nice",
    "great", "awesome", "perfect", "lol", "lmao", "haha", "hahaha", "bye", "goodbye", "cya",
    "later", "see", "good", "morning", "evening", "afternoon", "night", "day", "have", "a",
    "how", "are", "r", "whats", "what", "up", "doing", "going", "is", "it", "well", "fine",
    "today", "hope", "wie", "gehts", "geht", "es", "dir", "gut", "and", "so", "much", "very",
    "for", "the", "help", "with", "that", "sorry", "too", "all", "right", "alright", "yes",
    "no", "yeah", "yep", "nope", "sure", "got", "i", "am", "im", "me", "there", "everyone",
    "again", "talk", "soon", "really", "appreciate", "appreciated", "welcome", "hmm", "oh",
];

/// A word of the lexicon's vocabulary.
#[derive(Debug, Clone, Copy)]
struct Word {
    /// 1-based id, for phrase keys (0 means "not a vocabulary word").
    id: u16,
    /// The unigram term of this word, if any.
    term: Option<u16>,
    /// Whether the word is in [`SMALL_TALK`].
    small: bool,
}

/// The lexicon, indexed once per process (or isolate).
struct Lexicon {
    words: HashMap<&'static str, Word>,
    /// `[w1, w2, 0]` or `[w1, w2, w3]` word ids → term index.
    phrases: HashMap<[u16; 3], u16>,
    file: u16,
    path: u16,
    snake: u16,
    camel: u16,
    inline: u16,
}

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(build_lexicon)
}

fn build_lexicon() -> Lexicon {
    let mut words: HashMap<&'static str, Word> = HashMap::new();
    let mut phrases = HashMap::new();
    let shape =
        |name: &str| -> u16 { TERMS.iter().position(|t| t.text == name).unwrap_or(0) as u16 };
    let (file, path, snake, camel, inline) = (
        shape(SHAPE_FILE),
        shape(SHAPE_PATH),
        shape(SHAPE_SNAKE),
        shape(SHAPE_CAMEL),
        shape(SHAPE_INLINE),
    );
    let id_of = |words: &mut HashMap<&'static str, Word>, w: &'static str| -> u16 {
        let next = words.len() as u16 + 1;
        words
            .entry(w)
            .or_insert(Word {
                id: next,
                term: None,
                small: false,
            })
            .id
    };
    for (index, term) in TERMS.iter().enumerate() {
        if term.text.starts_with('<') {
            continue;
        }
        let mut key = [0u16; 3];
        let mut n = 0;
        for w in term.text.split(' ').take(3) {
            key[n] = id_of(&mut words, w);
            n += 1;
        }
        if n == 1 {
            if let Some(word) = words.get_mut(term.text) {
                word.term = Some(index as u16);
            }
        } else {
            phrases.insert(key, index as u16);
        }
    }
    for &w in SMALL_TALK {
        id_of(&mut words, w);
        if let Some(word) = words.get_mut(w) {
            word.small = true;
        }
    }
    Lexicon {
        words,
        phrases,
        file,
        path,
        snake,
        camel,
        inline,
    }
}

/// Source file extensions that make a chunk a file name.
const SOURCE_EXTENSIONS: &[&str] = &[
    "rs", "py", "go", "js", "mjs", "cjs", "ts", "tsx", "jsx", "java", "kt", "c", "h", "cc", "cpp",
    "hpp", "cs", "rb", "php", "swift", "toml", "json", "yaml", "yml", "md", "css", "scss", "html",
    "sh", "sql", "lock", "txt", "ipynb", "vue", "svelte",
];

/// Product names shaped like file names ("node.js"): the part before the dot.
const DOTTED_PRODUCTS: &[&str] = &[
    "node", "next", "vue", "nuxt", "react", "three", "d3", "ember",
];

/// Which shape a chunk (trimmed of surrounding punctuation) has: file, path, inline code.
fn chunk_shapes(chunk: &str) -> (bool, bool, bool) {
    // One word in backticks, trailing punctuation allowed ("`send`?"); a span of several words
    // is split over chunks and not seen, which only costs a faint hint.
    let inline = chunk.len() > 2
        && chunk.starts_with('`')
        && chunk
            .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '`' && c != '_')
            .ends_with('`');
    let trimmed =
        chunk.trim_matches(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '/')));
    let trimmed = trimmed.trim_end_matches('.');
    if trimmed.contains("://") {
        return (false, false, inline);
    }
    let file = match trimmed.rsplit_once('.') {
        Some((stem, ext)) => {
            let name = stem.rsplit('/').next().unwrap_or(stem);
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                && SOURCE_EXTENSIONS
                    .iter()
                    .any(|e| ext.eq_ignore_ascii_case(e))
                && !DOTTED_PRODUCTS.iter().any(|p| name.eq_ignore_ascii_case(p))
        }
        None => false,
    };
    let path = trimmed.contains('/')
        && (file
            || ["src/", "./", "lib/", "tests/", "test/", "app/"]
                .iter()
                .any(|p| trimmed.starts_with(p)));
    (file, path, inline)
}

/// Scoring state over one message.
struct Scorer {
    lex: &'static Lexicon,
    raw: [f32; 4],
    /// Terms already counted (bit per term index).
    seen: [u64; 8],
    /// The ids of the previous two words (0: not a vocabulary word).
    prev: [u16; 2],
    words: usize,
    small: usize,
    matched: Matched,
}

impl Scorer {
    fn count(&mut self, term: u16) {
        let (slot, bit) = (usize::from(term / 64), 1u64 << (term % 64));
        if slot >= self.seen.len() || self.seen[slot] & bit != 0 {
            return;
        }
        self.seen[slot] |= bit;
        let Some(t) = TERMS.get(usize::from(term)) else {
            return;
        };
        for (raw, w) in self.raw.iter_mut().zip(t.weights) {
            *raw += w;
        }
        self.matched.push(t.text);
    }

    /// One word, lowercased in `buf` (`None` when too long to match), with its raw shape.
    fn word(&mut self, lower: Option<&str>, snake: bool, camel: bool) {
        self.words += 1;
        let lex = self.lex;
        let found = lower.and_then(|w| {
            lex.words.get(w).or_else(|| {
                // The only stemming: a plural or a possessive (`'s` lost its apostrophe).
                w.strip_suffix('s')
                    .filter(|stem| stem.len() >= 3)
                    .and_then(|stem| lex.words.get(stem))
            })
        });
        let id = found.map_or(0, |w| w.id);
        if let Some(word) = found {
            if word.small {
                self.small += 1;
            }
            if let Some(term) = word.term {
                self.count(term);
            }
        } else if snake {
            self.count(lex.snake);
        } else if camel {
            self.count(lex.camel);
        }
        if id != 0 && self.prev[1] != 0 {
            if let Some(&term) = lex.phrases.get(&[self.prev[1], id, 0]) {
                self.count(term);
            }
            if self.prev[0] != 0 {
                if let Some(&term) = lex.phrases.get(&[self.prev[0], self.prev[1], id]) {
                    self.count(term);
                }
            }
        }
        self.prev = [self.prev[1], id];
    }

    /// Splits a chunk into words (see the module docs, step 1) and scores each.
    fn chunk(&mut self, chunk: &str) {
        let (file, path, inline) = chunk_shapes(chunk);
        if file {
            self.count(self.lex.file);
        }
        if path {
            self.count(self.lex.path);
        }
        if inline {
            self.count(self.lex.inline);
        }
        if file || path {
            // The shape says it all: the words of `src/rollout/env.rs` are not requests.
            self.words += 1;
            self.prev = [0, 0];
            return;
        }
        let mut buf = [0u8; MAX_WORD_BYTES];
        let mut len = 0usize;
        let mut overflow = false;
        let mut chars = 0usize;
        // Shape of the word so far: snake_case needs a `_` between word characters; CamelCase
        // an uppercase first letter and an uppercase letter after a lowercase one.
        let (mut snake, mut underscore, mut first_upper, mut seen_lower, mut camel) =
            (false, false, false, false, false);
        let mut iter = chunk.chars().peekable();
        loop {
            let c = iter.next();
            match c {
                Some(c) if c.is_alphanumeric() || c == '_' => {
                    if c == '_' {
                        underscore = chars > 0;
                    } else {
                        if underscore {
                            snake = true;
                        }
                        if chars == 0 {
                            first_upper = c.is_uppercase();
                        } else if c.is_uppercase() && seen_lower {
                            camel = true;
                        }
                        seen_lower |= c.is_lowercase();
                    }
                    chars += 1;
                    let mut push = |lc: char| {
                        let mut tmp = [0u8; 4];
                        let bytes = lc.encode_utf8(&mut tmp).as_bytes();
                        if len + bytes.len() <= MAX_WORD_BYTES {
                            buf[len..len + bytes.len()].copy_from_slice(bytes);
                            len += bytes.len();
                        } else {
                            overflow = true;
                        }
                    };
                    if c.is_ascii() {
                        push(c.to_ascii_lowercase());
                    } else {
                        c.to_lowercase().for_each(&mut push);
                    }
                }
                // An apostrophe inside a word joins it ("what's" → "whats").
                Some('\'' | '’' | 'ʼ')
                    if chars > 0 && iter.peek().is_some_and(|n| n.is_alphanumeric()) => {}
                _ => {
                    if chars > 0 {
                        let lower = if overflow {
                            None
                        } else {
                            std::str::from_utf8(&buf[..len]).ok()
                        };
                        self.word(lower, snake, first_upper && camel && chars >= 4);
                    }
                    if c.is_none() {
                        break;
                    }
                    (len, overflow, chars) = (0, false, 0);
                    (snake, underscore, first_upper, seen_lower, camel) =
                        (false, false, false, false, false);
                }
            }
        }
    }
}

/// Routes a message: its label, the scores behind it and the terms matched. Never panics, for
/// any text; allocates nothing (the lexicon is indexed once per process).
pub fn route(text: &str) -> Intent {
    let mut scorer = Scorer {
        lex: lexicon(),
        raw: [0.0; 4],
        seen: [0; 8],
        prev: [0; 2],
        words: 0,
        small: 0,
        matched: Matched::EMPTY,
    };
    let mut in_fence = false;
    for chunk in text.split_whitespace() {
        if let Some(rest) = chunk.strip_prefix("```") {
            // "```" or "```rust" opens a block, and closes an open one; "```x```" is both.
            in_fence = !in_fence;
            if rest.ends_with("```") && rest.len() >= 3 {
                in_fence = !in_fence;
            }
            scorer.prev = [0, 0];
            continue;
        }
        if in_fence {
            if chunk.ends_with("```") {
                in_fence = false;
                scorer.prev = [0, 0];
            }
            continue;
        }
        scorer.chunk(chunk);
    }
    let damping = (scorer.words as f32 / DAMPING_WORDS).sqrt().max(1.0);
    let scores = scorer
        .raw
        .map(|raw| round3(1.0 - (-(raw.max(0.0)) / damping).exp()));
    let small_talk =
        scorer.words > 0 && scorer.small == scorer.words && scorer.words <= VETO_MAX_WORDS;
    let mut matched = scorer.matched;
    let label = if small_talk {
        matched.push(SMALL_TALK_MARK);
        Label::Chat
    } else {
        decide(&scores).map_or(Label::Chat, |i| SCORED[i])
    };
    Intent {
        label,
        scores: Scores::from_array(scores),
        threshold: THRESHOLD,
        matched,
        small_talk,
    }
}

/// The index of the winning label: the highest score at or above [`THRESHOLD`], ties broken in
/// [`TIE_ORDER`]; `None` when no score reaches it.
fn decide(scores: &[f32; 4]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for i in TIE_ORDER {
        if scores[i] >= THRESHOLD && best.is_none_or(|b| scores[i] > scores[b]) {
            best = Some(i);
        }
    }
    best
}

/// Rounds to 3 decimals, so the answer is readable and a client comparing `scores` with
/// `threshold` sees what the router compared.
fn round3(x: f32) -> f32 {
    (x * 1000.0).round() / 1000.0
}

/// A validated `POST /api/intent` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRequest {
    /// 1..=4000 chars.
    pub text: String,
}

/// Parses `{"text": string 1..4000 chars}`.
///
/// Errors: `invalid_json`, `unknown_field`, `invalid_field` (missing, not a string, empty),
/// `limit_exceeded` (over 4000 chars).
pub fn parse_request(body: &[u8]) -> Result<IntentRequest, IntentError> {
    #[derive(Deserialize)]
    struct Raw {
        text: Option<String>,
    }
    let raw: Raw = parse_json_object(body, &["text"])?;
    let text = raw.text.ok_or_else(|| {
        InputError::invalid("field `text` is required: a string of 1 to 4000 characters")
    })?;
    if text.is_empty() {
        return Err(InputError::invalid("field `text` must not be empty").into());
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(InputError::limit(format!(
            "field `text` is {chars} characters; the limit is {MAX_TEXT_CHARS}"
        ))
        .into());
    }
    Ok(IntentRequest { text })
}

/// A reply's `search` override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// The intent router picks the source (the default).
    #[default]
    Auto,
    /// Every allowed search source.
    Always,
    /// No source at all.
    Never,
}

impl SearchMode {
    /// The mode spelled `name` in the API (`auto`, `always`, `never`).
    pub fn parse(name: &str) -> Result<Self, IntentError> {
        match name {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            _ => Err(InputError::invalid(
                "field `search` must be \"auto\", \"always\" or \"never\"",
            )
            .into()),
        }
    }
}

/// A set of context sources, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Sources(u8);

impl Sources {
    pub const NONE: Sources = Sources(0);
    /// The cached web search.
    pub const WEB: Sources = Sources(1);
    /// The BM25 search over the user's other tabs.
    pub const HISTORY: Sources = Sources(2);
    /// The workspace code search.
    pub const CODE: Sources = Sources(4);
    /// A small rollout summary (not a search: only the `rollout` label asks for it).
    pub const ROLLOUT: Sources = Sources(8);
    /// The three searches a reply's `sources` can name.
    pub const SEARCHES: Sources = Sources(1 | 2 | 4);
    /// Everything.
    pub const ALL: Sources = Sources(1 | 2 | 4 | 8);

    /// The set as bits (web 1, history 2, code 4, rollout 8), for the wire.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The set of `bits` (unknown bits dropped).
    pub const fn from_bits(bits: u8) -> Sources {
        Sources(bits & Self::ALL.0)
    }

    /// Both sets together.
    pub const fn union(self, other: Sources) -> Sources {
        Sources(self.0 | other.0)
    }

    /// What both sets hold.
    pub const fn intersection(self, other: Sources) -> Sources {
        Sources(self.0 & other.0)
    }

    /// Whether every source of `other` is in this set.
    pub const fn contains(self, other: Sources) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The source that serves `label` (`chat`: none).
    pub const fn of_label(label: Label) -> Sources {
        match label {
            Label::Web => Self::WEB,
            Label::History => Self::HISTORY,
            Label::Code => Self::CODE,
            Label::Rollout => Self::ROLLOUT,
            Label::Chat => Self::NONE,
        }
    }
}

/// Which sources a reply consults, given the message's label, its `search` override and the
/// sources allowed (the request's `sources`, limited to what is configured; include
/// [`Sources::ROLLOUT`] to allow the rollout summary).
///
/// - `never`: none.
/// - `auto`: the label's source, if allowed (`chat`: none).
/// - `always`: every allowed search (web, history, code), plus the rollout summary when the
///   label is `rollout` and it is allowed: `always` widens the searches, it does not run
///   CartPole for a message that did not ask.
pub fn sources_for(label: Label, mode: SearchMode, allowed: Sources) -> Sources {
    let own = Sources::of_label(label).intersection(allowed);
    match mode {
        SearchMode::Never => Sources::NONE,
        SearchMode::Auto => own,
        SearchMode::Always => allowed
            .intersection(Sources::SEARCHES)
            .union(own.intersection(Sources::ROLLOUT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexicon_is_well_formed() {
        assert!(TERMS.len() <= 64 * 8, "the seen-bitset holds 512 terms");
        let mut texts = std::collections::HashSet::new();
        for t in TERMS {
            assert!(texts.insert(t.text), "`{}` twice", t.text);
            assert!(t.weights.iter().all(|w| w.is_finite()));
            if !t.text.starts_with('<') {
                let words: Vec<&str> = t.text.split(' ').collect();
                assert!((1..=3).contains(&words.len()), "`{}`", t.text);
                for w in words {
                    assert!(!w.is_empty() && w.len() <= MAX_WORD_BYTES, "`{}`", t.text);
                    assert!(
                        w.chars()
                            .all(|c| c.is_lowercase() || c.is_ascii_digit() || c == '_'),
                        "`{}` must be lowercase words",
                        t.text
                    );
                }
            }
        }
        let lex = lexicon();
        for shape in [lex.file, lex.path, lex.snake, lex.camel, lex.inline] {
            assert!(TERMS[usize::from(shape)].text.starts_with('<'));
        }
        assert!(lex.words.len() < usize::from(u16::MAX));
    }

    #[test]
    fn routes_the_contract_examples() {
        let label = |t: &str| route(t).label;
        assert_eq!(label("what's the weather in Lisbon today?"), Label::Web);
        assert_eq!(label("look up the latest rust release"), Label::Web);
        assert_eq!(label("what did I say about the budget?"), Label::History);
        assert_eq!(label("find where we discussed the trip"), Label::History);
        assert_eq!(
            label("where is parse_config defined in my repo"),
            Label::Code
        );
        assert_eq!(label("run 10 cartpole episodes"), Label::Rollout);
        assert_eq!(label("write a poem about the sea"), Label::Chat);
    }

    #[test]
    fn near_misses_go_to_the_specific_label() {
        assert_eq!(
            route("what's the latest version of my function").label,
            Label::Code
        );
        assert_eq!(route("search my code for parse_config").label, Label::Code);
        assert_eq!(
            route("search my chats for the recipe").label,
            Label::History
        );
        assert_eq!(route("explain what cartpole is").label, Label::Chat);
        assert_eq!(
            route("tell me about the history of Rome").label,
            Label::Chat
        );
    }

    #[test]
    fn small_talk_is_vetoed() {
        for text in [
            "hi",
            "Thanks!!",
            "how are you today?",
            "good night :)",
            "ok cool",
        ] {
            let intent = route(text);
            assert_eq!(intent.label, Label::Chat, "{text}");
            assert!(intent.small_talk, "{text}");
            assert!(intent.matched.as_slice().contains(&SMALL_TALK_MARK));
        }
        // A greeting in front of a real request is no veto.
        let intent = route("hi! what's the weather today in Oslo?");
        assert_eq!(intent.label, Label::Web);
        assert!(!intent.small_talk);
    }

    #[test]
    fn normalisation() {
        // Case, apostrophes and plurals.
        assert_eq!(route("WHAT'S THE WEATHER").label, Label::Web);
        assert_eq!(route("what’s the weather").label, Label::Web);
        assert!(route("simulate cartpoles")
            .matched
            .as_slice()
            .contains(&"cartpole"));
        // Code in a fence is not scored; the prose around it is.
        let pasted = "why does this fail?\n```\nlet repo = grep_workspace(\"src/main.rs\");\n```";
        assert_eq!(route(pasted).label, Label::Chat);
        assert!(route(pasted).matched.as_slice().is_empty());
        assert_eq!(
            route("```\nsrc/main.rs\n``` where is this file in my repo").label,
            Label::Code
        );
        // Each term counts once.
        let once = route("weather weather weather weather");
        assert_eq!(once.matched.as_slice(), ["weather"]);
        assert_eq!(once.scores, route("weather").scores);
    }

    #[test]
    fn shapes() {
        assert_eq!(chunk_shapes("utils.py"), (true, false, false));
        assert_eq!(chunk_shapes("`src/chat/tab.rs`"), (true, true, true));
        assert_eq!(chunk_shapes("node.js?"), (false, false, false));
        assert_eq!(chunk_shapes("https://x.io/a.js"), (false, false, false));
        assert_eq!(chunk_shapes("tcp/udp"), (false, false, false));
        assert_eq!(chunk_shapes("3.14"), (false, false, false));
        let m = route("where is UserProfile or load_settings");
        assert!(m.matched.as_slice().contains(&SHAPE_CAMEL));
        assert!(m.matched.as_slice().contains(&SHAPE_SNAKE));
        assert!(!route("iPhone GAE")
            .matched
            .as_slice()
            .contains(&SHAPE_CAMEL));
    }

    #[test]
    fn scores_are_bounded_and_long_messages_damped() {
        for text in ["", " ", "```", "weather", &"cartpole simulate ".repeat(500)] {
            let intent = route(text);
            for label in SCORED {
                let s = intent.scores.get(label);
                assert!(s.is_finite() && (0.0..1.0).contains(&s), "{text}: {s}");
            }
        }
        assert_eq!(route("").label, Label::Chat);
        let short = route("latest news").scores.web;
        let long = route(&format!("latest news {}", "and so on ".repeat(40)))
            .scores
            .web;
        assert!(long < short);
    }

    #[test]
    fn ties_never_pick_web() {
        assert_eq!(decide(&[0.7, 0.7, 0.0, 0.0]), Some(HISTORY));
        assert_eq!(decide(&[0.7, 0.0, 0.7, 0.7]), Some(CODE));
        assert_eq!(decide(&[0.71, 0.7, 0.0, 0.0]), Some(WEB));
        assert_eq!(decide(&[0.5, 0.0, 0.0, 0.0]), None);
    }

    #[test]
    fn request_bodies() {
        let ok = parse_request(br#"{"text":"hi"}"#).unwrap();
        assert_eq!(ok.text, "hi");
        let code = |body: &[u8]| parse_request(body).unwrap_err().error_code();
        assert_eq!(code(b"{"), ErrorCode::InvalidJson);
        assert_eq!(code(b"[]"), ErrorCode::InvalidField);
        assert_eq!(code(b"{}"), ErrorCode::InvalidField);
        assert_eq!(code(br#"{"text":""}"#), ErrorCode::InvalidField);
        assert_eq!(code(br#"{"text":5}"#), ErrorCode::InvalidField);
        assert_eq!(code(br#"{"text":null}"#), ErrorCode::InvalidField);
        assert_eq!(code(br#"{"text":"a","x":1}"#), ErrorCode::UnknownField);
        let max = format!(r#"{{"text":"{}"}}"#, "é".repeat(MAX_TEXT_CHARS));
        assert!(parse_request(max.as_bytes()).is_ok());
        let over = format!(r#"{{"text":"{}"}}"#, "é".repeat(MAX_TEXT_CHARS + 1));
        assert_eq!(code(over.as_bytes()), ErrorCode::LimitExceeded);
        // The body limit fits the longest text in the costliest escaping.
        let escaped = format!(r#"{{"text":"{}"}}"#, r"\ud83d\ude00".repeat(MAX_TEXT_CHARS));
        assert!(escaped.len() < BODY_BYTES);
        assert!(parse_request(escaped.as_bytes()).is_ok());
    }

    #[test]
    fn answer_shape() {
        let json = serde_json::to_value(route("weather in Oslo")).unwrap();
        assert_eq!(json["label"], "web");
        let mut keys: Vec<_> = json["scores"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        assert_eq!(keys, ["code", "history", "rollout", "web"]);
        assert_eq!(json["threshold"].as_f64().unwrap() as f32, THRESHOLD);
        assert_eq!(json["matched"], serde_json::json!(["weather"]));
        assert!(json.get("small_talk").is_none());
    }

    #[test]
    fn sources_follow_the_override() {
        let all = Sources::ALL;
        assert_eq!(sources_for(Label::Web, SearchMode::Auto, all), Sources::WEB);
        assert_eq!(
            sources_for(Label::Chat, SearchMode::Auto, all),
            Sources::NONE
        );
        assert_eq!(
            sources_for(Label::Rollout, SearchMode::Auto, all),
            Sources::ROLLOUT
        );
        assert_eq!(
            sources_for(Label::Web, SearchMode::Never, all),
            Sources::NONE
        );
        assert_eq!(
            sources_for(Label::Chat, SearchMode::Always, all),
            Sources::SEARCHES
        );
        assert_eq!(
            sources_for(Label::Rollout, SearchMode::Always, all),
            Sources::SEARCHES.union(Sources::ROLLOUT)
        );
        // Not allowed: not consulted, whatever the mode.
        let no_web = Sources::HISTORY.union(Sources::CODE);
        assert_eq!(
            sources_for(Label::Web, SearchMode::Auto, no_web),
            Sources::NONE
        );
        assert_eq!(sources_for(Label::Web, SearchMode::Always, no_web), no_web);
        assert!(!sources_for(Label::Code, SearchMode::Always, no_web).contains(Sources::WEB));
        assert_eq!(SearchMode::parse("always").unwrap(), SearchMode::Always);
        assert_eq!(
            SearchMode::parse("sometimes").unwrap_err().error_code(),
            ErrorCode::InvalidField
        );
    }
}
