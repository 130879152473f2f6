//! Single-flight of web-search misses within one isolate, as a pure table that takes the clock.
//!
//! Concurrent identical misses should make one upstream call. Workers does not let one request
//! await a promise driven by another request's I/O, so the shell cannot share a future: one
//! request *leads* (starts the fetch as a background task of its own request) and every request,
//! the leader's included, *waits* by polling this table on its own timer.
//!
//! Entries always end, and never outlive the requests that need them:
//! - the fetch task completes its entry ([`Flights::complete`]), or abandons it when it is dropped
//!   unfinished ([`Flights::abandon`], from a guard's `Drop`);
//! - a pending entry carries a deadline; past it the entry counts as gone, whatever happened to
//!   its task (a cancelled request whose future is never polled nor dropped again), and the next
//!   request or waiter leads a new fetch;
//! - every waiter leaves on every exit path ([`Flights::leave`], from a guard's `Drop`): a
//!   finished entry goes when its last waiter has its result or left, and in any case after a
//!   short linger, so a waiter that vanished without leaving cannot pin it.
//!
//! Generations tell a finished or abandoned entry from its successor: a late result or leave of
//! a superseded fetch never touches the new one.

use std::collections::HashMap;

/// A request's handle on one flight: which key, and which generation of its entry it registered
/// with. Updated by [`Flights::poll`] when the request moves to a newer generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The key's hash.
    pub hash: u64,
    generation: u64,
}

/// What [`Flights::join`] tells a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Start the fetch (and complete the entry with the ticket), then wait like the others.
    Lead(Ticket),
    /// Someone is fetching: wait.
    Follow(Ticket),
}

/// What [`Flights::poll`] tells a waiting request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<V> {
    /// The fetch finished: its result (this request's wait is over and counted as such).
    Ready(V),
    /// Still fetching: poll again later.
    Wait,
    /// The fetch was abandoned or overran its deadline: this request leads a new one (the
    /// ticket was updated); start the fetch, then keep polling.
    Lead,
}

#[derive(Debug)]
enum State<V> {
    Pending { deadline_ms: u64 },
    Done { value: V, until_ms: u64 },
}

#[derive(Debug)]
struct Entry<V> {
    generation: u64,
    state: State<V>,
    /// Requests registered with this generation that have neither had the result nor left.
    waiters: u32,
}

impl<V> Entry<V> {
    fn live(&self, now_ms: u64) -> bool {
        match self.state {
            State::Pending { deadline_ms } => now_ms < deadline_ms,
            State::Done { until_ms, .. } => now_ms < until_ms,
        }
    }
}

/// The isolate's in-flight misses, keyed by query hash (see the module docs).
#[derive(Debug)]
pub struct Flights<V> {
    entries: HashMap<u64, Entry<V>>,
    next_generation: u64,
    /// How long a fetch may take before a new request may lead another one.
    lead_ms: u64,
    /// How long a finished entry waits for waiters that have not collected it yet.
    linger_ms: u64,
}

impl<V: Clone> Flights<V> {
    /// An empty table: a fetch gets `lead_ms` before it counts as lost; a result stays at most
    /// `linger_ms` for waiters that have not polled it yet.
    pub fn new(lead_ms: u64, linger_ms: u64) -> Self {
        Self {
            entries: HashMap::new(),
            next_generation: 1,
            lead_ms,
            linger_ms,
        }
    }

    /// Entries in the table (live or not yet swept).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A request misses `hash` at `now_ms`: it leads a new fetch, or follows the live one. Either
    /// way it is registered as a waiter and must [`poll`](Self::poll) until `Ready`, or
    /// [`leave`](Self::leave).
    pub fn join(&mut self, hash: u64, now_ms: u64) -> Join {
        self.sweep(now_ms);
        match self.entries.get_mut(&hash) {
            Some(entry) => {
                entry.waiters += 1;
                Join::Follow(Ticket {
                    hash,
                    generation: entry.generation,
                })
            }
            None => Join::Lead(self.start(hash, now_ms)),
        }
    }

