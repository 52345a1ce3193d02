//! Many short lists of indices (the segments overriding each feature), kept in
//! two allocations instead of one per list: an environment of 200 features
//! held 200 vectors, most empty or of one or two entries.

/// Lists of `u32`, numbered from 0, each a slice of one shared buffer.
#[derive(Debug, Default)]
pub(crate) struct IndexLists {
    /// Where each list ends in `items` (it starts where the previous ends).
    ends: Box<[u32]>,
    items: Box<[u32]>,
}

impl IndexLists {
    /// The lists, in order.
    pub(crate) fn new(lists: &[Vec<u32>]) -> IndexLists {
        let mut ends = Vec::with_capacity(lists.len());
        let mut items = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        for list in lists {
            items.extend_from_slice(list);
            ends.push(items.len() as u32);
        }
        IndexLists {
            ends: ends.into_boxed_slice(),
            items: items.into_boxed_slice(),
        }
    }

    /// List `index` (empty past the last).
    pub(crate) fn get(&self, index: usize) -> &[u32] {
        let Some(&end) = self.ends.get(index) else {
            return &[];
        };
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        &self.items[start as usize..end as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::IndexLists;

    #[test]
    fn lists_come_back_as_given() {
        let given = vec![vec![], vec![3, 1], vec![], vec![7], vec![2, 2, 2]];
        let lists = IndexLists::new(&given);
        for (i, list) in given.iter().enumerate() {
            assert_eq!(lists.get(i), list.as_slice());
        }
        assert_eq!(lists.get(given.len()), &[] as &[u32]);
        assert_eq!(IndexLists::new(&[]).get(0), &[] as &[u32]);
    }
}
