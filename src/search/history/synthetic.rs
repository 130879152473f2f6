//! A deterministic synthetic chat-history corpus for benchmarks: messages of Zipf(1.0)-distributed
//! made-up words and 1–3 word queries, from a fixed seed, so every benchmark (native
//! `benches/history_search.rs`, the wasm comparison in `bench/wasm`, the bm25s agreement script)
//! sees the same data. Not used by the worker itself (LTO drops it from the `.wasm`).

use rand_core::{RngCore, SeedableRng};

const SEED: u64 = 0x5eed_4157;
const VOCAB: usize = 50_000;
const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qua", "bri", "den", "fal", "gor",
    "hin", "jus", "ker", "lim", "mor", "nus", "pel", "ser", "tan",
];

/// Zipf(s) sampler over ranks 0..n by inverse CDF.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            cdf.push(sum);
        }
        cdf.iter_mut().for_each(|c| *c /= sum);
        Self(cdf)
    }
    fn sample(&self, rng: &mut impl RngCore) -> usize {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

fn vocabulary(rng: &mut impl RngCore) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(VOCAB);
    while words.len() < VOCAB {
        let syllables = 1 + (rng.next_u32() % 4) as usize;
        let word: String = (0..syllables)
            .map(|_| SYLLABLES[(rng.next_u32() as usize) % SYLLABLES.len()])
            .collect();
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// `(documents, queries)`: `docs` messages of 4–33 Zipf(1.0) words and `num_queries` queries of
/// 1–3 words (skipping the 50 most frequent words), always the same for the same arguments.
pub fn synthetic(docs: usize, num_queries: usize) -> (Vec<String>, Vec<String>) {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(SEED);
    let vocab = vocabulary(&mut rng);
    let zipf = Zipf::new(VOCAB, 1.0);
    let docs = (0..docs)
        .map(|_| {
            let len = 4 + (rng.next_u32() % 30) as usize;
            let mut text = String::new();
            for i in 0..len {
                let w = &vocab[zipf.sample(&mut rng)];
                if i == 0 {
                    let mut c = w.chars();
                    text.extend(c.next().map(|f| f.to_ascii_uppercase()));
                    text.push_str(c.as_str());
                } else {
                    text.push(' ');
                    text.push_str(w);
                }
                if rng.next_u32() % 10 == 0 {
                    text.push(',');
                }
            }
            text.push('.');
            text
        })
        .collect();
    let queries = (0..num_queries)
        .map(|_| {
            let n = 1 + (rng.next_u32() % 3) as usize;
            (0..n)
                .map(|_| loop {
                    let rank = zipf.sample(&mut rng);
                    if rank >= 50 {
                        break vocab[rank].clone();
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (docs, queries)
}