    /// The fetch of `ticket` finished with `value`. Waiters get it on their next poll; with none
    /// left the entry ends now. False when the entry was superseded or abandoned meanwhile (the
    /// value is then for the caller alone).
    pub fn complete(&mut self, ticket: &Ticket, value: V, now_ms: u64) -> bool {
        let Some(entry) = self.entries.get_mut(&ticket.hash) else {
            return false;
        };
        if entry.generation != ticket.generation || !matches!(entry.state, State::Pending { .. }) {
            return false;
        }
        if entry.waiters == 0 {
            self.entries.remove(&ticket.hash);
        } else {
            entry.state = State::Done {
                value,
                until_ms: now_ms.saturating_add(self.linger_ms),
            };
        }
        true
    }

    /// The fetch of `ticket` ended without a result (its task was dropped): the entry ends, and
    /// the next waiter to poll leads a new fetch.
    pub fn abandon(&mut self, ticket: &Ticket) {
        let ours = self.entries.get(&ticket.hash).is_some_and(|e| {
            e.generation == ticket.generation && matches!(e.state, State::Pending { .. })
        });
        if ours {
            self.entries.remove(&ticket.hash);
        }
    }

    /// A waiting request checks its flight at `now_ms`.
    pub fn poll(&mut self, ticket: &mut Ticket, now_ms: u64) -> Poll<V> {
        let hash = ticket.hash;
        let live = self.entries.get(&hash).is_some_and(|e| e.live(now_ms));
        if !live {
            // Gone, abandoned or overrun: whoever notices first leads the next fetch.
            self.entries.remove(&hash);
            *ticket = self.start(hash, now_ms);
            return Poll::Lead;
        }
        let Some(entry) = self.entries.get_mut(&hash) else {
            return Poll::Wait;
        };
        let registered = entry.generation == ticket.generation;
        match &entry.state {
            State::Done { value, .. } => {
                let value = value.clone();
                if registered {
                    entry.waiters = entry.waiters.saturating_sub(1);
                    if entry.waiters == 0 {
                        self.entries.remove(&hash);
                    }
                }
                Poll::Ready(value)
            }
            State::Pending { .. } => {
                if !registered {
                    // Our generation was superseded: wait for its successor instead.
                    entry.waiters += 1;
                    ticket.generation = entry.generation;
                }
                Poll::Wait
            }
        }
    }

    /// A waiting request stops waiting without a result (it gave up, or its future was dropped).
    pub fn leave(&mut self, ticket: &Ticket) {
        let Some(entry) = self.entries.get_mut(&ticket.hash) else {
            return;
        };
        if entry.generation != ticket.generation {
            return;
        }
        entry.waiters = entry.waiters.saturating_sub(1);
        // A pending entry stays for its fetch, which removes it when nobody is left to tell.
        if entry.waiters == 0 && matches!(entry.state, State::Done { .. }) {
            self.entries.remove(&ticket.hash);
        }
    }

    /// Drops every entry that is no longer live at `now_ms`.
    pub fn sweep(&mut self, now_ms: u64) {
        self.entries.retain(|_, e| e.live(now_ms));
    }

