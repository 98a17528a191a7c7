//! Splitting a request's operations into lanes that share nothing, so lanes can run
//! concurrently while every item gets exactly the outcome strict request order would give.

use std::collections::HashMap;

use super::Prepared;

/// Splits items into at most `max_lanes` lanes that share nothing: items with the same customer,
/// the same external id, or where one refers to the other's external id always land in the same
/// lane, in request order. Each item's outcome is then exactly what strict request order would
/// give, while lanes run concurrently.
pub(super) fn lanes(items: Vec<Prepared>, max_lanes: usize) -> Vec<Vec<Prepared>> {
    assert!(max_lanes >= 1, "at least one lane");
    let mut groups = DisjointSets::new(items.len());
    let mut first_by_customer: HashMap<&str, usize> = HashMap::new();
    let mut first_by_external: HashMap<&str, usize> = HashMap::new();
    for (position, item) in items.iter().enumerate() {
        for (map, key) in [
            (&mut first_by_customer, item.customer_id.as_str()),
            (&mut first_by_external, item.operation.external_id.as_str()),
        ] {
            match map.get(key) {
                Some(&first) => groups.join(first, position),
                None => {
                    map.insert(key, position);
                }
            }
        }
    }
    for (position, item) in items.iter().enumerate() {
        if let Some(&referred) = item
            .operation
            .ref_external_id
            .as_deref()
            .and_then(|reference| first_by_external.get(reference))
        {
            groups.join(referred, position);
        }
    }
    // Whole groups go to the least-loaded lane, in order of first appearance.
    let mut lane_of_group: HashMap<usize, usize> = HashMap::new();
    let mut lane_sizes = vec![0_usize; max_lanes];
    let mut group_sizes: HashMap<usize, usize> = HashMap::new();
    for position in 0..items.len() {
        *group_sizes.entry(groups.root(position)).or_default() += 1;
    }
    let mut lanes: Vec<Vec<Prepared>> = (0..max_lanes).map(|_| Vec::new()).collect();
    for (position, item) in items.into_iter().enumerate() {
        let group = groups.root(position);
        let lane = *lane_of_group.entry(group).or_insert_with(|| {
            let lightest = (0..max_lanes)
                .min_by_key(|lane| lane_sizes[*lane])
                .expect("lanes exist");
            lane_sizes[lightest] += group_sizes[&group];
            lightest
        });
        lanes[lane].push(item);
    }
    lanes.retain(|lane| !lane.is_empty());
    lanes
}

/// Union-find over item positions.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(size: usize) -> Self {
        DisjointSets {
            parent: (0..size).collect(),
        }
    }

    fn root(&mut self, mut node: usize) -> usize {
        while self.parent[node] != node {
            self.parent[node] = self.parent[self.parent[node]];
            node = self.parent[node];
        }
        node
    }

    fn join(&mut self, a: usize, b: usize) {
        let (root_a, root_b) = (self.root(a), self.root(b));
        if root_a != root_b {
            self.parent[root_b.max(root_a)] = root_a.min(root_b);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::onec::operation::{Operation, OperationKind};

    fn item(index: usize, customer: &str, external_id: &str, refers_to: Option<&str>) -> Prepared {
        let operation = Operation {
            external_id: external_id.into(),
            kind: if refers_to.is_some() {
                OperationKind::Reversal
            } else {
                OperationKind::Accrual
            },
            amount_minor: 100,
            phone: "998901234567".into(),
            performed_at: Utc::now(),
            description: None,
            register_id: None,
            ref_external_id: refers_to.map(str::to_owned),
        };
        Prepared {
            index,
            idempotency: operation.idempotency("store"),
            customer_id: customer.into(),
            operation,
        }
    }

    fn indexes(lanes: &[Vec<Prepared>]) -> Vec<Vec<usize>> {
        lanes
            .iter()
            .map(|lane| lane.iter().map(|item| item.index).collect())
            .collect()
    }

    #[test]
    fn items_of_one_customer_stay_in_one_lane_in_request_order() {
        let items = vec![
            item(0, "a", "1", None),
            item(1, "b", "2", None),
            item(2, "a", "3", None),
            item(3, "c", "4", None),
        ];

        let lanes = lanes(items, 4);

        assert_eq!(indexes(&lanes), [vec![0, 2], vec![1], vec![3]]);
    }

    #[test]
    fn a_shared_external_id_or_a_reference_joins_two_customers_lanes() {
        let items = vec![
            item(0, "a", "1", None),
            item(1, "b", "1", None),
            item(2, "c", "2", None),
            item(3, "d", "5", Some("2")),
        ];

        let lanes = lanes(items, 4);

        assert_eq!(indexes(&lanes), [vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn never_more_lanes_than_allowed() {
        let items = (0..10)
            .map(|n| item(n, &format!("customer-{n}"), &n.to_string(), None))
            .collect();

        let lanes = lanes(items, 3);

        assert_eq!(lanes.len(), 3);
        let mut all: Vec<usize> = indexes(&lanes).concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
