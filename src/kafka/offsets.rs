//! Which offset may be stored: per partition, the lowest offset still in flight, or one past the
//! highest finished offset when nothing is in flight. An offset is never stored past an event
//! whose outputs are not yet acknowledged.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
struct PartitionState {
    in_flight: BTreeSet<i64>,
    highest_done: Option<i64>,
    stored: Option<i64>,
}

#[derive(Debug, Default)]
pub struct OffsetTracker {
    parts: HashMap<(String, i32), PartitionState>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// An event was read and its outputs are about to be produced.
    pub fn begin(&mut self, topic: &str, partition: i32, offset: i64) {
        self.parts
            .entry((topic.to_owned(), partition))
            .or_default()
            .in_flight
            .insert(offset);
    }

    /// Every output of the event at `offset` was acknowledged. Returns the next offset to store
    /// (the position to resume from) if it moved forward.
    pub fn finish(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let st = self.parts.get_mut(&(topic.to_owned(), partition))?;
        if !st.in_flight.remove(&offset) {
            return None;
        }
        st.highest_done = Some(st.highest_done.map_or(offset, |h| h.max(offset)));
        let next = match st.in_flight.first() {
            Some(lowest) => *lowest,
            None => st.highest_done? + 1,
        };
        if st.stored.is_some_and(|s| s >= next) {
            return None;
        }
        st.stored = Some(next);
        Some(next)
    }

    /// Forget a partition (revoked, or assigned afresh).
    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.parts.remove(&(topic.to_owned(), partition));
    }

    /// Events read but not finished, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.parts.values().map(|p| p.in_flight.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_only_below_the_lowest_unfinished() {
        let mut t = OffsetTracker::new();
        for o in 10..15 {
            t.begin("t", 0, o);
        }
        // 12 finishes first: 10 is still in flight, so the position stays at 10.
        assert_eq!(t.finish("t", 0, 12), Some(10));
        assert_eq!(
            t.finish("t", 0, 11),
            None,
            "10 still in flight, position unchanged"
        );
        assert_eq!(t.finish("t", 0, 10), Some(13));
        assert_eq!(t.finish("t", 0, 14), None, "13 still in flight");
        assert_eq!(t.finish("t", 0, 13), Some(15));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent_and_unknown_offsets_ignored() {
        let mut t = OffsetTracker::new();
        t.begin("t", 0, 5);
        t.begin("t", 1, 7);
        assert_eq!(t.finish("t", 1, 7), Some(8));
        assert_eq!(t.finish("t", 1, 7), None, "finishing twice changes nothing");
        assert_eq!(t.finish("t", 2, 1), None);
        assert_eq!(t.in_flight(), 1);
        t.forget("t", 0);
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.finish("t", 0, 5), None);
    }
}