    fn start(&mut self, hash: u64, now_ms: u64) -> Ticket {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.entries.insert(
            hash,
            Entry {
                generation,
                state: State::Pending {
                    deadline_ms: now_ms.saturating_add(self.lead_ms),
                },
                waiters: 1,
            },
        );
        Ticket { hash, generation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LEAD: u64 = 5_000;
    const LINGER: u64 = 1_000;

    fn table() -> Flights<&'static str> {
        Flights::new(LEAD, LINGER)
    }

    fn lead(j: Join) -> Ticket {
        match j {
            Join::Lead(t) => t,
            Join::Follow(_) => panic!("expected to lead, got {j:?}"),
        }
    }

    fn follow(j: Join) -> Ticket {
        match j {
            Join::Follow(t) => t,
            Join::Lead(_) => panic!("expected to follow, got {j:?}"),
        }
    }

    #[test]
    fn one_leads_the_others_follow_and_all_get_the_result() {
        let mut f = table();
        let mut a = lead(f.join(7, 0));
        let mut b = follow(f.join(7, 10));
        let mut c = follow(f.join(7, 20));
        assert_eq!(f.poll(&mut b, 30), Poll::Wait);
        assert!(f.complete(&a, "v", 100));
        assert_eq!(f.poll(&mut a, 110), Poll::Ready("v"));
        assert_eq!(f.poll(&mut b, 110), Poll::Ready("v"));
        assert_eq!(f.len(), 1, "c has not collected yet");
        assert_eq!(f.poll(&mut c, 115), Poll::Ready("v"));
        assert!(f.is_empty(), "the last waiter ends the entry");
        // Other keys are independent.
        lead(f.join(8, 200));
        lead(f.join(9, 200));
    }

    #[test]
    fn a_follower_that_gives_up_does_not_pin_the_entry() {
        let mut f = table();
        let mut a = lead(f.join(1, 0));
        let b = follow(f.join(1, 0));
        f.leave(&b); // b timed out
        assert!(f.complete(&a, "v", 50));
        assert_eq!(f.poll(&mut a, 60), Poll::Ready("v"));
        assert!(f.is_empty(), "nobody is left waiting");
        // The next miss leads a fresh fetch instead of inheriting an old result.
        lead(f.join(1, 70));
    }

    #[test]
    fn a_result_nobody_waits_for_ends_the_entry_at_once() {
        let mut f = table();
        let a = lead(f.join(1, 0));
        f.leave(&a); // the leader's client went away; its fetch task runs on
        assert_eq!(f.len(), 1, "pending: the fetch still runs");
        assert!(f.complete(&a, "v", 10));
        assert!(f.is_empty());
    }

    #[test]
    fn an_abandoned_leader_hands_over_to_the_next_waiter() {
        let mut f = table();
        let a = lead(f.join(1, 0));
        let mut b = follow(f.join(1, 5));
        let mut c = follow(f.join(1, 6));
        f.abandon(&a); // the fetch task was dropped mid-await
        assert_eq!(f.poll(&mut b, 20), Poll::Lead, "b takes over at once");
        assert_eq!(f.poll(&mut c, 21), Poll::Wait, "c follows b's fetch");
        assert!(
            !f.complete(&a, "late", 22),
            "a late result of a does not count"
        );
        assert!(f.complete(&b, "v", 30));
        assert_eq!(f.poll(&mut c, 40), Poll::Ready("v"));
        assert_eq!(f.poll(&mut b, 40), Poll::Ready("v"));
        assert!(f.is_empty());
    }

    #[test]
    fn a_frozen_leader_is_superseded_at_its_deadline() {
        let mut f = table();
        let _frozen = lead(f.join(1, 0)); // never completes, never dropped
        let mut b = follow(f.join(1, 100));
        assert_eq!(f.poll(&mut b, LEAD - 1), Poll::Wait);
        assert_eq!(
            f.poll(&mut b, LEAD),
            Poll::Lead,
            "b leads after the deadline"
        );
        // A new request after the deadline follows b, not the frozen fetch.
        let mut c = follow(f.join(1, LEAD + 1));
        assert!(f.complete(&b, "v", LEAD + 50));
        assert_eq!(f.poll(&mut c, LEAD + 60), Poll::Ready("v"));
        // And with nobody polling, a new request alone leads once the deadline passed.
        let mut g = table();
        let _frozen = lead(g.join(2, 0));
        lead(g.join(2, LEAD));
    }

    #[test]
    fn a_result_lingers_only_briefly_for_a_waiter_that_vanished() {
        let mut f = table();
        let mut a = lead(f.join(1, 0));
        let _vanished = follow(f.join(1, 0)); // frozen: never polls, never leaves
        assert!(f.complete(&a, "v", 100));
        assert_eq!(f.poll(&mut a, 100), Poll::Ready("v"));
        assert_eq!(f.len(), 1);
        // A new miss within the linger shares the result; after it, a fresh fetch.
        let mut d = follow(f.join(1, 100 + LINGER - 1));
        assert_eq!(f.poll(&mut d, 100 + LINGER - 1), Poll::Ready("v"));
        lead(f.join(1, 100 + LINGER));
        f.sweep(u64::MAX);
        assert!(f.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Join(u8),
        Poll(u8),
        Leave(u8),
        Complete(u8),
        Abandon(u8),
        Tick(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..3).prop_map(Op::Join),
            4 => any::<u8>().prop_map(Op::Poll),
            1 => any::<u8>().prop_map(Op::Leave),
            2 => any::<u8>().prop_map(Op::Complete),
            1 => any::<u8>().prop_map(Op::Abandon),
            2 => (0u16..3000).prop_map(Op::Tick),
        ]
    }

    proptest! {
        /// Whatever requests and tasks do (including vanishing), the table drains: once every
        /// request has its result or left, and time passes, nothing is left; and a waiter that
        /// keeps polling never waits longer than the lead time without a result or the lead.
        #[test]
        fn entries_always_end(ops in proptest::collection::vec(op(), 1..200)) {
            let mut f: Flights<u32> = Flights::new(LEAD, LINGER);
            let mut now = 0u64;
            // (ticket, waiting since) of requests still waiting; tickets of running fetches.
            let mut waiting: Vec<(Ticket, u64)> = Vec::new();
            let mut fetches: Vec<Ticket> = Vec::new();
            for op in ops {
                match op {
                    Op::Join(key) => {
                        let t = match f.join(u64::from(key), now) {
                            Join::Lead(t) => { fetches.push(t); t }
                            Join::Follow(t) => t,
                        };
                        waiting.push((t, now));
                    }
                    Op::Poll(i) if !waiting.is_empty() => {
                        let i = usize::from(i) % waiting.len();
                        let (mut t, since) = waiting[i];
                        let before = t;
                        match f.poll(&mut t, now) {
                            Poll::Ready(_) => { waiting.swap_remove(i); }
                            Poll::Wait => {
                                // Moving to a newer fetch starts a new wait.
                                let since = if t == before { since } else { now };
                                prop_assert!(now < since + LEAD, "waited past the lead time");
                                waiting[i] = (t, since);
                            }
                            Poll::Lead => { fetches.push(t); waiting[i] = (t, now); }
                        }
                    }
                    Op::Leave(i) if !waiting.is_empty() => {
                        let (t, _) = waiting.swap_remove(usize::from(i) % waiting.len());
                        f.leave(&t);
                    }
                    Op::Complete(i) if !fetches.is_empty() => {
                        let t = fetches.swap_remove(usize::from(i) % fetches.len());
                        f.complete(&t, 1, now);
                    }
                    Op::Abandon(i) if !fetches.is_empty() => {
                        let t = fetches.swap_remove(usize::from(i) % fetches.len());
                        f.abandon(&t);
                    }
                    Op::Tick(ms) => now += u64::from(ms),
                    _ => {}
                }
                prop_assert!(f.len() <= 3, "one entry per key at most");
            }
            // Every remaining request leaves, every remaining fetch completes or vanishes.
            for (t, _) in &waiting {
                f.leave(t);
            }
            for t in &fetches {
                f.complete(t, 2, now);
            }
            f.sweep(now + LEAD + LINGER);
            prop_assert!(f.is_empty(), "left behind: {:?}", f);
        }
    }
}
