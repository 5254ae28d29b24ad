//! Queries awaiting their response, keyed by what a response must match —
//! socket, transport, client and resolver addresses, transaction id, and
//! then the question it repeats — and kept in send order so the timed-out ones are found from the front
//! without a scan. Capped: when full, the oldest is dropped and counted.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use netoproc_core::{Protocol, SocketCookie};

use crate::message::RrType;

/// What matches a response to its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MatchKey {
    pub cookie: SocketCookie,
    pub transport: Protocol,
    pub client: SocketAddr,
    pub resolver: SocketAddr,
    pub id: u16,
}

#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub key: MatchKey,
    /// The pid the query packet carried.
    pub pid: Option<u32>,
    pub name: String,
    pub qtype: RrType,
    pub sent_ns: u64,
    /// Sent again with the same key while awaiting the response.
    pub retries: u32,
}

#[derive(Debug)]
pub(crate) struct PendingQueries {
    by_key: HashMap<MatchKey, (u64, Query)>,
    /// (key, seq) in send order; pairs whose query already ended are
    /// skipped when reached.
    order: VecDeque<(MatchKey, u64)>,
    next_seq: u64,
    max: usize,
    pub evicted: u64,
}

impl PendingQueries {
    pub fn new(max: usize) -> Self {
        PendingQueries {
            by_key: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            max: max.max(1),
            evicted: 0,
        }
    }

    /// Adds a query; the same key again only counts a retry.
    pub fn insert(&mut self, q: Query) {
        if let Some((_, known)) = self.by_key.get_mut(&q.key) {
            known.retries += 1;
            return;
        }
        while self.by_key.len() >= self.max {
            let Some((k, seq)) = self.order.pop_front() else {
                break;
            };
            if self.by_key.get(&k).is_some_and(|(s, _)| *s == seq) {
                self.by_key.remove(&k);
                self.evicted += 1;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((q.key, seq));
        self.by_key.insert(q.key, (seq, q));
        if self.order.len() > 2 * self.max + 1024 {
            let by_key = &self.by_key;
            self.order
                .retain(|(k, seq)| by_key.get(k).is_some_and(|(s, _)| s == seq));
        }
    }

    /// The query `key` answers, removed.
    pub fn take(&mut self, key: &MatchKey) -> Option<Query> {
        self.by_key.remove(key).map(|(_, q)| q)
    }

    /// The query a response with `key` and `question` answers, removed.
    /// A response that repeats another question (a forged or misrouted
    /// one) answers nothing and leaves the query waiting; one that repeats
    /// none (`None`, as some failure responses do) is taken on its key.
    pub fn take_answered(
        &mut self,
        key: &MatchKey,
        question: Option<(&str, RrType)>,
    ) -> Option<Query> {
        let (_, q) = self.by_key.get(key)?;
        let asked =
            |(name, qtype): (&str, RrType)| qtype == q.qtype && name.eq_ignore_ascii_case(&q.name);
        if question.is_some_and(|question| !asked(question)) {
            return None;
        }
        self.take(key)
    }

    /// Removes and returns the oldest query if it has waited `timeout_ns`
    /// by `now_ns`.
    pub fn pop_expired(&mut self, now_ns: u64, timeout_ns: u64) -> Option<Query> {
        while let Some(&(key, seq)) = self.order.front() {
            match self.by_key.get(&key) {
                Some((s, q)) if *s == seq => {
                    if q.sent_ns.saturating_add(timeout_ns) > now_ns {
                        return None;
                    }
                    self.order.pop_front();
                    return self.take(&key);
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
        None
    }

    pub fn iter(&self) -> impl Iterator<Item = &Query> {
        self.by_key.values().map(|(_, q)| q)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: u16, sent_ns: u64) -> Query {
        Query {
            key: MatchKey {
                cookie: SocketCookie(1),
                transport: Protocol::Udp,
                client: "127.0.0.1:4000".parse().unwrap(),
                resolver: "127.0.0.1:53".parse().unwrap(),
                id,
            },
            pid: None,
            name: "a.test".into(),
            qtype: RrType(1),
            sent_ns,
            retries: 0,
        }
    }

    #[test]
    fn oldest_first_retries_and_cap() {
        let mut p = PendingQueries::new(2);
        p.insert(q(1, 10));
        p.insert(q(1, 11));
        p.insert(q(2, 20));
        assert_eq!(p.take(&q(1, 0).key).map(|q| q.retries), Some(1));
        p.insert(q(3, 30));
        p.insert(q(4, 40)); // evicts 2
        assert_eq!(p.evicted, 1);
        assert_eq!(p.pop_expired(34, 5).map(|q| q.key.id), None);
        assert_eq!(p.pop_expired(35, 5).map(|q| q.key.id), Some(3));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn a_response_must_repeat_the_question() {
        let mut p = PendingQueries::new(4);
        p.insert(q(1, 10));
        let key = q(1, 0).key;
        assert!(p.take_answered(&key, Some(("b.test", RrType(1)))).is_none());
        assert!(p
            .take_answered(&key, Some(("a.test", RrType(28))))
            .is_none());
        assert_eq!(p.len(), 1, "still waiting for its answer");
        assert!(p.take_answered(&key, Some(("A.Test", RrType(1)))).is_some());
        p.insert(q(2, 20));
        assert!(p.take_answered(&q(2, 0).key, None).is_some());
        assert!(p.take_answered(&q(3, 0).key, None).is_none());
    }
}
