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

    /// The events of a partition from `offset` on will not be finished here (its partition is
    /// being revoked and they were never processed): they leave the in-flight set, and the
    /// position stays below them (every finished offset is lower).
    pub fn abandon_from(&mut self, topic: &str, partition: i32, offset: i64) {
        if let Some(st) = self.parts.get_mut(&(topic.to_owned(), partition)) {
            st.in_flight.split_off(&offset);
        }
    }

    /// Events of one partition read but not finished.
    pub fn in_flight_of(&self, topic: &str, partition: i32) -> usize {
        self.parts
            .get(&(topic.to_owned(), partition))
            .map_or(0, |p| p.in_flight.len())
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
    fn abandoned_events_leave_the_set_and_the_position_stays_below_them() {
        let mut t = OffsetTracker::new();
        for o in 10..20 {
            t.begin("t", 0, o);
        }
        t.begin("t", 1, 3);
        // 10..14 are under way, 14.. were read but are given up (their partition is revoked).
        t.abandon_from("t", 0, 14);
        assert_eq!(t.in_flight_of("t", 0), 4);
        assert_eq!(t.in_flight_of("t", 1), 1, "other partitions untouched");
        for o in [11, 12, 13] {
            t.finish("t", 0, o);
        }
        assert_eq!(
            t.finish("t", 0, 10),
            Some(14),
            "resume at the first abandoned event"
        );
        assert_eq!(t.in_flight_of("t", 0), 0);
        assert_eq!(
            t.finish("t", 0, 15),
            None,
            "an abandoned event finishing stores nothing"
        );
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
